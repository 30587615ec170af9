"""Sales and Traffic JSON report: schema validation, error location, exact values."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from nexus_pipelines.lib.formats import SOURCES, ParseContext, ParsedRow, Rejected, UnreadableFile
from nexus_pipelines.lib.formats.sales_traffic import report_validator


def money(amount: float, currency: str = "USD") -> dict:
    return {"amount": amount, "currencyCode": currency}


def sales_by_date(units: int, sales: float, **extra) -> dict:
    return {
        "orderedProductSales": money(sales),
        "unitsOrdered": units,
        "totalOrderItems": units - 1,
        "averageSalesPerOrderItem": money(11.92),
        "averageUnitsPerOrderItem": 1.15,
        "averageSellingPrice": money(10.37),
        "unitsRefunded": 1,
        "refundRate": 4.35,
        "claimsGranted": 0,
        "claimsAmount": money(0.0),
        "shippedProductSales": money(650.72),
        "unitsShipped": 59,
        "ordersShipped": 54,
        **extra,
    }


def traffic_by_date(sessions: int, **extra) -> dict:
    return {
        "browserPageViews": 1158,
        "mobileAppPageViews": 500,
        "pageViews": 1658,
        "browserSessions": sessions - 94,
        "mobileAppSessions": 94,
        "sessions": sessions,
        "buyBoxPercentage": 10.54,
        "orderItemSessionPercentage": 2.21,
        "unitSessionPercentage": 2.54,
        "averageOfferCount": 9686,
        "averageParentItems": 9630,
        "feedbackReceived": 10,
        "negativeFeedbackReceived": 1,
        "receivedNegativeFeedbackRate": 10.0,
        **extra,
    }


def traffic_by_asin(sessions: int, page_views: int, buy_box: float, unit_session: float) -> dict:
    return {
        "browserSessions": sessions - 5,
        "mobileAppSessions": 5,
        "sessions": sessions,
        "browserSessionPercentage": 0.33,
        "mobileAppSessionPercentage": 0.2,
        "sessionPercentage": 0.26,
        "browserPageViews": page_views - 22,
        "mobileAppPageViews": 22,
        "pageViews": page_views,
        "browserPageViewsPercentage": 0.41,
        "mobileAppPageViewsPercentage": 0.2,
        "pageViewsPercentage": 0.3,
        "buyBoxPercentage": buy_box,
        "unitSessionPercentage": unit_session,
    }


def report() -> dict:
    return {
        "reportSpecification": {
            "reportType": "GET_SALES_AND_TRAFFIC_REPORT",
            "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
            "dataStartTime": "2026-11-01",
            "dataEndTime": "2026-11-02",
            "marketplaceIds": ["ATVPDKIKX0DER"],
        },
        "salesAndTrafficByDate": [
            {
                "date": "2026-11-01",
                "salesByDate": sales_by_date(23, 238.44),
                "trafficByDate": traffic_by_date(1000),
            },
            {
                "date": "2026-11-02",
                "salesByDate": sales_by_date(
                    18,
                    217.7,
                    orderedProductSalesB2B=money(40.1),
                    unitsOrderedB2B=3,
                    totalOrderItemsB2B=2,
                ),
                "trafficByDate": traffic_by_date(1100, pageViewsB2B=77, sessionsB2B=55),
            },
        ],
        "salesAndTrafficByAsin": [
            {
                "parentAsin": "B123456789",
                "childAsin": "B123456789",
                "sku": "AB-1C2D-EFGH",
                "salesByAsin": {"unitsOrdered": 1, "orderedProductSales": money(16.79), "totalOrderItems": 1},
                "trafficByAsin": traffic_by_asin(18, 43, 95.24, 7.69),
            },
            {
                "parentAsin": "B234567890",
                "salesByAsin": {
                    "unitsOrdered": 3,
                    "orderedProductSales": money(26.25, "CAD"),
                    "totalOrderItems": 2,
                },
                "trafficByAsin": traffic_by_asin(13, 33, 0.0, 300.0),
            },
        ],
    }


def landed(tmp_path: Path, content: str | bytes) -> ParseContext:
    path = tmp_path / "amazon" / "us-main" / "sales_traffic" / "2026-11-02.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return ParseContext(
        path, "amazon/us-main/sales_traffic/2026-11-02.json", dt.date(2026, 11, 2), "us-main", "USD"
    )


def rows_of(source: str, ctx: ParseContext) -> list[dict]:
    names = SOURCES[source].column_names
    results = list(SOURCES[source].parser(ctx))
    assert all(isinstance(r, ParsedRow) and len(r.values) == len(names) for r in results)
    return [dict(zip(names, r.values), line=r.line) for r in results]


def test_validator_uses_the_draft_the_schema_declares_and_is_built_once():
    assert isinstance(report_validator(), Draft7Validator)
    assert report_validator() is report_validator()


def test_by_date_rows_have_exact_values(tmp_path):
    document = report()
    ctx = landed(tmp_path, json.dumps(document, indent=2))

    first, second = rows_of("amazon_sales_traffic_by_date", ctx)

    assert first["line"] == 1 and second["line"] == 2  # position in salesAndTrafficByDate
    assert first["store_id"] == "us-main"
    assert first["report_date"] == dt.date(2026, 11, 1)
    assert first["currency"] == "USD"
    assert first["ordered_product_sales"] == Decimal("238.44")
    assert first["ordered_product_sales_b2b"] is None
    assert first["units_ordered"] == 23
    assert first["total_order_items"] == 22
    assert first["units_refunded"] == 1
    assert first["refund_rate"] == Decimal("4.35")
    assert first["shipped_product_sales"] == Decimal("650.72")
    assert (first["units_shipped"], first["orders_shipped"]) == (59, 54)
    assert (first["page_views"], first["sessions"]) == (1658, 1000)
    assert first["page_views_b2b"] is None and first["sessions_b2b"] is None
    assert first["buy_box_percentage"] == Decimal("10.54")
    assert first["unit_session_percentage"] == Decimal("2.54")
    assert first["order_item_session_percentage"] == Decimal("2.21")
    assert first["payload"] == document["salesAndTrafficByDate"][0]

    assert second["report_date"] == dt.date(2026, 11, 2)
    assert second["ordered_product_sales"] == Decimal("217.7")
    assert second["ordered_product_sales_b2b"] == Decimal("40.1")
    assert (second["units_ordered_b2b"], second["total_order_items_b2b"]) == (3, 2)
    assert (second["page_views_b2b"], second["sessions_b2b"]) == (77, 55)


def test_by_asin_rows_are_dated_by_the_report_start(tmp_path):
    ctx = landed(tmp_path, json.dumps(report()))

    first, second = rows_of("amazon_sales_traffic_by_asin", ctx)

    assert first["report_date"] == dt.date(2026, 11, 1)  # dataStartTime, not the file date
    assert (first["parent_asin"], first["child_asin"], first["sku"]) == (
        "B123456789",
        "B123456789",
        "AB-1C2D-EFGH",
    )
    assert first["ordered_product_sales"] == Decimal("16.79")
    assert first["currency"] == "USD"
    assert (first["units_ordered"], first["total_order_items"]) == (1, 1)
    assert (first["page_views"], first["sessions"]) == (43, 18)
    assert first["buy_box_percentage"] == Decimal("95.24")
    assert first["unit_session_percentage"] == Decimal("7.69")
    assert second["child_asin"] is None and second["sku"] is None
    assert second["currency"] == "CAD"
    assert second["buy_box_percentage"] == Decimal("0.0")
    assert second["unit_session_percentage"] == Decimal("300.0")
    assert second["line"] == 2


def test_schema_error_names_json_path_and_line(tmp_path):
    document = report()
    document["salesAndTrafficByDate"][1]["salesByDate"]["unitsOrdered"] = "x"
    text = json.dumps(document, indent=2)
    ctx = landed(tmp_path, text)
    lines = text.split("\n")
    # the first "unitsOrdered" line after the second "date" entry
    second_entry = lines.index('      "date": "2026-11-02",')
    expected_line = next(
        i + 1 for i, line in enumerate(lines) if i > second_entry and '"unitsOrdered": "x"' in line
    )

    for source in ("amazon_sales_traffic_by_date", "amazon_sales_traffic_by_asin"):
        with pytest.raises(UnreadableFile) as info:
            list(SOURCES[source].parser(ctx))
        assert (
            "$.salesAndTrafficByDate[1].salesByDate.unitsOrdered: 'x' is not of type 'integer'"
            in info.value.problem
        )
        assert info.value.line == expected_line


def test_schema_error_reported_is_the_first_in_the_file(tmp_path):
    """The validator walks the schema's order; the message follows the file's order."""
    document = report()
    entry = document["salesAndTrafficByDate"][0]
    traffic = {k: v for k, v in entry["trafficByDate"].items() if k != "sessions"}
    traffic["browserPageViews"] = "late"  # listed first by the schema...
    entry["trafficByDate"] = {"sessions": "early", **traffic}  # ...but after sessions in the file
    text = json.dumps(document, indent=2)
    ctx = landed(tmp_path, text)
    errors = list(report_validator().iter_errors(document))
    assert [e.json_path.rsplit(".", 1)[1] for e in errors] == ["browserPageViews", "sessions"]
    sessions_line = text.split("\n").index('        "sessions": "early",') + 1

    with pytest.raises(UnreadableFile) as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))

    assert info.value.problem.endswith(
        "$.salesAndTrafficByDate[0].trafficByDate.sessions: 'early' is not of type 'integer'"
    )
    assert info.value.line == sessions_line


def test_required_property_error_points_at_the_object(tmp_path):
    document = report()
    del document["salesAndTrafficByDate"][1]["trafficByDate"]["pageViews"]
    text = json.dumps(document, indent=2)
    ctx = landed(tmp_path, text)
    traffic_lines = [
        number for number, line in enumerate(text.split("\n"), 1) if '"trafficByDate": {' in line
    ]

    with pytest.raises(UnreadableFile) as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))

    assert info.value.problem.endswith(
        "$.salesAndTrafficByDate[1].trafficByDate: 'pageViews' is a required property"
    )
    assert info.value.line == traffic_lines[1]


def test_date_format_is_checked(tmp_path):
    document = report()
    document["salesAndTrafficByDate"][0]["date"] = "2026-13-01"
    ctx = landed(tmp_path, json.dumps(document))

    with pytest.raises(UnreadableFile) as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))
    assert "$.salesAndTrafficByDate[0].date: '2026-13-01' is not a 'date'" in info.value.problem
    assert info.value.line == 1  # compact JSON: everything is on line 1


def test_invalid_json_reports_the_decoder_line(tmp_path):
    ctx = landed(tmp_path, '{\n  "reportSpecification": {\n    "reportType": ,\n')

    with pytest.raises(UnreadableFile, match="invalid JSON: Expecting value") as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))
    assert info.value.line == 3


def test_bom_and_gzip_compressed_document_are_read(tmp_path):
    ctx = landed(tmp_path, gzip.compress(b"\xef\xbb\xbf" + json.dumps(report()).encode()))

    rows = rows_of("amazon_sales_traffic_by_date", ctx)

    assert [r["units_ordered"] for r in rows] == [23, 18]


def test_truncated_gzip_document_is_unreadable(tmp_path):
    ctx = landed(tmp_path, gzip.compress(json.dumps(report()).encode())[:-30])

    with pytest.raises(UnreadableFile, match="damaged gzip data") as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))
    assert info.value.line is None


def test_integral_float_and_out_of_range_values(tmp_path):
    document = report()
    document["salesAndTrafficByDate"][0]["salesByDate"]["unitsOrdered"] = 23.0  # valid in draft 7
    document["salesAndTrafficByDate"][1]["trafficByDate"]["pageViews"] = 3_000_000_000
    ctx = landed(tmp_path, json.dumps(document))

    first, second = SOURCES["amazon_sales_traffic_by_date"].parser(ctx)

    assert isinstance(first, ParsedRow)
    units_ordered = SOURCES["amazon_sales_traffic_by_date"].column_names.index("units_ordered")
    assert first.values[units_ordered] == 23
    assert isinstance(second, Rejected) and second.line == 2
    assert second.reason == ("trafficByDate.pageViews: 3000000000 is out of range for an integer column")
    assert json.loads(second.raw) == document["salesAndTrafficByDate"][1]


def test_entry_with_nul_character_is_rejected(tmp_path):
    document = report()
    document["salesAndTrafficByAsin"][0]["sku"] = "AB\x00C"
    ctx = landed(tmp_path, json.dumps(document))

    first, second = SOURCES["amazon_sales_traffic_by_asin"].parser(ctx)

    assert isinstance(first, Rejected) and "NUL character" in first.reason
    assert "\x00" not in first.raw
    assert isinstance(second, ParsedRow)


def test_missing_top_level_section_is_unreadable(tmp_path):
    document = report()
    del document["salesAndTrafficByAsin"]
    ctx = landed(tmp_path, json.dumps(document, indent=2))

    with pytest.raises(UnreadableFile) as info:
        list(SOURCES["amazon_sales_traffic_by_date"].parser(ctx))
    assert info.value.problem.endswith("$: 'salesAndTrafficByAsin' is a required property")
    assert info.value.line == 1


def test_compiled_check_agrees_with_jsonschema_on_damaged_documents():
    """The fast compiled validator decides alone for valid documents, so it must accept and
    reject exactly what jsonschema does: 300 random damages of a valid report."""
    import copy
    import random

    import fastjsonschema

    from nexus_pipelines.lib.formats.sales_traffic import _fast_validator

    def paths(node, prefix=()):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))

    document = report()
    every = list(paths(document))
    rng = random.Random(7)
    verdicts = set()
    for _ in range(300):
        damaged = copy.deepcopy(document)
        path = rng.choice(every)
        parent = damaged
        for key in path[:-1]:
            parent = parent[key]
        change = rng.choice(["delete", "text", "negative", "bad date", "null", "extra"])
        if change == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif change == "extra" and isinstance(parent, dict):
            parent["unexpectedKey"] = 1
        else:
            parent[path[-1]] = {"text": "x", "negative": -1, "bad date": "2026-02-30", "null": None}.get(
                change, []
            )
        by_jsonschema = not any(True for _ in report_validator().iter_errors(damaged))
        try:
            _fast_validator()(damaged)
            by_compiled = True
        except fastjsonschema.JsonSchemaException:
            by_compiled = False
        assert by_compiled == by_jsonschema, (path, change)
        verdicts.add(by_jsonschema)
    assert verdicts == {True, False}  # the damages include both kinds
