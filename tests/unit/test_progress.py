"""The compact run view (defs/progress.py): the lines it prints for a run's events."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EventLogEntry,
    asset,
    asset_check,
    define_asset_job,
)
from dagster._core.events import StepMaterializationData
from dagster._core.execution.plan.objects import StepFailureData, StepSuccessData
from dagster._utils.error import SerializableErrorInfo

from nexus_pipelines.defs.progress import SHOWN_EVENTS, EventFollower, RunView, describe_error


def error(message, cls_name="", cause=None, context=None) -> SerializableErrorInfo:
    return SerializableErrorInfo(message, [], cls_name, cause, context)


def entry(event_type: DagsterEventType, step: str, timestamp: float, data=None) -> EventLogEntry:
    event = DagsterEvent(event_type.value, "refresh_all", step_key=step, event_specific_data=data)
    return EventLogEntry(None, 20, "", "run-1", timestamp, step_key=step, dagster_event=event)


def materialized(step: str, timestamp: float, *key: str) -> EventLogEntry:
    data = StepMaterializationData(AssetMaterialization(AssetKey(list(key))))
    return entry(DagsterEventType.ASSET_MATERIALIZATION, step, timestamp, data)


def succeeded(step: str, timestamp: float) -> EventLogEntry:
    # the view times a step by its events' timestamps, not by Dagster's own duration
    return entry(DagsterEventType.STEP_SUCCESS, step, timestamp, StepSuccessData(duration_ms=0.0))


def failed(step: str, timestamp: float, err) -> EventLogEntry:
    return entry(DagsterEventType.STEP_FAILURE, step, timestamp, StepFailureData(err, None))


def check(step: str, passed: bool, severity=AssetCheckSeverity.ERROR) -> EventLogEntry:
    data = AssetCheckEvaluation(
        AssetKey(["marts", "fct_orders"]), "not_null_order_id", passed, severity=severity
    )
    return entry(DagsterEventType.ASSET_CHECK_EVALUATION, step, 0.0, data)


# ---------------------------------------------------------------- describe_error
def test_the_wrapper_is_dropped_and_the_chain_is_listed_innermost_last():
    chain = error(
        'Error occurred while executing op "raw_amazon_orders":\n',
        "DagsterExecutionStepExecutionError",
        cause=error(
            "RuntimeError: loading raw.amazon_orders failed\n",
            "RuntimeError",
            cause=error("could not obtain lock on relation\n", "LockNotAvailable"),
        ),
    )
    assert describe_error(chain) == (
        "RuntimeError: loading raw.amazon_orders failed\nLockNotAvailable: could not obtain lock on relation"
    )


def test_the_class_name_is_not_repeated_and_an_implicit_context_is_followed():
    # raised while handling another exception: Dagster keeps that one as ``context``, not ``cause``
    chain = error("KeyError: 'sku'", "KeyError", context=error("bad header", "ValueError"))
    assert describe_error(chain) == "KeyError: 'sku'\nValueError: bad header"


def test_an_explicit_cause_wins_over_the_context():
    chain = error("outer", "A", cause=error("the cause", "B"), context=error("the context", "C"))
    assert describe_error(chain) == "A: outer\nB: the cause"


def test_a_message_without_a_class_name_stands_alone_and_blank_links_are_skipped():
    chain = error("  top  ", None, cause=error("   ", "Empty", cause=error("bottom", "")))
    assert describe_error(chain) == "top\nbottom"


def test_the_wrapper_is_dropped_when_its_message_starts_with_its_qualified_class_name():
    # Dagster 1.13 keeps the traceback module's text: the wrapper's message names its class first
    chain = error(
        "dagster._core.errors.DagsterExecutionStepExecutionError: "
        'Error occurred while executing op "raw_amazon_orders":\n',
        "DagsterExecutionStepExecutionError",
        cause=error("psycopg.errors.LockNotAvailable: could not obtain lock\n", "LockNotAvailable"),
    )
    assert describe_error(chain) == "psycopg.errors.LockNotAvailable: could not obtain lock"


def test_the_wrapper_class_is_dropped_whatever_its_message():
    chain = error("step failed", "DagsterExecutionStepExecutionError", context=error("boom", "OSError"))
    assert describe_error(chain) == "OSError: boom"


def test_a_wrapper_with_nothing_under_it_is_shown_rather_than_nothing():
    lone = error(
        'dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "x":',
        "DagsterExecutionStepExecutionError",
    )
    assert describe_error(lone) == (
        'dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "x":'
    )


def test_a_qualified_class_name_is_not_repeated_and_a_lookalike_prefix_is_not_one():
    assert describe_error(error("psycopg.OperationalError: gone", "OperationalError")) == (
        "psycopg.OperationalError: gone"
    )
    assert describe_error(error("mymodule.NoMessage", "NoMessage")) == "mymodule.NoMessage"
    # a sentence that happens to end in the class name before a colon is the message, not a name
    assert describe_error(error("bad input. Error: x", "Error")) == "Error: bad input. Error: x"
    assert describe_error(error("ValueErrors: many", "ValueError")) == "ValueError: ValueErrors: many"


def test_nothing_to_say_and_no_error():
    assert describe_error(error("", "X")) == "(no error message)"
    assert describe_error(None) == "(no error message)"


def test_a_chain_is_cut_after_ten_links():
    chain = None
    for i in reversed(range(15)):
        chain = error(f"link {i}", "E", cause=chain)
    assert describe_error(chain).splitlines() == [f"E: link {i}" for i in range(10)]


def test_a_chain_that_loops_back_on_itself_ends():
    looped = SimpleNamespace(message="again", cls_name="E", cause=None, context=None)
    looped.cause = looped
    assert describe_error(looped) == "\n".join(["E: again"] * 10)


# ---------------------------------------------------------------- RunView
def test_a_step_that_starts_materializes_and_succeeds():
    view = RunView()
    assert view.line(entry(DagsterEventType.STEP_START, "raw_orders", 100.0)) is None  # no start lines
    assert view.line(materialized("raw_orders", 101.0, "raw", "amazon_orders")) is None
    assert view.line(materialized("raw_orders", 102.0, "raw", "amazon_returns")) is None
    # the same asset twice (e.g. two partitions) counts once
    assert view.line(materialized("raw_orders", 103.0, "raw", "amazon_orders")) is None
    assert view.line(succeeded("raw_orders", 112.46)) == "done  raw_orders (12.5 s, 2 asset(s) materialized)"


def test_steps_are_timed_and_counted_separately():
    view = RunView()
    view.line(entry(DagsterEventType.STEP_START, "a", 10.0))
    view.line(entry(DagsterEventType.STEP_START, "b", 11.0))
    view.line(materialized("b", 12.0, "marts", "fct_daily_sales"))
    assert view.running == {"a": 10.0, "b": 11.0}
    assert view.line(succeeded("a", 13.0)) is None  # nothing materialized (a check step): counted only
    assert view.line(succeeded("b", 14.25)) == ("done  b (3.2 s, 1 asset(s) materialized)")
    assert view.finished == 2 and view.running == {}


def test_a_success_without_a_start_takes_no_time():
    view = RunView()
    view.line(materialized("x", 49.0, "raw", "x"))
    assert view.line(succeeded("x", 50.0)) == ("done  x (0.0 s, 1 asset(s) materialized)")


def test_the_progress_line_counts_finished_steps_of_the_total_and_names_the_running_ones():
    view = RunView(total=5)
    assert view.status(0.4) == "[0/5] starting · 0m00s"
    view.line(entry(DagsterEventType.STEP_START, "a", 1.0))
    view.line(entry(DagsterEventType.STEP_START, "b", 1.0))
    view.line(succeeded("a", 2.0))
    view.line(entry(DagsterEventType.STEP_SKIPPED, "c", 2.0))
    view.line(check("dbt", True))  # a check evaluation is not a step
    assert view.status(125.9) == "[2/5] b · 2m05s"
    assert RunView().status(61) == "[0/?] starting · 1m01s"


def test_a_skipped_step():
    assert RunView().line(entry(DagsterEventType.STEP_SKIPPED, "dbt_amazon", 1.0)) == (
        "skip  dbt_amazon (nothing upstream changed)"
    )


def test_a_failed_step_shows_its_time_and_the_cause():
    view = RunView()
    view.line(entry(DagsterEventType.STEP_START, "raw_events", 5.0))
    err = error(
        'Error occurred while executing op "raw_events":',
        "DagsterExecutionStepExecutionError",
        cause=error("psycopg.errors.DeadlockDetected: deadlock detected", "DeadlockDetected"),
    )
    assert view.line(failed("raw_events", 7.04, err)) == (
        "FAIL  raw_events (2.0 s)\npsycopg.errors.DeadlockDetected: deadlock detected"
    )


def test_a_failure_without_error_data():
    # Dagster's constructor insists on failure data; an event read back from older storage may lack it
    event = SimpleNamespace(event_type=DagsterEventType.STEP_FAILURE, step_key="s", step_failure_data=None)
    view = RunView()
    view.line(entry(DagsterEventType.STEP_START, "s", 1.0))
    assert (
        view.line(SimpleNamespace(dagster_event=event, timestamp=3.0))
        == "FAIL  s (2.0 s)\n(no error message)"
    )


def test_only_failed_checks_are_shown_with_their_severity():
    view = RunView()
    assert view.line(check("dbt", True)) is None
    assert view.line(check("dbt", False)) == "  check marts/fct_orders:not_null_order_id FAILED (ERROR)"
    assert view.line(check("dbt", False, AssetCheckSeverity.WARN)) == (
        "  check marts/fct_orders:not_null_order_id FAILED (WARN)"
    )


@pytest.mark.parametrize(
    "event_type",
    [DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS, DagsterEventType.LOGS_CAPTURED],
)
def test_other_events_and_plain_log_lines_are_not_shown(event_type):
    view = RunView()
    assert view.line(entry(event_type, "s", 1.0)) is None
    assert view.line(EventLogEntry(None, 20, "a log message", "run-1", 1.0)) is None


# ---------------------------------------------------------------- EventFollower
class PagedInstance:
    """get_records_for_run over a fixed list of entries, ``page`` at a time, with string cursors."""

    def __init__(self, entries: list[EventLogEntry], page: int) -> None:
        self.entries, self.page, self.calls = entries, page, []

    def get_records_for_run(self, run_id, cursor=None, of_type=None, limit=None):
        self.calls.append((run_id, cursor, of_type, limit))
        start = int(cursor or 0)
        chunk = self.entries[start : start + self.page]
        end = start + len(chunk)
        return SimpleNamespace(
            records=[SimpleNamespace(event_log_entry=e) for e in chunk],
            cursor=str(end),
            has_more=end < len(self.entries),
        )


def test_the_follower_reads_every_page_from_its_cursor_and_emits_in_order():
    entries = [
        entry(DagsterEventType.STEP_START, "a", 1.0),
        materialized("a", 2.0, "raw", "x"),
        succeeded("a", 3.0),
        entry(DagsterEventType.STEP_START, "b", 3.0),
        entry(DagsterEventType.STEP_SKIPPED, "b", 3.5),
    ]
    instance = PagedInstance(entries, page=2)
    lines: list[str] = []
    follower = EventFollower(instance, "run-7", lines.append, interval_seconds=3600)
    with follower:
        pass  # nothing polled in between: everything arrives in the final drain
    assert lines == [
        "done  a (2.0 s, 1 asset(s) materialized)",
        "skip  b (nothing upstream changed)",
    ]
    assert [(c[0], c[1]) for c in instance.calls] == [
        ("run-7", None),
        ("run-7", "2"),
        ("run-7", "4"),
    ]
    assert all(c[2] == SHOWN_EVENTS and c[3] == 1000 for c in instance.calls)
    # a later drain starts from the last cursor: nothing is emitted twice
    follower._drain()
    assert len(lines) == 2
    assert instance.calls[-1][1] == "5"


@asset
def landed():
    return 1


@asset(deps=[landed])
def loaded():
    try:
        raise ConnectionError("server closed the connection unexpectedly")
    except ConnectionError as exc:
        raise RuntimeError("loading raw.amazon_orders failed") from exc


@asset_check(asset=landed)
def landed_has_rows():
    return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)


JOB = Definitions(
    assets=[landed, loaded],
    asset_checks=[landed_has_rows],
    jobs=[define_asset_job("view_test", AssetSelection.all())],
).resolve_job_def("view_test")


def follow_a_real_run() -> list[str]:
    lines: list[str] = []
    with DagsterInstance.ephemeral() as instance:
        run_id = str(uuid.uuid4())
        with EventFollower(instance, run_id, lines.append, interval_seconds=0.05):
            result = JOB.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
        assert not result.success
    return lines


def test_the_follower_on_a_real_run():
    lines = follow_a_real_run()
    heads = [line.split("\n")[0].split(" (")[0] for line in lines]
    assert sorted(heads) == sorted(
        [
            "done  landed",
            "  check landed:landed_has_rows FAILED",
            "FAIL  loaded",
        ]
    )
    assert next(line for line in lines if line.startswith("done  landed ")).endswith(
        " s, 1 asset(s) materialized)"
    )
    assert "  check landed:landed_has_rows FAILED (WARN)" in lines
    failure = next(line for line in lines if line.startswith("FAIL  loaded"))
    assert failure.splitlines()[-2:] == [
        "RuntimeError: loading raw.amazon_orders failed",
        "ConnectionError: server closed the connection unexpectedly",
    ]


def test_a_real_failure_shows_only_the_cause_under_dagsters_wrapper():
    failure = next(line for line in follow_a_real_run() if line.startswith("FAIL  loaded"))
    assert failure.splitlines()[1:] == [
        "RuntimeError: loading raw.amazon_orders failed",
        "ConnectionError: server closed the connection unexpectedly",
    ]


def test_the_follower_ticks_with_the_plans_step_count():
    ticks: list[str] = []
    with DagsterInstance.ephemeral() as instance:
        run_id = str(uuid.uuid4())
        with EventFollower(instance, run_id, lambda _line: None, interval_seconds=0.01, on_tick=ticks.append):
            JOB.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
            time.sleep(0.1)  # a tick after the run's last event
    # three steps: the two assets and the check
    assert ticks and ticks[-1].startswith("[3/3] between steps · ")
