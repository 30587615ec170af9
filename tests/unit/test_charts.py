"""PNG chart helpers: valid, fixed-size images that leave pyplot untouched."""

from __future__ import annotations

import base64
import datetime as dt
import io

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from nexus_pipelines.lib.analytics.charts import (
    PNG_SIGNATURE,
    bar_png,
    heatmap_png,
    line_png,
    to_markdown_image,
)

EXPECTED_SHAPE = (500, 800)  # height, width in pixels: 8 x 5 in at 100 dpi


def decoded_size(png: bytes) -> tuple[int, int]:
    """(height, width) of a PNG after decoding it."""
    assert png.startswith(PNG_SIGNATURE)
    return mpimg.imread(io.BytesIO(png), format="png").shape[:2]


@pytest.fixture
def triangle() -> pd.DataFrame:
    """A retention triangle: NaN where offsets are not observed yet."""
    starts = [dt.date(2024, 1, 1), dt.date(2024, 1, 8), dt.date(2024, 1, 15)]
    index = pd.Index(starts, name="cohort_start")
    columns = pd.Index([0, 1, 2], name="period_offset")
    values = [[1.0, 0.5, 0.25], [1.0, 0.4, np.nan], [1.0, np.nan, np.nan]]
    return pd.DataFrame(values, index=index, columns=columns)


def test_heatmap_with_nan_cells(triangle):
    assert decoded_size(heatmap_png(triangle, "Weekly retention")) == EXPECTED_SHAPE


def test_heatmap_with_counts_format_and_a_large_grid():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.integers(0, 500, (60, 31)).astype(float))
    assert decoded_size(heatmap_png(wide, "Daily counts", fmt="{:.0f}")) == EXPECTED_SHAPE


@pytest.mark.parametrize("wide", [pd.DataFrame(), pd.DataFrame([[np.nan, np.nan]])])
def test_heatmap_without_values_renders_a_placeholder(wide):
    assert decoded_size(heatmap_png(wide, "Nothing yet")) == EXPECTED_SHAPE


def test_bar_chart():
    labels = ["web", "mobile", "marketplace"]
    png = bar_png(labels, [1200, 340.5, 0], "Orders by channel", xlabel="channel")
    assert decoded_size(png) == EXPECTED_SHAPE


def test_bar_chart_with_many_long_labels():
    labels = [f"product category number {i}" for i in range(20)]
    assert decoded_size(bar_png(labels, list(range(20)), "Revenue by category")) == EXPECTED_SHAPE


def test_bar_chart_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        bar_png(["a", "b"], [1], "Mismatch")


def test_line_chart_with_dates_and_several_series():
    x = [dt.date(2024, 1, 1) + dt.timedelta(days=7 * i) for i in range(10)]
    png = line_png(x, {"week 1": [0.5] * 10, "week 4": [0.2 + i / 50 for i in range(10)]}, "Retention")
    assert decoded_size(png) == EXPECTED_SHAPE


def test_line_chart_rejects_a_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="short"):
        line_png([1, 2, 3], {"short": [1, 2]}, "Mismatch")


def test_line_chart_without_points_renders_a_placeholder():
    assert decoded_size(line_png([], {}, "Empty")) == EXPECTED_SHAPE


def test_rendering_is_deterministic(triangle):
    assert heatmap_png(triangle, "Same") == heatmap_png(triangle, "Same")


def test_rendering_leaves_no_open_pyplot_figures(triangle):
    before = plt.get_fignums()
    for _ in range(5):
        heatmap_png(triangle, "t")
        bar_png(["a"], [1], "t")
        line_png([1, 2], {"s": [1, 2]}, "t")
    assert plt.get_fignums() == before


def test_markdown_image_embeds_the_png_as_a_data_uri():
    png = bar_png(["a"], [1], "One bar")
    markdown = to_markdown_image(png, "Orders [daily]")
    prefix = "![Orders \\[daily\\]](data:image/png;base64,"
    assert markdown.startswith(prefix) and markdown.endswith(")")
    assert base64.b64decode(markdown[len(prefix) : -1]) == png


def test_markdown_image_rejects_non_png_bytes():
    with pytest.raises(ValueError):
        to_markdown_image(b"GIF89a", "not a png")
