"""Bar-chart geometry for server-rendered SVG charts (the Rehabstöd unit overview).

Pure: counts in, geometry out (no Flask, no SVG markup: ``templates/rehab/_charts.html`` draws it).

The chart is a stack of horizontal bars, one row per category, laid out for any width from a
320 px phone to a desktop without scaling the text:

- each row is the category's label (wrapped to ``wrap`` characters, on one or more lines) with
  the value right-aligned on its first line, and below it a bar on a full-width track;
- vertical positions and heights are in ``em`` (of the chart's font size), so the chart grows
  with the user's text size and never overlaps itself; horizontal sizes are percentages of the
  chart's width, so the SVG needs no ``viewBox`` and fills its container;
- a bar's width is the category's share of the total (the track is 100 %), the same percentage
  the value label and the table show. A category with a value above zero gets at least
  ``MIN_BAR_PERCENT`` so it stays visible; a zero gets no bar.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BAR_HEIGHT", "LINE_HEIGHT", "MIN_BAR_PERCENT", "ROW_GAP", "Bar", "BarChart", "bar_chart"]

#: Height of one label line, em.
LINE_HEIGHT = 1.375
#: Thickness of a bar, em.
BAR_HEIGHT = 1.0
#: Space between a label and its bar, and below a bar before the next row, em.
LABEL_GAP = 0.25
ROW_GAP = 1.0
#: The narrowest bar drawn for a value above zero, percent of the chart's width.
MIN_BAR_PERCENT = 1.0
#: Where a label line's baseline sits below the line's top, em.
BASELINE = 1.0


@dataclass(frozen=True)
class Bar:
    """One category: what it is, its count and share, and where it is drawn.

    ``share`` is value / total (0 when the total is 0). ``width`` is the bar's width in percent of
    the chart's width. ``lines`` are the label's lines; ``line_ys`` their baselines (em);
    ``bar_y`` the bar's top edge (em).
    """

    key: str
    label: str
    value: int
    share: float
    width: float
    lines: tuple[str, ...]
    line_ys: tuple[float, ...]
    bar_y: float
    href: str | None = None


@dataclass(frozen=True)
class BarChart:
    """The bars in display order, their total, and the chart's height (em)."""

    bars: tuple[Bar, ...]
    total: int
    height: float

    @property
    def empty(self) -> bool:
        return self.total == 0


def _wrap(label: str, width: int) -> tuple[str, ...]:
    lines = textwrap.wrap(label, width=width, break_long_words=False, break_on_hyphens=False)
    return tuple(lines) or ("",)


def bar_chart(items: Iterable[tuple], *, wrap: int = 24, to_largest: bool = False) -> BarChart:
    """The geometry of a bar chart of ``items``: (key, label, value) or (key, label, value, href),
    in display order. Values are counts (whole numbers, not negative); the total is their sum.

    ``wrap`` is the longest label line in characters (leave room for the value on the first line).
    ``to_largest``: a bar's width is its value's share of the largest value (a time series, where the shares of
    the sum would make every bar short), not of the total.
    """
    rows = [tuple(item) + (None,) * (4 - len(item)) for item in items]
    for key, _label, value, _href in rows:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"count for {key!r} must be a whole number >= 0, got {value!r}")
    total = sum(value for _, _, value, _ in rows)
    largest = max((value for _, _, value, _ in rows), default=0)
    bars: list[Bar] = []
    y = 0.0
    for key, label, value, href in rows:
        lines = _wrap(str(label), wrap)
        line_ys = tuple(round(y + BASELINE + i * LINE_HEIGHT, 4) for i in range(len(lines)))
        bar_y = round(y + len(lines) * LINE_HEIGHT + LABEL_GAP, 4)
        share = value / total if total else 0.0
        scale = (value / largest if largest else 0.0) if to_largest else share
        width = 0.0 if value == 0 else max(MIN_BAR_PERCENT, round(scale * 100, 2))
        bars.append(Bar(str(key), str(label), value, share, width, lines, line_ys, bar_y, href))
        y = bar_y + BAR_HEIGHT + ROW_GAP
    height = round(y - ROW_GAP + 0.125, 4) if bars else 0.0  # room for the last bar's outline
    return BarChart(tuple(bars), total, height)
