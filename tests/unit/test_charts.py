"""PNG chart helpers: valid, fixed-size images that leave pyplot untouched."""

from __future__ import annotations

import base64
import datetime as dt
import io

import matplotlib
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

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


# --- the images read back -----------------------------------------------------------------

WHITE = (255, 255, 255)
BAR_BLUE = (0x2B, 0x7B, 0xBA)  # bar_png's bar colour
SERIES_COLOURS = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E))  # matplotlib's first two cycle colours, C0 and C1


def read_back(png: bytes) -> Image.Image:
    """The PNG decoded by Pillow (an independent decoder), fully loaded."""
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def rgb(png: bytes) -> np.ndarray:
    """(height, width, 3) uint8 pixels."""
    return np.asarray(read_back(png).convert("RGB"))


def mask(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (pixels == colour).all(axis=-1)


def runs(indexes: np.ndarray) -> list[np.ndarray]:
    """Sorted integer positions split into runs of consecutive values."""
    return np.split(indexes, np.flatnonzero(np.diff(indexes) > 1) + 1) if len(indexes) else []


def assert_not_blank(pixels: np.ndarray, min_colours: int, min_drawn_share: float) -> None:
    colours = {tuple(p) for p in pixels.reshape(-1, 3)}
    drawn = (pixels != 255).any(axis=-1).mean()
    assert len(colours) >= min_colours, len(colours)
    assert drawn >= min_drawn_share, drawn


def test_bar_chart_read_back_draws_the_bars_in_proportion():
    png = bar_png(["web", "mobile", "marketplace"], [1200, 340.5, 0], "Orders by channel", xlabel="channel")
    image = read_back(png)
    assert image.format == "PNG" and image.size == (800, 500)  # width, height
    pixels = rgb(png)
    # text, ticks and grid are anti-aliased: hundreds of colours; bars cover a good part of the canvas
    assert_not_blank(pixels, min_colours=50, min_drawn_share=0.10)
    bars = mask(pixels, BAR_BLUE)
    columns = np.flatnonzero(bars.any(axis=0))
    drawn = runs(columns)
    assert len(drawn) == 2  # the third bar has height 0
    heights = [int(bars[:, run].sum(axis=0).max()) for run in drawn]
    widths = [len(run) for run in drawn]
    # bars stand on the same baseline with heights in the ratio of the values, 340.5 / 1200,
    # to a pixel or two (edges are snapped to the pixel grid)
    bottoms = [int(np.flatnonzero(bars[:, run[len(run) // 2]]).max()) for run in drawn]
    assert abs(bottoms[0] - bottoms[1]) <= 1
    assert heights[0] > 200
    assert abs(heights[1] - heights[0] * 340.5 / 1200) <= 2, heights
    # equal widths, 0.8 of the distance between bar centres (matplotlib's default bar width)
    assert abs(widths[0] - widths[1]) <= 1
    spacing = np.mean(drawn[1]) - np.mean(drawn[0])
    assert widths[0] / spacing == pytest.approx(0.8, abs=0.01)


def test_heatmap_read_back_colours_every_cell_by_its_value(triangle):
    """Each cell of the retention triangle shows the YlGnBu colour of its value; NaN cells stay white."""
    pixels = rgb(heatmap_png(triangle, "Weekly retention"))
    assert pixels.shape[:2] == EXPECTED_SHAPE
    assert_not_blank(pixels, min_colours=100, min_drawn_share=0.30)
    cmap = matplotlib.colormaps["YlGnBu"]
    low, high = 0.25, 1.0  # the colour scale spans the values present

    def colour(value: float) -> tuple[int, int, int]:
        return tuple(int(c) for c in cmap((value - low) / (high - low), bytes=True)[:3])

    # column 0 is all 1.0: its block of the darkest colour gives the cell grid
    darkest = mask(pixels, colour(1.0))
    x_run = runs(np.flatnonzero(darkest.any(axis=0)))[0]
    y_run = runs(np.flatnonzero(darkest[:, x_run].any(axis=1)))[0]
    cell_w, cell_h = len(x_run), len(y_run) / 3
    assert cell_w > 100 and cell_h > 100
    for row in range(3):
        for col in range(3):
            # a quarter of the way into the cell: clear of the value printed at its centre
            x = int(x_run[0] + (col + 0.25) * cell_w)
            y = int(y_run[0] + (row + 0.25) * cell_h)
            value = triangle.iat[row, col]
            expected = WHITE if np.isnan(value) else colour(value)
            assert tuple(int(c) for c in pixels[y, x]) == expected, (row, col, value)


def test_line_chart_read_back_draws_each_series_where_its_values_are():
    x = [dt.date(2024, 1, 1) + dt.timedelta(days=7 * i) for i in range(10)]
    rising = [0.2 + i / 50 for i in range(10)]
    pixels = rgb(line_png(x, {"flat": [0.5] * 10, "rising": rising}, "Retention"))
    assert pixels.shape[:2] == EXPECTED_SHAPE
    assert_not_blank(pixels, min_colours=50, min_drawn_share=0.02)
    flat, rise = (mask(pixels, c) for c in SERIES_COLOURS)
    assert flat.sum() > 300 and rise.sum() > 300
    # "flat" is one horizontal line: one row holds most of its pixels across the plot width
    span = np.flatnonzero(flat.any(axis=0))
    assert flat.sum(axis=1).max() >= 0.6 * (span.max() - span.min())
    # "rising" goes up from left to right (smaller row numbers), and stays below "flat" (0.5)
    columns = np.flatnonzero(rise.any(axis=0))
    left, right = columns[: len(columns) // 4], columns[-len(columns) // 4 :]

    def typical_row(cols):
        return np.median([np.median(np.flatnonzero(rise[:, c])) for c in cols])

    assert typical_row(left) > typical_row(right) + 50
    flat_row = int(flat.sum(axis=1).argmax())
    assert typical_row(right) > flat_row


def test_title_is_drawn_at_the_top_and_is_the_only_text_metadata():
    """The PNG's Title text is the chart's title; nothing volatile (Software: the matplotlib
    version) is written, so equal inputs give equal bytes."""
    labels, values = ["web", "mobile", "marketplace"], [1200, 340.5, 0]
    titles = ("Orders by channel", "Revenue by channel")
    one, other = (bar_png(labels, values, title) for title in titles)
    for png, title in zip((one, other), titles):
        text = read_back(png).text  # tEXt/iTXt/zTXt chunks
        assert text == {"Title": title}, text
    a, b = rgb(one), rgb(other)
    differs = (a != b).any(axis=-1)
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    # only the title text differs, and it sits in the top 10% of the image, centred over the axes,
    # i.e. over the middle one of the three bar slots ("mobile", the second bar drawn)
    assert len(rows) > 5 and rows.max() < 50
    middle_bar = runs(np.flatnonzero(mask(a, BAR_BLUE).any(axis=0)))[1]
    assert (cols.min() + cols.max()) / 2 == pytest.approx(np.mean(middle_bar), abs=15)
    dark_title = (a[:50] < 100).all(axis=-1).sum()
    assert dark_title > 300  # black text, not a faint artefact


def test_placeholder_read_back_shows_only_the_title_and_a_centred_note():
    pixels = rgb(line_png([], {}, "Empty"))
    assert pixels.shape[:2] == EXPECTED_SHAPE
    drawn = (pixels != 255).any(axis=-1)
    ys, xs = np.nonzero(drawn)
    in_title = ys < 50
    centre = (abs(xs - 400) < 100) & (abs(ys - 250) < 40)
    assert (in_title | centre).all()  # no axes, ticks or frame
    assert centre.sum() > 200  # "No data"
    assert mask(pixels, (128, 128, 128)).sum() > 50  # in grey
