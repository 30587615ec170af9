"""Tests of nexus_pipelines.lib.analytics.attribution, with expected numbers derived by hand."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from nexus_pipelines.lib.analytics.attribution import (
    HEURISTIC_MODELS,
    markov_removal_effects,
    touch_credits,
    weighted_touch_credits,
)

EXACT = 1e-12
CHANNELS = ["Direct", "Email", "Paid Search", "Social"]
CONVERSION_TIME = pd.Timestamp("2024-03-20 12:00", tz="UTC")


def _channels(path: object) -> list[str]:
    """The channels of a path given as a list or as a string "a > b"."""
    if isinstance(path, str):
        return [part.strip() for part in path.split(">")]
    return [str(channel) for channel in path]


def _touches_from_paths(paths: pd.DataFrame, conversion_time: pd.Timestamp = CONVERSION_TIME) -> pd.DataFrame:
    """Touch rows for a path table: ``conversions`` conversions per row, one row per touch.

    Each conversion's revenue is the row's ``value`` divided by its conversions (NaN without a
    ``value`` column). With an ``ages`` column (per touch, days before the conversion) the rows
    also get ``touch_time`` and ``conversion_time``.
    """
    rows = []
    for number, row in enumerate(paths.to_dict("records")):
        channels = _channels(row["path"])
        conversions = int(row["conversions"])
        revenue = row["value"] / conversions if "value" in row and conversions else math.nan
        for k in range(conversions):
            for index, channel in enumerate(channels):
                touch = {
                    "conversion_id": f"c{number}-{k}",
                    "touch_index": index,
                    "channel": channel,
                    "revenue": revenue,
                }
                if "ages" in row:
                    touch["touch_time"] = conversion_time - pd.Timedelta(days=row["ages"][index])
                    touch["conversion_time"] = conversion_time
                rows.append(touch)
    return pd.DataFrame(rows)


def _credited(result: pd.DataFrame, column: str = "credit") -> dict[str, float]:
    """Credits (or credited revenue) summed per channel."""
    return result.groupby("channel")[column].sum().to_dict()


# ---------------------------------------------------------------------------------------------
# Heuristic models on one three-touch journey
#
# Paid Search (10 days before the conversion) > Email (3 days) > Direct (0 days), revenue 100.
# ---------------------------------------------------------------------------------------------

THREE_TOUCHES = ["Paid Search", "Email", "Direct"]
AGES = [10, 3, 0]

# Time decay, half-life 7 days: weights 2^(-10/7), 2^(-3/7), 2^0.
#   w1 = 2^(-10/7) = 0.371498572284237...
#   w2 = 2^(-3/7)  = 0.742997144568474... = 2 * w1 (Email is exactly one half-life newer)
#   w3 = 1
#   total = 3 * w1 + 1 = 2.114495716852711...
#   shares: w1/total = 0.175691333552185..., w2/total = 0.351382667104371...,
#           1/total  = 0.472925999343444...
W1 = 2 ** (-10 / 7)
TIME_DECAY_SHARES = (0.175691333552185, 0.351382667104371, 0.472925999343444)

EXPECTED_SHARES = {
    "first_touch": (1.0, 0.0, 0.0),
    "last_touch": (0.0, 0.0, 1.0),
    "last_non_direct": (0.0, 1.0, 0.0),  # Direct is skipped; Email is the last other touch
    "linear": (1 / 3, 1 / 3, 1 / 3),
    "position_based": (0.4, 0.2, 0.4),  # 40% first, 40% last, 20% to the single middle touch
    "time_decay": TIME_DECAY_SHARES,
}


def _one_journey(conversion_time: pd.Timestamp = CONVERSION_TIME) -> pd.DataFrame:
    paths = pd.DataFrame({"path": [THREE_TOUCHES], "conversions": [1], "value": [100.0], "ages": [AGES]})
    return _touches_from_paths(paths, conversion_time)


def test_time_decay_hand_numbers_are_right():
    assert pytest.approx(2 * W1, abs=EXACT) == 2 ** (-3 / 7)
    total = 3 * W1 + 1
    assert total == pytest.approx(2.114495716852711, abs=EXACT)
    shares = (W1 / total, 2 * W1 / total, 1 / total)
    assert shares == pytest.approx(TIME_DECAY_SHARES, abs=1e-14)


@pytest.mark.parametrize("model", HEURISTIC_MODELS)
def test_three_touch_journey_under_every_heuristic(model):
    result = touch_credits(_one_journey(), model)
    expected = dict(zip(THREE_TOUCHES, EXPECTED_SHARES[model]))
    assert sorted(_credited(result)) == sorted(THREE_TOUCHES)
    assert _credited(result) == pytest.approx(expected, abs=EXACT)
    expected_revenue = {c: 100 * s for c, s in expected.items()}
    assert _credited(result, "credited_revenue") == pytest.approx(expected_revenue, abs=1e-10)
    assert result["credit"].sum() == pytest.approx(1.0, abs=EXACT)
    assert result["credited_revenue"].sum() == pytest.approx(100.0, abs=1e-10)


@pytest.mark.parametrize("model", HEURISTIC_MODELS)
def test_three_touch_path_touch_level(model):
    conversion_time = pd.Timestamp("2024-03-20 12:00", tz="UTC")
    touches = pd.DataFrame(
        {
            "conversion_id": "order-1",
            "touch_index": [2, 0, 1],  # rows deliberately out of touch order
            "channel": ["Direct", "Paid Search", "Email"],
            "touch_time": [conversion_time - pd.Timedelta(days=d) for d in (0, 10, 3)],
            "conversion_time": conversion_time,
            "revenue": 100.0,
        }
    )
    result = touch_credits(touches, model)
    shares = dict(zip(THREE_TOUCHES, EXPECTED_SHARES[model]))
    assert list(result["channel"]) == ["Direct", "Paid Search", "Email"]  # input order kept
    expected = [shares[c] for c in result["channel"]]
    assert list(result["credit"]) == pytest.approx(expected, abs=EXACT)
    assert list(result["credited_revenue"]) == pytest.approx(
        [100 * shares[c] for c in result["channel"]], abs=1e-10
    )


@pytest.mark.parametrize(
    "conversion_time",
    [pd.Timestamp("2024-03-20"), pd.Timestamp("2024-03-20 09:30", tz="Europe/Paris")],
    ids=["naive", "tz-aware"],
)
def test_time_decay_accepts_naive_and_aware_timestamps(conversion_time):
    result = touch_credits(_one_journey(conversion_time), "time_decay")
    expected = dict(zip(THREE_TOUCHES, TIME_DECAY_SHARES))
    assert _credited(result) == pytest.approx(expected, abs=EXACT)


def test_time_decay_half_life_is_configurable():
    # half-life 1 day, ages 1 and 0: weights 1/2 and 1, shares 1/3 and 2/3 of 3 conversions
    paths = pd.DataFrame({"path": ["Email > Social"], "conversions": [3], "ages": [[1, 0]]})
    result = touch_credits(_touches_from_paths(paths), "time_decay", half_life_days=1.0)
    assert _credited(result) == pytest.approx({"Email": 1.0, "Social": 2.0}, abs=EXACT)


def test_time_decay_needs_touch_times():
    touches = pd.DataFrame({"conversion_id": [1], "touch_index": [0], "channel": ["Email"], "revenue": [5.0]})
    with pytest.raises(ValueError, match="touch_time"):
        touch_credits(touches, "time_decay")
    with pytest.raises(ValueError, match="conversion_time"):
        touch_credits(touches.assign(touch_time=pd.Timestamp("2024-03-01")), "time_decay")
    unknown = touches.assign(touch_time=pd.NaT, conversion_time=pd.Timestamp("2024-03-01"))
    with pytest.raises(ValueError, match="needs a time for every touch"):
        touch_credits(unknown, "time_decay")


def test_time_decay_rejects_touches_after_the_conversion():
    paths = pd.DataFrame({"path": [THREE_TOUCHES], "conversions": [1], "ages": [[3, 1, -1]]})
    with pytest.raises(ValueError, match="later than its conversion"):
        touch_credits(_touches_from_paths(paths), "time_decay")


def test_position_based_short_paths():
    paths = pd.DataFrame({"path": ["Email", "Social > Direct"], "conversions": [1, 1]})
    result = touch_credits(_touches_from_paths(paths), "position_based")
    # one touch gets 100%; two touches 50% each
    expected = {"Direct": 0.5, "Email": 1.0, "Social": 0.5}
    assert _credited(result) == pytest.approx(expected, abs=EXACT)


def test_position_based_long_path_splits_the_middle():
    # five touches: 0.4 first, 0.4 last, 0.2 / 3 to each of the three middle touches
    paths = pd.DataFrame({"path": ["a > b > c > d > e"], "conversions": [1]})
    result = touch_credits(_touches_from_paths(paths), "position_based")
    expected = {"a": 0.4, "b": 0.2 / 3, "c": 0.2 / 3, "d": 0.2 / 3, "e": 0.4}
    assert _credited(result) == pytest.approx(expected, abs=EXACT)


def test_last_non_direct_all_direct_and_custom_label():
    paths = pd.DataFrame({"path": ["Direct > Direct", "(none) > Email > (none)"], "conversions": [1, 1]})
    touches = _touches_from_paths(paths)
    default = touch_credits(touches, "last_non_direct")
    # the all-Direct path credits its last Direct touch; the other path has no Direct touch,
    # so its last touch "(none)" gets it
    assert _credited(default) == pytest.approx({"(none)": 1.0, "Direct": 1.0, "Email": 0.0})
    assert list(default["credit"].iloc[:2]) == [0.0, 1.0]  # the last of the two Direct touches
    custom = touch_credits(touches, "last_non_direct", direct_label="(none)")
    assert _credited(custom) == pytest.approx({"(none)": 0.0, "Direct": 1.0, "Email": 1.0})


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        touch_credits(_one_journey(), "u_shaped")


def test_unknown_revenue_leaves_credits_whole_and_credited_revenue_nan():
    paths = pd.DataFrame({"path": ["a > b"], "conversions": [2]})  # no value: revenue NaN
    result = touch_credits(_touches_from_paths(paths), "linear")
    assert _credited(result) == pytest.approx({"a": 1.0, "b": 1.0}, abs=EXACT)
    assert result["credited_revenue"].isna().all()


# ---------------------------------------------------------------------------------------------
# Markov chain, by hand
#
# Credited conversions two ways: the share of each channel's removal effect times the total
# conversions (the usual aggregate read-out), and per conversion as the pipeline credits them,
# with weighted_touch_credits splitting each conversion over its channels by removal effect.
# ---------------------------------------------------------------------------------------------


def _shares_of_total(effects: dict[str, float], total: float) -> dict[str, float]:
    """RE(c) / sum of RE x total."""
    return {c: re / sum(effects.values()) * total for c, re in effects.items()}


def _markov_touch_credits(paths: pd.DataFrame, effects: dict[str, float]) -> pd.DataFrame:
    """Per-touch Markov credits of the converting journeys of a path table."""
    return weighted_touch_credits(_touches_from_paths(paths), effects)


def test_markov_two_channels_by_hand():
    # Paths: A > B (1 conversion, 1 null), A (1 conversion), B (0 conversions, 1 null).
    # Transition counts:                       probabilities:
    #   start -> A 3, start -> B 1               start -> A 3/4, start -> B 1/4
    #   A -> B 2, A -> conv 1                    A -> B 2/3, A -> conv 1/3
    #   B -> conv 1, B -> null 2                 B -> conv 1/3, B -> null 2/3
    # P(conv | B) = 1/3; P(conv | A) = 1/3 + 2/3 * 1/3 = 5/9
    # P(conv) = 3/4 * 5/9 + 1/4 * 1/3 = 5/12 + 1/12 = 1/2
    # Remove A (start -> A goes to null): P = 1/4 * 1/3 = 1/12, RE(A) = 1 - (1/12)/(1/2) = 5/6
    # Remove B (start -> B and A -> B go to null): P = 3/4 * 1/3 = 1/4, RE(B) = 1 - 1/2 = 1/2
    # Shares 5/6 : 1/2 = 5/8 : 3/8 of the 2 conversions: A 1.25, B 0.75
    # Per conversion: A > B splits 5/8 : 3/8, A goes wholly to A: A 13/8, B 3/8
    paths = pd.DataFrame({"path": ["A > B", "A", "B"], "conversions": [1, 1, 0], "nulls": [1, 0, 1]})
    effects = markov_removal_effects(paths)
    assert list(effects) == ["A", "B"]
    assert effects == pytest.approx({"A": 5 / 6, "B": 1 / 2}, abs=EXACT)
    assert _shares_of_total(effects, 2) == pytest.approx({"A": 1.25, "B": 0.75}, abs=EXACT)
    credits = _markov_touch_credits(paths, effects)
    assert _credited(credits) == pytest.approx({"A": 13 / 8, "B": 3 / 8}, abs=EXACT)


def test_markov_brief_example_by_hand():
    # Paths: A > B (1 conversion, 1 null), A (1 conversion).
    #   start -> A 1; A -> B 2/3, A -> conv 1/3; B -> conv 1/2, B -> null 1/2
    #   P(conv) = 1/3 + 2/3 * 1/2 = 2/3
    #   remove A: P = 0, RE(A) = 1; remove B: P = 1/3, RE(B) = 1 - (1/3)/(2/3) = 1/2
    #   shares 1 : 1/2 = 2/3 : 1/3 of 2 conversions: A 4/3, B 2/3
    #   per conversion: A > B splits 2/3 : 1/3, A goes wholly to A: A 5/3, B 1/3
    paths = pd.DataFrame({"path": ["A > B", "A"], "conversions": [1, 1], "nulls": [1, 0]})
    effects = markov_removal_effects(paths)
    assert effects == pytest.approx({"A": 1.0, "B": 0.5}, abs=EXACT)
    assert _shares_of_total(effects, 2) == pytest.approx({"A": 4 / 3, "B": 2 / 3}, abs=EXACT)
    credits = _markov_touch_credits(paths, effects)
    assert _credited(credits) == pytest.approx({"A": 5 / 3, "B": 1 / 3}, abs=EXACT)


def test_markov_textbook_example():
    # Paths: C1 > C2 > C3 (conversion, value 100), C1 (null), C2 > C3 (null).
    #   start -> C1 2/3, start -> C2 1/3; C1 -> C2 1/2, C1 -> null 1/2; C2 -> C3 1;
    #   C3 -> conv 1/2, C3 -> null 1/2
    #   P(conv) = 2/3 * 1/2 * 1 * 1/2 + 1/3 * 1 * 1/2 = 1/6 + 1/6 = 1/3
    #   remove C1: P = 1/3 * 1/2 = 1/6, RE = 1/2; remove C2 or C3: P = 0, RE = 1
    #   shares 0.5 : 1 : 1 = 0.2 : 0.4 : 0.4; value 20 / 40 / 40
    # The one conversion touched all three channels, so per conversion the split is the same.
    paths = pd.DataFrame(
        {
            "path": ["C1 > C2 > C3", "C1", "C2 > C3"],
            "conversions": [1, 0, 0],
            "nulls": [0, 1, 1],
            "value": [100.0, 0.0, 0.0],
        }
    )
    effects = markov_removal_effects(paths)
    assert effects == pytest.approx({"C1": 0.5, "C2": 1.0, "C3": 1.0}, abs=EXACT)
    expected = {"C1": 0.2, "C2": 0.4, "C3": 0.4}
    expected_value = {"C1": 20.0, "C2": 40.0, "C3": 40.0}
    assert _shares_of_total(effects, 1) == pytest.approx(expected, abs=EXACT)
    assert _shares_of_total(effects, 100.0) == pytest.approx(expected_value, abs=1e-10)
    credits = _markov_touch_credits(paths, effects)
    assert _credited(credits) == pytest.approx(expected, abs=EXACT)
    assert _credited(credits, "credited_revenue") == pytest.approx(expected_value, abs=1e-10)


def test_markov_single_channel_world():
    # start -> A -> conv (3/10) or null (7/10); without A nothing converts: RE = 1
    paths = pd.DataFrame({"path": ["A", "A > A"], "conversions": [3, 0], "nulls": [5, 2]})
    effects = markov_removal_effects(paths)
    assert effects == {"A": 1.0}
    assert _shares_of_total(effects, 3) == pytest.approx({"A": 3.0}, abs=EXACT)
    assert _credited(_markov_touch_credits(paths, effects)) == pytest.approx({"A": 3.0}, abs=EXACT)


def test_markov_nothing_converts():
    paths = pd.DataFrame({"path": ["A > B", "B"], "conversions": [0, 0], "nulls": [4, 1]})
    effects = markov_removal_effects(paths)
    assert effects == {"A": 0.0, "B": 0.0}
    # with every weight 0 a conversion is split equally over its distinct channels
    one = pd.DataFrame({"path": ["A > B > B"], "conversions": [1]})
    credits = _markov_touch_credits(one, effects)
    assert list(credits["credit"]) == pytest.approx([0.5, 0.25, 0.25], abs=EXACT)


def test_markov_nulls_column_is_optional_and_weightless_rows_are_ignored():
    # Without nulls every journey converts; both channels are needed on A > B: RE = 1 each.
    # The path with neither conversions nor nulls (over channel Z) carries nothing.
    paths = pd.DataFrame({"path": ["A > B", "Z"], "conversions": [4, 0]})
    assert markov_removal_effects(paths) == {"A": 1.0, "B": 1.0}


def test_markov_repeats_are_self_loops_and_collapsing_does_not_change_order_one():
    # A > A > B (conversion), A (null). Kept repeats:
    #   start -> A 1; A -> A 1/3, A -> B 1/3, A -> null 1/3; B -> conv 1
    #   h(A) = 1/3 h(A) + 1/3  =>  h(A) = 1/2 = P(conv)
    # Collapsed (A > B, A): A -> B 1/2, A -> null 1/2  =>  h(A) = 1/2, the same.
    # Removing either channel leaves no way to convert: RE(A) = RE(B) = 1.
    paths = pd.DataFrame({"path": ["A > A > B", "A"], "conversions": [1, 0], "nulls": [0, 1]})
    assert markov_removal_effects(paths) == pytest.approx({"A": 1.0, "B": 1.0}, abs=EXACT)
    assert markov_removal_effects(paths, collapse_repeats=True) == pytest.approx(
        {"A": 1.0, "B": 1.0}, abs=EXACT
    )


ORDER_TWO_PATHS = pd.DataFrame(
    {"path": ["B > A > A > C", "D > A > A > E"], "conversions": [1, 0], "nulls": [0, 1]}
)


def test_markov_order_one_on_repeated_paths():
    # start -> B 1/2, start -> D 1/2; B -> A, D -> A; A -> A 1/2, A -> C 1/4, A -> E 1/4;
    # C -> conv, E -> null.  h(A) = 1/2 h(A) + 1/4 => h(A) = 1/2 = P(conv)
    # remove B: P = 1/2 * 1/2 = 1/4, RE = 1/2; D likewise; A, C: P = 0, RE = 1; E: RE = 0
    expected = {"A": 1.0, "B": 0.5, "C": 1.0, "D": 0.5, "E": 0.0}
    assert markov_removal_effects(ORDER_TWO_PATHS) == pytest.approx(expected, abs=EXACT)
    assert markov_removal_effects(ORDER_TWO_PATHS, collapse_repeats=True) == pytest.approx(
        expected, abs=EXACT
    )


def test_markov_order_two_depends_on_repeats():
    # Kept repeats, states are the last two channels:
    #   B > A > A > C visits (B), (B,A), (A,A), (A,C); D > A > A > E visits (D), (D,A), (A,A), (A,E)
    #   Both journeys meet in (A,A): (A,A) -> (A,C) 1/2, -> (A,E) 1/2, so P(conv) = 1/2 and
    #   B and D each bring half of it: RE(B) = RE(D) = 1/2 as in order 1.
    kept = markov_removal_effects(ORDER_TWO_PATHS, order=2)
    assert kept == pytest.approx({"A": 1.0, "B": 0.5, "C": 1.0, "D": 0.5, "E": 0.0}, abs=EXACT)
    # Collapsed: B > A > C visits (B), (B,A), (A,C) -> conv; D > A > E visits (D), (D,A), (A,E)
    #   -> null. The chains no longer meet: P(conv) = 1/2 comes only through B:
    #   remove B: P = 0, RE = 1; remove D: P = 1/2, RE = 0
    collapsed = markov_removal_effects(ORDER_TWO_PATHS, order=2, collapse_repeats=True)
    assert collapsed == pytest.approx({"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 0.0}, abs=EXACT)


def test_markov_order_must_be_positive():
    with pytest.raises(ValueError, match="order"):
        markov_removal_effects(ORDER_TWO_PATHS, order=0)


# ---------------------------------------------------------------------------------------------
# Markov chain, properties on random path tables
# ---------------------------------------------------------------------------------------------


def _random_paths(seed: int, rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    paths = [list(rng.choice(CHANNELS, size=rng.integers(1, 6))) for _ in range(rows)]
    conversions = rng.integers(0, 6, rows)
    return pd.DataFrame(
        {
            "path": paths,
            "conversions": conversions,
            "nulls": rng.integers(0, 6, rows),
            # the value of a row's conversions: none without conversions
            "value": np.where(conversions > 0, rng.gamma(2.0, 40.0, rows).round(2), 0.0),
        }
    )


def _conversion_probability_by_iteration(paths: pd.DataFrame, removed: str | None) -> float:
    """P(conv) by iterating h <- Q h + r on dictionaries, independently of the module's solver."""
    counts: dict[str, dict[str, float]] = {}
    for path, conv, null in zip(paths["path"], paths["conversions"], paths["nulls"]):
        steps = ["start", *path]
        for a, b in itertools.pairwise(steps):
            counts.setdefault(a, {}).setdefault(b, 0.0)
            counts[a][b] += conv + null
        counts.setdefault(steps[-1], {}).setdefault("conv", 0.0)
        counts[steps[-1]]["conv"] += conv
        counts[steps[-1]].setdefault("null", 0.0)
        counts[steps[-1]]["null"] += null
    h = dict.fromkeys(counts, 0.0) | {"conv": 1.0, "null": 0.0}
    if removed is not None:
        h[removed] = 0.0
    for _ in range(100_000):
        new = {
            state: sum(n * h[b] for b, n in out.items()) / sum(out.values())
            for state, out in counts.items()
            if state != removed and sum(out.values()) > 0
        }
        change = max(abs(new[s] - h[s]) for s in new)
        h.update(new)
        if change < 1e-16:
            break
    return h["start"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_markov_matches_an_independent_iterative_solution(seed):
    paths = _random_paths(seed)
    base = _conversion_probability_by_iteration(paths, None)
    expected = {c: 1 - _conversion_probability_by_iteration(paths, c) / base for c in sorted(CHANNELS)}
    assert markov_removal_effects(paths) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_markov_credits_sum_to_totals(seed):
    paths = _random_paths(seed)
    effects = markov_removal_effects(paths)
    assert all(0 <= re <= 1 for re in effects.values())
    credits = _markov_touch_credits(paths, effects)
    per_conversion = credits.groupby("conversion_id")["credit"].sum()
    assert np.allclose(per_conversion, 1.0, rtol=0, atol=1e-12)
    assert credits["credit"].sum() == pytest.approx(paths["conversions"].sum(), abs=1e-9)
    assert credits["credited_revenue"].sum() == pytest.approx(paths["value"].sum(), abs=1e-9)


def test_markov_collapse_repeats_is_a_no_op_at_order_one():
    paths = _random_paths(6)
    assert markov_removal_effects(paths, collapse_repeats=True) == pytest.approx(
        markov_removal_effects(paths), abs=1e-12
    )


def test_markov_path_strings_lists_and_tuples_agree():
    as_lists = _random_paths(7)
    as_strings = as_lists.assign(path=[" > ".join(p) for p in as_lists["path"]])
    as_tuples = as_lists.assign(path=[tuple(p) for p in as_lists["path"]])
    for order in (1, 2):
        expected = markov_removal_effects(as_lists, order=order)
        assert markov_removal_effects(as_strings, order=order) == expected
        assert markov_removal_effects(as_tuples, order=order) == expected


def test_markov_channel_order_is_sorted_whatever_the_row_order():
    paths = _random_paths(8)
    effects = markov_removal_effects(paths)
    shuffled = markov_removal_effects(paths.sample(frac=1, random_state=3))
    assert list(effects) == list(shuffled) == sorted(CHANNELS)
    assert shuffled == pytest.approx(effects, abs=1e-12)


def test_path_table_validation():
    with pytest.raises(ValueError, match="non-negative"):
        markov_removal_effects(pd.DataFrame({"path": ["a"], "conversions": [-1]}))
    with pytest.raises(ValueError, match="empty"):
        markov_removal_effects(pd.DataFrame({"path": ["a >  > b"], "conversions": [1]}))
    with pytest.raises(ValueError, match="conversions"):
        markov_removal_effects(pd.DataFrame({"path": ["a"]}))


# ---------------------------------------------------------------------------------------------
# Heuristic properties on random path tables
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [m for m in HEURISTIC_MODELS if m != "time_decay"])
def test_heuristic_credits_sum_to_totals(model):
    paths = _random_paths(9)
    result = touch_credits(_touches_from_paths(paths), model)
    assert result["credit"].sum() == pytest.approx(paths["conversions"].sum(), abs=1e-9)
    assert result["credited_revenue"].sum() == pytest.approx(paths["value"].sum(), abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Touch level
# ---------------------------------------------------------------------------------------------


def _random_touches(seed: int, conversions: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 7, conversions)
    ids = np.repeat(np.arange(conversions), lengths)
    conversion_time = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 86_400, conversions), unit="s"
    )
    repeated_time = np.repeat(conversion_time.to_numpy(), lengths)
    touches = pd.DataFrame(
        {
            "conversion_id": [f"order-{i}" for i in ids],
            "touch_index": np.concatenate([np.arange(n) * 10 for n in lengths]),
            "channel": rng.choice(CHANNELS, size=len(ids)),
            "touch_time": pd.Series(repeated_time)
            - pd.to_timedelta(rng.integers(0, 40 * 86_400, len(ids)), unit="s"),
            "conversion_time": repeated_time,
            "revenue": np.repeat(rng.gamma(2.0, 30.0, conversions).round(2), lengths),
        }
    )
    # shuffle rows and give them a non-default index: the result must keep both
    touches = touches.sample(frac=1, random_state=seed)
    touches.index = touches.index * 7 + 1
    return touches


