"""User engagement score: recency, frequency and depth of a user's sessions on a 0-100 scale.

Input: one row per user with

* ``days_since_last_session`` -- days from the user's last session to the reference day (the
  last day with sessions in the data), 0 for a user active on that day;
* ``sessions_30d`` -- sessions started in the 30 days ending on the reference day;
* ``avg_page_views`` -- mean page views per session over all of the user's sessions.

Each of the three is turned into a percentile rank among all users (the mid-rank definition)::

    PR(v) = (number of users with a value below v + 0.5 * number of users with a value equal to v) / n

Recency ranks the *negated* days, so that the most recently seen users rank highest. The score
is the weighted mean of the three ranks, times 100::

    engagement_score = 100 * (0.40 * PR(-days_since_last_session)
                              + 0.35 * PR(sessions_30d)
                              + 0.25 * PR(avg_page_views))

so it lies strictly between 0 and 100; users with equal inputs get equal scores (ties share
their mid rank), a lone user scores 50, and the score is deterministic (no random tie-breaking).
It is relative: it places a user among the users of the same run, it is not an absolute level
of activity. Missing inputs rank as the lowest value of their column (a user without page views
gets the lowest depth rank).

``engagement_tier`` cuts the score into "high" (>= 66.7), "medium" (>= 33.3) and "low".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEIGHTS = {"recency": 0.40, "frequency": 0.35, "depth": 0.25}
INPUT_COLUMNS = ("days_since_last_session", "sessions_30d", "avg_page_views")
HIGH_MIN_SCORE = 200.0 / 3.0
MEDIUM_MIN_SCORE = 100.0 / 3.0


def percentile_rank(values) -> np.ndarray:
    """Mid-rank percentile of every value among ``values``: (below + 0.5 * equal) / n.

    Missing values count as lower than every present value (and equal to each other).
    """
    x = np.asarray(pd.to_numeric(pd.Series(values), errors="raise"), dtype=float)
    n = x.size
    if n == 0:
        return np.empty(0)
    filled = np.where(np.isnan(x), -np.inf, x)
    ordered = np.sort(filled)
    below = np.searchsorted(ordered, filled, side="left")
    not_above = np.searchsorted(ordered, filled, side="right")
    return (below + 0.5 * (not_above - below)) / n


def engagement_score(users: pd.DataFrame) -> pd.DataFrame:
    """Add ``recency_rank``, ``frequency_rank``, ``depth_rank`` (0-1), ``engagement_score``
    (0-100) and ``engagement_tier`` to a frame with the columns of ``INPUT_COLUMNS``.

    Returns a copy with the same index and row order.
    """
    missing = [c for c in INPUT_COLUMNS if c not in users]
    if missing:
        raise ValueError(f"engagement_score needs column(s) {', '.join(missing)}")
    days = pd.to_numeric(users["days_since_last_session"], errors="raise").astype(float)
    if (days < 0).any():
        raise ValueError("days_since_last_session must not be negative")
    out = users.copy()
    out["recency_rank"] = percentile_rank(-days)
    out["frequency_rank"] = percentile_rank(users["sessions_30d"])
    out["depth_rank"] = percentile_rank(users["avg_page_views"])
    out["engagement_score"] = 100.0 * (
        WEIGHTS["recency"] * out["recency_rank"]
        + WEIGHTS["frequency"] * out["frequency_rank"]
        + WEIGHTS["depth"] * out["depth_rank"]
    )
    out["engagement_tier"] = engagement_tier(out["engagement_score"])
    return out


def engagement_tier(score) -> pd.Series:
    """ "high" for scores >= 66.7, "medium" for >= 33.3, else "low" (missing stays missing)."""
    s = pd.Series(score, dtype=float)
    labels = np.select(
        [s >= HIGH_MIN_SCORE, s >= MEDIUM_MIN_SCORE, s < MEDIUM_MIN_SCORE],
        ["high", "medium", "low"],
        default=None,  # type: ignore[call-overload]  # missing stays missing (object labels)
    )
    return pd.Series(labels, index=s.index, dtype=object, name="engagement_tier")
