"""Intygsstatistik (issue 15, the public part) by keyboard alone, in Swedish and English, at 390 and 1280 px:
from the start page to a report, change the period, compare with a year earlier and filter on a chapter (htmx
swaps the report, the URL holds the state, focus goes to the report's heading), the table after the charts
reached by Tab, the Excel file with the page's figures; the same form without JavaScript, and the error page for a
bad query. axe on every state."""
from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

from accessibility import crawl
from conftest import new_context
from portal.export import XLSX_HEADER_ROW

from .keyboard import focused, tab_to, tab_to_text

pytestmark = pytest.mark.e2e

REPORT = "/statistik/nationell/diagnoskapitel"
T = {
    "sv": {"start": "Till Intygsstatistik", "index": "Intygsstatistik", "report": "Sjukfall per diagnoskapitel",
           "compare": "Jämför med samma period ett år tidigare", "submit": "Visa statistiken",
           "excel": "Ladda ner som Excel", "fewer": "färre än 5", "hidden": "dolt", "earlier": "(ett år tidigare)",
           "filtered": "Filtrerat urval.", "total": "Totalt", "problem": "Det finns ett problem",
           "bad_month": "Välj en månad i listan"},
    "en": {"start": "Go to the certificate statistics", "index": "Certificate statistics",
           "report": "Sick-leave cases by diagnosis chapter",
           "compare": "Compare with the same period a year earlier", "submit": "Show the statistics",
           "excel": "Download as Excel", "fewer": "fewer than 5", "hidden": "hidden", "earlier": "(a year earlier)",
           "filtered": "Filtered selection.", "total": "Total", "problem": "There is a problem",
           "bad_month": "Choose a month in the list"},
}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def open_page(browser, live, lang: str, width: int, javascript: bool = True):
    context = new_context(browser, live.url, lang=lang, width=width, height=844 if width == 390 else 900,
                          javascript=javascript)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def active(page) -> dict:
    """The focused element: id, classes, role and the text of what labels it (aria-labelledby)."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        const by = e.getAttribute('aria-labelledby');
        return {id: e.id, classes: Array.from(e.classList), role: e.getAttribute('role') || '',
                tabindex: e.getAttribute('tabindex'), text: (e.innerText || '').trim(),
                labelledby: by ? by.split(' ').map(i => document.getElementById(i).innerText.trim()).join(' ') : ''};
    }""")


def tables(page) -> list[dict]:
    """Every statistics table of the report: caption, column headings and rows (row heading, cells), as shown."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#report table.app-stat-table')).map(t => ({
        caption: t.caption.innerText.trim(),
        head: Array.from(t.tHead.rows[0].cells).map(c => c.innerText.trim()),
        rows: Array.from(t.querySelectorAll('tbody tr, tfoot tr')).map(r => Array.from(r.cells)
            .map(c => c.innerText.trim())),
    }))""")


def as_value(text: str, t: dict):
    """A shown cell as a figure: an int, or the mark of a suppressed one ("färre än 5", "dolt")."""
    if text in (t["fewer"], t["hidden"]):
        return text
    digits = re.sub(r"[\s\u00a0\u202f]", "", text)
    assert digits.isdigit(), text
    return int(digits)


def option_text(page, select: str, value: str) -> str:
    return page.locator(f"#{select} option[value='{value}']").inner_text().strip()


def year_before(month: str) -> str:
    year, m = month.split("-")
    return f"{int(year) - 1}-{m}"


def report_heading(page) -> str:
    return page.locator("#report-heading").inner_text().strip()


def change_the_form(page, t: dict, chapter_index: int) -> dict:
    """By keyboard: `fran` three months later (the list is newest first: ArrowUp), `till` two months earlier,
    "compare" ticked with Space, one chapter ticked. Returns the chosen values."""
    before = {n: page.locator(f"#{n}").input_value() for n in ("fran", "till")}
    tab_to(page, lambda f: f["id"] == "fran", limit=100)
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    tab_to(page, lambda f: f["id"] == "till")
    for _ in range(2):
        page.keyboard.press("ArrowDown")
    chosen = {n: page.locator(f"#{n}").input_value() for n in ("fran", "till")}
    assert chosen["fran"] > before["fran"] and chosen["till"] < before["till"], (before, chosen)
    tab_to(page, lambda f: f["type"] == "checkbox" and f["label"] == t["compare"])
    page.keyboard.press("Space")
    assert page.locator("#jamfor").is_checked()
    box = tab_to(page, lambda f: f["id"] == f"kapitel-{chapter_index + 1}", limit=100)
    page.keyboard.press("Space")
    assert page.locator(f"#kapitel-{chapter_index + 1}").is_checked()
    chosen["kapitel"] = box["value"]
    chosen["chapter_label"] = box["label"]
    return chosen


