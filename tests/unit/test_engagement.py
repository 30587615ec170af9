"""The engagement score (lib/analytics/engagement.py) on examples computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nexus_pipelines.lib.analytics.engagement import engagement_score, engagement_tier, percentile_rank


def test_percentile_rank_mid_rank_definition():
    # values 1, 2, 2, 5: below/equal counts (0,1), (1,2), (1,2), (3,1) over n = 4
    assert percentile_rank([1, 2, 2, 5]).tolist() == [0.125, 0.5, 0.5, 0.875]
    assert percentile_rank([7.0]).tolist() == [0.5]
    # a missing value ranks below every present one
    assert percentile_rank([np.nan, 3.0, 1.0]).tolist() == pytest.approx([1 / 6, 5 / 6, 1 / 2])
    assert percentile_rank([]).size == 0


def test_engagement_score_by_hand():
    users = pd.DataFrame(
        {
            "user_key": ["ann", "bob", "cat", "dan"],
            "days_since_last_session": [0, 3, 3, 20],
            "sessions_30d": [5, 1, 2, 0],
            "avg_page_views": [4.0, 6.0, 2.0, 1.0],
        }
    )
    scored = engagement_score(users)
    # recency ranks -days = 0, -3, -3, -20: ann (3 below)/4 = 0.875; bob and cat tie: (1 below +
    # 0.5 * 2 equal)/4 = 0.5; dan (0 below + 0.5)/4 = 0.125
    assert scored["recency_rank"].tolist() == [0.875, 0.5, 0.5, 0.125]
    # sessions 5, 1, 2, 0 (no ties): ann 3.5/4, bob 1.5/4, cat 2.5/4, dan 0.5/4
    assert scored["frequency_rank"].tolist() == [0.875, 0.375, 0.625, 0.125]
    # page views 4, 6, 2, 1: ann 2.5/4, bob 3.5/4, cat 1.5/4, dan 0.5/4
    assert scored["depth_rank"].tolist() == [0.625, 0.875, 0.375, 0.125]
    # 100 * (0.40 * recency + 0.35 * frequency + 0.25 * depth)
    expected = [
        100 * (0.40 * 0.875 + 0.35 * 0.875 + 0.25 * 0.625),  # ann 81.25
        100 * (0.40 * 0.5 + 0.35 * 0.375 + 0.25 * 0.875),  # bob 55.0
        100 * (0.40 * 0.5 + 0.35 * 0.625 + 0.25 * 0.375),  # cat 51.25
        100 * (0.40 * 0.125 + 0.35 * 0.125 + 0.25 * 0.125),  # dan 12.5
    ]
    assert scored["engagement_score"].tolist() == pytest.approx([81.25, 55.0, 51.25, 12.5])
    assert scored["engagement_score"].tolist() == pytest.approx(expected)
    assert scored["engagement_tier"].tolist() == ["high", "medium", "medium", "low"]
    # the mean of mid-rank percentiles is 1/2, so the mean score is 50
    assert scored["engagement_score"].mean() == pytest.approx(50.0)
    # input untouched, index and order kept
    assert list(users.columns) == ["user_key", "days_since_last_session", "sessions_30d", "avg_page_views"]
    assert scored["user_key"].tolist() == ["ann", "bob", "cat", "dan"]


def test_equal_inputs_get_equal_scores_and_a_lone_user_scores_50():
    same = pd.DataFrame(
        {"days_since_last_session": [2, 2], "sessions_30d": [3, 3], "avg_page_views": [1.5, 1.5]}
    )
    assert engagement_score(same)["engagement_score"].tolist() == [50.0, 50.0]
    lone = same.head(1)
    assert engagement_score(lone)["engagement_score"].tolist() == [50.0]


def test_engagement_score_rejects_bad_input():
    with pytest.raises(ValueError, match="avg_page_views"):
        engagement_score(pd.DataFrame({"days_since_last_session": [1], "sessions_30d": [1]}))
    with pytest.raises(ValueError, match="negative"):
        engagement_score(
            pd.DataFrame({"days_since_last_session": [-1], "sessions_30d": [1], "avg_page_views": [1.0]})
        )


def test_tiers_cut_at_a_third_and_two_thirds():
    assert engagement_tier([0.0, 33.3, 33.34, 66.6, 66.7, 100.0, np.nan]).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        None,
    ]


def test_error_messages_name_the_problem():
    with pytest.raises(ValueError) as missing:
        engagement_score(pd.DataFrame({"days_since_last_session": [1]}))
    assert str(missing.value) == "engagement_score needs column(s) sessions_30d, avg_page_views"
    with pytest.raises(ValueError) as negative:
        engagement_score(
            pd.DataFrame(
                {"days_since_last_session": [2, -3], "sessions_30d": [1, 1], "avg_page_views": [1, 1]}
            )
        )
    assert str(negative.value) == "days_since_last_session must not be negative"


def test_tiers_at_the_exact_cut_points():
    # 200 / 3 and 100 / 3 themselves belong to the upper tier
    assert engagement_tier([200.0 / 3.0, 100.0 / 3.0]).tolist() == ["high", "medium"]
    assert engagement_tier([np.nextafter(200.0 / 3.0, 0), np.nextafter(100.0 / 3.0, 0)]).tolist() == [
        "medium",
        "low",
    ]


def test_tiers_keep_the_index_and_are_named():
    tiers = engagement_tier(pd.Series([80.0, 10.0, 50.0], index=[7, 3, 5]))
    assert tiers.index.tolist() == [7, 3, 5]
    assert tiers.name == "engagement_tier"
    assert tiers.tolist() == ["high", "low", "medium"]
    # missing scores given as None (an object column) stay missing
    assert engagement_tier([None, 90]).tolist() == [None, "high"]
