"""Multi-touch attribution: heuristic, Markov-chain and Shapley models.

Plain pandas/numpy functions with no Dagster dependency, usable from a notebook as well as
from the pipeline.

*Touch rows* (what the pipeline stores): one row per ``(conversion_id, touch_index, channel,
touch_time, conversion_time, revenue)``, ``revenue`` being the conversion's revenue repeated on
each of its touches. :func:`touch_credits` credits every touch under a heuristic model and
:func:`weighted_touch_credits` splits every conversion over its channels by weight (Markov
removal effects, or equal weights for the simplified Shapley value).

*Path table* (the input of :func:`markov_removal_effects`): one row per distinct journey with

* ``path`` -- the ordered channels, either a list/tuple or a string ``"a > b > c"``;
* ``conversions`` -- how many journeys with this path converted;
* ``nulls`` -- how many ended without converting (optional, 0 if absent).

Heuristic models split each conversion over its touches with fractions that sum to 1:

=================  ==========================================================================
first_touch        all credit to the first touch
last_touch         all credit to the last touch
last_non_direct    all credit to the last touch whose channel is not the direct label; when
                   every touch is direct, to the last touch
linear             1/n to each of the n touches
time_decay         touch i weighs 2^(-age_i / half_life), age_i being its age in days at the
                   conversion; the weights are normalised to sum to 1
position_based     one touch: 1; two touches: 1/2 each; n >= 3 touches: 0.4 to the first,
                   0.4 to the last, 0.2 / (n - 2) to each touch in between
=================  ==========================================================================

Fractions are computed in floating point, so "sums to 1" holds to rounding (about 1e-15).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

PATH_SEPARATOR = ">"
HEURISTIC_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
)
TOUCH_COLUMNS = ("conversion_id", "touch_index", "channel", "revenue")
TIME_COLUMNS = ("touch_time", "conversion_time")
ONE_DAY = pd.Timedelta(days=1)

State = tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Path-table input
# ---------------------------------------------------------------------------------------------


def _as_path(value: str | Iterable[object]) -> tuple[str, ...]:
    """One path as a tuple of channel labels (a string is split on ``>``; labels are stripped)."""
    parts: Iterable[object] = value.split(PATH_SEPARATOR) if isinstance(value, str) else value
    path = tuple(str(part).strip() for part in parts)
    if not path or not all(path):
        raise ValueError(f"path {value!r} is empty or has an empty channel")
    return path


def _collapse(path: tuple[str, ...]) -> tuple[str, ...]:
    """The path with consecutive repeats of a channel merged: a > a > b > a -> a > b > a."""
    return tuple(channel for channel, _ in itertools.groupby(path))


def _counts(paths: pd.DataFrame, column: str, *, required: bool) -> pd.Series:
    """A non-negative, finite count column as floats (zeros when optional and absent)."""
    if column not in paths:
        if required:
            raise ValueError(f"the path table needs a {column!r} column")
        return pd.Series(0.0, index=paths.index)
    counts = pd.to_numeric(paths[column], errors="raise").astype(float)
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"{column!r} must hold finite, non-negative numbers")
    return counts


def _read_paths(paths: pd.DataFrame, *, collapse_repeats: bool = False) -> pd.DataFrame:
    """Normalise a path table to columns path (tuples), conversions, nulls."""
    if "path" not in paths:
        raise ValueError("the path table needs a 'path' column")
    table = pd.DataFrame(
        {
            "path": [_as_path(p) for p in paths["path"]],
            "conversions": _counts(paths, "conversions", required=True).to_numpy(),
            "nulls": _counts(paths, "nulls", required=False).to_numpy(),
        },
        index=paths.index,
    )
    if collapse_repeats:
        table["path"] = table["path"].map(_collapse)
    return table


# ---------------------------------------------------------------------------------------------
# Heuristic models on touch frames
#
# A touch frame has one row per touch, sorted by journey and position, with columns
# ``group`` (journey key), ``pos`` (0-based position), ``n`` (touches in the journey),
# ``channel`` and, for time decay, ``age_days``.
# ---------------------------------------------------------------------------------------------


def _first_touch(touches: pd.DataFrame) -> pd.Series:
    return (touches["pos"] == 0).astype(float)


def _last_touch(touches: pd.DataFrame) -> pd.Series:
    return (touches["pos"] == touches["n"] - 1).astype(float)


def _last_non_direct(touches: pd.DataFrame, *, direct_label: str) -> pd.Series:
    """1 for the last non-direct touch of each journey, or for its last touch if all are direct."""
    non_direct_pos = touches["pos"].where(touches["channel"] != direct_label)
    target = non_direct_pos.groupby(touches["group"], sort=False).transform("max")
    target = target.fillna(touches["n"] - 1)
    return (touches["pos"] == target).astype(float)


def _linear(touches: pd.DataFrame) -> pd.Series:
    return 1.0 / touches["n"]


def _time_decay(touches: pd.DataFrame, *, half_life_days: float) -> pd.Series:
    """Weights 2^(-age/half_life), normalised within each journey."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days!r}")
    weight = np.exp2(-touches["age_days"] / half_life_days)
    return weight / weight.groupby(touches["group"], sort=False).transform("sum")


