"""Small matplotlib charts rendered to PNG bytes for Dagster UI metadata.

Every chart is an 800 × 500 px PNG (8 × 5 in at 100 dpi). Figures are built
with :class:`matplotlib.figure.Figure` on an Agg canvas: they never enter
pyplot's figure registry, so nothing needs closing, no display is needed and
the global backend is left alone; each figure is freed once rendered. The PNG's
only text metadata is the chart's title, so equal inputs give equal bytes.

Embed a chart in Dagster with
``MetadataValue.md(to_markdown_image(png, "alt text"))``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

FIGSIZE = (8.0, 5.0)
DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Above this many cells the heatmap is too dense for per-cell labels.
_MAX_ANNOTATED_CELLS = 300
# At most this many tick labels per heatmap axis; the rest are thinned out.
_MAX_TICK_LABELS = 25
# Category labels longer than this, or more categories than this, are rotated.
_LONG_LABEL = 10
_MANY_LABELS = 8


def heatmap_png(wide_df: pd.DataFrame, title: str, fmt: str = "{:.0%}") -> bytes:
    """Render a retention-style heatmap (rows × columns of ``wide_df``).

    Rows are labelled by the index (e.g. cohort start), columns by the column
    labels (e.g. period offset). NaN cells, such as the unobserved part of a
    retention triangle, stay blank. Cells are annotated with ``fmt`` when
    the grid is small enough to read, and a colourbar shows the scale.
    """
    fig, ax = _new_figure(title)
    values = wide_df.to_numpy(dtype=float)
    if values.size == 0 or np.isnan(values).all():
        _draw_no_data(ax)
        return _render(fig)
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, aspect="auto", cmap="YlGnBu", interpolation="nearest")
    fig.colorbar(image, ax=ax, format=_colorbar_formatter(fmt))
    _set_heatmap_ticks(ax, wide_df)
    if values.size <= _MAX_ANNOTATED_CELLS:
        _annotate_cells(ax, masked, image, fmt)
    ax.set_xlabel(_axis_name(wide_df.columns.name))
    ax.set_ylabel(_axis_name(wide_df.index.name))
    return _render(fig)


def bar_png(labels: Sequence, values: Sequence[float], title: str, xlabel: str | None = None) -> bytes:
    """Render a vertical bar chart with the value printed above each bar."""
    if len(labels) != len(values):
        raise ValueError(f"got {len(labels)} labels for {len(values)} values")
    fig, ax = _new_figure(title)
    if len(labels) == 0:
        _draw_no_data(ax)
        return _render(fig)
    names = [_label(label) for label in labels]
    bars = ax.bar(range(len(names)), values, color="#2b7bba")
    ax.bar_label(bars, labels=[_format_number(value) for value in values], fontsize=8, padding=2)
    ax.set_xticks(range(len(names)), names)
    if len(names) > _MANY_LABELS or max(map(len, names)) > _LONG_LABEL:
        ax.tick_params(axis="x", labelrotation=45)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.margins(y=0.12)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.3)
    return _render(fig)


def grouped_bar_png(
    labels: Sequence,
    series: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str | None = None,
    intervals: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> bytes:
    """Render side-by-side bars: one group per label, one bar per entry of ``series``.

    ``intervals`` optionally maps a series name to ``(low, high)`` bounds per label, drawn as
    error bars (e.g. confidence intervals); NaN values draw no bar and no error bar.
    """
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    fig, ax = _new_figure(title)
    if len(labels) == 0 or not series:
        _draw_no_data(ax)
        return _render(fig)
    names = [_label(label) for label in labels]
    positions = np.arange(len(names), dtype=float)
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        heights = np.asarray(values, dtype=float)
        offset = positions - 0.4 + width * (k + 0.5)
        yerr = None
        if intervals and name in intervals:
            low, high = (np.asarray(bound, dtype=float) for bound in intervals[name])
            yerr = np.vstack([heights - low, high - heights])
        ax.bar(offset, np.nan_to_num(heights), width, yerr=yerr, capsize=3, label=name)
    ax.set_xticks(positions, names)
    if len(names) > _MANY_LABELS or max(map(len, names)) > _LONG_LABEL:
        ax.tick_params(axis="x", labelrotation=45)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _render(fig)


def line_png(x: Sequence, series: Mapping[str, Sequence[float]], title: str) -> bytes:
    """Render one line per entry of ``series`` against the shared ``x`` values."""
    for name, ys in series.items():
        if len(ys) != len(x):
            raise ValueError(f"series {name!r} has {len(ys)} points for {len(x)} x values")
    fig, ax = _new_figure(title)
    if len(x) == 0 or not series:
        _draw_no_data(ax)
        return _render(fig)
    for name, ys in series.items():
        ax.plot(x, ys, marker="o", markersize=3, label=name)
    if _is_datelike(x):
        fig.autofmt_xdate()
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return _render(fig)


def to_markdown_image(png_bytes: bytes, alt: str) -> str:
    """Markdown image embedding ``png_bytes`` as a base64 ``data:`` URI."""
    if not png_bytes.startswith(PNG_SIGNATURE):
        raise ValueError("png_bytes is not a PNG image")
    safe_alt = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    encoded = base64.b64encode(png_bytes).decode("ascii")
    return f"![{safe_alt}](data:image/png;base64,{encoded})"


def _new_figure(title: str):
    """A fixed-size figure on an Agg canvas with one titled axes."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def _render(fig: Figure) -> bytes:
    """PNG bytes of ``fig`` at the fixed size: its title in the PNG's Title text, nothing volatile."""
    buffer = io.BytesIO()
    title = fig.axes[0].get_title() if fig.axes else ""
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None, "Title": title or None})
    return buffer.getvalue()


