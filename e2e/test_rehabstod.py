"""Rehabstöd by keyboard alone, in Swedish and English: a coordinator filters the ongoing list
(diagnosis chapter, doctor, length, end date, unanswered questions), hides personal data, opens a
patient and reads a certificate; a doctor sees only their own cases, a protected patient masked.
The axe check runs on every state, htmx-swapped ones included."""
from __future__ import annotations

import re

import pytest

from accessibility import crawl
from conftest import new_context
from portal.domain import demo

from .keyboard import activate, choose_radio, tab_to
from .test_login import broker_login

pytestmark = pytest.mark.e2e

T = {
    "sv": {"ongoing": "Pågående sjukfall", "more": "Fler filter", "masked": "Sekretessmarkerad uppgift",
           "show": "Visa personuppgifter", "cases_at": "Sjukfall hos vårdgivaren", "doctor_col": "Läkare"},
    "en": {"ongoing": "Ongoing sick-leave cases", "more": "More filters", "masked": "Confidential information",
           "show": "Show personal data", "cases_at": "Sick-leave cases at the care provider", "doctor_col": "Doctor"},
}
PNR_RE = re.compile(r"\b(19|20)\d{6}-\d{4}\b")


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def count(page) -> tuple[int, int]:
    m = re.search(r"(\d+)\D+(\d+)", page.locator(".app-results__count").inner_text())
    return int(m.group(1)), int(m.group(2))


def toggle(page, name: str, value: str, url_part: str) -> None:
    """Tab to a checkbox and press Space: htmx swaps the results."""
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == name and f["value"] == value)
    with page.expect_response(lambda r: "/rehabstod/sjukfall" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function(f"() => location.search.includes({url_part!r}) || !location.search.includes({url_part!r})")
    page.locator("#results").wait_for()


@pytest.fixture
def staff_page(browser, live, lang):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def test_coordinator_filters_hides_personal_data_opens_a_patient_and_a_certificate(staff_page, lang, live):
    page, t = staff_page, T[lang]
    broker_login(page, lang, "siths", demo.hsa("R001"))
    activate(page, t["ongoing"])
    assert page.get_by_role("heading", level=1).inner_text() == t["ongoing"]
    shown, total = count(page)
    assert shown == total > 5
    no_violations(page)
    tab_to(page, lambda f: f["tag"] == "summary")
    page.keyboard.press("Enter")
    # diagnosis chapter F00-F99
    toggle(page, "kapitel", "F00-F99", "kapitel=F00-F99")
    f_shown, _ = count(page)
    assert 0 < f_shown < total
    assert all(d.startswith("F") for d in page.locator("tbody tr td:nth-child(6)").all_inner_texts())
    no_violations(page)
    # a doctor, then a length bucket, then an end date, then only cases with unanswered questions
    doctor = page.locator("input[name=lakare]").first.get_attribute("value")
    toggle(page, "lakare", doctor, "lakare=")
    toggle(page, "langd", "lt90", "langd=lt90")
    no_violations(page)
    tab_to(page, lambda f: f["name"] == "kapitel" and f["value"] == "F00-F99", backwards=True)
    with page.expect_response(lambda r: "/rehabstod/sjukfall" in r.url):
        page.keyboard.press("Space")  # chapter off again
    tab_to(page, lambda f: f["name"] == "slut_fran")
    page.keyboard.type("2026-11-23")
    with page.expect_response(lambda r: "slut_fran=2026-11-23" in r.url):
        page.keyboard.press("Tab")  # change fires on leaving the field
    toggle(page, "arenden", "1", "arenden=1")
    assert "arenden=1" in page.url and "slut_fran=2026-11-23" in page.url
    no_violations(page)
    # back to everything, then hide personal data
    page.goto("/rehabstod/sjukfall")
    tab_to(page, lambda f: f["name"] == "personuppgifter" and f["type"] == "checkbox")
    with page.expect_response(lambda r: "/rehabstod/sjukfall" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function("() => !document.querySelector('#results th a[href*=\"sortera=namn\"]')")
    table = page.locator("#results tbody").inner_text()
    assert not PNR_RE.search(table)
    no_violations(page)
    # sort by length, descending on the second press, announced
    page.goto("/rehabstod/sjukfall")
    header = "Längd" if lang == "sv" else "Length"
    tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(header))
    with page.expect_response(lambda r: "sortera=langd" in r.url):
        page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
    assert page.locator("th[aria-sort]").count() == 1
    no_violations(page)
    # open the first patient and read a certificate of this unit
    first = page.locator("tbody tr a").first
    first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/rehabstod/patient/" in page.url and not PNR_RE.search(page.url)
    assert page.get_by_role("heading", name=t["cases_at"]).count() == 1
    no_violations(page)
    cert_link = page.locator("a[href*='/intyg/']").first
    cert_link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".app-certificate").count() == 1
    no_violations(page)


def test_doctor_sees_only_own_cases_with_a_protected_patient_masked(staff_page, lang, live):
    from tests.integration.test_rehab import _doctor_with_protected_case

    page, t = staff_page, T[lang]
    doctor, unit, patient = _doctor_with_protected_case(live.app)
    broker_login(page, lang, "siths", doctor)
    if "/valj-vardenhet" in page.url:
        choose_radio(page, unit, "unit")
        activate(page, "Välj vårdenhet" if lang == "sv" else "Choose care unit")
    activate(page, t["ongoing"])
    html = page.locator("#results").inner_html()
    assert t["masked"] in html
    assert f"{patient.given_name} {patient.family_name}" not in page.content()
    headers = page.locator("thead th").all_inner_texts()
    assert not any(h.startswith(t["doctor_col"]) for h in headers)  # a doctor's list has no doctor column
    no_violations(page)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_wide_list_scrolls_inside_its_region_not_the_page(browser, live, width):
    context = new_context(browser, live.url, width=width, height=800)
    page = context.new_page()
    crawl.login(page, "coordinator")
    page.goto("/rehabstod/sjukfall")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    region = page.locator(".app-table-wrap")
    assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
    context.close()
