"""Rehabstöd's unit overview by keyboard alone, in Swedish and English: a coordinator lands on it
after logging in, reads the charts (SVGs with an accessible name and description), opens a chart's
table, follows a table row to the ongoing list filtered to the same cases, and goes from the
overview to the whole list; a doctor's overview counts their own cases. axe runs on every state.
The charts stay readable in forced colours (Windows high contrast) and in print."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accessibility import crawl
from conftest import new_context
from portal.domain import demo

from .keyboard import activate, tab_to
from .test_login import broker_login

pytestmark = pytest.mark.e2e

T = {
    "sv": {"overview": "Översikt", "list": "Pågående sjukfall på enheten", "ongoing": "Pågående sjukfall",
           "woman": "Kvinna"},
    "en": {"overview": "Overview", "list": "Ongoing sick-leave cases on the unit",
           "ongoing": "Ongoing sick-leave cases", "woman": "Woman"},
}
SECTIONS = ("kon", "diagnosgrupp", "grad", "grader", "langd")


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def list_count(page) -> tuple[int, int]:
    m = re.search(r"(\d+)\D+(\d+)", page.locator(".app-results__count").inner_text())
    return int(m.group(1)), int(m.group(2))


def total(page) -> int:
    return number(page.locator("#overview-total").inner_text())


@pytest.fixture
def staff_page(browser, live, lang):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def test_coordinator_reads_the_overview_opens_a_table_and_reaches_the_list(staff_page, lang, live):
    page, t = staff_page, T[lang]
    broker_login(page, lang, "siths", demo.hsa("R001"))
    page.wait_for_url("**/rehabstod/")
    assert page.get_by_role("heading", level=1).inner_text() == t["overview"]
    cases = total(page)
    assert cases > 5
    no_violations(page)
    # five charts, each an image with a name (its title) and a description that holds its numbers
    charts = page.locator("svg[role=img]")
    assert charts.count() == len(SECTIONS)
    for i, section in enumerate(SECTIONS):
        svg = charts.nth(i)
        title = page.locator(f"#{section}-title").text_content()
        desc = page.locator(f"#{section}-desc").text_content().strip()
        expect(svg).to_have_accessible_name(title)
        expect(svg).to_have_accessible_description(re.compile(re.escape(desc[:40])))
        values = [number(v.split("(")[0]) for v in svg.locator(".app-chart__value").all_text_contents()]
        assert sum(values) == cases
        # a heading names each chart section
        assert page.locator(f"#{section} h2").count() == 1
    # the tables are closed: open the gender table by keyboard
    table = page.locator("#kon table")
    assert not table.is_visible()
    tab_to(page, lambda f: f["tag"] == "summary" and f["text"].endswith(page.locator("#kon h2").inner_text()))
    page.keyboard.press("Enter")
    expect(table).to_be_visible()
    rows = {r.get_attribute("data-key"): number(r.locator("td").first.inner_text())
            for r in table.locator("tbody tr").all()}
    assert sum(rows.values()) == cases and table.locator("caption").inner_text()
    no_violations(page)
    # a row leads to the list, filtered to the same cases
    tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(t["woman"]))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/rehabstod/sjukfall" in page.url and "kon=F" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == t["ongoing"]
    assert list_count(page) == (rows["F"], cases)
    # back to the overview through the Rehabstöd menu, then to the whole list
    activate(page, t["overview"])
    assert page.url.endswith("/rehabstod/") and total(page) == cases
    activate(page, t["list"])
    assert list_count(page) == (cases, cases)
    no_violations(page)


def test_doctor_overview_counts_only_their_own_cases(staff_page, lang, live):
    page, t = staff_page, T[lang]
    broker_login(page, lang, "siths", demo.hsa("L002"))  # a doctor on one unit: straight in
    page.wait_for_url("**/rehabstod/")
    own = total(page)
    no_violations(page)
    activate(page, t["list"])
    assert list_count(page) == (own, own)
    # the coordinator of the same unit sees more
    crawl.login(page, "coordinator")
    page.goto("/rehabstod/")
    assert total(page) > own > 0


@pytest.mark.parametrize("width", [390, 1280])
def test_charts_fit_the_width_and_stay_readable_in_forced_colours_and_print(browser, live, width):
    context = new_context(browser, live.url, width=width, height=800)
    page = context.new_page()
    crawl.login(page, "coordinator")
    page.goto("/rehabstod/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width

    def fills():
        return page.evaluate("""() => {
            const fill = (sel) => getComputedStyle(document.querySelector(sel)).fill;
            return {bar: fill('#kon .app-chart__bar'), track: fill('#kon .app-chart__track'),
                    label: fill('#kon .app-chart__label'), value: fill('#kon .app-chart__value')};
        }""")

    normal = fills()
    assert normal["bar"] == "rgb(11, 74, 115)" and normal["label"] == "rgb(29, 29, 29)"
    # every label and value is inside the chart's box: nothing clipped or overlapping the edge
    inside = page.evaluate("""() => [...document.querySelectorAll('.app-chart__svg')].every(svg => {
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].every(t => {
            const r = t.getBoundingClientRect();
            return r.left >= box.left - 1 && r.right <= box.right + 1;
        });
    })""")
    assert inside
    page.emulate_media(forced_colors="active")
    forced = fills()
    assert forced["bar"] == forced["label"] == forced["value"] != forced["track"]  # CanvasText on Canvas
    page.emulate_media(forced_colors="none", media="print")
    printed = fills()
    assert printed["bar"] == "rgb(0, 0, 0)" and printed["track"] == "rgb(255, 255, 255)"
    assert not page.locator("#kon summary").is_visible()  # no toggle on paper; the values are in the chart
    context.close()
