"""Metadata every analytics asset reports: row count, date range, a small preview and a chart."""

from decimal import Decimal

import numpy as np
import pandas as pd
from dagster import MetadataValue

from ...lib.analytics.charts import to_markdown_image

PREVIEW_ROWS = 10


def date_range(frame: pd.DataFrame, column: str) -> str:
    """``first .. last`` of a date column, or "empty"."""
    values = frame[column].dropna() if column in frame else pd.Series(dtype=object)
    if values.empty:
        return "empty"
    return f"{values.min()} .. {values.max()}"


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """The first rows as a Markdown table (floats rounded for reading)."""
    if frame.empty:
        return MetadataValue.md("no rows")
    head = frame.head(rows).copy()
    for column in head.columns:
        if pd.api.types.is_float_dtype(head[column]):
            head[column] = head[column].round(4)
        elif not pd.api.types.is_integer_dtype(head[column]) and not pd.api.types.is_bool_dtype(head[column]):
            # numbers kept as objects or extension types (Decimal, numpy floats, nullable floats)
            head[column] = head[column].map(_rounded)
    # tabulate shows 6 significant digits by default (214866 for 214865.96): enough digits for the rounded values
    return MetadataValue.md(head.to_markdown(index=False, floatfmt=".12g"))


def _rounded(value):
    if isinstance(value, (float, Decimal, np.floating)) and not isinstance(value, bool):
        return round(float(value), 4)
    return value


def chart(png: bytes, alt: str) -> MetadataValue:
    """A PNG chart embedded in Markdown (shown inline in the Dagster UI)."""
    return MetadataValue.md(to_markdown_image(png, alt))


def table_metadata(frame: pd.DataFrame, rows: int, date_column: str) -> dict:
    """The standard trio: row_count, date_range and preview."""
    return {
        "row_count": MetadataValue.int(int(rows)),
        "date_range": MetadataValue.text(date_range(frame, date_column)),
        "preview": preview(frame),
    }