def _reference_fractions(channels: list[str], ages: list[float], model: str) -> list[float]:
    """One conversion's fractions under a model, from the definitions (half-life 7, "Direct")."""
    n = len(channels)
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "last_non_direct":
        others = [i for i, channel in enumerate(channels) if channel != "Direct"]
        target = others[-1] if others else n - 1
        return [float(i == target) for i in range(n)]
    if model == "linear":
        return [1.0 / n] * n
    if model == "time_decay":
        weights = [0.5 ** (age / 7.0) for age in ages]
        return [w / sum(weights) for w in weights]
    assert model == "position_based"
    if n <= 2:
        return [1.0 / n] * n
    return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]


@pytest.mark.parametrize("model", HEURISTIC_MODELS)
def test_touch_credits_sum_to_one_per_conversion(model):
    touches = _random_touches(seed=11)
    result = touch_credits(touches, model)
    assert result.index.equals(touches.index)
    assert result[touches.columns].equals(touches)
    per_conversion = result.groupby("conversion_id")
    assert np.allclose(per_conversion["credit"].sum(), 1.0, rtol=0, atol=1e-12)
    revenue = per_conversion["revenue"].first()
    assert np.allclose(per_conversion["credited_revenue"].sum(), revenue, rtol=0, atol=1e-9)
    assert (result["credit"] >= 0).all()