def _draw_no_data(ax) -> None:
    """Replace an empty plot by a centred "No data" note."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=14, color="grey")


def _set_heatmap_ticks(ax, wide_df: pd.DataFrame) -> None:
    """Label heatmap rows and columns, thinning them out on large grids."""
    n_rows, n_cols = wide_df.shape
    row_step = -(-n_rows // _MAX_TICK_LABELS)
    col_step = -(-n_cols // _MAX_TICK_LABELS)
    ax.set_yticks(range(0, n_rows, row_step), [_label(v) for v in wide_df.index[::row_step]])
    ax.set_xticks(range(0, n_cols, col_step), [_label(v) for v in wide_df.columns[::col_step]])
    ax.tick_params(labelsize=8)


def _annotate_cells(ax, masked: np.ma.MaskedArray, image, fmt: str) -> None:
    """Write each non-blank cell's formatted value, in a colour readable on it."""
    n_rows, n_cols = masked.shape
    fontsize = 8 if max(n_rows, n_cols) <= 15 else 6
    for row, col in zip(*np.nonzero(~np.ma.getmaskarray(masked))):
        value = masked[row, col]
        dark_cell = image.norm(value) > 0.55
        ax.text(
            col,
            row,
            fmt.format(value),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark_cell else "black",
        )


def _colorbar_formatter(fmt: str):
    """A tick formatter for the colourbar using the cell format."""
    return FuncFormatter(lambda value, _pos: fmt.format(value))


def _label(value) -> str:
    """Readable tick text: ISO dates for dates and timestamps, else ``str``."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def _axis_name(name) -> str:
    """Axis title from an index name (``period_offset`` → ``period offset``)."""
    return "" if name is None else str(name).replace("_", " ")


def _format_number(value: float) -> str:
    """Compact bar label: thousands separators, at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _is_datelike(x: Sequence) -> bool:
    """Whether ``x`` holds dates or timestamps (so tick labels need slanting)."""
    array = np.asarray(x)
    if array.dtype.kind == "M":
        return True
    return len(array) > 0 and isinstance(array.flat[0], dt.date)