def _position_based(touches: pd.DataFrame) -> pd.Series:
    """40/20/40: the ends get 0.4 each and the middle touches share 0.2 (1 and 1/2 when n <= 2)."""
    pos, n = touches["pos"], touches["n"]
    is_end = (pos == 0) | (pos == n - 1)
    middle = 0.2 / (n - 2).clip(lower=1)  # only used where n >= 3; the clip avoids 0-division
    credit = np.select([n == 1, n == 2, is_end], [1.0, 0.5, 0.4], default=middle)
    return pd.Series(credit, index=touches.index)


def _credit_function(
    model: str, *, half_life_days: float, direct_label: str
) -> Callable[[pd.DataFrame], pd.Series]:
    """The credit function of a heuristic model, with its parameters bound."""
    functions: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
        "first_touch": _first_touch,
        "last_touch": _last_touch,
        "last_non_direct": partial(_last_non_direct, direct_label=direct_label),
        "linear": _linear,
        "time_decay": partial(_time_decay, half_life_days=half_life_days),
        "position_based": _position_based,
    }
    if model not in functions:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(HEURISTIC_MODELS)}")
    return functions[model]


def _check_ages(age_days: pd.Series) -> pd.Series:
    """Ages must be known and not negative (a touch cannot follow its conversion)."""
    if age_days.isna().any():
        raise ValueError("time_decay needs a time for every touch and conversion")
    if (age_days < 0).any():
        raise ValueError("time_decay: a touch is later than its conversion")
    return age_days


# ---------------------------------------------------------------------------------------------
# Touch-level API
# ---------------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{what} is missing column(s): {', '.join(missing)}")


def _touch_frame(touches: pd.DataFrame, id_col: str, columns: Iterable[str]) -> pd.DataFrame:
    """The given touch columns sorted by (journey, touch_index), with codes and positions.

    Adds ``row`` (the input row position, to put results back in input order), ``group`` (an
    integer code per journey id), ``pos`` (0-based position in the journey) and ``n`` (its touch
    count). Journeys are sorted by integer code rather than by id, which is much faster for
    string ids; the sort is stable, so touches sharing an index keep their input order.
    """
    group = pd.factorize(touches[id_col])[0]
    if (group < 0).any():
        raise ValueError(f"{id_col!r} has missing values")
    row = np.lexsort((touches["touch_index"].to_numpy(), group))
    ordered = touches[list(columns)].iloc[row].reset_index(drop=True)
    ordered["row"] = row
    ordered["group"] = group[row]
    by_group = ordered.groupby("group", sort=False)
    ordered["pos"] = by_group.cumcount()
    ordered["n"] = by_group["pos"].transform("size")
    return ordered


def _check_one_revenue(frame: pd.DataFrame) -> None:
    """Every touch of a conversion must carry the same revenue (the conversion's)."""
    spread = frame.groupby("group", sort=False)["revenue"].agg(["min", "max"])
    if (spread["min"] != spread["max"]).where(spread["max"].notna(), False).any():
        raise ValueError("touches of one conversion carry different revenues")


