"""A compact console logger: one line per step start/finish, materialization and check; all warnings."""


import logging
import sys

from dagster import DagsterEventType, logger

_SHOWN = {
    DagsterEventType.STEP_START: "start",
    DagsterEventType.STEP_SUCCESS: "done ",
    DagsterEventType.STEP_FAILURE: "FAIL ",
    DagsterEventType.ASSET_MATERIALIZATION: "  materialized",
    DagsterEventType.ASSET_CHECK_EVALUATION: "  check",
}


def describe_error(error) -> str:
    """The whole causal chain of a Dagster ``SerializableErrorInfo``, innermost cause last.

    A failure inside an op arrives wrapped ("Error occurred while executing op ...:"); what the
    user needs is the cause under it (a deadlock, a lost connection, a bad file name).
    """
    lines: list[str] = []
    seen = 0
    while error is not None and seen < 10:
        text = (error.message or "").strip()
        if text and not text.startswith("Error occurred while executing"):
            kind = error.cls_name or ""
            lines.append(text if not kind or text.startswith(kind) else f"{kind}: {text}")
        error = error.cause or getattr(error, "context", None)
        seen += 1
    return "\n".join(lines) or "(no error message)"


class ProgressHandler(logging.Handler):
    """Prints each step's start/finish, each asset once per step (not once per partition), checks, warnings."""

    def __init__(self):
        super().__init__()
        self._printed: set[tuple[str, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is not None:
            label = _SHOWN.get(event.event_type)
            if label is None:
                return
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                seen = (event.step_key or "", event.asset_key.to_user_string())
                if seen in self._printed:
                    return
                self._printed.add(seen)
                text = f"{label} {seen[1]}"
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                data = event.event_specific_data
                status = "passed" if data.passed else f"FAILED ({data.severity.value})"
                text = f"{label} {data.asset_key.to_user_string()}:{data.check_name} {status}"
            else:
                text = f"{label} {event.step_key}"
                if event.event_type == DagsterEventType.STEP_FAILURE:
                    error = event.event_specific_data.error
                    text += "\n" + describe_error(error) if error else ""
            print(text, file=sys.stderr, flush=True)
        elif record.levelno >= logging.WARNING:
            print(f"[{record.levelname.lower()}] {record.getMessage()}", file=sys.stderr, flush=True)


@logger(description="Compact progress lines on stderr (step starts/finishes, materializations, checks, warnings).")
def progress_logger(_init_context):
    log = logging.Logger("nexus", level=logging.DEBUG)  # Dagster logs its events at DEBUG
    log.addHandler(ProgressHandler())
    return log
