"""The export files (lib/exports/writers.py), read back with readers that share no code with them:
pandas (CSV, JSON, Excel), the json module and openpyxl (number formats, panes, cell types).

Every expected value below is written out by hand from the bundle built here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from nexus_pipelines.lib.exports.model import Column, ExportBundle, ExportTable, Period
from nexus_pipelines.lib.exports.writers import write_csv, write_json, write_xlsx

CEST = dt.timezone(dt.timedelta(hours=2))
LONG_NAME = "returns_by_reason_and_detailed_disposition"  # 42 characters: the sheet name is cut to 31
PRODUCT = "Trail bottle, 750 ml " + "x" * 60  # 81 characters: wider than the widest column

PERFORMANCE = ExportTable(
    name="store_performance",
    title="Store performance",
    columns=(
        Column("metric", "text"),
        Column("label", "text"),
        Column("unit", "text"),
        Column("value", "number"),
        Column("previous", "number"),
        Column("change_pct", "percent", "Change %"),
        Column("last_year", "number"),
        Column("yoy_change_pct", "percent"),
    ),
    rows=[
        (
            "ordered_product_sales",
            "Sales",
            "money",
            Decimal("214865.96"),
            Decimal("200000.00"),
            7.43298,
            None,
            None,
        ),
        ("orders", "Orders", "count", Decimal("1E+2"), 80, 25.0, 50, 100.0),
        (
            "unit_session_percentage",
            "Conversion (unit session %)",
            "percent",
            0.1 + 0.2,
            0.25,
            20.0,
            None,
            None,
        ),
    ],
)
TREND = ExportTable(
    name="sales_trend",
    title="Sales trend",
    columns=(
        Column("date_day", "date"),
        Column("ordered_product_sales", "money", "Sales"),
        Column("units_ordered", "integer"),
        Column("unit_session_percentage", "percent"),
    ),
    rows=[
        (dt.date(2026, 10, 2), Decimal("1234.50"), 7, 12.5),
        (dt.date(2026, 10, 3), None, 0, float("nan")),
    ],
)
INVENTORY = ExportTable(
    name="inventory_health",
    title="Inventory health",
    columns=(
        Column("snapshot_date", "date"),
        Column("sku", "text"),
        Column("product_name", "text"),
        Column("days_of_supply", "number"),
        Column("stockout_risk", "boolean"),
        Column("loaded_at", "timestamp"),
    ),
    rows=[
        (dt.date(2026, 10, 3), "SKU-1", PRODUCT, 3.5, True, dt.datetime(2026, 10, 4, 8, 0, tzinfo=CEST)),
        (dt.date(2026, 10, 3), "SKU-2", 'Cap "Alpine", red\nsecond line', None, False, None),
        (dt.date(2026, 10, 3), "SKU-3", '=HYPERLINK("http://x")', float("inf"), False, None),
    ],
    note="Snapshot of 2026-10-03",
)
ATTRIBUTION = ExportTable(
    name="attribution",
    title="Attribution by channel and model",
    columns=(
        Column("model", "text"),
        Column("channel", "text"),
        Column("revenue", "money"),
        Column("share", "rate"),
    ),
    rows=[("last_touch", "email", Decimal("99.90"), 0.125)],
    currency="USD",
)
RETURNS = ExportTable(
    name=LONG_NAME,
    title="Returns by reason and disposition",
    columns=(Column("reason", "text"), Column("units_returned", "integer")),
    rows=[],
)
BUNDLE = ExportBundle(
    store_id="store-1",
    store_name="Alpine Goods",
    currency="EUR",
    period=Period("day", dt.date(2026, 10, 3), dt.date(2026, 10, 3), "2026-10-03"),
    generated_at=dt.datetime(2026, 10, 4, 6, 30, tzinfo=dt.UTC),
    data_through=dt.date(2026, 10, 3),
    tables=[PERFORMANCE, TREND, INVENTORY, ATTRIBUTION, RETURNS],
)


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_text_is_exact(tmp_path):
    path = tmp_path / "store_performance.csv"
    assert write_csv(PERFORMANCE, path) == 3
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8").splitlines() == [
        "metric,label,unit,value,previous,change_pct,last_year,yoy_change_pct",
        "ordered_product_sales,Sales,money,214865.96,200000.00,7.43298,,",
        "orders,Orders,count,100,80,25.0,50,100.0",
        "unit_session_percentage,Conversion (unit session %),percent,0.3,0.25,20.0,,",
    ]


def test_csv_dates_timestamps_booleans_and_quoting(tmp_path):
    path = tmp_path / "inventory_health.csv"
    assert write_csv(INVENTORY, path) == 3
    text = path.read_text(encoding="utf-8")
    # 08:00 at +02:00 is 06:00 UTC; infinity is written as an empty field
    assert f'2026-10-03,SKU-1,"{PRODUCT}",3.5,true,2026-10-04T06:00:00Z\n' in text
    assert '2026-10-03,SKU-2,"Cap ""Alpine"", red\nsecond line",,false,\n' in text
    assert '2026-10-03,SKU-3,"=HYPERLINK(""http://x"")",,false,\n' in text

    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(frame.columns) == [
        "snapshot_date",
        "sku",
        "product_name",
        "days_of_supply",
        "stockout_risk",
        "loaded_at",
    ]
    assert frame["sku"].tolist() == ["SKU-1", "SKU-2", "SKU-3"]
    assert frame["product_name"][1] == 'Cap "Alpine", red\nsecond line'
    assert frame["days_of_supply"][0] == 3.5
    assert math.isnan(frame["days_of_supply"][1]) and math.isnan(frame["days_of_supply"][2])
    assert frame["stockout_risk"].tolist() == [True, False, False]
    assert pd.Timestamp(frame["loaded_at"][0]) == pd.Timestamp("2026-10-04 06:00:00", tz="UTC")
    assert pd.to_datetime(frame["snapshot_date"]).dt.date.tolist() == [dt.date(2026, 10, 3)] * 3


def test_csv_read_back_by_pandas(tmp_path):
    path = tmp_path / "sales_trend.csv"
    assert write_csv(TREND, path) == 2
    assert path.read_text(encoding="utf-8") == (
        "date_day,ordered_product_sales,units_ordered,unit_session_percentage\n"
        "2026-10-02,1234.50,7,12.5\n"
        "2026-10-03,,0,\n"
    )
    frame = pd.read_csv(path, parse_dates=["date_day"])
    assert frame["date_day"].dt.date.tolist() == [dt.date(2026, 10, 2), dt.date(2026, 10, 3)]
    assert frame["ordered_product_sales"][0] == 1234.5
    assert frame["units_ordered"].tolist() == [7, 0]


def test_csv_of_an_empty_table_is_its_header(tmp_path):
    path = tmp_path / "returns.csv"
    assert write_csv(RETURNS, path) == 0
    assert path.read_text(encoding="utf-8") == "reason,units_returned\n"
    assert list(pd.read_csv(path).columns) == ["reason", "units_returned"]


def test_csv_names_the_table_row_and_column_of_a_bad_value(tmp_path):
    bad = ExportTable("t", "T", (Column("a", "text"), Column("b", "number")), [("x", 1), ("y", object())])
    with pytest.raises(
        TypeError, match=r"t\.csv: table t, row 2, column b: cannot write a value of type object"
    ):
        write_csv(bad, tmp_path / "t.csv")
    short = ExportTable("t", "T", (Column("a", "text"), Column("b", "number")), [("x",)])
    with pytest.raises(ValueError, match=r"table t, row 1: 1 values for 2 columns"):
        write_csv(short, tmp_path / "t.csv")


# --- JSON -----------------------------------------------------------------------------------------


def test_json_numbers_are_exact(tmp_path):
    path = tmp_path / "store_performance.json"
    assert write_json(PERFORMANCE, path) == 3
    text = path.read_text(encoding="utf-8")
    assert "214865.96," in text
    assert "0000000000" not in text and "9999999" not in text and "E+" not in text
    assert '"value": 0.3,' in text
    # the json module reads the numbers back as Decimal: exactly the digits of the input
    records = json.loads(text, parse_float=Decimal)
    assert records[0] == {
        "metric": "ordered_product_sales",
        "label": "Sales",
        "unit": "money",
        "value": Decimal("214865.96"),
        "previous": Decimal("200000.00"),
        "change_pct": Decimal("7.43298"),
        "last_year": None,
        "yoy_change_pct": None,
    }
    assert records[1]["value"] == 100 and isinstance(records[1]["value"], int)
    assert records[2]["value"] == Decimal("0.3")

    # precise_float: pandas' default parser is fast but reads "0.3" as 0.30000000000000004
    frame = pd.read_json(path, precise_float=True)
    assert frame["metric"].tolist() == ["ordered_product_sales", "orders", "unit_session_percentage"]
    assert frame["value"].tolist() == [214865.96, 100.0, 0.3]
    assert frame["last_year"][1] == 50


def test_json_dates_timestamps_booleans_and_non_finite_numbers(tmp_path):
    path = tmp_path / "inventory_health.json"
    assert write_json(INVENTORY, path) == 3
    records = json.loads(path.read_text(encoding="utf-8"))
    assert records[0] == {
        "snapshot_date": "2026-10-03",
        "sku": "SKU-1",
        "product_name": PRODUCT,
        "days_of_supply": 3.5,
        "stockout_risk": True,
        "loaded_at": "2026-10-04T06:00:00Z",
    }
    assert records[1]["product_name"] == 'Cap "Alpine", red\nsecond line'
    assert records[1]["days_of_supply"] is None  # None
    assert records[2]["days_of_supply"] is None  # infinity
    frame = pd.read_json(path)
    assert frame["stockout_risk"].tolist() == [True, False, False]
    assert pd.to_datetime(frame["loaded_at"])[0] == pd.Timestamp("2026-10-04 06:00:00", tz="UTC")


def test_json_nan_is_null_and_an_empty_table_an_empty_array(tmp_path):
    path = tmp_path / "sales_trend.json"
    assert write_json(TREND, path) == 2
    records = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    assert records == [
        {
            "date_day": "2026-10-02",
            "ordered_product_sales": Decimal("1234.50"),
            "units_ordered": 7,
            "unit_session_percentage": Decimal("12.5"),
        },
        {
            "date_day": "2026-10-03",
            "ordered_product_sales": None,
            "units_ordered": 0,
            "unit_session_percentage": None,
        },
    ]
    empty = tmp_path / "returns.json"
    assert write_json(RETURNS, empty) == 0
    assert json.loads(empty.read_text(encoding="utf-8")) == []
    assert pd.read_json(empty).empty


# --- Excel ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workbook_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("xlsx") / "export.xlsx"
    counts = write_xlsx(BUNDLE, path)
    assert counts == {
        "store_performance": 3,
        "sales_trend": 2,
        "inventory_health": 3,
        "attribution": 1,
        "returns_by_reason_and_detailed_": 0,
    }
    return path


def test_xlsx_sheets_and_values_read_back_by_pandas(workbook_path):
    sheets = pd.read_excel(workbook_path, sheet_name=None)
    assert list(sheets) == [
        "About",
        "store_performance",
        "sales_trend",
        "inventory_health",
        "attribution",
        "returns_by_reason_and_detailed_",
    ]
    performance = sheets["store_performance"]
    assert list(performance.columns) == [
        "metric",
        "label",
        "unit",
        "value",
        "previous",
        "Change %",
        "last year",
        "yoy change pct",
    ]
    assert performance["value"].tolist() == [214865.96, 100, 0.3]
    trend = sheets["sales_trend"]
    assert trend["date day"].dt.date.tolist() == [dt.date(2026, 10, 2), dt.date(2026, 10, 3)]
    assert trend["Sales"][0] == 1234.5 and math.isnan(trend["Sales"][1])
    inventory = sheets["inventory_health"]
    assert inventory["stockout risk"].tolist() == [True, False, False]
    assert inventory["loaded at"][0] == pd.Timestamp("2026-10-04 06:00:00")
    assert inventory["product name"][2] == '=HYPERLINK("http://x")'
    assert sheets["returns_by_reason_and_detailed_"].empty
    assert list(sheets["returns_by_reason_and_detailed_"].columns) == ["reason", "units returned"]


def test_xlsx_about_sheet(workbook_path):
    sheet = openpyxl.load_workbook(workbook_path)["About"]
    facts = {row[0]: row[1] for row in sheet.iter_rows(min_row=1, max_row=9, values_only=True)}
    assert facts["Store id"] == "store-1"
    assert facts["Store name"] == "Alpine Goods"
    assert facts["Period"] == "2026-10-03"
    assert facts["Start"] == dt.datetime(2026, 10, 3)
    assert facts["End"] == dt.datetime(2026, 10, 3)
    assert facts["Generated at (UTC)"] == dt.datetime(2026, 10, 4, 6, 30)
    assert facts["Data through"] == dt.datetime(2026, 10, 3)
    assert facts["Currency"] == "EUR"
    tables = [row for row in sheet.iter_rows(min_row=11, values_only=True) if row[0]]
    assert tables.pop(0) == ("Sheet", "Title", "Rows", "Note")
    assert tables == [
        ("store_performance", "Store performance", 3, None),
        ("sales_trend", "Sales trend", 2, None),
        ("inventory_health", "Inventory health", 3, "Snapshot of 2026-10-03"),
        ("attribution", "Attribution by channel and model", 1, "(amounts in USD)"),
        ("returns_by_reason_and_detailed_", "Returns by reason and disposition", 0, None),
    ]


def test_xlsx_header_panes_filter_and_widths(workbook_path):
    book = openpyxl.load_workbook(workbook_path)
    for name in book.sheetnames[1:]:
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        assert all(cell.font.bold for cell in sheet[1]), name
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{sheet.max_row}"
    inventory = book["inventory_health"]
    assert inventory.auto_filter.ref == "A1:F4"
    assert inventory.column_dimensions["C"].width == 50  # the 81-character product name: capped
    assert 10 <= inventory.column_dimensions["A"].width <= 16  # "snapshot date" and 2026-10-03
    assert 8 <= inventory.column_dimensions["B"].width <= 12  # "sku" and SKU-1


def test_xlsx_cell_types_and_number_formats(workbook_path):
    book = openpyxl.load_workbook(workbook_path)
    performance = book["store_performance"]
    sales, orders, conversion = performance[2], performance[3], performance[4]
    # the numeric columns take the row's unit; change % columns are always percentages
    assert sales[3].value == 214865.96 and sales[3].number_format == '#,##0.00 "EUR"'
    assert sales[4].number_format == '#,##0.00 "EUR"'
    assert sales[5].value == 7.43298 and sales[5].number_format == '0.00"%"'
    assert orders[3].value == 100 and orders[3].number_format == "#,##0"
    assert orders[4].value == 80 and isinstance(orders[4].value, int)
    assert orders[6].number_format == "#,##0"
    assert orders[7].number_format == '0.00"%"'
    assert conversion[3].value == 0.3 and conversion[3].number_format == '0.00"%"'
    assert conversion[5].number_format == '0.00"%"'

    trend = book["sales_trend"]
    assert trend["A2"].value == dt.datetime(2026, 10, 2) and trend["A2"].is_date
    assert trend["A2"].number_format == "yyyy-mm-dd"
    assert trend["B2"].value == 1234.5 and trend["B2"].number_format == '#,##0.00 "EUR"'
    assert trend["C2"].value == 7 and trend["C2"].data_type == "n"
    assert trend["C2"].number_format == "#,##0"
    assert trend["D2"].value == 12.5 and trend["D2"].number_format == '0.00"%"'
    assert trend["B3"].value is None and trend["D3"].value is None  # None and NaN

    inventory = book["inventory_health"]
    assert inventory["E2"].value is True and inventory["E2"].data_type == "b"
    assert inventory["F2"].value == dt.datetime(2026, 10, 4, 6, 0)
    assert inventory["F2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert inventory["D2"].number_format == "#,##0.00"
    assert inventory["C4"].data_type == "s"  # text that looks like a formula is not a formula
    assert inventory["D4"].value is None  # infinity

    attribution = book["attribution"]  # a web shop table in its own currency
    assert attribution["C2"].value == 99.9 and attribution["C2"].number_format == '#,##0.00 "USD"'
    assert attribution["D2"].value == 0.125 and attribution["D2"].number_format == "0.0%"


def test_xlsx_money_without_a_currency(tmp_path):
    bundle = ExportBundle(
        store_id="s",
        store_name=None,
        currency=None,
        period=Period("month", dt.date(2026, 9, 1), dt.date(2026, 9, 30), "2026-09"),
        generated_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        data_through=None,
        tables=[ExportTable("t", "T", (Column("amount", "money"),), [(Decimal("5.5"),)])],
    )
    path = tmp_path / "x.xlsx"
    assert write_xlsx(bundle, path) == {"t": 1}
    cell = openpyxl.load_workbook(path)["t"]["A2"]
    assert cell.value == 5.5 and cell.number_format == "#,##0.00"


def test_decimals_that_are_not_finite_are_empty(tmp_path):
    table = ExportTable(
        "t",
        "T",
        (Column("a", "number"), Column("b", "money"), Column("c", "number")),
        [(Decimal("NaN"), Decimal("-Infinity"), Decimal("1.5E+3"))],
    )
    write_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "a,b,c\n,,1500\n"
    write_json(table, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text(encoding="utf-8")) == [
        {"a": None, "b": None, "c": 1500}
    ]
    bundle = ExportBundle("s", None, "EUR", BUNDLE.period, BUNDLE.generated_at, None, tables=[table])
    write_xlsx(bundle, tmp_path / "t.xlsx")
    row = next(openpyxl.load_workbook(tmp_path / "t.xlsx")["t"].iter_rows(min_row=2, values_only=True))
    assert row == (None, None, 1500)