@pytest.mark.parametrize("model", HEURISTIC_MODELS)
def test_touch_credits_agree_with_the_definitions(model):
    touches = _random_touches(seed=12)
    expected = pd.Series(np.nan, index=touches.index)
    for _conversion_id, group in touches.sort_values("touch_index").groupby("conversion_id"):
        ages = (group["conversion_time"] - group["touch_time"]).dt.total_seconds() / 86_400
        expected[group.index] = _reference_fractions(list(group["channel"]), list(ages), model)
    credited = touch_credits(touches, model)
    assert np.allclose(credited["credit"], expected, rtol=0, atol=1e-12)
    assert np.allclose(credited["credited_revenue"], expected * touches["revenue"], rtol=0, atol=1e-9)
    by_channel = expected.groupby(touches["channel"]).sum().to_dict()
    assert _credited(credited) == pytest.approx(by_channel, abs=1e-9)


def test_touch_credits_time_decay_uses_conversion_time():
    # two touches 7 days apart, half-life 7: weights 1/2 and 1, credits 1/3 and 2/3
    day = pd.Timestamp("2024-01-10")
    touches = pd.DataFrame(
        {
            "conversion_id": [1, 1],
            "touch_index": [0, 1],
            "channel": ["Email", "Social"],
            "touch_time": [day - pd.Timedelta(days=8), day - pd.Timedelta(days=1)],
            "conversion_time": [day, day],
            "revenue": [90.0, 90.0],
        }
    )
    result = touch_credits(touches, "time_decay")
    assert list(result["credit"]) == pytest.approx([1 / 3, 2 / 3], abs=EXACT)
    assert list(result["credited_revenue"]) == pytest.approx([30.0, 60.0], abs=1e-10)


