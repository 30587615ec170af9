"""The PDF report's charts: matplotlib figures rendered to PNG bytes at print resolution.

Each chart is drawn at the size it takes on the page (``width`` × ``height`` inches), so its
text keeps the point size it is given here. Figures live on an Agg canvas of their own (pyplot's
registry and the global backend are left alone) and use constrained layout, so titles, tick labels
and legends stay inside the image without overlapping. Long category labels are shortened,
date ticks are thinned out. The PNG carries no software or time stamp: equal inputs give equal bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

DPI = 150
WIDTH = 7.0  # inches: the report's text width
TITLE_SIZE = 10
LABEL_SIZE = 8
TICK_SIZE = 7.5
ANNOTATION_SIZE = 7
BLUE = "#2b7bba"
ORANGE = "#e07b28"
GREY = "#555555"
# colours of the series (colour-blind safe, Okabe–Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

Number = float | None


def shorten(text: object, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def money_axis(currency: str | None) -> str:
    return f"({currency})" if currency else "(amount)"


def sales_trend_png(
    days: Sequence[dt.date],
    series: Mapping[str, Sequence[Number]],
    currency: str | None,
    highlight: tuple[dt.date, dt.date] | None = None,
    height: float = 3.3,
) -> bytes:
    """One line per series over the days; ``highlight`` shades the report's period."""
    fig, ax = _figure("Daily sales", height)
    x = np.array(days, dtype="datetime64[D]")
    for k, (name, values) in enumerate(series.items()):
        ax.plot(x, _array(values), marker="o", markersize=2.5, linewidth=1.4, color=PALETTE[k], label=name)
    if highlight is not None:
        start, end = highlight
        ax.axvspan(
            float(mdates.date2num(start)) - 0.5,  # from the start day's first half
            float(mdates.date2num(end)) + 0.5,
            color="#f2c14e",
            alpha=0.18,
            linewidth=0,
            label="report period",
        )
    _date_ticks(ax, days)
    ax.set_xlabel("Day", fontsize=LABEL_SIZE)
    ax.set_ylabel(f"Sales {money_axis(currency)}", fontsize=LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylim(bottom=min(0.0, _low(series)))
    ax.margins(y=0.1)
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _render(fig)


def hbar_png(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    xlabel: str,
    value_labels: Sequence[str],
    colors: Sequence[str] | None = None,
    legend: Mapping[str, str] | None = None,
    height: float | None = None,
) -> bytes:
    """Horizontal bars, the first label on top, each bar's value written at its end."""
    rows = len(labels)
    fig, ax = _figure(title, height or min(5.0, 1.0 + 0.22 * rows))
    positions = np.arange(rows)
    bars = ax.barh(positions, values, color=list(colors) if colors else BLUE, height=0.65)
    ax.bar_label(bars, labels=list(value_labels), fontsize=ANNOTATION_SIZE, padding=3)
    ax.set_yticks(positions, list(labels), fontsize=TICK_SIZE)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_xlim(left=0, right=max([*values, 0.0]) * 1.3 or 1.0)
    ax.grid(axis="x", alpha=0.3)
    if legend:
        handles = [Patch(color=colour, label=name) for name, colour in legend.items()]
        ax.legend(handles=handles, loc="lower right", fontsize=ANNOTATION_SIZE, frameon=False)
    return _render(fig)


def funnel_png(
    steps: Sequence[str],
    users: Sequence[float],
    rates_from_start: Sequence[Number],
    title: str,
    height: float = 2.9,
) -> bytes:
    """Users entering each step, labelled with the count and the conversion from the first step."""
    fig, ax = _figure(title, height)
    positions = np.arange(len(steps))
    bars = ax.bar(positions, users, color=BLUE, width=0.6)
    labels = [
        f"{value:,.0f}" + ("" if rate is None else f"\n{rate * 100:.1f} %")
        for value, rate in zip(users, rates_from_start, strict=True)
    ]
    ax.bar_label(bars, labels=labels, fontsize=ANNOTATION_SIZE, padding=2)
    width = max(8, int(60 / max(len(steps), 1)))
    names = [textwrap.fill(shorten(step, 2 * width), width, max_lines=2, placeholder="…") for step in steps]
    ax.set_xticks(positions, names, fontsize=TICK_SIZE)
    ax.set_xlabel("Step (label: users, % of users entering the first step)", fontsize=LABEL_SIZE)
    ax.set_ylabel("Users", fontsize=LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylim(0, max([*users, 0.0]) * 1.3 or 1.0)
    ax.grid(axis="y", alpha=0.3)
    return _render(fig)


def heatmap_png(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[Number]],
    title: str,
    xlabel: str,
    ylabel: str,
) -> bytes:
    """A rate grid (0..1) coloured and annotated in percent; missing cells stay blank."""
    fig, ax = _figure(title, min(6.0, 1.6 + 0.24 * len(rows)))
    grid = np.ma.masked_invalid(np.array([_array(r) for r in values], dtype=float))
    image = ax.imshow(grid, aspect="auto", cmap="YlGnBu", vmin=0.0, vmax=1.0, interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, format=FuncFormatter(lambda v, _p: f"{v:.0%}"), fraction=0.04)
    bar.ax.tick_params(labelsize=TICK_SIZE)
    ax.set_xticks(range(len(columns)), list(columns), fontsize=TICK_SIZE)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=TICK_SIZE)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    size = ANNOTATION_SIZE if len(columns) <= 12 else 6
    for r, c in zip(*np.nonzero(~np.ma.getmaskarray(grid)), strict=True):
        value = float(grid[r, c])
        colour = "white" if value > 0.55 else "black"
        label = ax.text(c, r, f"{value:.0%}", ha="center", va="center", fontsize=size, color=colour)
        label.set_in_layout(False)  # inside the axes: measuring it for the layout only costs time
    return _render(fig)


def grouped_bar_png(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str,
    ylabel: str,
    height: float = 3.4,
) -> bytes:
    """One group of bars per label of ``groups``, one bar per series; the legend above the plot."""
    fig, ax = _figure(title, height)
    positions = np.arange(len(groups), dtype=float)
    width = 0.8 / max(len(series), 1)
    for k, (name, values) in enumerate(series.items()):
        offset = positions - 0.4 + width * (k + 0.5)
        ax.bar(offset, values, width, color=PALETTE[k % len(PALETTE)], label=shorten(name, 24))
    rotate = len(groups) > 6 or max((len(g) for g in groups), default=0) > 12
    ax.set_xticks(positions, list(groups), fontsize=TICK_SIZE, rotation=30 if rotate else 0)
    if rotate:
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    _legend_right(ax)
    return _render(fig)


def _figure(title: str, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=TITLE_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    return fig, ax


def _render(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _array(values: Sequence[Number]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _low(series: Mapping[str, Sequence[Number]]) -> float:
    values = [float(v) for vs in series.values() for v in vs if v is not None]
    return min(values, default=0.0)


def _date_ticks(ax: Axes, days: Sequence[dt.date]) -> None:
    """Mondays on up to ten weeks of days (every other Monday on more), else months; never crowded."""
    span = (max(days) - min(days)).days if days else 0
    locator: mdates.DateLocator
    if span <= 70:
        locator = mdates.WeekdayLocator(byweekday=mdates.MO, interval=1 if span <= 35 else 2)
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    several_years = len({d.year for d in days}) > 1
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%Y" if several_years else "%d %b"))


def _legend_right(ax: Axes) -> None:
    """The legend beside the plot, outside it: it never hides a bar or a line."""
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=ANNOTATION_SIZE,
        frameon=False,
    )