def assert_the_state(page, t: dict, chosen: dict) -> list[dict]:
    """The URL and the report show the chosen period, comparison and chapter; returns the tables."""
    query = parse_qs(urlsplit(page.url).query)
    assert query["fran"] == [chosen["fran"]] and query["till"] == [chosen["till"]], page.url
    assert query["jamfor"] == ["1"] and query["kapitel"] == [chosen["kapitel"]], page.url
    first, last = option_text(page, "fran", chosen["fran"]), option_text(page, "till", chosen["till"])
    assert report_heading(page) == f"{first} – {last}"
    assert page.locator("#fran").input_value() == chosen["fran"]
    assert page.locator("#till").input_value() == chosen["till"]
    assert page.locator("#jamfor").is_checked()
    assert page.locator(f"input[name=kapitel][value='{chosen['kapitel']}']").is_checked()
    assert t["filtered"] in page.locator("#report").inner_text()
    shown = tables(page)
    assert len(shown) == 2
    now, earlier = shown
    assert now["caption"].startswith(t["report"]) and not now["caption"].endswith(t["earlier"])
    assert earlier["caption"].startswith(t["report"]) and earlier["caption"].endswith(t["earlier"])
    assert now["rows"][0][0] == first and now["rows"][-2][0] == last and now["rows"][-1][0] == t["total"]
    # the second table is the same months a year earlier
    assert earlier["rows"][0][0] == option_text(page, "fran", year_before(chosen["fran"]))
    assert earlier["rows"][-2][0] == option_text(page, "till", year_before(chosen["till"]))
    assert len(earlier["rows"]) == len(now["rows"]) and earlier["head"] == now["head"]
    # only the ticked chapter is a column (the others are not zeros, they were not asked for), in both tables
    assert now["head"][1:-1] == [chosen["chapter_label"]]
    for table in shown:
        for row in table["rows"]:
            assert row[1] == row[-1], row  # the one chapter is the month's total
    return shown


