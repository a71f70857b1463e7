"""Intygsstatistik's reports with their own controls, by keyboard alone, sv and en, at 390 and 1280 px: compare
diagnoses of one's choice (a text field: a bad code gets the error summary, good codes swap the report and move
the focus to its heading), one chapter's diagnoses (a select), the national report by county, and a care provider's
report by the doctor's position after a statistics login. axe on every state."""
from __future__ import annotations

import re

import pytest

from accessibility import crawl
from portal.domain import demo

from .keyboard import activate, choose_radio, focused, tab_to
from .test_statistics import T as PUBLIC
from .test_statistics import active, open_page, report_heading, tables

pytestmark = pytest.mark.e2e

T = {
    "sv": {"compare": "Jämför diagnoser", "within": "Sjukfall inom ett diagnoskapitel", "county": "Sjukfall per län",
           "field": "Diagnoser att jämföra", "chapter": "Diagnoskapitel", "bad": "Skriv diagnoskoder som F32 eller M54",
           "go": "Till verksamhetsstatistiken", "login": "Logga in", "position": "Sjukfall per läkarbefattning"},
    "en": {"compare": "Compare diagnoses", "within": "Sick-leave cases within one diagnosis chapter",
           "county": "Sick-leave cases by county", "field": "Diagnoses to compare", "chapter": "Diagnosis chapter",
           "bad": "Write diagnosis codes such as F32 or M54", "go": "Go to the care statistics", "login": "Log in",
           "position": "Sick-leave cases by the doctor's position"},
}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def submit(page, t: dict) -> None:
    """Tab to the form's button and press Enter; wait for the htmx swap (the focus on the report's heading)."""
    tab_to(page, lambda f: f["text"] == PUBLIC[t]["submit"])
    page.keyboard.press("Enter")


def type_diagnoses(page, label: str, text: str) -> None:
    tab_to(page, lambda f: f["label"] == label and f["tag"] == "input", limit=100)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_compare_diagnoses_and_one_chapter_by_keyboard(browser, live, lang, width):
    t = T[lang]
    context, page = open_page(browser, live, lang, width)
    try:
        page.goto("/statistik/")
        activate(page, t["compare"], limit=100)
        assert page.get_by_role("heading", level=1).inner_text() == t["compare"]
        no_violations(page)
        # a bad code: the error summary (the page without htmx: a 400 page), focus on the summary
        type_diagnoses(page, t["field"], "F32, hej")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert PUBLIC[lang]["problem"] in page.locator(".app-error-summary").inner_text()
        assert t["bad"] in page.locator(".app-error-summary").inner_text()
        assert "app-error-summary" in " ".join(active(page)["classes"]) or focused(page)["tag"] == "div"
        no_violations(page)
        # good codes: the report swapped in, the focus on its heading, one column per diagnosis
        type_diagnoses(page, t["field"], "m54, F43")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*diagnos=m54.*"))
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'report-heading'")
        assert tables(page)[0]["head"] == [tables(page)[0]["head"][0], "M54", "F43"]
        assert report_heading(page) == page.locator("#report-heading").inner_text().strip()
        no_violations(page)
        # one chapter's diagnoses: choose the chapter in the select by keyboard
        page.goto("/statistik/nationell/inom-kapitel")
        tab_to(page, lambda f: f["id"] == "kapitel", limit=100)
        value = page.locator("#kapitel").input_value()
        assert value == "F00-F99"
        page.keyboard.press("ArrowDown")
        chosen = page.locator("#kapitel").input_value()
        assert chosen != value
        submit(page, lang)
        page.wait_for_url(re.compile(rf".*kapitel={re.escape(chosen)}.*"))
        page.wait_for_function("() => document.activeElement && document.activeElement.id === 'report-heading'")
        heads = tables(page)[0]["head"] if tables(page) else []
        assert all(h[0] == chosen[0] for h in heads[1:-1]), heads  # the chapter's categories only
        no_violations(page)
        page.goto("/statistik/nationell/lan")
        assert page.get_by_role("heading", level=1).inner_text() == t["county"]
        no_violations(page)
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_a_provider_statistician_opens_the_report_by_doctor_position(browser, live, lang, width):
    t = T[lang]
    context, page = open_page(browser, live, lang, width)
    try:
        page.goto("/statistik/")
        activate(page, t["go"], limit=100)
        page.wait_for_url(re.compile(r".*/testbroker/.*/authorize.*"))
        choose_radio(page, demo.hsa("T002"), "identity")
        activate(page, t["login"])
        tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(t["position"]), limit=200)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.get_by_role("heading", level=1).inner_text() == t["position"]
        assert len(tables(page)) == 1
        no_violations(page)
    finally:
        context.close()
