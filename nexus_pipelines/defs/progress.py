"""A compact, causal view of a run, read from the run's events in the instance's event log.

Dagster's own loggers stay in place (the UI and `dagster dev` show the normal logs); `nexus run`
turns the default console logger down to warnings and prints this view instead: one line per
step that finishes having materialized something, fails (with the whole causal chain of the
error) or is skipped, and one per asset check that did not pass. Steps that only evaluate checks
are counted, not listed (a passing check has nothing to say). ``RunView.status`` is the one-line
progress a terminal shows in place: steps done of the plan's total, the steps running, the time.
"""

import threading
import time
from collections.abc import Callable

from dagster import DagsterEventType, DagsterInstance, EventLogEntry

SHOWN_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


# the class Dagster wraps an exception raised inside an op in; its message only names the op
STEP_WRAPPER_CLASS = "DagsterExecutionStepExecutionError"
WRAPPER_MESSAGE = "Error occurred while executing"


def _after_class_name(text: str, kind: str) -> str | None:
    """What follows the class name ``text`` starts with, or None when it starts with none.

    Python's traceback module writes a message as ``ClassName: ...``, with the module for a class
    that is not built in (``psycopg.errors.DeadlockDetected: ...``); Dagster keeps that text as
    the message and the bare class name as ``cls_name``.
    """
    if not kind:
        return None
    head, _colon, rest = text.partition(":")
    qualified = all(part.isidentifier() for part in head.split("."))
    if qualified and (head == kind or head.endswith("." + kind)):
        return rest.strip()
    return None


def describe_error(error) -> str:
    """The whole causal chain of a Dagster ``SerializableErrorInfo``, innermost cause last.

    A failure inside an op arrives wrapped (``dagster._core.errors.DagsterExecutionStepExecutionError:
    Error occurred while executing op ...:``); what the user needs is the cause under it (a
    deadlock, a lost connection, a bad file name). Each link is one ``ClassName: message`` line.
    """
    lines: list[str] = []
    seen = 0
    while error is not None and seen < 10:
        kind = error.cls_name or ""
        text = (error.message or "").strip()
        after = _after_class_name(text, kind)
        below = error.cause or getattr(error, "context", None)
        # the wrapper is left out when there is a cause under it to show instead
        wrapper = kind == STEP_WRAPPER_CLASS or (text if after is None else after).startswith(WRAPPER_MESSAGE)
        if text and not (wrapper and below is not None):
            lines.append(text if after is not None or not kind else f"{kind}: {text}")
        error = below
        seen += 1
    return "\n".join(lines) or "(no error message)"


class RunView:
    """Turns a run's event-log entries into progress lines (step started/done/failed/skipped, failed checks)."""

    def __init__(self, total: int | None = None) -> None:
        self._started: dict[str, float] = {}
        self._materialized: dict[str, set[str]] = {}
        self.total = total  # steps in the run's plan, when known
        self.finished = 0  # steps that succeeded, failed or were skipped
        self.running: dict[str, float] = {}  # step -> start time, in start order

    def status(self, elapsed_seconds: float) -> str:
        """``[12/59] dbt_marts, clv_model · 1m05s``: the progress line of a terminal."""
        total = "?" if self.total is None else str(self.total)
        current = ", ".join(self.running) or ("starting" if not self.finished else "between steps")
        minutes, seconds = divmod(int(elapsed_seconds), 60)
        return f"[{self.finished}/{total}] {current} · {minutes}m{seconds:02d}s"

    def line(self, entry: EventLogEntry) -> str | None:
        event = entry.dagster_event
        if event is None or event.event_type not in SHOWN_EVENTS:
            return None
        step = event.step_key or ""
        if event.event_type == DagsterEventType.STEP_START:
            self._started[step] = entry.timestamp
            self.running[step] = entry.timestamp
            return None
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            if event.asset_key is not None:
                self._materialized.setdefault(step, set()).add(event.asset_key.to_user_string())
            return None
        seconds = entry.timestamp - self._started.get(step, entry.timestamp)
        if event.event_type != DagsterEventType.ASSET_CHECK_EVALUATION:
            self.running.pop(step, None)
            self.finished += 1
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            assets = len(self._materialized.get(step, ()))
            if not assets:
                return None
            return f"done  {step} ({seconds:.1f} s, {assets} asset(s) materialized)"
        if event.event_type == DagsterEventType.STEP_SKIPPED:
            return f"skip  {step} (nothing upstream changed)"
        if event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error if event.step_failure_data else None
            return f"FAIL  {step} ({seconds:.1f} s)\n" + (
                describe_error(error) if error else "(no error message)"
            )
        data = event.asset_check_evaluation_data
        if data.passed:
            return None
        return f"  check {data.asset_key.to_user_string()}:{data.check_name} FAILED ({data.severity.value})"


class EventFollower:
    """Polls the instance's event log for ``run_id`` in a thread and hands each line to ``emit``."""

    def __init__(
        self,
        instance: DagsterInstance,
        run_id: str,
        emit: Callable[[str], None],
        interval_seconds: float = 0.5,
        on_tick: Callable[[str], None] | None = None,
    ) -> None:
        self._instance, self._run_id, self._emit = instance, run_id, emit
        self._interval = interval_seconds
        self._on_tick = on_tick  # gets RunView.status after every poll (a terminal's live line)
        self._view = RunView()
        self._t0 = time.monotonic()
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nexus-run-view", daemon=True)

    def __enter__(self) -> "EventFollower":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()  # whatever arrived after the last poll

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._drain()
            if self._on_tick is not None:
                self._on_tick(self._view.status(time.monotonic() - self._t0))

    def _plan_size(self) -> int | None:
        """The number of steps in the run's execution plan, once the run is stored."""
        try:
            run = self._instance.get_run_by_id(self._run_id)
            if run is None or not run.execution_plan_snapshot_id:
                return None
            return len(self._instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id).steps)
        except Exception:  # a progress counter is never worth failing a run for
            return None

    def _drain(self) -> None:
        if self._view.total is None and self._on_tick is not None:
            self._view.total = self._plan_size()
        while True:
            page = self._instance.get_records_for_run(
                self._run_id, cursor=self._cursor, of_type=SHOWN_EVENTS, limit=1000
            )
            for record in page.records:
                text = self._view.line(record.event_log_entry)
                if text:
                    self._emit(text)
            self._cursor = page.cursor
            if not page.has_more:
                return
