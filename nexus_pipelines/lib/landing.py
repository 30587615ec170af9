"""The landing folder contract (README, "Landing folder"): which files exist, for which source and date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .formats import partition_date_from_name, store_id_from_path
from .formats.base import ParseContext, SourceSpec


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str
    partition_date: dt.date | None
    store_id: str | None


def _candidates(spec: SourceSpec, landing_dir: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(landing_dir.glob(spec.landing_glob)):
        if path.is_file() and not path.name.startswith("."):
            yield path, path.relative_to(landing_dir).as_posix()


def files_for(
    spec: SourceSpec, landing_dir: Path, start: dt.date | None = None, end: dt.date | None = None
) -> list[LandingFile]:
    """Landing files of ``spec`` whose partition date lies in [start, end] (inclusive), sorted.

    Files whose name has no valid date belong to no partition: ``misnamed_files`` lists them.
    """
    found = []
    for path, relative in _candidates(spec, landing_dir):
        if spec.partitioned:
            try:
                date = partition_date_from_name(relative)
            except ValueError:
                continue
            if (start and date < start) or (end and date > end):
                continue
        else:
            date = None
        found.append(LandingFile(path, relative, date, store_id_from_path(relative)))
    return found


def misnamed_files(spec: SourceSpec, landing_dir: Path) -> list[tuple[LandingFile, str]]:
    """Files of a partitioned ``spec`` whose name has no valid YYYY-MM-DD date, with the problem."""
    if not spec.partitioned:
        return []
    bad = []
    for path, relative in _candidates(spec, landing_dir):
        try:
            partition_date_from_name(relative)
        except ValueError as exc:
            bad.append(
                (
                    LandingFile(path, relative, None, store_id_from_path(relative)),
                    f"bad date in file name: {exc}",
                )
            )
    return bad


def partition_dates(specs: list[SourceSpec], landing_dir: Path) -> list[dt.date]:
    """Every partition date that has at least one landing file."""
    dates = {f.partition_date for spec in specs if spec.partitioned for f in files_for(spec, landing_dir)}
    return sorted(d for d in dates if d is not None)


def store_currencies(landing_dir: Path) -> dict[str, str]:
    """store_id -> currency from stores.yaml (empty when the file is missing or unreadable)."""
    path = landing_dir / "stores.yaml"
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError:
        return {}  # the stores asset reports the problem; parsing the others must not stop here
    entries = data.get("stores", []) if isinstance(data, dict) else data or []
    return {
        str(e["store_id"]): str(e["currency"])
        for e in entries
        if isinstance(e, dict) and e.get("store_id") and e.get("currency")
    }


def parse_context(file: LandingFile, currencies: dict[str, str]) -> ParseContext:
    return ParseContext(
        path=file.path,
        relative_path=file.relative_path,
        partition_date=file.partition_date or dt.date.today(),
        store_id=file.store_id,
        default_currency=currencies.get(file.store_id or ""),
    )