def biggest_chapter(page, t: dict) -> int:
    """The index of the chapter with the largest total in the default report (so the filtered one has figures)."""
    table = tables(page)[0]
    totals = [as_value(c, t) for c in table["rows"][-1][1:-1]]
    numbers = [v if isinstance(v, int) else 0 for v in totals]
    assert max(numbers) > 0, totals
    return numbers.index(max(numbers))


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_a_report_by_keyboard_period_comparison_chapter_table_and_excel(browser, live, lang, width):
    t = T[lang]
    context, page = open_page(browser, live, lang, width)
    try:
        # 1. the start page's link, then the report from the statistics' start page
        page.goto("/")
        tab_to_text(page, t["start"], limit=100)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert urlsplit(page.url).path == "/statistik/"
        assert page.get_by_role("heading", level=1).inner_text() == t["index"]
        no_violations(page)
        tab_to_text(page, t["report"], limit=100)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert urlsplit(page.url).path == REPORT
        assert page.get_by_role("heading", level=1).inner_text() == t["report"]
        default = tables(page)
        assert len(default) == 1 and page.locator("#chart-months svg").count() == 1
        no_violations(page)

        # 2. a later period, compared with a year earlier, one chapter; submitted with Enter: htmx swaps #report
        chosen = change_the_form(page, t, biggest_chapter(page, t))
        tab_to(page, lambda f: f["tag"] == "button" and f["text"] == t["submit"], limit=100)
        with page.expect_response(lambda r: "kapitel=" in r.url and "jamfor=1" in r.url) as response:
            page.keyboard.press("Enter")
        assert response.value.status == 200 and response.value.request.headers.get("hx-request") == "true"
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'report-heading'")
        page.wait_for_function("() => location.search.includes('kapitel=')")
        swapped = assert_the_state(page, t, chosen)
        no_violations(page)

        # 3. the table after the charts: the next Tab from the heading is the table's scroll region
        charts_first = page.evaluate("""() => {
            const chart = document.getElementById('chart-categories'), wrap = document.querySelector('.app-table-wrap');
            return !!(chart.compareDocumentPosition(wrap) & Node.DOCUMENT_POSITION_FOLLOWING);
        }""")
        assert charts_first
        page.keyboard.press("Tab")
        region = active(page)
        assert "app-table-wrap" in region["classes"] and region["tabindex"] == "0" and region["role"] == "region"
        assert region["labelledby"] == swapped[0]["caption"] and region["labelledby"].startswith(t["report"])
        overflow = page.evaluate("""() => { const e = document.activeElement;
            return {scrolls: e.scrollWidth > e.clientWidth,
                    page: document.documentElement.scrollWidth - document.documentElement.clientWidth}; }""")
        assert overflow["page"] <= 0, f"the page itself scrolls sideways by {overflow['page']} px"
        if overflow["scrolls"]:  # a wide table scrolls in its region, by keyboard
            page.keyboard.press("ArrowRight")
            page.wait_for_function("() => document.activeElement.scrollLeft > 0")
        page.keyboard.press("Tab")
        second = active(page)
        assert "app-table-wrap" in second["classes"] and second["labelledby"] == swapped[1]["caption"]

        # 4. the Excel file (its link holds the same query) has the page's figures, suppressed the same way
        tab_to_text(page, t["excel"])
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        assert parse_qs(urlsplit(download.value.url).query)["kapitel"] == [chosen["kapitel"]]
        assert download.value.suggested_filename == (
            f"intygsstatistik-nationell-diagnoskapitel-{chosen['fran']}-{chosen['till']}.xlsx")
        with open(download.value.path(), "rb") as f:
            sheet = load_workbook(io.BytesIO(f.read())).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(min_row=XLSX_HEADER_ROW, values_only=True)]
        assert rows[0] == swapped[0]["head"]
        expected = []
        for table in swapped:
            for row in table["rows"]:
                expected.append([row[0]] + [as_value(c, t) for c in row[1:]])
        assert len(rows) - 1 == len(expected)
        for got, want in zip(rows[1:], expected, strict=True):
            if want[0] == t["total"]:  # "Totalt" on the page, "Totalt <period>" in the file
                assert str(got[0]).startswith(t["total"] + " "), got
                got = [want[0]] + got[1:]
            assert got == want
        for mark in (t["fewer"], t["hidden"]):
            if any(mark in row for table in swapped for row in table["rows"]):
                assert any(mark in row for row in rows), mark

        # the pushed URL loaded anew (no htmx) shows the same state
        url = page.url
        page.goto(url)
        assert page.url == url
        assert assert_the_state(page, t, chosen) == swapped
    finally:
        context.close()


def test_the_form_without_javascript_loads_the_page_with_the_new_period(browser, live):
    t = T["sv"]
    context, page = open_page(browser, live, "sv", 1280, javascript=False)
    try:
        page.goto(REPORT)
        chosen = change_the_form(page, t, biggest_chapter(page, t))
        tab_to(page, lambda f: f["tag"] == "button" and f["text"] == t["submit"], limit=100)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert urlsplit(page.url).path == REPORT
        assert_the_state(page, t, chosen)
        assert page.get_by_role("heading", level=1).inner_text() == t["report"]  # the whole page, not a fragment
        # (axe needs JavaScript: the same markup is checked in the test above)
    finally:
        context.close()


def test_a_bad_month_shows_the_error_summary(browser, live):
    t = T["en"]
    context, page = open_page(browser, live, "en", 390)
    try:
        response = page.goto(REPORT + "?fran=2026-13")
        assert response.status == 400
        summary = page.locator(".app-error-summary")
        assert summary.is_visible() and t["problem"] in summary.inner_text()
        assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
        link = summary.locator("a", has_text=t["bad_month"])
        assert link.get_attribute("href") == "#fran"
        assert page.locator("#fran-error").is_visible()
        assert "fran-error" in page.locator("#fran").get_attribute("aria-describedby")
        assert page.title().startswith("Error:")
        no_violations(page)
        # from the summary's link, Enter goes to the select
        tab_to_text(page, t["bad_month"])
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.activeElement.id === 'fran'")
        assert focused(page)["id"] == "fran"
    finally:
        context.close()
