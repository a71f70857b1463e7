"""States reached only along the way, completed by keyboard alone and checked with axe-core in Swedish and English:

- the unit choice with the notice "Din behörighet har ändrats", when the staff rights re-check finds the unit in
  use gone (a commission removed in the HSA directory, STAFF_RIGHTS_RECHECK_SECONDS later);
- the ongoing list's too-long free-text search (rehab.MAX_FREE_TEXT), with JavaScript (htmx answers HX-Redirect)
  and without, shortened by keyboard and searched again;
- a list page showing errors: correcting the field or sorting clears the errors (a whole page, not a swap of the
  results block that would leave the error summary standing).

The login's refusal pages are in accessibility/test_states.py.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from accessibility import crawl
from conftest import new_context
from portal import db
from portal.domain import demo, rehab
from portal.models import Commission

from .keyboard import activate, choose_radio, focused, tab_to

pytestmark = pytest.mark.e2e

ANNA, VE10, VE20 = demo.hsa("L001"), demo.hsa("VE10"), demo.hsa("VE20")  # the crawl's doctor, on VE10
NORRBY, DEMOSTAD = "Vårdcentralen Norrby", "Ortopedkliniken Demostad"
T = {
    "sv": {"choose": "Välj vårdenhet", "changed": "Din behörighet har ändrats",
           "changed_text": f"Du har inte längre samma behörighet på {NORRBY} enligt HSA-katalogen. "
                           "Välj vårdenhet igen för att fortsätta.",
           "ongoing": "Pågående sjukfall", "doctor": "läkare", "error": "Fel:", "problem": "Det finns ett problem",
           "too_long": "Skriv högst 100 tecken i sökfältet", "skip": "Gå till huvudinnehållet", "search": "Sök:",
           "name": "Namn"},
    "en": {"choose": "Choose care unit", "changed": "Your access has changed",
           "changed_text": f"According to the HSA directory you no longer have the same access at {NORRBY}. "
                           "Choose a care unit again to continue.",
           "ongoing": "Ongoing sick-leave cases", "doctor": "doctor", "error": "Error:",
           "problem": "There is a problem",
           "too_long": "Enter at most 100 characters in the search field", "skip": "Skip to main content",
           "search": "Search:", "name": "Name"},
}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def h1(page) -> str:
    heading = page.get_by_role("heading", level=1)
    assert heading.count() == 1
    return heading.inner_text()


# --- the unit whose rights changed -----------------------------------------------------------------------

def remove_commissions(app, staff: str, unit: str) -> list[dict]:
    """Remove the staff member's commissions on the unit from the HSA directory; what was removed."""
    with db.new_session(app) as s:
        rows = s.scalars(select(Commission).where(Commission.staff_id == staff, Commission.unit_id == unit)).all()
        removed = [{c.key: getattr(r, c.key) for c in Commission.__table__.columns} for r in rows]
        for r in rows:
            s.delete(r)
        s.commit()
    assert removed, f"{staff} has no commission on {unit}"
    return removed


def restore_commissions(app, removed: list[dict]) -> None:
    with db.new_session(app) as s:
        s.add_all(Commission(**values) for values in removed)
        s.commit()


def test_the_unit_notice_by_keyboard_when_the_rights_on_the_unit_in_use_are_gone(browser, live, lang):
    t = T[lang]
    app = live.app
    clock = app.extensions["clock"]  # the `live` fixture sets it back after the test
    context = new_context(browser, live.url, lang=lang)
    context.set_default_timeout(10_000)
    page = context.new_page()
    removed: list[dict] = []
    try:
        crawl.login(page, "doctor")  # Anna Berglund, doctor on VE10 and VE20, chooses VE10
        page.goto("/rehabstod/sjukfall")
        assert NORRBY in page.locator(".app-header").inner_text()

        removed = remove_commissions(app, ANNA, VE10)
        clock.advance(seconds=app.config["STAFF_RIGHTS_RECHECK_SECONDS"] - 1)
        page.goto("/rehabstod/sjukfall")  # not checked again yet
        assert urlsplit(page.url).path == "/rehabstod/sjukfall" and h1(page) == t["ongoing"]
        clock.advance(seconds=1)
        response = page.goto("/rehabstod/sjukfall")
        assert response is not None and response.status == 200

        # the unit choice again, told why first
        assert urlsplit(page.url).path == "/valj-vardenhet"
        assert parse_qs(urlsplit(page.url).query).get("next") == ["/rehabstod/sjukfall"]
        assert h1(page) == t["choose"] and page.title().startswith(t["choose"])
        notice = page.locator("main .app-notification", has=page.locator("#app-unit-changed-title"))
        assert notice.count() == 1
        assert notice.get_attribute("role") == "alert"
        assert notice.get_by_role("heading", level=2).inner_text() == t["changed"]
        assert notice.locator(".app-notification__body").inner_text().strip() == t["changed_text"]
        assert notice.evaluate("(n) => n.compareDocumentPosition(document.querySelector('h1')) "
                               "& Node.DOCUMENT_POSITION_FOLLOWING") != 0  # read before the choice
        units = page.locator("input[name=unit]")
        assert [units.nth(i).get_attribute("value") for i in range(units.count())] == [VE20]  # VE10 is gone
        assert not units.first.is_checked()
        assert DEMOSTAD in page.locator(f"label[for='unit-{VE20}']").inner_text()
        assert NORRBY not in page.locator(".app-header").inner_text()  # no unit in use any more
        no_violations(page)

        # by keyboard: the remaining unit, and on to the page asked for
        choose_radio(page, VE20, "unit")
        activate(page, t["choose"])
        page.wait_for_url("**/rehabstod/sjukfall")
        assert h1(page) == t["ongoing"]
        header = page.locator(".app-header").inner_text()
        assert DEMOSTAD in header and t["doctor"] in header
        assert page.locator("#app-unit-changed-title").count() == 0
        page.goto("/valj-vardenhet")  # the notice was said once
        assert page.locator("#app-unit-changed-title").count() == 0 and h1(page) == t["choose"]
    finally:
        if removed:
            restore_commissions(app, removed)
        context.close()


