"""One export: the tables of a store and a period, written as CSV, JSON, Excel and a PDF report.

Files go to ``<exports>/<store>/<grain>/<period>/`` (or a folder of the caller's choice): every
file is written under a temporary name and moved into place only once all of them are complete,
the manifest last, so a killed export leaves the previous files as they were (``publish.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import data, periods
from .model import ExportBundle, Period
from .publish import prune, publish
from .report import write_pdf
from .writers import write_csv, write_json, write_xlsx

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportResult:
    store_id: str
    period: Period
    folder: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> list[str]:
        return [f["name"] for f in self.manifest["files"]]


def safe_name(text: str) -> str:
    """A store id or label as one path component (never a separator or ``..``)."""
    name = _SAFE.sub("_", text).strip("._") or "_"
    return name


def folder_of(root: Path, store_id: str, period: Period) -> Path:
    return root / safe_name(store_id) / period.grain / period.label


def file_names(bundle: ExportBundle, formats: Sequence[str]) -> dict[str, Callable[[Path], Any]]:
    """File name -> writer, for every file of the export in ``formats``."""
    stem = f"{safe_name(bundle.store_id)}_{bundle.period.label}"
    writers: dict[str, Callable[[Path], Any]] = {}
    if "csv" in formats:
        writers.update({f"{t.name}.csv": partial(write_csv, t) for t in bundle.tables})
    if "json" in formats:
        writers.update({f"{t.name}.json": partial(write_json, t) for t in bundle.tables})
    if "xlsx" in formats:
        writers[f"{stem}.xlsx"] = partial(write_xlsx, bundle)
    if "pdf" in formats:
        writers[f"{stem}_report.pdf"] = partial(write_pdf, bundle)
    return writers


def export(
    url: str,
    store_id: str,
    period: Period,
    formats: Sequence[str],
    root: Path,
    *,
    out: Path | None = None,
    analytics_schema: str = "analytics",
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Write the export of ``store_id`` for ``period`` in ``formats``; ``out`` replaces the folder
    under ``root``. Raises ``data.UnknownStore`` for a store the warehouse does not know."""
    bundle = data.bundle(url, store_id, period, analytics_schema=analytics_schema)
    if progress:
        progress("read")
    folder = out or folder_of(root, store_id, period)
    meta = {
        "store_id": store_id,
        "store_name": bundle.store_name,
        "currency": bundle.currency,
        "grain": period.grain,
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "data_through": bundle.data_through.isoformat() if bundle.data_through else None,
        "formats": list(formats),
    }
    manifest = publish(folder, file_names(bundle, formats), meta=meta, progress=progress)
    return ExportResult(store_id, period, folder, manifest)


def daily_periods(as_of: dt.date, first_day: dt.date | None = None) -> list[Period]:
    """What the daily run exports as of a day: that day, the latest complete ISO week and month;
    a period that ends before ``first_day`` (the store's first day with data) is left out."""
    found = [periods.latest_complete(grain, as_of) for grain in periods.GRAINS]
    return [p for p in found if first_day is None or p.end >= first_day]


def steps(formats: Sequence[str], tables: int = len(data.TABLES)) -> int:
    """How many progress calls one export makes: the read, then one per file."""
    per_format = {"csv": tables, "json": tables, "xlsx": 1, "pdf": 1}
    return 1 + sum(per_format[f] for f in formats)


__all__ = ["ExportResult", "daily_periods", "export", "folder_of", "prune", "safe_name", "steps"]
