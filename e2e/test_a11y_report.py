"""An auditor opens the accessibility report (accessibility/report.py, issue 16) offline and reads it by keyboard
alone: the skip link, the contents, the WCAG 2.1 map (with the checks beyond axe), a page's section, its tab order
and screenshot. The report itself has no axe violations.

The report is built here for two pages (the start page and the accessibility statement, Swedish, 1280 px): the
whole crawl's report is built in accessibility/test_report.py."""
from __future__ import annotations

import pytest

from accessibility import crawl, report

from .keyboard import focused, tab_to

pytestmark = pytest.mark.e2e

PAGES = {"/", "/tillganglighet"}


@pytest.fixture(scope="module")
def built(browser, live_server, demo_app, tmp_path_factory):
    out = tmp_path_factory.mktemp("a11y-report")
    data = report.build(demo_app, live_server.url, browser, out, quick=True, progress=lambda _: None,
                        only=lambda p: p.as_user is None and p.url in PAGES)
    return out, data


def test_an_auditor_opens_the_report_and_reads_it_by_keyboard(browser, built):
    out, data = built
    assert {p["url"] for p in data["pages"]} == PAGES
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto((out / "index.html").as_uri())
    assert page.title().startswith("Accessibility report – Intygsportalen")
    assert crawl.violations(page) == []

    # the skip link first, then the contents
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to the report"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    tab_to(page, lambda f: f["text"].startswith("WCAG 2.1 A/AA"))
    page.keyboard.press("Enter")
    assert page.url.endswith("#criteria")
    reflow = page.locator("#criteria ~ table tr", has=page.locator("th", has_text="1.4.10"))
    assert "accessibility.checks" in reflow.inner_text()
    assert reflow.locator("td").last.inner_text() == "passes"

    # from the summary table to the statement's section, its checks, screenshot and tab order
    page.evaluate("() => { location.hash = '#summary'; document.getElementById('summary').scrollIntoView(); }")
    tab_to(page, lambda f: f["text"] == "/tillganglighet")
    page.keyboard.press("Enter")
    section = page.locator("section#anonymous-tillganglighet")
    assert page.url.endswith("#anonymous-tillganglighet")
    assert section.get_by_role("heading", level=2).inner_text() == "/tillganglighet (anonymous)"
    assert "reflow (1.4.10): passes" in section.inner_text()
    assert section.locator("img").evaluate("i => i.complete && i.naturalWidth > 0")
    tab_to(page, lambda f: f["tag"] == "summary" and f["text"].startswith("Tab order"))
    page.keyboard.press("Enter")
    order = section.locator("details", has=page.locator("summary", has_text="Tab order"))
    assert order.get_attribute("open") is not None
    assert "Gå till huvudinnehållet" in order.locator("li").first.inner_text()
    assert crawl.violations(page) == []
    context.close()
