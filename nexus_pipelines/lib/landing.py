"""The landing folder contract (README, "Landing folder"): which files exist, for which source and date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import yaml

from .formats import SOURCES, partition_date_from_name, store_id_from_path
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


def partition_dates(
    specs: Iterable[SourceSpec], landing_dir: Path, start: dt.date | None = None, end: dt.date | None = None
) -> list[dt.date]:
    """Every partition date in [start, end] (inclusive; None: open) that has at least one landing file.

    A file's date is the one in its name, the partition a run loads it in: a marketing spend file
    whose rows cover several days, or an inventory snapshot, still belongs to that one date, and
    ``stores.yaml`` (reference data, loaded by every run) belongs to none.
    """
    dates = {
        f.partition_date
        for spec in specs
        if spec.partitioned
        for f in files_for(spec, landing_dir, start, end)
    }
    return sorted(d for d in dates if d is not None)


_first_dates: dict[Path, dt.date] = {}


def first_partition_date(landing_dir: Path) -> dt.date | None:
    """The earliest partition date with a landing file (None: no dated file), from file names only.

    A date found is kept for the life of the process, per landing folder: the Dagster partitions
    start there when the definitions load, and every window clipped in the same process must agree
    with them (a file dated earlier arriving later is picked up when the definitions are reloaded).
    A folder without dated files is looked at again on every call, as files may arrive.
    """
    key = Path(landing_dir)
    if key not in _first_dates:
        dates = partition_dates(SOURCES.values(), key) if key.is_dir() else []
        if not dates:
            return None
        _first_dates[key] = dates[0]
    return _first_dates[key]


def no_landing_files_message(start: dt.date | None, end: dt.date | None) -> str:
    """What a run over [start, end] (the dates as asked; None: open) with no landing file says."""
    if start is not None and end is not None:
        return f"no landing files for {start} .. {end}"
    if start is not None:
        return f"no landing files on or after {start}"
    if end is not None:
        return f"no landing files on or before {end}"
    return "no landing files"


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


# Files a landing folder may hold that feed no table: the demo generator's answer key.
NOT_SOURCE_FILES = frozenset({"truth.json"})
ROOT_SOURCE = "stores"  # files under no known folder are reported on the landing root's source


@dataclass(frozen=True)
class UnmatchedFile:
    relative_path: str
    reason: str
    sources: tuple[str, ...]  # the raw sources it most likely was meant for


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(parts) == len(pattern) and all(fnmatchcase(p, g) for p, g in zip(parts, pattern, strict=True))


def _leading_match(parts: tuple[str, ...], pattern: tuple[str, ...]) -> int:
    """How many leading folders of ``parts`` follow the glob (the file name itself excluded)."""
    count = 0
    for part, glob in zip(parts[:-1], pattern[:-1]):
        if not fnmatchcase(part, glob):
            break
        count += 1
    return count


def _reason(parts: tuple[str, ...], patterns: list[tuple[str, ...]], depth: int) -> str:
    """Why a file matches no source, said against the globs it came closest to."""
    if depth == 0:
        if len(parts) == 1:
            return "matches no source: at the landing folder's root only stores.yaml is read"
        return f"matches no source: unknown folder '{parts[0]}/'"
    folder = "/".join(parts[:-1])
    if all(depth == len(p) - 1 and len(parts) == len(p) for p in patterns):
        suffix = PurePosixPath(parts[-1]).suffix or "(none)"
        expected = ", ".join(sorted({"/".join(p) for p in patterns}))
        return f"matches no source: name or extension {suffix!r} in {folder}/ (expected {expected})"
    known = sorted({p[depth].replace("*", "<store_id>") for p in patterns if len(p) > depth + 1})
    if not known:
        expected = ", ".join(sorted({"/".join(p) for p in patterns}))
        return f"matches no source: unknown folder '{folder}/' (expected {expected})"
    return f"matches no source: unknown folder '{folder}/' (known here: {', '.join(known)})"


def unmatched_files(landing_dir: Path, specs: Iterable[SourceSpec] | None = None) -> list[UnmatchedFile]:
    """Every file of the landing folder that no source's glob matches, with the likely sources.

    Hidden files and folders (names starting with ``.``) and ``NOT_SOURCE_FILES`` are skipped. A
    file is attributed to the sources whose glob its leading folders follow furthest (all that tie);
    a file under no known folder at all belongs to the landing root's source, ``stores``.
    """
    specs = list(SOURCES.values() if specs is None else specs)
    patterns = [(spec.name, PurePosixPath(spec.landing_glob).parts) for spec in specs]
    found: list[UnmatchedFile] = []
    if not landing_dir.is_dir():
        return found
    for path in sorted(landing_dir.rglob("*")):
        relative = path.relative_to(landing_dir)
        parts = relative.parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        if len(parts) == 1 and parts[0] in NOT_SOURCE_FILES:
            continue
        if any(_matches(parts, pattern) for _name, pattern in patterns):
            continue
        depths = [(_leading_match(parts, pattern), name, pattern) for name, pattern in patterns]
        best = max(depth for depth, _n, _p in depths)
        if best == 0:
            found.append(UnmatchedFile(relative.as_posix(), _reason(parts, [], 0), (ROOT_SOURCE,)))
            continue
        likely = [(name, pattern) for depth, name, pattern in depths if depth == best]
        reason = _reason(parts, [pattern for _n, pattern in likely], best)
        found.append(UnmatchedFile(relative.as_posix(), reason, tuple(name for name, _p in likely)))
    return found
