"""The Rehabstöd ongoing list by keyboard alone, in Swedish and English, at 390 and 1280 px: sort by a
column, tick a filter (htmx) and the sort is kept and the count announced; remove the filter with its
tag. axe on every state."""
from __future__ import annotations

import pytest

from accessibility import crawl
from conftest import new_context

from .keyboard import tab_to

pytestmark = pytest.mark.e2e

T = {
    "sv": {"name": "Namn", "more": "Fler filter", "showing": "Visar", "remove": "Ta bort filter:"},
    "en": {"name": "Name", "more": "More filters", "showing": "Showing", "remove": "Remove filter:"},
}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def sorted_by_name(page) -> str | None:
    return page.locator("#results th[data-column=namn]").get_attribute("aria-sort")


@pytest.mark.parametrize("width", [390, 1280])
def test_sort_then_filter_keeps_the_sort_and_a_tag_removes_the_filter(browser, live, lang, width):
    t = T[lang]
    context = new_context(browser, live.url, lang=lang, width=width, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        crawl.login(page, "coordinator")
        page.goto("/rehabstod/sjukfall")
        assert page.locator("th[aria-sort]").count() == 1 and sorted_by_name(page) is None
        no_violations(page)

        # sort by name: a link in the column header, htmx swaps the list
        tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(t["name"]), limit=100)
        with page.expect_response(lambda r: "sortera=namn" in r.url):
            page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#results th[data-column=namn]')"
                               ".getAttribute('aria-sort') === 'ascending'")
        assert "sortera=namn" in page.url
        no_violations(page)

        # open "Fler filter" and tick a gender: the request carries the sort, the list stays sorted
        tab_to(page, lambda f: f["tag"] == "summary", backwards=True, limit=250)
        page.keyboard.press("Enter")
        tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "kon" and f["value"] == "F", limit=100)
        page.evaluate("() => { document.getElementById('app-live').textContent = ''; }")
        with page.expect_response(lambda r: "kon=F" in r.url and "sortera=namn" in r.url) as response:
            page.keyboard.press("Space")
        assert response.value.status == 200
        page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
        live_text = page.locator("#app-live").inner_text()
        assert live_text.startswith(t["showing"]) and t["name"] in live_text
        page.wait_for_function("() => location.search.includes('kon=F')")
        assert "sortera=namn" in page.url and sorted_by_name(page) == "ascending"
        tag = page.locator("#results .app-filter-tags__tag")
        assert tag.count() == 1 and tag.inner_text().startswith(t["remove"])
        no_violations(page)

        # remove the filter with its tag (a plain link): the filter goes, the sort stays
        tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(t["remove"]), limit=100)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert "kon=F" not in page.url and "sortera=namn" in page.url
        assert sorted_by_name(page) == "ascending" and page.locator(".app-filter-tags__tag").count() == 0
        assert not page.locator("input[name=kon][value=F]").is_checked()
        no_violations(page)
    finally:
        context.close()


def test_an_invalid_age_typed_with_htmx_shows_the_error_page_with_focus_on_the_summary(browser, live, lang):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        crawl.login(page, "coordinator")
        page.goto("/rehabstod/sjukfall?sortera=namn")
        tab_to(page, lambda f: f["tag"] == "summary", limit=100)
        page.keyboard.press("Enter")
        tab_to(page, lambda f: f["name"] == "alder_fran", limit=100)
        page.keyboard.type("abc")
        with page.expect_navigation():
            page.keyboard.press("Tab")  # change: htmx asks, the 400 page is loaded as a page
        page.wait_for_load_state()
        assert "alder_fran=abc" in page.url and "sortera=namn" in page.url
        assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
        assert page.locator("details.app-filter__details").get_attribute("open") is not None
        field = page.locator("#alder_fran")
        assert "alder_fran-error" in field.get_attribute("aria-describedby")
        assert page.locator("#alder_fran-error").is_visible()
        no_violations(page)
    finally:
        context.close()