# --- the too-long search -----------------------------------------------------------------------------------

def family_name_in_first_row(page) -> str:
    return page.locator("#results tbody tr").first.locator("td").nth(3).inner_text().strip().split()[-1]


def row_names(page) -> list[str]:
    return [r.locator("td").nth(3).inner_text().strip() for r in page.locator("#results tbody tr").all()]


def too_long_search(family: str) -> str:
    typed = " ".join([family] + ["rehabilitering"] * 7)
    assert len(typed) > rehab.MAX_FREE_TEXT
    return typed


def type_past_the_limit(page, typed: str, javascript: bool) -> None:
    """Tab to the search field and type by keyboard: the field's maxlength stops the browser at the limit (htmx,
    with JavaScript, searches for that much by itself). A client that does not keep to maxlength sends more:
    the field then takes the rest, which is the error state this test is about."""
    tab_to(page, lambda f: f["id"] == "fritext", limit=100)
    if javascript:
        with page.expect_response(lambda r: r.url.endswith("/rehabstod/sjukfall/sok") and r.request.method == "POST"):
            page.keyboard.type(typed)
    else:
        page.keyboard.type(typed)
    field = page.locator("#fritext")
    assert field.get_attribute("maxlength") == str(rehab.MAX_FREE_TEXT)
    assert field.input_value() == typed[:rehab.MAX_FREE_TEXT]  # the browser stopped at the limit
    field.evaluate("(f) => f.removeAttribute('maxlength')")  # a client that does not keep to it
    page.keyboard.press("End")
    page.keyboard.type(typed[rehab.MAX_FREE_TEXT:])
    assert field.input_value() == typed


def assert_the_search_error(page, t: dict, typed: str, all_rows: int) -> None:
    assert urlsplit(page.url).path == "/rehabstod/sjukfall" and not urlsplit(page.url).query  # no term in the URL
    assert page.title().startswith(f"{t['error']} {t['ongoing']}")
    summary = page.locator(".app-error-summary")
    assert summary.is_visible() and summary.get_attribute("role") == "alert"
    assert summary.get_by_role("heading", level=2).inner_text() == t["problem"]
    link = summary.get_by_role("link")
    assert link.count() == 1 and link.inner_text() == t["too_long"] and link.get_attribute("href") == "#fritext"
    field = page.locator("#fritext")
    assert field.input_value() == typed  # kept, to be shortened
    assert field.get_attribute("aria-invalid") == "true"
    assert "fritext-error" in field.get_attribute("aria-describedby").split()
    message = page.locator("#fritext-error")
    assert message.is_visible() and message.inner_text().split() == f"{t['error']} {t['too_long']}".split()
    assert page.locator(".app-filter-tags__tag").count() == 0  # the term was not searched for
    assert len(row_names(page)) == all_rows


def follow_the_summary_link_to_the_field(page, t: dict) -> None:
    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == t["too_long"], limit=40)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'fritext'")


def shorten_to_and_search(page, typed: str, keep: str) -> None:
    """In the focused field: delete from the end until only `keep` is left, then Enter (the whole page comes back)."""
    assert focused(page)["id"] == "fritext"
    page.keyboard.press("End")
    for _ in range(len(typed) - len(keep)):
        page.keyboard.press("Backspace")
    assert page.locator("#fritext").input_value() == keep
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def assert_searched_for(page, t: dict, family: str) -> None:
    assert urlsplit(page.url).path == "/rehabstod/sjukfall"
    assert page.title().startswith(t["ongoing"])  # no "Fel:"
    assert page.locator(".app-error-summary").count() == 0 and page.locator("#fritext-error").count() == 0
    field = page.locator("#fritext")
    assert field.input_value() == family and field.get_attribute("aria-invalid") is None
    tags = page.locator(".app-filter-tags__tag")
    assert tags.count() == 1 and f"{t['search']} {family}" in " ".join(tags.inner_text().split())
    names = row_names(page)
    assert names and all(family.casefold() in n.casefold() for n in names)


