"""``generate``: write a complete, deterministic landing folder and its ``truth.json``.

The same arguments always give byte-identical files: all randomness comes from named streams of
one seed, nothing reads the clock, and every collection is written in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from tqdm import tqdm

from ..lib.files import private_dir
from .amazon import AmazonStore
from .amazon_files import INVENTORY_COLUMNS, ORDERS_COLUMNS, RETURNS_COLUMNS
from .catalog import STORES, build_catalog
from .corruption import damage_rows
from .customers import build_users, plan_web_sessions
from .streams import stream
from .truth import FileCounts, build_truth
from .web_files import WebDayWriter
from .writers import Clock, write_json, write_table, write_text


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 42
    start: date = date(2026, 3, 1)
    days: int = 180
    stores: int = 2
    skus: int = 20
    users: int = 3000
    events_per_day: int | None = None  # None: what ``users`` produce plus a few anonymous visitors
    bad_rows: float = 0.0  # share of data lines replaced by malformed ones

    def __post_init__(self):
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if not 1 <= self.stores <= len(STORES):
            raise ValueError(f"stores must be between 1 and {len(STORES)}")
        if self.skus < 4:
            raise ValueError("skus must be >= 4")
        if self.users < 1:
            raise ValueError("users must be >= 1")
        if self.events_per_day is not None and self.events_per_day < 0:
            raise ValueError("events_per_day must be >= 0 or None")
        if not 0.0 <= self.bad_rows < 1.0:
            raise ValueError("bad_rows must be in [0, 1)")


def generate(
    out: Path,
    *,
    seed: int = 42,
    start: date = date(2026, 3, 1),
    days: int = 180,
    stores: int = 2,
    skus: int = 20,
    users: int = 3000,
    events_per_day: int | None = None,
    bad_rows: float = 0.0,
    progress: bool = False,
) -> dict:
    """Write the demo landing folder into ``out`` and return the truth (also ``out/truth.json``).

    Existing files of the same names are replaced; other files in ``out`` are left alone. Files are
    written 0600 and the folders created 0700 (``lib/files.py``): they hold customer addresses.
    """
    config = SynthConfig(seed, start, days, stores, skus, users, events_per_day, bad_rows)
    return write_dataset(Path(out), config, progress=progress)


def write_dataset(out: Path, config: SynthConfig, *, progress: bool = False) -> dict:
    """``generate`` for a ready ``SynthConfig``."""
    seed, days = config.seed, config.days
    private_dir(out)  # created 0700; a folder that exists keeps its mode
    clock = Clock(config.start, days)
    catalog = build_catalog(seed, config.skus)
    amazon = [AmazonStore(seed, store, catalog, config.start, days) for store in STORES[: config.stores]]
    plan = plan_web_sessions(seed, catalog, build_users(seed, config.users, days), days)
    counts = FileCounts()
    web = WebDayWriter(
        out,
        seed,
        clock,
        catalog,
        plan,
        days,
        config.users,
        config.events_per_day,
        config.bad_rows,
        counts,
    )

    stores_yaml = yaml.safe_dump(
        [sim.store.as_yaml_entry() for sim in amazon], sort_keys=False, allow_unicode=True
    )
    write_text(out / "stores.yaml", stores_yaml.splitlines())
    counts.add("stores", "stores.yaml", len(amazon))
    for day in tqdm(range(days), desc="synth", unit="day", disable=None if progress else True):
        for sim in amazon:
            _write_amazon_day(out, seed, sim, day, clock, config.bad_rows, counts)
        web.write_day(day)

    truth = build_truth(
        config, clock, catalog, amazon, plan, web.sessions_by_kind, web.sessions_by_channel, counts
    )
    write_json(out / "truth.json", truth, sort_keys=True)
    return truth


def _write_amazon_day(
    out: Path,
    seed: int,
    sim: AmazonStore,
    day: int,
    clock: Clock,
    bad_rows: float,
    counts: FileCounts,
) -> None:
    files = sim.step(day, clock)
    folder = f"amazon/{sim.store.store_id}"
    day_name = clock.iso_date(day)
    for kind, header, rows in (
        ("orders", ORDERS_COLUMNS, files.orders),
        ("inventory", INVENTORY_COLUMNS, files.inventory),
        ("returns", RETURNS_COLUMNS, files.returns),
    ):
        bad = damage_rows(stream(seed, "damage", kind, sim.store.store_id, day), kind, header, rows, bad_rows)
        relative = f"{folder}/{kind}/{day_name}.txt"
        write_table(out / relative, header, rows)
        counts.add(kind, relative, len(rows), bad)
    relative = f"{folder}/sales_traffic/{day_name}.json"
    write_json(out / relative, files.sales_traffic)
    counts.add("sales_traffic", relative, 1)
