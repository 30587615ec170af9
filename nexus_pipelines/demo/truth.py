"""``truth.json``: what was planted in the data and what was written, for tests to check against."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from .amazon import AmazonStore
from .catalog import Catalog
from .channels import channels_truth
from .customers import WebPlan
from .params import EXPERIMENT, planted_parameters
from .web_sessions import DAY, ORDERED, WebSession
from .writers import Clock


@dataclass
class FileCounts:
    """Files, data lines (header excluded) and damaged lines written, per file kind."""

    files: Counter = field(default_factory=Counter)
    lines: Counter = field(default_factory=Counter)
    bad: Counter = field(default_factory=Counter)
    bad_by_file: dict[str, int] = field(default_factory=dict)
    event_resends: int = 0

    def add(self, kind: str, relative_path: str, lines: int, bad: int = 0) -> None:
        self.files[kind] += 1
        self.lines[kind] += lines
        self.bad[kind] += bad
        if bad:
            self.bad_by_file[relative_path] = bad

    def as_dict(self, days: int) -> dict:
        events = self.lines["events"]
        return {
            "files": dict(self.files),
            "lines": dict(self.lines),
            "bad_lines": dict(self.bad),
            "bad_lines_by_file": self.bad_by_file,
            "event_resends": self.event_resends,
            "valid_unique_events": events - self.bad["events"] - self.event_resends,
            "events_per_day": round(events / days, 1),
        }


def _experiment(sessions: list[WebSession]) -> dict:
    out = {}
    for variation in EXPERIMENT.variations:
        exposed = [s for s in sessions if s.exposed and s.owner.variation == variation]
        ordered = [s for s in exposed if s.stage == ORDERED]
        out[variation] = {
            "exposed_users": len({s.owner.index for s in exposed}),
            "exposed_checkouts": len(exposed),
            "orders_in_exposed_checkouts": len(ordered),
            "checkout_to_order_rate": round(len(ordered) / len(exposed), 6) if exposed else None,
        }
    return out


def _web(
    clock: Clock, days: int, plan: WebPlan, sessions_by_kind: Counter, sessions_by_channel: Counter
) -> dict:
    orders = [s for s in plan.sessions if s.stage == ORDERED]
    orders_per_user = Counter(s.owner.index for s in orders)
    births = sorted({s.owner.index: s.start for s in reversed(orders)}.values())
    devices_seen = {s.device.anonymous_id for s in plan.sessions}
    return {
        "observation_window": {
            "start": clock.iso_date(0),
            "end": clock.iso_date(days - 1),
            "days": days,
            "time_unit": "days",
        },
        "users_with_sessions": len({s.owner.index for s in plan.sessions}),
        "users_with_two_devices_seen": sum(
            1
            for u in plan.users
            if len(u.devices) == 2 and all(d.anonymous_id in devices_seen for d in u.devices)
        ),
        "customers": len(orders_per_user),
        "repeat_customers": sum(1 for n in orders_per_user.values() if n > 1),
        "orders": len(orders),
        "repeat_orders": len(orders) - len(orders_per_user),
        "revenue": round(sum(s.revenue_cents for s in orders) / 100, 2),
        "first_purchase_dates": {
            "first": clock.iso_date(births[0] // DAY) if births else None,
            "last": clock.iso_date(births[-1] // DAY) if births else None,
        },
        "refunds": len(plan.refunds),
        "sessions": dict(sessions_by_kind),
        "sessions_by_channel": dict(sessions_by_channel),
        "orders_by_channel": dict(Counter(s.channel.name for s in orders)),
        "experiment_realized": _experiment(plan.sessions),
    }


def build_truth(
    config,
    clock: Clock,
    catalog: Catalog,
    amazon: list[AmazonStore],
    plan: WebPlan,
    sessions_by_kind: Counter,
    sessions_by_channel: Counter,
    counts: FileCounts,
) -> dict:
    planted = planted_parameters()
    planted["web"]["channels"] = channels_truth()
    planted["amazon"]["high_return_skus"] = list(catalog.high_return_skus)
    planted["amazon"]["return_rate_by_sku"] = {p.sku: p.return_rate for p in catalog.products}
    planted["amazon"]["demand_share_by_sku"] = {p.sku: round(p.demand_share, 6) for p in catalog.products}
    planted["amazon"]["stores"] = {sim.store.store_id: sim.truth(clock) for sim in amazon}
    return {
        "config": {**asdict(config), "start": config.start.isoformat()},
        "seed": config.seed,
        "start": config.start.isoformat(),
        "end": (config.start + timedelta(days=config.days - 1)).isoformat(),
        "days": config.days,
        "stores": [sim.store.as_yaml_entry() for sim in amazon],
        "skus": [p.sku for p in catalog.products],
        "users": config.users,
        "planted": planted,
        "stockout_episodes": [e for sim in amazon for e in sim.stockout_episodes(clock)],
        "web": _web(clock, config.days, plan, sessions_by_kind, sessions_by_channel),
        "counts": counts.as_dict(config.days),
    }