def test_touch_credits_rejects_inconsistent_revenue():
    touches = pd.DataFrame(
        {
            "conversion_id": [1, 1],
            "touch_index": [0, 1],
            "channel": ["a", "b"],
            "revenue": [5.0, 6.0],
        }
    )
    with pytest.raises(ValueError, match="different revenues"):
        touch_credits(touches, "linear")


def _path_table(touches: pd.DataFrame) -> pd.DataFrame:
    """The path table of converting touch rows: one row per distinct path, nulls 0."""
    paths = Counter(
        tuple(group["channel"])
        for _conversion_id, group in touches.sort_values("touch_index").groupby("conversion_id")
    )
    return pd.DataFrame({"path": list(paths), "conversions": list(paths.values()), "nulls": 0})


def test_markov_fitted_on_touches_credits_every_conversion():
    touches = _random_touches(seed=13)
    table = _path_table(touches)
    assert table["conversions"].sum() == touches["conversion_id"].nunique()
    effects = markov_removal_effects(table)
    assert list(effects) == sorted(touches["channel"].unique())
    credits = weighted_touch_credits(touches, effects)
    assert credits.index.equals(touches.index)
    assert credits["credit"].sum() == pytest.approx(table["conversions"].sum(), abs=1e-9)
    revenue = touches.groupby("conversion_id")["revenue"].first().sum()
    assert credits["credited_revenue"].sum() == pytest.approx(revenue, abs=1e-8)


