"""The bar-chart geometry of the overview's SVG charts (portal/domain/charts.py): shares and bar
widths are the categories' percentages of the total, rows never overlap, long labels wrap, and
zero or empty data draws no bar."""
from __future__ import annotations

import pytest

from portal.domain import charts
from portal.domain.charts import BAR_HEIGHT, LINE_HEIGHT, bar_chart


def test_bar_widths_are_each_categorys_share_of_the_total():
    chart = bar_chart([("F", "Kvinna", 17), ("M", "Man", 13)])
    assert chart.total == 30
    assert [b.key for b in chart.bars] == ["F", "M"]
    assert [b.value for b in chart.bars] == [17, 13]
    assert [round(b.share, 4) for b in chart.bars] == [0.5667, 0.4333]
    assert [b.width for b in chart.bars] == [56.67, 43.33]


def test_a_single_category_fills_the_track_and_a_zero_draws_no_bar():
    chart = bar_chart([("a", "A", 0), ("b", "B", 7), ("c", "C", 0)])
    assert [b.width for b in chart.bars] == [0.0, 100.0, 0.0]
    assert [b.share for b in chart.bars] == [0.0, 1.0, 0.0]


def test_a_tiny_share_is_still_visible():
    chart = bar_chart([("big", "Big", 999), ("small", "Small", 1)])
    assert chart.bars[1].width == charts.MIN_BAR_PERCENT  # 0.1 % would be an invisible sliver
    assert chart.bars[1].share == pytest.approx(0.001)


def test_nothing_to_count_is_an_empty_chart_without_bars_drawn():
    chart = bar_chart([("F", "Kvinna", 0), ("M", "Man", 0)])
    assert chart.empty and chart.total == 0
    assert all(b.width == 0 and b.share == 0 for b in chart.bars)
    assert bar_chart([]).height == 0


def test_long_labels_wrap_on_words_and_push_the_next_rows_down():
    chart = bar_chart([("Z", "Faktorer av betydelse för hälsotillståndet", 2), ("O", "Övrigt", 1)], wrap=24)
    first, second = chart.bars
    assert first.lines == ("Faktorer av betydelse", "för hälsotillståndet")
    assert all(len(line) <= 24 for line in first.lines)
    assert second.lines == ("Övrigt",)
    # the second line sits one line below the first, the bar below the last line
    assert first.line_ys[1] - first.line_ys[0] == pytest.approx(LINE_HEIGHT)
    assert first.bar_y > first.line_ys[-1]
    # the next row starts below this row's bar, and the chart is tall enough for the last bar
    assert second.line_ys[0] - 1 >= first.bar_y + BAR_HEIGHT
    assert chart.height >= second.bar_y + BAR_HEIGHT


def test_a_word_longer_than_the_wrap_width_is_not_broken():
    chart = bar_chart([("x", "Sjukskrivningsgrader", 1)], wrap=10)
    assert chart.bars[0].lines == ("Sjukskrivningsgrader",)


def test_rows_keep_their_link():
    chart = bar_chart([("F", "Kvinna", 1, "/rehabstod/sjukfall?kon=F"), ("x", "Utan länk", 1)])
    assert [b.href for b in chart.bars] == ["/rehabstod/sjukfall?kon=F", None]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_counts_must_be_whole_numbers_not_below_zero(bad):
    with pytest.raises(ValueError):
        bar_chart([("a", "A", 1), ("b", "B", bad)])
