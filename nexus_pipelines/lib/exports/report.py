"""The seller report: one PDF per store and period, written from an :class:`ExportBundle`.

A4 portrait. Page 1 is a one-page summary of ``store_performance`` (each metric against the
previous period and the same period last year); then the sales trend, the top and bottom SKUs,
the stock at risk, the return reasons, the funnels, the weekly retention and the attribution by
model. Every page has a header (store, period) and a footer (when it was generated, page n of N).

Text is set in DejaVu Sans, taken from matplotlib's bundled fonts, which has the ▲ ▼ arrows and
the dashes. Charts are PNG images drawn by :mod:`.report_charts` at their printed size. A table
without rows gives a "no data for this period" line; long tables are cut, the rest being in
the CSV/Excel export. The PDF is written with ReportLab's ``invariant`` mode: the same bundle gives
the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
from reportlab import rl_config  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_LEFT, TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import inch, mm  # type: ignore[import-untyped]
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from . import report_charts as charts
from .model import ExportBundle, ExportTable

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
_FONT_FILES = {
    FONT: "DejaVuSans.ttf",
    FONT_BOLD: "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf",
}

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 15 * mm
MARGIN_TOP = 24 * mm
MARGIN_BOTTOM = 20 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X

GREEN = "#1a7f37"
RED = "#c62828"
GREY = "#666666"
HEADER_FILL = colors.HexColor("#e8eef5")
STRIPE_FILL = colors.HexColor("#f6f8fa")
RULE = colors.HexColor("#9aa5b1")

NO_DATA = "No data for this period."
MISSING = "–"
# rows shown of a long table; the rest is in the CSV/Excel export
MAX_AT_RISK_ROWS = 25
MAX_RETURN_ROWS = 15
MAX_REASONS_CHARTED = 10
MAX_COHORTS = 20
MAX_OFFSETS = 16
MAX_CHANNELS = 10
TOP_SKUS = 5

# store_performance metrics whose rise is bad news (coloured red)
RISE_IS_BAD = frozenset({"refunds_amount", "units_refunded"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def write_pdf(bundle: ExportBundle, path: Path) -> int:
    """Write the report of ``bundle`` to ``path``; returns its number of pages."""
    _register_fonts()
    # images as binary Flate streams: ASCII85 text (reportlab's default, in pure Python without its
    # C accelerator) only makes the file larger and the report slower
    rl_config.useA85 = 0
    story: list[Flowable] = [*_summary(bundle), PageBreak()]
    for section in (_sales_trend, _skus, _stock_at_risk, _returns, _funnels, _retention, _attribution):
        story.extend(section(bundle))
    doc = BaseDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"{_store(bundle)} — {period_title(bundle)}",
        author=_store(bundle),
        subject=f"Seller report {bundle.store_id} {bundle.period.label}",
        creator="NEXUS",
        invariant=1,
    )
    frame = Frame(
        doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body", leftPadding=0, rightPadding=0
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    pages: list[int] = []

    def canvasmaker(*args: Any, **kwargs: Any) -> Canvas:
        return _DecoratedCanvas(bundle, pages, *args, **kwargs)

    doc.build(story, canvasmaker=canvasmaker)
    return pages[-1]


# ---------------------------------------------------------------- text of periods and figures


def date_range(start: dt.date, end: dt.date) -> str:
    """5–11 Oct 2026, 28 Sep – 4 Oct 2026, 29 Dec 2025 – 4 Jan 2026 or 3 Oct 2026."""
    if start == end:
        return _day(end)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_day(end)}"
    if start.year == end.year:
        return f"{start.day} {_MONTHS[start.month - 1]} – {_day(end)}"
    return f"{_day(start)} – {_day(end)}"


def period_title(bundle: ExportBundle) -> str:
    """Week 2026-W41, 5–11 Oct 2026 (Day … / Month … for the other grains)."""
    period = bundle.period
    return f"{period.grain.capitalize()} {period.label}, {date_range(period.start, period.end)}"


def money(value: Any, currency: str | None) -> str:
    figure = _decimal(value)
    if figure is None:
        return MISSING
    return f"{currency} {figure:,.2f}" if currency else f"{figure:,.2f}"


def count(value: Any) -> str:
    figure = _decimal(value)
    if figure is None:
        return MISSING
    return f"{int(figure):,}" if figure == figure.to_integral_value() else f"{figure:,.2f}"


def percent(value: Any) -> str:
    figure = _decimal(value)
    return MISSING if figure is None else f"{figure:.2f} %"


def rate(value: Any) -> str:
    figure = _decimal(value)
    return MISSING if figure is None else f"{figure * 100:.2f} %"


def number(value: Any, places: int = 1) -> str:
    figure = _decimal(value)
    return MISSING if figure is None else f"{figure:,.{places}f}"


def _day(date: dt.date) -> str:
    return f"{date.day} {_MONTHS[date.month - 1]} {date.year}"


def _decimal(value: Any) -> Decimal | None:
    """A numeric cell as a Decimal (floats through their shortest repr); None, NaN and ±inf → None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if not math.isfinite(value) else Decimal(repr(value))
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r} ({type(value).__name__})")


