"""The demo data generator: determinism, the landing contract, and the planted truths holding."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml

from nexus_pipelines.demo import generate

START = date(2026, 3, 1)
DAYS = 21
STORES = ("store-us", "store-de")
SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "nexus_pipelines/lib/formats/schemas/sellerSalesAndTrafficReport.schema.json"
)

# column lists copied from the formats README (the current report documentation)
ORDERS_HEADER = """\
amazon-order-id, merchant-order-id, purchase-date, last-updated-date, order-status,
fulfillment-channel, sales-channel, order-channel, ship-service-level, product-name,
sku, asin, item-status, quantity, currency, item-price, item-tax, shipping-price,
shipping-tax, gift-wrap-price, gift-wrap-tax, item-promotion-discount,
ship-promotion-discount, ship-city, ship-state, ship-postal-code, ship-country,
promotion-ids, cpf, is-business-order, purchase-order-number, price-designation"""
INVENTORY_HEADER = """sku, fnsku, asin, product-name, condition, your-price, mfn-listing-exists,
mfn-fulfillable-quantity, afn-listing-exists, afn-warehouse-quantity, afn-fulfillable-quantity,
afn-unsellable-quantity, afn-reserved-quantity, afn-total-quantity, per-unit-volume,
afn-inbound-working-quantity, afn-inbound-shipped-quantity, afn-inbound-receiving-quantity,
afn-researching-quantity, afn-reserved-future-supply, afn-future-supply-buyable"""
RETURNS_HEADER = """return-date, order-id, sku, asin, fnsku, product-name, quantity,
fulfillment-center-id, detailed-disposition, reason, status, license-plate-number,
customer-comments"""
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.replace("\n", " ").split(",")]


def _dates(days: int = DAYS) -> list[str]:
    return [(START + timedelta(days=d)).isoformat() for d in range(days)]


def _table(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:-1]]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _events(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "events").glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing")
    truth = generate(root, seed=7, start=START, days=DAYS, users=300)
    return root, truth


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("damaged")
    truth = generate(root, seed=11, start=START, days=6, users=120, bad_rows=0.05)
    return root, truth


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = generate(tmp_path / "a", seed=3, days=4, users=60)
    generate(tmp_path / "b", seed=3, days=4, users=60)
    generate(tmp_path / "c", seed=4, days=4, users=60)
    a, b, c = (_digests(tmp_path / name) for name in "abc")
    assert a == b
    assert set(a) == set(c)
    assert a["amazon/store-us/orders/2026-03-01.txt"] != c["amazon/store-us/orders/2026-03-01.txt"]
    assert a["events/2026-03-02.jsonl"] != c["events/2026-03-02.jsonl"]
    assert json.loads((tmp_path / "a/truth.json").read_text()) == json.loads(json.dumps(first))


def test_every_file_kind_exists_for_every_day_and_store(landing):
    root, truth = landing
    expected = {"stores.yaml", "truth.json"}
    for day in _dates():
        expected |= {f"events/{day}.jsonl", f"marketing/spend/{day}.csv"}
        for store in STORES:
            expected |= {
                f"amazon/{store}/orders/{day}.txt",
                f"amazon/{store}/sales_traffic/{day}.json",
                f"amazon/{store}/inventory/{day}.txt",
                f"amazon/{store}/returns/{day}.txt",
            }
    assert set(_digests(root)) == expected
    assert truth["counts"]["files"] == {
        "events": DAYS,
        "inventory": 2 * DAYS,
        "marketing_spend": DAYS,
        "orders": 2 * DAYS,
        "returns": 2 * DAYS,
        "sales_traffic": 2 * DAYS,
        "stores": 1,
    }
    stores = yaml.safe_load((root / "stores.yaml").read_text())
    assert stores == [
        {
            "store_id": "store-us",
            "name": "Demo Outdoor Co. (US)",
            "marketplace": "ATVPDKIKX0DER",
            "currency": "USD",
            "timezone": "America/Los_Angeles",
        },
        {
            "store_id": "store-de",
            "name": "Demo Outdoor Co. (DE)",
            "marketplace": "A1PA6795UKMFR9",
            "currency": "EUR",
            "timezone": "Europe/Berlin",
        },
    ]


def test_flat_file_headers_are_the_documented_column_lists(landing):
    root, _ = landing
    for kind, header in (
        ("orders", ORDERS_HEADER),
        ("inventory", INVENTORY_HEADER),
        ("returns", RETURNS_HEADER),
    ):
        for path in root.glob(f"amazon/*/{kind}/*.txt"):
            first = path.read_bytes().split(b"\n")[0].decode("utf-8")
            assert first.split("\t") == _columns(header), path
    assert len(_columns(ORDERS_HEADER)) == 32
    assert len(_columns(INVENTORY_HEADER)) == 21
    assert len(_columns(RETURNS_HEADER)) == 13
    spend = (root / f"marketing/spend/{_dates()[0]}.csv").read_text().splitlines()[0]
    assert spend == "date,channel,campaign,spend,currency"


def test_rows_are_well_formed(landing):
    root, _ = landing
    for path in root.glob("amazon/*/*/*.txt"):
        raw = path.read_bytes()
        assert b"\r" not in raw
        width = len(raw.split(b"\n")[0].split(b"\t"))
        for row in _table(path):
            assert len(row) == width
            for column in ("purchase-date", "last-updated-date", "return-date"):
                if column in row:
                    assert TIMESTAMP.match(row[column]), (path, row[column])
    for path in root.glob("amazon/*/orders/*.txt"):
        for row in _table(path):
            unit = Decimal(row["item-price"]) / int(row["quantity"])
            assert unit == unit.quantize(Decimal("0.01")), "item-price is unit price x quantity"


def test_sales_and_traffic_validate_and_reconcile_with_the_orders(landing):
    root, _ = landing
    schema = json.loads(SCHEMA.read_text())
    for store in STORES:
        # newest version of every order line wins; sales belong to the purchase date
        newest: dict[tuple[str, str], dict] = {}
        for path in sorted(root.glob(f"amazon/{store}/orders/*.txt")):
            for row in _table(path):
                key = (row["amazon-order-id"], row["sku"])
                if key not in newest or row["last-updated-date"] > newest[key]["last-updated-date"]:
                    newest[key] = row
        by_day: dict[str, list[dict]] = defaultdict(list)
        for row in newest.values():
            if row["order-status"] != "Cancelled":
                by_day[row["purchase-date"][:10]].append(row)

        for day in _dates():
            report = json.loads((root / f"amazon/{store}/sales_traffic/{day}.json").read_text())
            jsonschema.validate(report, schema)
            spec = report["reportSpecification"]
            assert spec["reportOptions"] == {"dateGranularity": "DAY", "asinGranularity": "CHILD"}
            assert spec["dataStartTime"] == spec["dataEndTime"] == day
            [entry] = report["salesAndTrafficByDate"]
            sales, traffic = entry["salesByDate"], entry["trafficByDate"]
            lines = by_day[day]
            assert Decimal(str(sales["orderedProductSales"]["amount"])) == sum(
                (Decimal(r["item-price"]) for r in lines), Decimal(0)
            )
            assert sales["unitsOrdered"] == sum(int(r["quantity"]) for r in lines)
            assert sales["totalOrderItems"] == len(lines)
            assert traffic["unitSessionPercentage"] == round(
                sales["unitsOrdered"] / traffic["sessions"] * 100, 2
            )
            assert 85 <= traffic["buyBoxPercentage"] <= 100
            assert traffic["pageViews"] >= traffic["sessions"] >= sales["unitsOrdered"]

            units_by_sku = Counter()
            for r in lines:
                units_by_sku[r["sku"]] += int(r["quantity"])
            asins = {a["sku"]: a for a in report["salesAndTrafficByAsin"]}
            assert {s: a["salesByAsin"]["unitsOrdered"] for s, a in asins.items()} == dict(units_by_sku)
            for a in asins.values():
                t = a["trafficByAsin"]
                assert t["unitSessionPercentage"] == round(
                    a["salesByAsin"]["unitsOrdered"] / t["sessions"] * 100, 2
                )
            assert sum(a["trafficByAsin"]["sessions"] for a in asins.values()) <= traffic["sessions"]


def test_order_lifecycle_pending_orders_reappear_the_next_day(landing):
    root, _ = landing
    for store in STORES:
        seen: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        statuses = Counter()
        for day in _dates():
            for row in _table(root / f"amazon/{store}/orders/{day}.txt"):
                seen[row["amazon-order-id"]].append((day, row))
                statuses[row["order-status"]] += 1
        assert statuses["Shipped"] > 4 * statuses["Pending"] > 0
        assert 0 < statuses["Cancelled"] < 0.08 * sum(statuses.values())
        updated = 0
        for versions in seen.values():
            days = sorted({d for d, _ in versions})
            if len(days) == 1:
                continue
            updated += 1
            first, second = days
            assert date.fromisoformat(second) - date.fromisoformat(first) == timedelta(days=1)
            old = [r for d, r in versions if d == first]
            new = [r for d, r in versions if d == second]
            assert {r["order-status"] for r in old} == {"Pending"}
            assert {r["order-status"] for r in new} <= {"Shipped", "Cancelled"}
            assert min(r["last-updated-date"] for r in new) > max(r["last-updated-date"] for r in old)
            assert {r["purchase-date"][:10] for r in new} == {first}
        assert updated > 0
        multi_line = Counter(
            r["amazon-order-id"]
            for d in _dates()[:3]
            for r in _table(root / f"amazon/{store}/orders/{d}.txt")
        )
        assert max(multi_line.values()) > 1
        discounts = [Decimal(r["item-promotion-discount"]) for v in seen.values() for _, r in v]
        assert 0 < sum(1 for d in discounts if d > 0) < 0.2 * len(discounts)


def test_inventory_identities_hold_and_stockouts_stop_sales(landing):
    root, truth = landing
    zero_days: set[tuple[str, str, str]] = set()
    for store in STORES:
        for day in _dates():
            for row in _table(root / f"amazon/{store}/inventory/{day}.txt"):
                q = {
                    k: int(v)
                    for k, v in row.items()
                    if k.startswith("afn-") and k.endswith(("quantity", "supply", "buyable"))
                }
                assert min(q.values()) >= 0
                assert q["afn-warehouse-quantity"] == (
                    q["afn-fulfillable-quantity"] + q["afn-unsellable-quantity"] + q["afn-reserved-quantity"]
                )
                assert (
                    q["afn-total-quantity"]
                    == q["afn-warehouse-quantity"]
                    + q["afn-inbound-working-quantity"]
                    + q["afn-inbound-shipped-quantity"]
                    + q["afn-inbound-receiving-quantity"]
                )
                assert q["afn-reserved-quantity"] <= max(5, 0.1 * q["afn-warehouse-quantity"])
                if q["afn-fulfillable-quantity"] == 0:
                    zero_days.add((store, row["sku"], day))
            for row in _table(root / f"amazon/{store}/orders/{day}.txt"):
                if row["purchase-date"][:10] == day and row["order-status"] != "Cancelled":
                    assert (
                        store,
                        row["sku"],
                        day,
                    ) not in zero_days, "sold a SKU with no fulfillable units"

    episodes = truth["stockout_episodes"]
    recorded = set()
    for e in episodes:
        first = date.fromisoformat(e["first_date"])
        recorded |= {
            (e["store_id"], e["sku"], (first + timedelta(days=n)).isoformat()) for n in range(e["days"])
        }
        assert e["last_date"] == (first + timedelta(days=e["days"] - 1)).isoformat()
    assert recorded == zero_days
    planted = {(e["store_id"], e["sku"]) for e in episodes if e["planted"]}
    assert {s for s, _ in planted} == set(STORES)
    assert any(e["days"] >= 3 for e in episodes if e["planted"])


def test_returns_belong_to_real_shipped_order_lines(landing):
    root, truth = landing
    high_return = set(truth["planted"]["amazon"]["high_return_skus"])
    assert len(high_return) == 2
    rates = truth["planted"]["amazon"]["return_rate_by_sku"]
    normal = [r for s, r in rates.items() if s not in high_return]
    assert all(rates[s] >= 3 * max(normal) / 2 for s in high_return)
    for store in STORES:
        lines = {}
        for day in _dates():
            for row in _table(root / f"amazon/{store}/orders/{day}.txt"):
                lines[(row["amazon-order-id"], row["sku"])] = row  # files are in date order: newest wins
        n_returns = 0
        dispositions = Counter()
        for day in _dates():
            for ret in _table(root / f"amazon/{store}/returns/{day}.txt"):
                n_returns += 1
                order = lines[(ret["order-id"], ret["sku"])]
                assert order["order-status"] == "Shipped"
                assert ret["return-date"][:10] == day
                lag = _ts(ret["return-date"]).date() - _ts(order["purchase-date"]).date()
                assert timedelta(days=3) <= lag <= timedelta(days=45)
                assert 1 <= int(ret["quantity"]) <= int(order["quantity"])
                assert ret["asin"] == order["asin"]
                dispositions[ret["detailed-disposition"]] += 1
        assert n_returns > 0
        assert dispositions.most_common(1)[0][0] == "SELLABLE"


def test_weekend_uplift_is_visible_in_amazon_demand(tmp_path):
    truth = generate(tmp_path, seed=5, days=56, users=20, skus=8)
    assert truth["planted"]["amazon"]["weekly_seasonality"]["Sat"] == 1.3
    units = defaultdict(int)
    for path in (tmp_path / "amazon/store-us/sales_traffic").glob("*.json"):
        report = json.loads(path.read_text())
        units[date.fromisoformat(path.stem)] += report["salesAndTrafficByDate"][0]["salesByDate"][
            "unitsOrdered"
        ]
    weekend = [u for d, u in units.items() if d.weekday() >= 5]
    weekday = [u for d, u in units.items() if d.weekday() < 5]
    ratio = (sum(weekend) / len(weekend)) / (sum(weekday) / len(weekday))
    assert 1.15 < ratio < 1.45


def test_event_message_ids_are_unique_apart_from_planted_resends(landing):
    root, truth = landing
    lines = [
        line
        for p in sorted((root / "events").glob("*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
    ]
    ids = Counter(json.loads(line)["messageId"] for line in lines)
    repeated = {m: n for m, n in ids.items() if n > 1}
    assert set(repeated.values()) == {2}
    assert len(repeated) == truth["counts"]["event_resends"] > 0
    by_id = defaultdict(set)
    for line in lines:
        by_id[json.loads(line)["messageId"]].add(line)
    assert all(len(by_id[m]) == 1 for m in repeated), "a re-send is the same payload"
    assert truth["counts"]["valid_unique_events"] == len(ids)


def test_events_follow_the_segment_spec_and_identity_rules(landing):
    root, truth = landing
    events = _events(root)
    assert {e["type"] for e in events} == {"page", "track", "identify"}
    for e in events:
        assert TIMESTAMP.match(e["timestamp"])
        lag = (_ts(e["receivedAt"]) - _ts(e["timestamp"])).total_seconds()
        assert 1 <= lag <= 6 and _ts(e["timestamp"]) <= _ts(e["sentAt"]) <= _ts(e["receivedAt"])
    for path in sorted((root / "events").glob("*.jsonl")):
        assert {json.loads(line)["timestamp"][:10] for line in path.read_text().splitlines()} == {path.stem}

    # before a device's identify its events carry no userId; from then on they carry it
    identified_at = {}
    for e in sorted(events, key=lambda e: e["timestamp"]):
        if e["type"] == "identify":
            identified_at.setdefault(e["anonymousId"], (e["timestamp"], e["userId"]))
            assert set(e["traits"]) == {"email", "plan"}
    for e in events:
        if e["anonymousId"] is None:
            assert e["event"] == "Order Refunded" and e["userId"]
            continue
        login = identified_at.get(e["anonymousId"])
        if login is None or e["timestamp"] < login[0]:
            assert e["userId"] is None
        else:
            assert e["userId"] == login[1]
    devices_per_user = Counter(user for _, user in identified_at.values())
    assert len(devices_per_user) == truth["web"]["users_with_sessions"]
    assert max(devices_per_user.values()) == 2

    pages = [e for e in events if e["type"] == "page"]
    assert all({"path", "url", "title"} <= set(e["properties"]) for e in pages)
    assert all({"path", "referrer", "url", "title"} <= set(e["context"]["page"]) for e in pages)
    mobile = sum("Mobile" in e["context"]["userAgent"] for e in pages)
    assert 0.3 < mobile / len(pages) < 0.8


def test_orders_funnel_and_experiment_in_events(landing):
    root, truth = landing
    events = list({e["messageId"]: e for e in _events(root) if e["type"] == "track"}.values())
    names = Counter(e["event"] for e in events)
    assert (
        names["Product Viewed"]
        > names["Product Added"]
        > names["Checkout Started"]
        > names["Order Completed"]
        > 0
    )
    assert names["Order Completed"] == truth["web"]["orders"]
    for e in events:
        if e["event"] == "Order Completed":
            p = e["properties"]
            assert set(p) == {"order_id", "revenue", "currency", "products"}
            cents = sum(round(item["price"] * 100) * item["quantity"] for item in p["products"])
            assert cents == round(p["revenue"] * 100)
            assert all(set(item) == {"product_id", "sku", "price", "quantity"} for item in p["products"])
            assert e["userId"]
    experiment = truth["planted"]["web"]["experiment"]
    assert experiment["relative_lift"] == 0.15
    arms = {}
    for e in events:
        if e["event"] == "Experiment Viewed":
            assert e["properties"]["experiment_id"] == "checkout-redesign"
            arms.setdefault(e["userId"], set()).add(e["properties"]["variation_id"])
    assert all(len(v) == 1 for v in arms.values()), "a user always sees the same variation"
    split = Counter(next(iter(v)) for v in arms.values())
    assert set(split) == {"control", "treatment"}
    assert 0.4 < split["treatment"] / sum(split.values()) < 0.6
    realized = truth["web"]["experiment_realized"]
    assert {k: v["exposed_users"] for k, v in realized.items()} == dict(split)


def test_channels_campaigns_and_spend_agree(landing):
    root, truth = landing
    events = _events(root)
    campaigns = {
        (
            e["context"]["campaign"]["source"],
            e["context"]["campaign"]["medium"],
            e["context"]["campaign"]["name"],
        )
        for e in events
        if "campaign" in e.get("context", {})
    }
    planted = truth["planted"]["web"]["channels"]
    multipliers = {name: c["conversion_multiplier"] for name, c in planted.items()}
    assert len(set(multipliers.values())) == len(multipliers) > 5
    defined = {
        (k["source"], k["medium"], k["name"]): name for name, c in planted.items() for k in c["campaigns"]
    }
    assert campaigns == set(defined)
    rows = []
    for path in sorted((root / "marketing/spend").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    assert {(r["channel"], r["campaign"]) for r in rows} == {(c, k[2]) for k, c in defined.items()}
    assert {r["channel"] for r in rows} == {
        "Paid Search",
        "Paid Social",
        "Display",
        "Affiliates",
        "Email",
    }
    assert all(r["currency"] == "USD" and Decimal(r["spend"]) >= 0 for r in rows)
    referrers = Counter(e["context"]["page"]["referrer"] for e in events if e["type"] == "page")
    assert referrers["https://www.instagram.com/"] + referrers["https://l.instagram.com/"] > 0
    assert referrers[""] > 0


def test_sessions_cross_midnight(landing):
    root, _ = landing
    last_of_day: dict[str, datetime] = {}
    crossing = 0
    for path in sorted((root / "events").glob("*.jsonl")):
        first_today: dict[str, datetime] = {}
        for line in path.read_text().splitlines():
            e = json.loads(line)
            first_today.setdefault(e["anonymousId"], _ts(e["timestamp"]))
        crossing += sum(
            1
            for a, t in first_today.items()
            if a in last_of_day and (t - last_of_day[a]).total_seconds() < 1800
        )
        last_of_day = {}
        for line in path.read_text().splitlines():
            e = json.loads(line)
            last_of_day[e["anonymousId"]] = _ts(e["timestamp"])
    assert crossing > 0


def test_truth_records_the_planted_customer_model(landing):
    _, truth = landing
    web = truth["planted"]["web"]
    assert set(web["bgnbd"]) == {"r", "alpha", "a", "b", "time_unit"}
    assert web["bgnbd"]["time_unit"] == "days"
    assert set(web["gamma_gamma"]) == {"p", "q", "v", "currency"}
    window = truth["web"]["observation_window"]
    assert (window["start"], window["end"]) == (_dates()[0], _dates()[-1])
    assert 0 < truth["web"]["repeat_customers"] < truth["web"]["customers"] <= truth["users"]


def _invalid_flat_rows(path: Path) -> int:
    required = {
        "orders": ("amazon-order-id", "purchase-date", "sku", "quantity"),
        "inventory": ("sku", "afn-fulfillable-quantity"),
        "returns": ("return-date", "order-id", "sku", "quantity"),
    }[path.parent.name]
    bad = 0
    for row in _table(path):
        try:
            assert all(row[c] for c in required)
            for c in ("quantity", "afn-fulfillable-quantity"):
                if c in row:
                    int(row[c])
            for c in ("purchase-date", "return-date"):
                if c in row:
                    _ts(row[c])
        except (AssertionError, ValueError):
            bad += 1
    return bad


def _invalid_event_lines(path: Path) -> int:
    bad = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            bad += "messageId" not in json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    return bad


def test_bad_rows_are_injected_and_counted(damaged, landing):
    root, truth = damaged
    found: dict[str, int] = {}
    counted = Counter()
    for path in sorted(root.glob("amazon/*/*/*.txt")) + sorted(root.glob("events/*.jsonl")):
        kind = "events" if path.suffix == ".jsonl" else path.parent.name
        n = _invalid_event_lines(path) if kind == "events" else _invalid_flat_rows(path)
        counted[kind] += n
        if n:
            found[path.relative_to(root).as_posix()] = n
    assert found == truth["counts"]["bad_lines_by_file"]
    assert {k: v for k, v in truth["counts"]["bad_lines"].items() if v} == {
        k: v for k, v in counted.items() if v
    }
    assert counted["orders"] > 0 and counted["events"] > 0 and counted["inventory"] > 0

    clean_root, clean_truth = landing
    assert not any(clean_truth["counts"]["bad_lines"].values())
    assert not clean_truth["counts"]["bad_lines_by_file"]
    assert sum(_invalid_flat_rows(p) for p in clean_root.glob("amazon/*/*/*.txt")) == 0
    assert sum(_invalid_event_lines(p) for p in clean_root.glob("events/*.jsonl")) == 0
