"""The staff statistics by keyboard alone, in Swedish and English, at 390 and 1280 px: a statistics user for a
unit and one for a whole care provider log in through the test broker from Intygsstatistik's page and open a
report; a doctor without a "Statistik" commission is refused with a clear page. axe on every page."""
from __future__ import annotations

import re

import pytest

from accessibility import crawl
from conftest import new_context
from portal.domain import demo

from .keyboard import activate, choose_radio, tab_to

pytestmark = pytest.mark.e2e

T = {
    "sv": {"go": "Till verksamhetsstatistiken", "login": "Logga in", "start": "Verksamhetsstatistik",
           "cases": "Sjukfall per månad", "by_unit": "Sjukfall per vårdenhet",
           "refused": "Du har inte behörighet till verksamhetsstatistik"},
    "en": {"go": "Go to the care statistics", "login": "Log in", "start": "Care statistics",
           "cases": "Sick-leave cases per month", "by_unit": "Sick-leave cases by care unit",
           "refused": "You do not have access to the care statistics"},
}


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def page(request, browser, live_server, lang):
    """The conftest's page at a phone's and a desktop's width."""
    width = request.param
    context = new_context(browser, live_server.url, lang=lang, width=width, height=844 if width == 390 else 900)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def statistics_login(page, lang: str, local_id: str) -> None:
    """From Intygsstatistik's page: the staff statistics link, then the broker's form, all by keyboard."""
    page.goto("/statistik/")
    activate(page, T[lang]["go"])
    page.wait_for_url(re.compile(r".*/testbroker/.*/authorize.*"))
    assert crawl.violations(page) == []
    choose_radio(page, demo.hsa(local_id), "identity")
    activate(page, T[lang]["login"])


def open_report(page, title: str, scope: str) -> None:
    tab_to(page, lambda f: f["tag"] == "a" and f["text"].startswith(title) and scope in f["text"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def test_a_unit_statistician_logs_in_and_opens_the_units_report(page, lang, live):
    statistics_login(page, lang, "T001")
    assert urlparse_path(page.url) == "/statistik/verksamhet"
    assert h1(page) == T[lang]["start"]
    assert "Vårdcentralen Norrby" in page.locator("main h2").all_inner_texts()
    assert page.locator("a[href*='/statistik/verksamhet/vardgivare/']").count() == 0  # the unit only
    assert crawl.violations(page) == []
    open_report(page, T[lang]["cases"], "Vårdcentralen Norrby")
    assert h1(page) == T[lang]["cases"]
    assert "Vårdcentralen Norrby" in page.locator(".app-lead").inner_text()
    assert page.locator("table.app-stat-table").count() == 1
    assert crawl.violations(page) == []


def test_a_provider_statistician_sees_the_provider_by_unit(page, lang, live):
    statistics_login(page, lang, "T002")
    assert h1(page) == T[lang]["start"]
    assert crawl.violations(page) == []
    open_report(page, T[lang]["by_unit"], "Region Demoland")
    assert h1(page) == T[lang]["by_unit"]
    heads = page.locator("table.app-stat-table thead th").all_inner_texts()
    assert "Vårdcentralen Norrby" in heads and "Exempelkliniken City" not in heads
    assert crawl.violations(page) == []


def test_a_doctor_without_the_commission_is_refused_with_a_clear_page(page, lang, live):
    statistics_login(page, lang, "L002")
    assert h1(page) == T[lang]["refused"]
    assert crawl.violations(page) == []


def urlparse_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path