def _float(value: Any) -> float | None:
    figure = _decimal(value)
    return None if figure is None else float(figure)


def _store(bundle: ExportBundle) -> str:
    return bundle.store_name or bundle.store_id


def _currency(bundle: ExportBundle, table: ExportTable) -> str | None:
    return table.currency or bundle.currency


def _utc(moment: dt.datetime) -> str:
    when = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return f"{when:%Y-%m-%d %H:%M} UTC"


# ---------------------------------------------------------------- page 1: the summary


def _summary(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("store_performance")
    through = bundle.data_through
    if through is None:
        data_line = "Data through: no sales data yet"
    else:
        data_line = f"Data through {_day(through)}"
        if through < bundle.period.end:
            data_line += " — the period is not complete yet"
    flow: list[Flowable] = [
        Paragraph(escape(f"{_store(bundle)} — {period_title(bundle)}"), _STYLES["title"]),
        Paragraph(escape(data_line), _STYLES["subtitle"]),
        Paragraph("Store performance", _STYLES["h2"]),
    ]
    if table.note:
        flow.append(Paragraph(escape(table.note), _STYLES["note"]))
    records = _records(
        table, "metric", "label", "unit", "value", "previous", "change_pct", "last_year", "yoy_change_pct"
    )
    if not records:
        return [*flow, Paragraph(NO_DATA, _STYLES["body"])]
    currency = _currency(bundle, table)
    rows = []
    for r in records:
        fmt = _unit_format(table, r, currency)
        bad_rise = r["metric"] in RISE_IS_BAD
        rows.append(
            [
                escape(str(r["label"] or r["metric"])),
                fmt(r["value"]),
                _change(r["change_pct"], bad_rise),
                fmt(r["previous"]),
                _change(r["yoy_change_pct"], bad_rise),
                fmt(r["last_year"]),
            ]
        )
    headings = [
        "Metric",
        "This period",
        "vs previous period",
        "Previous period",
        "vs same period last year",
        "Last year",
    ]
    widths = [0.2, 0.165, 0.15, 0.165, 0.15, 0.165]
    flow.append(_grid(headings, rows, widths, "LRRRRR", escaped=True, size="summary"))
    flow.append(Spacer(1, 4 * mm))
    flow.append(
        Paragraph(
            f"<font color='{GREEN}'>▲</font> / <font color='{RED}'>▼</font>: change in percent of the "
            f"comparison figure; green is good news, red bad news (for refunds a rise is bad). "
            f"{MISSING}: no comparison figure (none recorded, or zero).",
            _STYLES["note"],
        )
    )
    return flow


def _unit_format(table: ExportTable, record: dict[str, Any], currency: str | None) -> Callable[[Any], str]:
    unit = record["unit"]
    if unit == "money":
        return lambda v: escape(money(v, currency))
    if unit == "count":
        return count
    if unit == "percent":
        return percent
    raise ValueError(
        f"table {table.name}, metric {record['metric']!r}: unknown unit {unit!r} (one of money, count, percent)"
    )


def _change(value: Any, rise_is_bad: bool) -> str:
    """Paragraph markup of a change in percent: a coloured arrow and the signed figure."""
    figure = _decimal(value)
    if figure is None:
        return f"<font color='{GREY}'>{MISSING}</font>"
    if figure == 0:
        return f"<font color='{GREY}'>0.00 %</font>"
    good = (figure > 0) != rise_is_bad
    arrow = "▲" if figure > 0 else "▼"
    return f"<font color='{GREEN if good else RED}'>{arrow} {figure:+.2f} %</font>"


# ---------------------------------------------------------------- the sections after page 1


def _sales_trend(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("sales_trend")
    records = _records(table, "date_day", "ordered_product_sales", "net_sales")
    head = _heading("Sales trend", table)
    if not records:
        return [*head, _no_data()]
    records.sort(key=lambda r: r["date_day"])
    currency = _currency(bundle, table)
    png = charts.sales_trend_png(
        [r["date_day"] for r in records],
        {
            "Ordered product sales": [_float(r["ordered_product_sales"]) for r in records],
            "Net sales": [_float(r["net_sales"]) for r in records],
        },
        currency,
        highlight=(bundle.period.start, bundle.period.end),
    )
    return [KeepTogether([*head, _image(png)])]


def _skus(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("sales_by_sku")
    records = _records(
        table,
        "sku",
        "asin",
        "product_name",
        "ordered_product_sales",
        "units_ordered",
        "orders",
        "share_of_sales",
    )
    head = _heading("Top and bottom SKUs by sales", table)
    if not records:
        return [*head, _no_data()]
    ranked = sorted(records, key=lambda r: -(_float(r["ordered_product_sales"]) or 0.0))
    top = list(enumerate(ranked, start=1))[:TOP_SKUS]
    bottom = list(enumerate(ranked, start=1))[max(TOP_SKUS, len(ranked) - TOP_SKUS) :]
    currency = _currency(bundle, table)
    shown = top + bottom
    png = charts.hbar_png(
        [charts.shorten(r["sku"], 22) for _, r in shown],
        [_float(r["ordered_product_sales"]) or 0.0 for _, r in shown],
        f"Sales by SKU: top {len(top)}" + (f" and bottom {len(bottom)}" if bottom else ""),
        f"Ordered product sales {charts.money_axis(currency)}",
        [money(r["ordered_product_sales"], currency) for _, r in shown],
        colors=[charts.PALETTE[0]] * len(top) + [charts.PALETTE[1]] * len(bottom),
        legend={"top": charts.PALETTE[0], "bottom": charts.PALETTE[1]} if bottom else None,
    )
    flow: list[Flowable] = [KeepTogether([*head, _image(png)])]
    headings = ["#", "SKU", "Product", "Sales", "Units", "Orders", "Share of sales"]
    widths = [0.05, 0.15, 0.33, 0.17, 0.09, 0.09, 0.12]

    def rows(part: list[tuple[int, dict[str, Any]]]) -> list[list[str]]:
        return [
            [
                str(rank),
                str(r["sku"]),
                charts.shorten(r["product_name"] or r["asin"] or "", 60),
                money(r["ordered_product_sales"], currency),
                count(r["units_ordered"]),
                count(r["orders"]),
                rate(r["share_of_sales"]),
            ]
            for rank, r in part
        ]

    parts = [("Top", top), ("Bottom", bottom)] if bottom else [("Top", top)]
    for name, part in parts:
        caption = Paragraph(f"{name} {len(part)} of {len(ranked)} SKUs", _STYLES["h3"])
        flow.append(KeepTogether([caption, _grid(headings, rows(part), widths, "RLLRRRR")]))
    return flow


def _stock_at_risk(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("inventory_health")
    records = _records(
        table,
        "snapshot_date",
        "sku",
        "fulfillable_quantity",
        "inbound_quantity",
        "days_of_supply",
        "lead_time_days",
        "reorder_point",
        "suggested_reorder_qty",
        "stockout_risk",
    )
    head = _heading("Stock at risk", table)
    if not records:
        return [*head, _no_data()]
    at_risk = [r for r in records if r["stockout_risk"] is True]
    dates = sorted({r["snapshot_date"] for r in records if r["snapshot_date"] is not None})
    as_of = f" (stock as of {_day(dates[-1])})" if dates and not table.note else ""
    if not at_risk:
        line = f"No SKU is at risk of a stockout: all {len(records)} have at least their lead time of supply{as_of}."
        return [*head, Paragraph(escape(line), _STYLES["body"])]
    at_risk.sort(key=lambda r: _sort_number(r["days_of_supply"]))
    line = (
        f"{len(at_risk)} of {len(records)} SKUs have fewer days of supply than their lead time{as_of}; "
        "reorder the suggested quantity."
    )
    shown, more = at_risk[:MAX_AT_RISK_ROWS], len(at_risk) - MAX_AT_RISK_ROWS
    rows = [
        [
            str(r["sku"]),
            count(r["fulfillable_quantity"]),
            count(r["inbound_quantity"]),
            number(r["days_of_supply"]),
            count(r["lead_time_days"]),
            count(r["reorder_point"]),
            count(r["suggested_reorder_qty"]),
        ]
        for r in shown
    ]
    headings = [
        "SKU",
        "Fulfillable",
        "Inbound",
        "Days of supply",
        "Lead time (days)",
        "Reorder point",
        "Suggested reorder qty",
    ]
    widths = [0.25, 0.11, 0.11, 0.12, 0.12, 0.12, 0.17]
    # the heading and the table's first rows on one page; a long table goes on, its heading repeated
    flow: list[Flowable] = [
        CondPageBreak(40 * mm),
        *head,
        Paragraph(escape(line), _STYLES["body"]),
        _grid(headings, rows, widths, "LRRRRRR"),
    ]
    flow.extend(_more(more))
    return flow


def _returns(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("returns_by_reason")
    records = _records(
        table, "reason", "detailed_disposition", "return_lines", "units_returned", "share_of_units"
    )
    head = _heading("Return reasons", table)
    if not records:
        return [*head, _no_data()]
    units: dict[str, float] = {}
    for r in records:
        reason = str(r["reason"] or "(no reason)")
        units[reason] = units.get(reason, 0.0) + (_float(r["units_returned"]) or 0.0)
    ordered = sorted(units.items(), key=lambda item: -item[1])
    if len(ordered) > MAX_REASONS_CHARTED:
        rest = ordered[MAX_REASONS_CHARTED - 1 :]
        ordered = [
            *ordered[: MAX_REASONS_CHARTED - 1],
            (f"other ({len(rest)} reasons)", sum(v for _, v in rest)),
        ]
    png = charts.hbar_png(
        [charts.shorten(reason, 32) for reason, _ in ordered],
        [value for _, value in ordered],
        "Units returned by reason",
        "Units returned",
        [f"{value:,.0f}" for _, value in ordered],
    )
    ranked = sorted(records, key=lambda r: -(_float(r["units_returned"]) or 0.0))
    shown, more = ranked[:MAX_RETURN_ROWS], len(ranked) - MAX_RETURN_ROWS
    rows = [
        [
            str(r["reason"] or "(no reason)"),
            str(r["detailed_disposition"] or MISSING),
            count(r["return_lines"]),
            count(r["units_returned"]),
            rate(r["share_of_units"]),
        ]
        for r in shown
    ]
    headings = ["Reason", "Disposition", "Return lines", "Units returned", "Share of units"]
    widths = [0.32, 0.26, 0.14, 0.14, 0.14]
    return [KeepTogether([*head, _image(png)]), _grid(headings, rows, widths, "LLRRR"), *_more(more)]


def _funnels(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("funnel")
    records = _records(
        table, "funnel_name", "step_number", "step_name", "users_converted", "conversion_rate_from_start"
    )
    head = _heading("Funnel", table)
    if not records:
        return [*head, _no_data()]
    names = list(dict.fromkeys(str(r["funnel_name"]) for r in records))
    flow: list[Flowable] = []
    for k, name in enumerate(names):
        steps = sorted(
            (r for r in records if str(r["funnel_name"]) == name),
            key=lambda r: _sort_number(r["step_number"]),
        )
        png = charts.funnel_png(
            [str(r["step_name"]) for r in steps],
            # users who reached the step (users_entering_step counts those who reached the one before)
            [_float(r["users_converted"]) or 0.0 for r in steps],
            [_float(r["conversion_rate_from_start"]) for r in steps],
            f"Funnel: {charts.shorten(name, 60)}",
        )
        flow.append(KeepTogether([*head, _image(png)]) if k == 0 else _image(png))
    return flow


def _retention(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("retention")
    records = _records(table, "cohort_start", "period_offset", "cohort_size", "retention_rate")
    head = _heading("Weekly retention", table)
    if not records:
        return [*head, _no_data()]
    cohorts = sorted({r["cohort_start"] for r in records})
    offsets = sorted({int(r["period_offset"]) for r in records})
    hidden_cohorts = max(0, len(cohorts) - MAX_COHORTS)
    hidden_offsets = [o for o in offsets if o >= MAX_OFFSETS]
    cohorts, offsets = cohorts[hidden_cohorts:], [o for o in offsets if o < MAX_OFFSETS]
    sizes: dict[Any, Any] = {}
    cells: dict[tuple[Any, int], float | None] = {}
    for r in records:
        sizes.setdefault(r["cohort_start"], r["cohort_size"])
        cells[(r["cohort_start"], int(r["period_offset"]))] = _float(r["retention_rate"])
    png = charts.heatmap_png(
        [f"{_label(c)} (n={count(sizes[c])})" for c in cohorts],
        [str(o) for o in offsets],
        [[cells.get((c, o)) for o in offsets] for c in cohorts],
        "Share of each cohort active again, by week",
        "Weeks since the cohort's first week",
        "Cohort (first week, size)",
    )
    flow: list[Flowable] = [KeepTogether([*head, _image(png)])]
    cut = []
    if hidden_cohorts:
        cut.append(f"{hidden_cohorts} older cohorts")
    if hidden_offsets:
        cut.append(f"weeks {hidden_offsets[0]}–{hidden_offsets[-1]}")
    if cut:
        flow.append(
            Paragraph(escape(f"… {' and '.join(cut)} more in the CSV/Excel export."), _STYLES["note"])
        )
    return flow


def _attribution(bundle: ExportBundle) -> list[Flowable]:
    table = bundle.table("attribution")
    records = _records(table, "model", "channel", "revenue")
    head = _heading("Attribution by channel and model", table)
    if not records:
        return [*head, _no_data()]
    currency = _currency(bundle, table)
    models = list(dict.fromkeys(str(r["model"]) for r in records))
    revenue: dict[tuple[str, str], float] = {}
    for r in records:
        key = (str(r["model"]), str(r["channel"]))
        revenue[key] = revenue.get(key, 0.0) + (_float(r["revenue"]) or 0.0)
    best: dict[str, float] = {}
    for (_model, channel), value in revenue.items():
        best[channel] = max(best.get(channel, value), value)
    channels = sorted(best, key=lambda c: (-best[c], c))
    hidden = max(0, len(channels) - MAX_CHANNELS)
    channels = channels[:MAX_CHANNELS]
    png = charts.grouped_bar_png(
        [charts.shorten(c, 18) for c in channels],
        {m: [revenue.get((m, c), 0.0) for c in channels] for m in models},
        "Attributed revenue per channel, by attribution model",
        "Channel",
        f"Attributed revenue {charts.money_axis(currency)}",
    )
    flow: list[Flowable] = [KeepTogether([*head, _image(png)])]
    if hidden:
        flow.append(Paragraph(escape(f"… {hidden} more channels in the CSV/Excel export."), _STYLES["note"]))
    return flow


# ---------------------------------------------------------------- building blocks


def _records(table: ExportTable, *names: str) -> list[dict[str, Any]]:
    """The rows of ``table`` as dicts, after checking it has the columns the report reads."""
    have = [c.name for c in table.columns]
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"table {table.name}: no column {', '.join(missing)} (it has {', '.join(have)})")
    return table.records()


def _sort_number(value: Any) -> float:
    figure = _float(value)
    return math.inf if figure is None else figure


def _label(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _heading(title: str, table: ExportTable) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph(escape(title), _STYLES["h2"])]
    if table.note:
        flow.append(Paragraph(escape(table.note), _STYLES["note"]))
    return flow


def _no_data() -> Paragraph:
    return Paragraph(NO_DATA, _STYLES["body"])


def _more(hidden: int) -> list[Flowable]:
    if hidden <= 0:
        return []
    return [Paragraph(f"… {hidden:,} more in the CSV/Excel export.", _STYLES["note"])]


def _image(png: bytes) -> Image:
    """A chart at its drawn size (pixels at the charts' resolution), shrunk to the text width if wider."""
    pixels_wide, pixels_high = ImageReader(io.BytesIO(png)).getSize()
    width, height = pixels_wide / charts.DPI * inch, pixels_high / charts.DPI * inch
    scale = min(1.0, TEXT_WIDTH / width)
    image = Image(io.BytesIO(png), width=width * scale, height=height * scale)
    image.spaceBefore, image.spaceAfter = 2, 6
    return image


def _grid(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    align: str,
    escaped: bool = False,
    size: str = "cell",
) -> Table:
    """A table of wrapping cells: ``widths`` are shares of the text width, ``align`` L or R per column."""
    styles = [_STYLES[f"{size}_right" if a == "R" else size] for a in align]
    head_styles = [_STYLES["head_right" if a == "R" else "head"] for a in align]
    data = [[Paragraph(escape(h), s) for h, s in zip(headings, head_styles, strict=True)]]
    for row in rows:
        data.append(
            [Paragraph(cell if escaped else escape(cell), s) for cell, s in zip(row, styles, strict=True)]
        )
    grid = Table(data, colWidths=[w * TEXT_WIDTH for w in widths], repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
        ("LINEBELOW", (0, -1), (-1, -1), 0.6, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]
    commands += [("BACKGROUND", (0, i), (-1, i), STRIPE_FILL) for i in range(2, len(data), 2)]
    grid.setStyle(TableStyle(commands))
    return grid


def _register_fonts() -> None:
    registered = set(pdfmetrics.getRegisteredFontNames())
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in _FONT_FILES.items():
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic="DejaVuSans-Oblique", boldItalic="DejaVuSans-BoldOblique"
    )


def _style(name: str, size: float, bold: bool = False, right: bool = False, **extra: Any) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=FONT_BOLD if bold else FONT,
        fontSize=size,
        leading=round(size * 1.25, 1),
        alignment=TA_RIGHT if right else TA_LEFT,
        **extra,
    )


_STYLES: dict[str, ParagraphStyle] = {
    "title": _style("title", 15, bold=True, spaceAfter=4),
    "subtitle": _style("subtitle", 10, textColor=colors.HexColor(GREY), spaceAfter=10),
    "h2": _style("h2", 12.5, bold=True, spaceBefore=10, spaceAfter=4),
    "h3": _style("h3", 9.5, bold=True, spaceBefore=8, spaceAfter=3),
    "body": _style("body", 9, spaceAfter=4),
    "note": _style("note", 8, textColor=colors.HexColor(GREY), spaceBefore=2, spaceAfter=4),
    "head": _style("head", 8, bold=True),
    "head_right": _style("head_right", 8, bold=True, right=True),
    "cell": _style("cell", 8),
    "cell_right": _style("cell_right", 8, right=True),
    "summary": _style("summary", 9),
    "summary_right": _style("summary_right", 9, right=True),
}


class _DecoratedCanvas(Canvas):
    """A canvas that holds its pages back until the end, to write "page n of N" in each footer."""

    def __init__(self, bundle: ExportBundle, pages: list[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bundle = bundle
        self._pages_out = pages
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held)
        for number_, state in enumerate(self._held, start=1):
            self.__dict__.update(state)
            self._decorate(number_, total)
            super().showPage()
        self._pages_out.append(total)
        super().save()

    def _decorate(self, page: int, total: int) -> None:
        bundle = self._bundle
        top = PAGE_HEIGHT - 13 * mm
        bottom = 10 * mm
        left, right = MARGIN_X, PAGE_WIDTH - MARGIN_X
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.5)
        self.line(left, top - 3 * mm, right, top - 3 * mm)
        self.line(left, bottom + 4 * mm, right, bottom + 4 * mm)
        period = f"{bundle.period.label} · {date_range(bundle.period.start, bundle.period.end)}"
        self.setFont(FONT, 8)
        self.setFillColor(colors.HexColor("#333333"))
        self.drawRightString(right, top, period)
        room = TEXT_WIDTH - pdfmetrics.stringWidth(period, FONT, 8) - 12
        store = f"store {bundle.store_id}"
        name = bundle.store_name or ""
        self.setFont(FONT_BOLD, 8)
        cut = len(name)
        while cut and pdfmetrics.stringWidth(f"{name} · {store}", FONT_BOLD, 8) > room:
            cut -= 1
            name = name[:cut].rstrip() + "…" if cut > 1 else ""
        self.drawString(left, top, f"{name} · {store}" if name else charts.shorten(store, 60))
        self.setFont(FONT, 7.5)
        self.setFillColor(colors.HexColor(GREY))
        self.drawString(left, bottom, f"Generated {_utc(bundle.generated_at)}")
        self.drawRightString(right, bottom, f"Page {page} of {total}")
        self.restoreState()
