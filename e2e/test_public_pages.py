"""The public pages in a real browser, by keyboard alone, at phone and desktop widths."""
from __future__ import annotations

import pytest

from conftest import new_context

pytestmark = pytest.mark.e2e

HEADINGS = {
    "sv": {"/": "Välkommen till Intygsportalen", "/tillganglighet": "Tillgänglighet för Intygsportalen"},
    "en": {"/": "Welcome to Intygsportalen", "/tillganglighet": "Accessibility statement for Intygsportalen"},
}


def focused(page) -> str:
    return page.evaluate("() => { const e = document.activeElement; "
                         "return (e.id || '') + '|' + (e.textContent || '').trim(); }")


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page, lang):
    page.goto("/")
    page.keyboard.press("Tab")
    text = "Gå till huvudinnehållet" if lang == "sv" else "Skip to main content"
    assert focused(page).endswith(text)
    assert page.locator(".app-skip-link").is_visible()  # visible when focused
    page.keyboard.press("Enter")
    assert focused(page).startswith("main|")


def test_keyboard_user_reaches_the_statement_and_switches_language_on_the_same_page(page, lang):
    page.goto("/")
    statement = "Tillgänglighetsredogörelse" if lang == "sv" else "Accessibility statement"
    for _ in range(30):
        page.keyboard.press("Tab")
        if focused(page).endswith(statement):
            break
    else:
        pytest.fail("the accessibility statement link is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tillganglighet")
    assert page.get_by_role("heading", level=1).inner_text() == HEADINGS[lang]["/tillganglighet"]
    # switch language with the keyboard: Shift+Tab back from the start of the page reaches the header
    other = "en" if lang == "sv" else "sv"
    switch = "English" if lang == "sv" else "Svenska"
    page.keyboard.press("Home")
    page.evaluate("() => document.activeElement.blur()")
    for _ in range(6):
        page.keyboard.press("Tab")
        if focused(page).endswith(switch):
            break
    else:
        pytest.fail("the language switch is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.url.endswith("/tillganglighet")
    assert page.get_by_role("heading", level=1).inner_text() == HEADINGS[other]["/tillganglighet"]
    assert page.locator("html").get_attribute("lang") == other


@pytest.mark.parametrize("width", [320, 390, 1280])
def test_no_horizontal_scrolling_and_large_enough_targets(browser, live_server, width):
    context = new_context(browser, live_server.url, width=width, height=800)
    page = context.new_page()
    for path in ("/", "/tillganglighet", "/intygstyper", "/intygstyper/FK7804", "/intygstyper/TSTRK1007"):
        page.goto(path)
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= width, f"{path} scrolls sideways at {width}px ({scroll}px wide)"
        # header and footer links are at least 44 px high (touch targets)
        for link in page.locator(".app-header a, .app-footer a").all():
            box = link.bounding_box()
            assert box and box["height"] >= 44, f"{path}: {link.inner_text()} is {box and box['height']}px high"
    context.close()


def test_pages_work_without_javascript(browser, live_server):
    context = new_context(browser, live_server.url, javascript=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Welcome to Intygsportalen"
    page.get_by_role("link", name="Accessibility statement").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Accessibility statement for Intygsportalen"
    context.close()


def test_text_zoomed_to_200_percent_still_fits(browser, live_server):
    context = new_context(browser, live_server.url, width=640, height=800)
    page = context.new_page()
    page.goto("/")
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 640
    context.close()