# ---------------------------------------------------------------------------------------------
# Shapley
# ---------------------------------------------------------------------------------------------


def test_shapley_by_hand():
    # Channel sets: {A, B} 2 conversions, {A} 1, {B, C} 3 (repeats and nulls do not count).
    # phi(A) = 2/2 + 1 = 2; phi(B) = 2/2 + 3/2 = 2.5; phi(C) = 3/2 = 1.5
    paths = pd.DataFrame(
        {
            "path": ["A > B", "A", "B > C > B"],
            "conversions": [2, 1, 3],
            "nulls": [0, 4, 5],
            "value": [20.0, 5.0, 60.0],
        }
    )
    result = weighted_touch_credits(_touches_from_paths(paths), None)
    assert _credited(result) == pytest.approx({"A": 2.0, "B": 2.5, "C": 1.5}, abs=EXACT)
    # values: A 20/2 + 5 = 15; B 20/2 + 60/2 = 40; C 60/2 = 30
    expected_value = {"A": 15.0, "B": 40.0, "C": 30.0}
    assert _credited(result, "credited_revenue") == pytest.approx(expected_value, abs=EXACT)
    # on B > C > B, B's half is shared by its two touches
    last = result[result["conversion_id"] == "c2-0"]
    assert list(last["credit"]) == pytest.approx([0.25, 0.5, 0.25], abs=EXACT)


def _shapley_by_permutations(paths: pd.DataFrame) -> dict[str, float]:
    """The textbook Shapley value: average marginal worth over every order of the players."""
    sets = [frozenset(p) for p in paths["path"]]
    players = sorted(set().union(*sets))

    def worth(coalition: frozenset) -> float:  # v(S): conversions of paths using only S
        return sum(n for s, n in zip(sets, paths["conversions"]) if s <= coalition)

    phi = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        for i, player in enumerate(order):
            phi[player] += worth(frozenset(order[: i + 1])) - worth(frozenset(order[:i]))
    return {p: v / math.factorial(len(players)) for p, v in phi.items()}


def test_shapley_matches_the_permutation_definition():
    paths = _random_paths(14)
    credited = _credited(weighted_touch_credits(_touches_from_paths(paths), None))
    expected = _shapley_by_permutations(paths)
    assert {c: credited.get(c, 0.0) for c in expected} == pytest.approx(expected, abs=1e-9)
    assert set(credited) <= set(expected)