def touch_credits(
    touches: pd.DataFrame,
    model: str,
    half_life_days: float = 7.0,
    direct_label: str = "Direct",
) -> pd.DataFrame:
    """Credit every touch of every conversion under a heuristic model, vectorised.

    ``touches`` has one row per touch: ``conversion_id``, ``touch_index`` (orders the touches
    of a conversion), ``channel``, ``revenue`` (the conversion's revenue, repeated on each of its
    touches) and, for ``time_decay``, ``touch_time`` and ``conversion_time`` (timestamps; age =
    conversion_time - touch_time in days).

    Returns a copy of ``touches`` (same rows, same order) with ``credit``, the touch's fraction
    of its conversion (summing to 1 per conversion), and ``credited_revenue`` = credit x revenue
    (summing to the conversion's revenue).
    """
    credit_of = _credit_function(model, half_life_days=half_life_days, direct_label=direct_label)
    timed = TIME_COLUMNS if model == "time_decay" else ()
    _require(touches, TOUCH_COLUMNS + timed, "touches")
    frame = _touch_frame(touches, "conversion_id", ("channel", "revenue", *timed))
    _check_one_revenue(frame)
    if model == "time_decay":
        age = pd.to_datetime(frame["conversion_time"]) - pd.to_datetime(frame["touch_time"])
        frame["age_days"] = _check_ages(age / ONE_DAY)
    credit = np.empty(len(frame))
    credit[frame["row"].to_numpy()] = credit_of(frame).to_numpy()
    result = touches.copy()
    result["credit"] = credit
    result["credited_revenue"] = credit * result["revenue"].to_numpy(dtype=float)
    return result


