"""The PDF seller report, read back with independent tools: its text and colours with pdfplumber,
its pages rendered to images with pypdfium2. The bundle is written by hand; every expected figure
below is typed in from it, formatted as the report promises (money with the currency code,
thousands separators, "12.50 %")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pdfplumber
import pypdfium2
import pytest

from nexus_pipelines.lib.exports.model import Column, ExportBundle, ExportTable, Period
from nexus_pipelines.lib.exports.report import period_title, write_pdf

D = Decimal
WEEK = Period("week", dt.date(2026, 10, 5), dt.date(2026, 10, 11), "2026-W41")
GENERATED = dt.datetime(2026, 10, 12, 6, 30, 12, tzinfo=dt.UTC)
SECTIONS = (
    "Store performance",
    "Sales trend",
    "Top and bottom SKUs by sales",
    "Stock at risk",
    "Return reasons",
    "Funnel",
    "Weekly retention",
    "Attribution by channel and model",
)


def _cols(spec: str) -> tuple[Column, ...]:
    return tuple(Column(*item.split(":")) for item in spec.split())


COLUMNS = {
    "store_performance": _cols(
        "metric:text label:text unit:text value:number previous:number change_pct:percent "
        "last_year:number yoy_change_pct:percent"
    ),
    "sales_trend": _cols(
        "date_day:date ordered_product_sales:money units_ordered:integer orders:integer sessions:integer "
        "unit_session_percentage:percent refunds_amount:money net_sales:money"
    ),
    "sales_by_sku": _cols(
        "sku:text asin:text product_name:text ordered_product_sales:money units_ordered:integer "
        "orders:integer share_of_sales:rate"
    ),
    "inventory_health": _cols(
        "snapshot_date:date sku:text asin:text fulfillable_quantity:integer inbound_quantity:integer "
        "units_sold_t30:integer days_of_supply:number lead_time_days:integer reorder_point:integer "
        "suggested_reorder_qty:integer stockout_risk:boolean"
    ),
    "returns_by_reason": _cols(
        "reason:text detailed_disposition:text return_lines:integer units_returned:integer share_of_units:rate"
    ),
    "sku_return_profile": _cols(
        "sku:text units_sold_90d:integer units_returned_90d:integer return_rate_90d:percent "
        "is_high_return:boolean resellable_share:rate days_to_return_median:number"
    ),
    "funnel": _cols(
        "funnel_name:text step_number:integer step_name:text users_entering_step:integer "
        "users_converted:integer conversion_rate_from_start:rate conversion_rate_from_previous:rate"
    ),
    "retention": _cols(
        "cohort_start:date period_offset:integer cohort_size:integer retained:integer retention_rate:rate"
    ),
    "attribution": _cols("model:text channel:text conversions:number revenue:money spend:money roas:number"),
    "ltv_segments": _cols(
        "churn_risk:text customers:integer average_clv_12m:money total_clv_12m:money average_p_alive:rate"
    ),
}

# metric, label, unit, value, previous, change %, last year, yoy change % (consistent with each other:
# net = sales - refunds, AOV = sales / orders, conversion = units / sessions)
PERFORMANCE = [
    ("ordered_product_sales", "Sales", "money", D("14062.50"), D("12500.00"), D("12.50"), D("15625.00"), D("-10.00")),
    ("orders", "Orders", "count", 1250, 1000, D("25.00"), 1250, D("0.00")),
    ("units_ordered", "Units", "count", 1500, 1600, D("-6.25"), None, None),
    ("average_order_value", "AOV", "money", D("11.25"), D("12.50"), D("-10.00"), D("12.50"), D("-10.00")),
    ("sessions", "Sessions", "count", 40000, 32000, D("25.00"), 50000, D("-20.00")),
    ("unit_session_percentage", "Conversion (unit session %)", "percent", D("3.75"), D("5.00"), D("-25.00"),
     D("2.50"), D("50.00")),
    ("refunds_amount", "Refunds", "money", D("1234.50"), D("1000.00"), D("23.45"), D("2469.00"), D("-50.00")),
    ("units_refunded", "Units refunded", "count", 40, 50, D("-20.00"), 0, None),
    ("net_sales", "Net sales", "money", D("12828.00"), D("11500.00"), D("11.55"), D("13156.00"), D("-2.49")),
]  # fmt: skip

# sorted by sales: 5 top, 2 in the middle (not in the report), 5 bottom
SKUS = [
    ("TOP-A", "B0TOPA", "Espresso machine, 15 bar", D("3000.00"), 30, 28, D("0.30")),
    ("TOP-B", "B0TOPB", "Milk frother", D("2000.00"), 40, 39, D("0.20")),
    ("TOP-C", "B0TOPC", "Coffee grinder", D("1500.00"), 25, 25, D("0.15")),
    ("TOP-D", "B0TOPD", "Descaler, 6 pack", D("1000.00"), 100, 80, D("0.10")),
    ("TOP-E", "B0TOPE", "Tamper", D("800.00"), 32, 31, D("0.08")),
    ("MID-X", "B0MIDX", "Cups", D("600.00"), 60, 20, D("0.06")),
    ("MID-Y", "B0MIDY", "Saucers", D("500.00"), 50, 18, D("0.05")),
    ("LOW-A", "B0LOWA", "Cleaning brush", D("250.00"), 50, 40, D("0.025")),
    ("LOW-B", "B0LOWB", "Filter baskets", D("150.00"), 10, 10, D("0.015")),
    ("LOW-C", "B0LOWC", "Knock box", D("120.00"), 4, 4, D("0.012")),
    ("LOW-D", "B0LOWD", "Thermometer", D("50.00"), 5, 5, D("0.005")),
    ("LOW-E", "B0LOWE", "Spare gasket", D("30.00"), 6, 6, D("0.003")),
]
SNAP = dt.date(2026, 10, 11)
INVENTORY = [
    (SNAP, "RISK-1", "B0RSK1", 12, 0, 103, D("3.5"), 14, 120, 345, True),
    (SNAP, "RISK-2", "B0RSK2", 70, 40, 210, D("10.0"), 21, 400, 1250, True),
    (SNAP, "SAFE-1", "B0SAF1", 900, 0, 300, D("90.0"), 14, 200, 0, False),
    (SNAP, "SAFE-2", "B0SAF2", 300, 100, 150, D("60.0"), 30, 180, 0, False),
]
RETURNS = [
    ("DEFECTIVE", "CUSTOMER_DAMAGED", 12, 14, D("0.4375")),
    ("DEFECTIVE", "SELLABLE", 3, 3, D("0.09375")),
    ("NOT_AS_DESCRIBED", "SELLABLE", 8, 9, D("0.28125")),
    ("UNWANTED_ITEM", "SELLABLE", 6, 6, D("0.1875")),
]
FUNNEL = [
    ("checkout", 1, "Product viewed", 10000, 4000, D("1.0"), D("1.0")),
    ("checkout", 2, "Added to cart", 4000, 1500, D("0.4"), D("0.4")),
    ("checkout", 3, "Checkout started", 1500, 900, D("0.15"), D("0.375")),
    ("checkout", 4, "Order completed", 900, 900, D("0.09"), D("0.6")),
    ("signup", 1, "Landing page", 5000, 1000, D("1.0"), D("1.0")),
    ("signup", 2, "Account created", 1000, 800, D("0.2"), D("0.2")),
]
COHORTS = [dt.date(2026, 8, 31) + dt.timedelta(weeks=k) for k in range(6)]
RETENTION = [
    (start, offset, 200, 200 // (offset + 1), D(1) / (offset + 1))
    for k, start in enumerate(COHORTS)
    for offset in range(6 - k)
]
ATTRIBUTION = [
    (model, channel, D("10"), D(revenue), D("100.00"), D(revenue) / 100)
    for model, shares in {
        "first_touch": ("5000", "3000", "1000", "700"),
        "last_touch": ("3500", "4000", "1200", "1000"),
        "linear": ("4200", "3500", "1100", "900"),
    }.items()
    for channel, revenue in zip(("google_ads", "meta_ads", "email", "organic_search"), shares, strict=True)
]


def _trend(days: int) -> list[tuple]:
    end = WEEK.end
    rows = []
    for k in range(days):
        sales = D(1500 + 40 * (k % 7) + 10 * k)
        rows.append(
            (end - dt.timedelta(days=days - 1 - k), sales, 150, 120, 4000, D("3.75"), D("100"), sales - 100)
        )
    return rows


def make_bundle(
    empty: bool = False, period: Period = WEEK, name: str = "Acme & Söhne GmbH", **overrides: list[tuple]
) -> ExportBundle:
    rows = {
        "store_performance": PERFORMANCE,
        "sales_trend": _trend(28),
        "sales_by_sku": SKUS,
        "inventory_health": INVENTORY,
        "returns_by_reason": RETURNS,
        "sku_return_profile": [("TOP-A", 90, 9, D("10.00"), True, D("0.5"), D("6"))],
        "funnel": FUNNEL,
        "retention": RETENTION,
        "attribution": ATTRIBUTION,
        "ltv_segments": [("low", 120, D("45.10"), D("5412.00"), D("0.91"))],
    }
    rows.update(overrides)
    currency = {"funnel": "USD", "retention": "USD", "attribution": "USD", "ltv_segments": "USD"}
    tables = [
        ExportTable(name, name.replace("_", " ").capitalize(), COLUMNS[name], [] if empty else rows[name],
                    currency=currency.get(name))
        for name in COLUMNS
    ]  # fmt: skip
    return ExportBundle(
        store_id="A1STORE",
        store_name=None if empty else name,
        currency="EUR",
        period=period,
        generated_at=GENERATED,
        data_through=None if empty else dt.date(2026, 10, 11),
        tables=tables,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("report") / "report.pdf"
    return path, write_pdf(make_bundle(), path)


@pytest.fixture(scope="module")
def pages(report) -> list[dict]:
    """Per page: its text, its lines, its words and characters, its images."""
    with pdfplumber.open(report[0]) as pdf:
        return [
            {
                "text": page.extract_text(),
                "lines": page.extract_text().splitlines(),
                "words": page.extract_words(),
                "chars": page.chars,
                "images": page.images,
                "size": (page.width, page.height),
            }
            for page in pdf.pages
        ]


def test_the_page_count_returned_is_the_pdfs(report, pages):
    assert report[1] == len(pages)
    assert 4 <= len(pages) <= 10


def test_every_page_has_the_header_and_footer(pages):
    for number, page in enumerate(pages, start=1):
        assert page["lines"][0] == "Acme & Söhne GmbH · store A1STORE 2026-W41 · 5–11 Oct 2026"
        assert page["lines"][-1] == f"Generated 2026-10-12 06:30 UTC Page {number} of {len(pages)}"


def test_page_one_summarises_store_performance(pages):
    lines = pages[0]["lines"]
    assert lines[1] == "Acme & Söhne GmbH — Week 2026-W41, 5–11 Oct 2026"
    assert lines[2] == "Data through 11 Oct 2026"
    # one line per metric: value, change and previous, change and last year ("–": no figure)
    for expected in (
        "Sales EUR 14,062.50 ▲ +12.50 % EUR 12,500.00 ▼ -10.00 % EUR 15,625.00",
        "Orders 1,250 ▲ +25.00 % 1,000 0.00 % 1,250",
        "Units 1,500 ▼ -6.25 % 1,600 – –",
        "AOV EUR 11.25 ▼ -10.00 % EUR 12.50 ▼ -10.00 % EUR 12.50",
        "Sessions 40,000 ▲ +25.00 % 32,000 ▼ -20.00 % 50,000",
        "Refunds EUR 1,234.50 ▲ +23.45 % EUR 1,000.00 ▼ -50.00 % EUR 2,469.00",
        "Units refunded 40 ▼ -20.00 % 50 – 0",
        "Net sales EUR 12,828.00 ▲ +11.55 % EUR 11,500.00 ▼ -2.49 % EUR 13,156.00",
    ):
        assert expected in lines
    # the conversion label wraps in its cell: its figures are on the row's line
    assert any(line.endswith("3.75 % ▼ -25.00 % 5.00 % ▲ +50.00 % 2.50 %") for line in lines)
    # every money figure of page 1 carries the currency: 4 money metrics x 3 figures
    text = pages[0]["text"]
    assert text.count("EUR ") == 4 * 3
    assert "USD" not in text


def _colour(page: dict, text: str, occurrence: int) -> str:
    """green or red: the colour of the arrow starting the ``occurrence``-th match of ``text``."""
    chars = page["chars"]
    joined = "".join(c["text"] for c in chars)
    start = -1
    for _ in range(occurrence + 1):
        start = joined.index(text, start + 1)
    r, g, b = chars[start]["non_stroking_color"][:3]
    if g > r and g > b:
        return "green"
    if r > g and r > b:
        return "red"
    return f"other {r, g, b}"


def test_arrows_are_green_for_good_news_and_red_for_bad(pages):
    page = pages[0]
    assert _colour(page, "▲ +12.50", 0) == "green"  # sales up
    assert _colour(page, "▼ -10.00", 0) == "red"  # sales down on last year
    assert _colour(page, "▼ -6.25", 0) == "red"  # units down
    assert _colour(page, "▲ +23.45", 0) == "red"  # refunds up: bad
    assert _colour(page, "▼ -50.00", 0) == "green"  # refunds down on last year: good
    assert _colour(page, "▼ -20.00", 1) == "green"  # units refunded down (the 2nd -20.00: sessions' is 1st)


def test_later_pages_hold_the_sections(pages):
    text = "\n".join(p["text"] for p in pages[1:])
    for title in SECTIONS[1:]:
        assert title + "\n" in text
    assert "Store performance" in pages[0]["text"]
    lines = [line for p in pages[1:] for line in p["lines"]]
    # top and bottom 5 by sales, money with the currency; the middle two are left out
    assert "1 TOP-A Espresso machine, 15 bar EUR 3,000.00 30 28 30.00 %" in lines
    assert "5 TOP-E Tamper EUR 800.00 32 31 8.00 %" in lines
    assert "8 LOW-A Cleaning brush EUR 250.00 50 40 2.50 %" in lines
    assert "12 LOW-E Spare gasket EUR 30.00 6 6 0.30 %" in lines
    assert "MID-X" not in text and "MID-Y" not in text
    # stock at risk: SKU, fulfillable, inbound, days of supply, lead time, reorder point, reorder qty
    assert "RISK-1 12 0 3.5 14 120 345" in lines
    assert "RISK-2 70 40 10.0 21 400 1,250" in lines
    assert "SAFE-1" not in text and "SAFE-2" not in text
    assert "2 of 4 SKUs have fewer days of supply than their lead time (stock as of 11 Oct 2026)" in text
    # returns, the most units first
    assert "DEFECTIVE CUSTOMER_DAMAGED 12 14 43.75 %" in lines
    assert "UNWANTED_ITEM SELLABLE 6 6 18.75 %" in lines
    assert "No data for this period." not in text


def test_charts_are_images_inside_the_page_and_clear_of_the_text(pages):
    # sales trend, SKUs, returns, 2 funnels, retention, attribution
    assert sum(len(p["images"]) for p in pages) == 7
    for page in pages:
        width, height = page["size"]
        boxes = [(i["x0"], i["top"], i["x1"], i["bottom"]) for i in page["images"]]
        for box in boxes:
            assert box[0] >= 30 and box[2] <= width - 30 and box[1] >= 50 and box[3] <= height - 45
        for k, box in enumerate(boxes):
            assert not any(_intersect(box, other) for other in boxes[k + 1 :])
            words = [w["text"] for w in page["words"] if _intersect(box, _box(w))]
            assert words == []


def _box(word: dict) -> tuple[float, float, float, float]:
    return word["x0"], word["top"], word["x1"], word["bottom"]


def _intersect(a: tuple[float, ...], b: tuple[float, ...], slack: float = 0.5) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def _overlaps(path: Path) -> list[tuple[int, str, str]]:
    found = []
    with pdfplumber.open(path) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            words = page.extract_words()
            for k, a in enumerate(words):
                found += [
                    (number, a["text"], b["text"]) for b in words[k + 1 :] if _intersect(_box(a), _box(b))
                ]
    return found


def _ink(path: Path) -> list[float]:
    """Per page, the share of pixels that are not white."""
    document = pypdfium2.PdfDocument(str(path))
    try:
        shares = []
        for index in range(len(document)):
            pixels = np.asarray(document[index].render(scale=1).to_pil().convert("L"))
            shares.append(float((pixels < 245).mean()))
        return shares
    finally:
        document.close()


def test_no_two_words_overlap(report):
    assert _overlaps(report[0]) == []


def test_every_page_has_content(report):
    ink = _ink(report[0])
    assert ink[0] > 0.02  # the summary table (its shaded header and stripes) and the title
    assert all(share > 0.03 for share in ink), ink  # a page of only the header and footer: 0.008


def test_the_same_bundle_gives_the_same_bytes(tmp_path):
    # one chart (the sales trend) keeps it quick
    bundle = make_bundle(sales_by_sku=[], returns_by_reason=[], funnel=[], retention=[], attribution=[])
    write_pdf(bundle, tmp_path / "a.pdf")
    write_pdf(bundle, tmp_path / "b.pdf")
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()


def test_a_bundle_of_empty_tables_says_so(tmp_path):
    path = tmp_path / "empty.pdf"
    week_53 = Period("week", dt.date(2026, 12, 28), dt.date(2027, 1, 3), "2026-W53")
    count = write_pdf(make_bundle(empty=True, period=week_53), path)
    with pdfplumber.open(path) as pdf:
        assert count == len(pdf.pages) == 2  # the summary page, then the sections
        texts = [p.extract_text() for p in pdf.pages]
        assert not any(p.images for p in pdf.pages)
    first = texts[0].splitlines()
    assert first[0] == "store A1STORE 2026-W53 · 28 Dec 2026 – 3 Jan 2027"  # no store name: its id
    assert first[1] == "A1STORE — Week 2026-W53, 28 Dec 2026 – 3 Jan 2027"
    assert first[2] == "Data through: no sales data yet"
    text = "\n".join(texts)
    assert text.count("No data for this period.") == len(SECTIONS)
    for title in SECTIONS:
        assert title in text
    assert _overlaps(path) == []
    assert all(share > 0.002 for share in _ink(path))


def test_long_tables_are_cut_and_large_figures_fit(tmp_path):
    at_risk = [(SNAP, f"RISK-{k:02d}", "B0", 1, 0, 30, D(k) / 10, 14, 20, 100 + k, True) for k in range(40)]
    at_risk[1] = (
        SNAP,
        "SKU-WITHOUT-ANY-SPACES-0123456789-ABCDEFGHIJ",
        "B0",
        1,
        0,
        30,
        D("0.1"),
        14,
        20,
        101,
        True,
    )
    long_name = (
        "Acme & Söhne Kaffeemaschinen und Zubehör Handelsgesellschaft mbH & Co. KG, Niederlassung Nord-West"
    )
    returns = [(f"REASON_{k:02d}", "SELLABLE", 1, 100 - k, D("0.01")) for k in range(20)]
    big = [
        ("ordered_product_sales", "Sales", "money", D("123456789.12"), D("98765432.10"), D("25.00"),
         D("1.00"), D("12345578.91")),
        ("sessions", "Sessions", "count", 123456789, 98765432, D("-99999.99"), None, None),
    ]  # fmt: skip
    path = tmp_path / "long.pdf"
    bundle = make_bundle(
        name=long_name,
        inventory_health=at_risk,
        returns_by_reason=returns,
        store_performance=big,
        # no charts but the returns' (quick)
        sales_trend=[],
        sales_by_sku=[],
        funnel=[],
        retention=[],
        attribution=[],
    )
    count = write_pdf(bundle, path)
    with pdfplumber.open(path) as pdf:
        assert count == len(pdf.pages)
        texts = [p.extract_text() for p in pdf.pages]
    text = "\n".join(texts)
    # the store's name shortened in the header, to leave room for the period
    for number, page_text in enumerate(texts, start=1):
        header = page_text.splitlines()[0]
        assert header.startswith("Acme & Söhne Kaffeemaschinen") and header.endswith(
            "… · store A1STORE 2026-W41 · 5–11 Oct 2026"
        )
        assert page_text.splitlines()[-1].endswith(f"Page {number} of {count}")
    # 25 of the 40 at-risk SKUs, the lowest days of supply first; 15 of the 20 return rows
    assert "… 15 more in the CSV/Excel export." in text
    assert "… 5 more in the CSV/Excel export." in text
    assert "RISK-24 1 0 2.4 14 20 124" in text and "RISK-25" not in text
    assert "REASON_14 SELLABLE 1 86 1.00 %" in text and "REASON_15 SELLABLE" not in text
    # a figure too wide for its cell wraps at its space, inside the cell
    assert {"EUR", "123,456,789.12", "98,765,432.10", "+12345578.91", "123,456,789", "-99999.99"} <= set(
        text.split()
    )
    assert _overlaps(path) == []


@pytest.mark.parametrize(
    ("period", "title"),
    [
        (WEEK, "Week 2026-W41, 5–11 Oct 2026"),
        (
            Period("week", dt.date(2026, 9, 28), dt.date(2026, 10, 4), "2026-W40"),
            "Week 2026-W40, 28 Sep – 4 Oct 2026",
        ),
        (
            Period("day", dt.date(2026, 10, 3), dt.date(2026, 10, 3), "2026-10-03"),
            "Day 2026-10-03, 3 Oct 2026",
        ),
        (
            Period("month", dt.date(2026, 2, 1), dt.date(2026, 2, 28), "2026-02"),
            "Month 2026-02, 1–28 Feb 2026",
        ),
    ],
)
def test_period_titles(period, title):
    assert period_title(make_bundle(empty=True, period=period)) == title