def violations_without_javascript(browser, live, lang: str, page) -> list[dict]:
    """axe needs JavaScript: run it on the very markup the JavaScript-less browser shows, in a browser whose page
    scripts are kept off too (the portal's script requests are refused), so nothing changes that markup."""
    html, url = page.content(), page.url
    context = new_context(browser, live.url, lang=lang)
    try:
        replay = context.new_page()

        def serve(route):
            if route.request.url == url:
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            elif route.request.resource_type == "script":
                route.abort()
            else:
                route.continue_()

        replay.route("**/*", serve)
        replay.goto(url)
        assert replay.evaluate("() => document.documentElement.classList.contains('app-no-js')")
        return crawl.violations(replay)
    finally:
        context.close()


def test_a_too_long_search_with_javascript_by_keyboard(browser, live, lang):
    t = T[lang]
    context = new_context(browser, live.url, lang=lang)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        crawl.login(page, "coordinator")
        page.goto("/rehabstod/sjukfall")
        all_rows = len(row_names(page))
        family = family_name_in_first_row(page)
        typed = too_long_search(family)
        type_past_the_limit(page, typed, javascript=True)

        # submitted by keyboard: htmx posts, the answer is HX-Redirect, the whole page shows the error
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert_the_search_error(page, t, typed, all_rows)
        assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
        assert focused(page)["text"].startswith(t["problem"])
        no_violations(page)

        follow_the_summary_link_to_the_field(page, t)
        shorten_to_and_search(page, typed, family)
        assert_searched_for(page, t, family)
        no_violations(page)
    finally:
        context.close()


def test_a_too_long_search_without_javascript_by_keyboard(browser, live, lang):
    t = T[lang]
    context = new_context(browser, live.url, lang=lang, javascript=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        crawl.login(page, "coordinator")
        page.goto("/rehabstod/sjukfall")
        all_rows = len(row_names(page))
        family = family_name_in_first_row(page)
        typed = too_long_search(family)
        type_past_the_limit(page, typed, javascript=False)

        with page.expect_navigation():
            page.keyboard.press("Enter")  # the form's POST, 303 to the list
        page.wait_for_load_state()
        assert_the_search_error(page, t, typed, all_rows)
        # no script moves focus: the title says "Fel:" first, and the summary is the first thing after the skip link
        assert focused(page)["tag"] == "body"
        page.keyboard.press("Tab")
        assert focused(page)["text"] == t["skip"]
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert focused(page)["text"] == t["too_long"]
        found = violations_without_javascript(browser, live, lang, page)
        assert found == [], crawl.describe(found)

        page.keyboard.press("Enter")  # the summary's link: to the field
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'fritext'")
        shorten_to_and_search(page, typed, family)
        assert_searched_for(page, t, family)
        found = violations_without_javascript(browser, live, lang, page)
        assert found == [], crawl.describe(found)
    finally:
        context.close()


# --- errors go when corrected ------------------------------------------------------------------------------

def tab_to_link(page, href: str, limit: int = 10) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == href:
            return
    raise AssertionError(f"no link to {href} reached by Tab")


def test_correcting_a_filter_or_sorting_clears_the_errors_with_javascript(browser, live, lang):
    """On a list page showing errors, htmx would swap only the results block: the error summary, the field's
    message and aria-invalid would stay after the value is corrected. The page's forms and sorting links are
    plain there, so the whole page comes back without them."""
    t = T[lang]
    context = new_context(browser, live.url, lang=lang)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        crawl.login(page, "coordinator")
        page.goto("/rehabstod/sjukfall?alder_fran=abc")
        assert page.evaluate("() => document.activeElement.classList.contains('app-error-summary')")
        tab_to_link(page, "#alder_fran")  # the error summary's link to the field
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'alder_fran'")
        page.keyboard.press("Control+A")
        page.keyboard.type("40")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert parse_qs(urlsplit(page.url).query).get("alder_fran") == ["40"]
        assert not page.title().startswith(t["error"]) and page.locator(".app-error-summary").count() == 0
        assert page.locator("#alder_fran").get_attribute("aria-invalid") is None
        assert page.locator("#alder_fran-error").count() == 0

        # sorting from a page with an error: the whole sorted page, without the error
        page.goto("/rehabstod/sjukfall?alder_fran=abc")
        assert page.locator(".app-error-summary").count() == 1
        tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(t["name"]), limit=150)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert page.locator("#results th[data-column=namn]").get_attribute("aria-sort") == "ascending"
        assert not page.title().startswith(t["error"]) and page.locator(".app-error-summary").count() == 0
        assert page.locator("#alder_fran").get_attribute("aria-invalid") is None
    finally:
        context.close()