def weighted_touch_credits(
    touches: pd.DataFrame, channel_weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """Credit every touch by splitting its conversion over the conversion's channels by weight.

    For a conversion whose touches cover the distinct channels C, channel c in C gets the
    share w_c / (sum of w over C), and that share is split equally over the conversion's touches
    of channel c. When no channel of the conversion has a positive weight (or ``channel_weights``
    is None), each distinct channel gets 1 / |C|. Channels absent from ``channel_weights`` weigh 0.

    * Markov per conversion: weights = removal effects (``markov_removal_effects``), so each
      conversion is split over the channels it touched in proportion to their removal effects.
    * Simplified Shapley (Zhao, Mahboobi & Bagheri, 2018): ``channel_weights=None``. With R(T)
      the conversions whose set of channels is exactly T, the worth of a coalition S is
      v(S) = sum over T subset of S of R(T); each R(T) is a unanimity game whose Shapley value
      splits R(T) equally over T, so phi(c) = sum over T containing c of R(T) / |T|: each
      conversion is split equally over its distinct channels (order and repeats are ignored).

    ``touches`` has the columns of :func:`touch_credits` (``conversion_id``, ``touch_index``,
    ``channel``, ``revenue``). Returns a copy with ``credit`` (summing to 1 per conversion) and
    ``credited_revenue`` = credit x revenue.
    """
    _require(touches, TOUCH_COLUMNS, "touches")
    weights = channel_weights or {}
    frame = pd.DataFrame(
        {
            "conversion": pd.factorize(touches["conversion_id"])[0],
            "channel": touches["channel"].to_numpy(),
        }
    )
    if (frame["conversion"] < 0).any():
        raise ValueError("'conversion_id' has missing values")
    frame["weight"] = frame["channel"].map(weights).fillna(0.0).astype(float)
    if (frame["weight"] < 0).any() or not np.isfinite(frame["weight"]).all():
        raise ValueError("channel weights must be finite and non-negative")
    pair = frame.groupby(["conversion", "channel"], sort=False)
    frame["touches_of_channel"] = pair["channel"].transform("size")
    distinct = frame.drop_duplicates(["conversion", "channel"])
    total = distinct.groupby("conversion")["weight"].sum()
    n_channels = distinct.groupby("conversion").size()
    conversion_total = frame["conversion"].map(total)
    share = np.where(
        conversion_total > 0,
        frame["weight"] / conversion_total.where(conversion_total > 0, 1.0),
        1.0 / frame["conversion"].map(n_channels),
    )
    credit = share / frame["touches_of_channel"].to_numpy()
    result = touches.copy()
    result["credit"] = credit
    result["credited_revenue"] = credit * result["revenue"].to_numpy(dtype=float)
    return result


# ---------------------------------------------------------------------------------------------
# Markov-chain model
# ---------------------------------------------------------------------------------------------


def _states(path: tuple[str, ...], order: int) -> list[State]:
    """The chain states a path visits: the last ``order`` channels seen at each touch.

    For order 1 the states are the channels themselves; for order k the state after touch i is
    (c_{i-k+1}, ..., c_i), shorter at the start of the path.
    """
    return [path[max(0, i + 1 - order) : i + 1] for i in range(len(path))]


@dataclass(frozen=True)
class _AbsorbingChain:
    """Transient part of an absorbing Markov chain; state 0 is the start state ``()``.

    ``to_transient`` is Q (transient -> transient probabilities) and ``to_conversion`` is r
    (transient -> conversion). The probability h of ending in conversion solves
    h = Q h + r, i.e. (I - Q) h = r, so h = N r with N = (I - Q)^-1 the fundamental matrix.
    """

    states: tuple[State, ...]
    to_transient: np.ndarray
    to_conversion: np.ndarray

    def conversion_probability(self, removed: str | None = None) -> float:
        """P(conversion | start), optionally with every state containing ``removed`` deleted.

        Deleting a state is the same as sending its incoming transitions to null: a journey
        that would reach it is lost, so it contributes nothing to the conversion probability.
        """
        keep = [i for i, state in enumerate(self.states) if removed not in state]
        q = self.to_transient[np.ix_(keep, keep)]
        h = np.linalg.solve(np.eye(len(keep)) - q, self.to_conversion[keep])
        return float(h[0])


def _fit_chain(table: pd.DataFrame, order: int) -> _AbsorbingChain:
    """Transition probabilities estimated from path counts.

    Each path row of weight w = conversions + nulls contributes w to every transition
    start -> s_1 -> ... -> s_k, then ``conversions`` to s_k -> conversion and ``nulls`` to
    s_k -> null; each row of counts is divided by its total. Rows of weight 0 carry nothing.
    """
    index: dict[State, int] = {(): 0}
    src: list[int] = []
    dst: list[int] = []
    weight: list[float] = []
    last: list[int] = []
    for path, conversions, nulls in zip(table["path"], table["conversions"], table["nulls"]):
        ids = [0] + [index.setdefault(s, len(index)) for s in _states(path, order)]
        src += ids[:-1]
        dst += ids[1:]
        weight += [conversions + nulls] * (len(ids) - 1)
        last.append(ids[-1])
    size = len(index)
    counts = np.zeros((size, size))
    np.add.at(counts, (src, dst), weight)
    to_conversion = np.bincount(last, weights=table["conversions"], minlength=size)
    to_null = np.bincount(last, weights=table["nulls"], minlength=size)
    out = counts.sum(axis=1) + to_conversion + to_null
    return _AbsorbingChain(tuple(index), counts / out[:, None], to_conversion / out)


def markov_removal_effects(
    paths: pd.DataFrame, *, order: int = 1, collapse_repeats: bool = False
) -> dict[str, float]:
    """Removal effect of every channel under an absorbing Markov chain fitted to a path table.

    The chain has a start state, one state per channel (per sequence of the last ``order``
    channels when ``order`` > 1) and two absorbing states, conversion and null. Every journey
    runs start -> c_1 -> ... -> c_k and then to conversion (``conversions`` times) or null
    (``nulls`` times); transition probabilities are transition counts divided by the state's
    outgoing total. P(conv), the probability of absorption in conversion from start, is solved
    exactly from the linear system (I - Q) h = r (see :class:`_AbsorbingChain`).

    Removing channel c redirects every transition into a state containing c to null. Its removal
    effect is RE(c) = 1 - P(conv | c removed) / P(conv), in [0, 1]; a channel every conversion
    needs, such as the only channel, has RE = 1. Results are clipped at 0 to absorb rounding,
    and are all 0 when nothing converts (P(conv) = 0).

    Repeated channels: by default a repeat a > a is a self-loop a -> a and counts as a
    transition. For ``order`` = 1 this leaves every absorption probability unchanged (a state
    with self-loop probability s has h = (sum_x p_x h_x) / (1 - s), the same as with the loop
    dropped and the other probabilities renormalised), so ``collapse_repeats=True``, which merges
    consecutive repeats before fitting, gives the same removal effects. For ``order`` >= 2
    repeats change the states (a > a is a state of its own) and the two choices differ.

    Channels that occur only on paths with neither conversions nor nulls carry no information
    and are left out. Keys are sorted by channel name.
    """
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    table = _read_paths(paths, collapse_repeats=collapse_repeats)
    table = table[table["conversions"] + table["nulls"] > 0]
    channels = sorted(set(itertools.chain.from_iterable(table["path"])))
    if not channels:
        return {}
    chain = _fit_chain(table, order)
    base = chain.conversion_probability()
    if base == 0:
        return dict.fromkeys(channels, 0.0)
    return {channel: max(0.0, 1.0 - chain.conversion_probability(channel) / base) for channel in channels}
