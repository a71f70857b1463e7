"""Reporting an accessibility problem (issue 16) by keyboard alone, in Swedish and English, at 390 px and 1280 px:
from the accessibility statement's link to the form, sent empty (the error summary takes focus), then filled in
(the problem, a format, an e-mail address) and sent: the receipt with its reference number. axe on the
statement, the form, its error state and the receipt. And the same report without JavaScript.

Each test removes the reports it made, so the shared demo database stays as it was."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from accessibility import crawl
from conftest import new_context
from portal import db
from portal.models import AccessibilityFeedback

from .keyboard import activate, choose_radio, focused, tab_to_text, type_into

pytestmark = pytest.mark.e2e

T = {
    "sv": {"statement": "Tillgänglighet för Intygsportalen", "report": "Rapportera en brist i tillgängligheten",
           "problem_label": "Vad är problemet?", "email_label": "E-postadress", "send": "Skicka",
           "summary": "Det finns ett problem", "missing": "Beskriv problemet",
           "receipt": "Vi har tagit emot din rapport", "reply": "Vi svarar dig inom två veckor.",
           "back": "Tillbaka till tillgänglighetsredogörelsen"},
    "en": {"statement": "Accessibility statement for Intygsportalen", "report": "Report an accessibility problem",
           "problem_label": "What is the problem?", "email_label": "E-mail address", "send": "Send",
           "summary": "There is a problem", "missing": "Describe the problem",
           "receipt": "We have received your report", "reply": "We will answer you within two weeks.",
           "back": "Back to the accessibility statement"},
}
TEXT = "Diagrammet på översikten går inte att läsa med min skärmläsare."


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def width(request):
    return request.param


def _clean(app) -> None:
    with db.new_session(app) as s:
        s.execute(delete(AccessibilityFeedback).where(AccessibilityFeedback.problem.like(TEXT + "%")))
        s.commit()


@pytest.fixture
def reporter(browser, live, lang, width):
    """An anonymous browser of its own; the reports it made are removed afterwards."""
    _clean(live.app)
    context = new_context(browser, live.url, lang=lang, width=width, height=844 if width == 390 else 900)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()
    _clean(live.app)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways"


def reports(app) -> list[AccessibilityFeedback]:
    with db.new_session(app) as s:
        return list(s.scalars(select(AccessibilityFeedback).where(AccessibilityFeedback.problem.like(TEXT + "%"))))


def test_report_a_problem_by_keyboard_from_the_statement_and_get_a_receipt(reporter, live, lang, width):
    page, t = reporter, T[lang]
    page.goto("/tillganglighet")
    assert h1(page) == t["statement"]
    no_violations(page)
    no_horizontal_scroll(page)
    activate(page, t["report"])
    assert page.url.endswith("/tillganglighet/synpunkter")
    assert h1(page) == t["report"]
    no_violations(page)  # the form
    no_horizontal_scroll(page)
    # sent empty: the error summary takes focus, links to the field, nothing is stored
    activate(page, t["send"])
    assert focused(page)["text"].startswith(t["summary"])
    assert t["missing"] in page.locator(".app-error-summary").inner_text()
    assert page.locator("#problem").get_attribute("aria-describedby") == "problem-hint problem-error"
    no_violations(page)  # the error state
    no_horizontal_scroll(page)
    assert reports(live.app) == []
    # the summary's link leads to the field
    activate(page, t["missing"], navigates=False)
    assert focused(page)["id"] == "problem"
    page.keyboard.type(TEXT)
    choose_radio(page, "large_print", "format")
    type_into(page, t["email_label"], "anna@example.se")
    activate(page, t["send"])
    # the receipt
    assert re.search(r"/tillganglighet/synpunkter/kvitto/TG-\d{4}-\d{6}$", page.url), page.url
    assert h1(page) == t["receipt"]
    reference = page.locator(".app-receipt-reference").inner_text()
    assert page.url.endswith(reference)
    assert t["reply"] in page.locator("main").inner_text()
    assert TEXT not in page.content() and "anna@example.se" not in page.content()
    no_violations(page)  # the receipt
    no_horizontal_scroll(page)
    [row] = reports(live.app)
    assert (row.reference, row.problem, row.contact_email, row.format_wanted, row.language) == (
        reference, TEXT, "anna@example.se", "large_print", lang)
    # and back to the statement, by keyboard
    activate(page, t["back"])
    assert h1(page) == t["statement"]


def test_the_page_comes_filled_in_and_the_report_goes_without_javascript(browser, live, lang):
    _clean(live.app)
    context = new_context(browser, live.url, lang=lang, javascript=False)
    page = context.new_page()
    try:
        page.goto("/tillganglighet/synpunkter?sida=/mina-intyg/")
        assert page.locator("#page").input_value() == "/mina-intyg/"
        tab_to_text(page, T[lang]["problem_label"])
        page.keyboard.type(TEXT)
        activate(page, T[lang]["send"])
        assert h1(page) == T[lang]["receipt"]
        [row] = reports(live.app)
        assert row.page == "/mina-intyg/" and row.contact_email is None
        assert T[lang]["reply"] not in page.locator("main").inner_text()  # no way to answer: it says so
    finally:
        context.close()
        _clean(live.app)
