"""Logging in and out by keyboard alone, in Swedish and English, through the embedded test broker."""
from __future__ import annotations

import re

import pytest

from accessibility import crawl
from conftest import NOW
from portal.domain import demo

from .keyboard import activate, choose_radio, focused, tab_to, type_into

pytestmark = pytest.mark.e2e

CITIZENS = {c.key: c for c in demo.demo_citizens(NOW.date())}
T = {
    "sv": {"bankid": "Logga in med BankID", "siths": "Logga in med SITHS-kort", "login": "Logga in",
           "logout": "Logga ut", "choose": "Välj vårdenhet", "switch": "Byt vårdenhet",
           "logged_out": "Du är utloggad", "under16": "Du som är under 16 har inte tillgång till Mina intyg",
           "no_commission": "Du saknar medarbetaruppdrag", "mina": "Mina intyg", "doctor": "läkare",
           "coordinator": "rehabkoordinator", "continue": "Fortsätt vara inloggad",
           "warning": "Du håller på att bli utloggad på grund av inaktivitet", "timed_out": "Du har blivit utloggad"},
    "en": {"bankid": "Log in with BankID", "siths": "Log in with a SITHS card", "login": "Log in",
           "logout": "Log out", "choose": "Choose care unit", "switch": "Change care unit",
           "logged_out": "You are logged out",
           "under16": "If you are under 16 you do not have access to My certificates",
           "no_commission": "You have no commission", "mina": "My certificates", "doctor": "doctor",
           "coordinator": "rehab coordinator", "continue": "Stay logged in",
           "warning": "You are about to be logged out because of inactivity", "timed_out": "You have been logged out"},
}


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def broker_login(page, lang: str, broker: str, identity: str | None = None, other: str | None = None):
    """From the start page: the login button, then the broker's form, all by keyboard."""
    page.goto("/")
    activate(page, T[lang][broker])
    page.wait_for_url(re.compile(r".*/testbroker/.*/authorize.*"))
    assert crawl.violations(page) == []
    if other is not None:
        choose_radio(page, "other", "identity")
        if broker == "bankid":
            label = "Personnummer (12 siffror)" if lang == "sv" else "Personal identity number (12 digits)"
        else:
            label = "HSA-id" if lang == "sv" else "HSA ID"
        type_into(page, label, other)
    else:
        choose_radio(page, identity, "identity")
    activate(page, T[lang]["login"])


def test_citizen_logs_in_and_out_by_keyboard(page, lang, live):
    broker_login(page, lang, "bankid", CITIZENS["ordinary"].personnummer)
    assert h1(page) == T[lang]["mina"]
    assert "Tolva Demosson" in page.locator(".app-header").inner_text()
    assert crawl.violations(page) == []
    activate(page, T[lang]["logout"])
    page.wait_for_url(re.compile(r".*/utloggad(\?.*)?$"))  # via the broker's end-session endpoint
    assert h1(page) == T[lang]["logged_out"]
    assert crawl.violations(page) == []


def test_doctor_chooses_a_unit_and_switches_by_keyboard(page, lang, live):
    broker_login(page, lang, "siths", demo.hsa("L001"))
    assert h1(page) == T[lang]["choose"]
    assert crawl.violations(page) == []
    choose_radio(page, demo.hsa("VE20"), "unit")
    activate(page, T[lang]["choose"])
    page.wait_for_url("**/rehabstod/")
    header = page.locator(".app-header").inner_text()
    assert "Ortopedkliniken Demostad" in header and T[lang]["doctor"] in header
    activate(page, T[lang]["switch"])
    page.wait_for_url("**/valj-vardenhet")
    choose_radio(page, demo.hsa("VE10"), "unit")
    activate(page, T[lang]["choose"])
    page.wait_for_url("**/rehabstod/")
    assert "Vårdcentralen Norrby" in page.locator(".app-header").inner_text()


def test_choosing_no_unit_shows_an_error_summary_that_takes_focus(browser, live, lang):
    from conftest import new_context

    context = new_context(browser, live.url, lang=lang, javascript=True)
    page = context.new_page()
    broker_login(page, lang, "siths", demo.hsa("L001"))
    # nothing chosen yet: submit
    activate(page, T[lang]["choose"])
    page.wait_for_load_state()
    assert focused(page)["text"].startswith("Det finns ett problem" if lang == "sv" else "There is a problem")
    assert crawl.violations(page) == []
    context.close()


def test_coordinator_is_coordinator_only_on_the_named_unit(page, lang, live):
    broker_login(page, lang, "siths", demo.hsa("R002"))
    header = page.locator(".app-header").inner_text()
    assert "Ortopedkliniken Demostad" in header and T[lang]["coordinator"] in header
    page.goto("/valj-vardenhet")
    assert page.get_by_text("Psykiatrimottagningen Söder").count() == 0


def test_user_without_commission_is_refused(page, lang, live):
    broker_login(page, lang, "siths", demo.hsa("N001"))
    assert h1(page) == T[lang]["no_commission"]
    assert crawl.violations(page) == []
    assert page.locator("form[action='/logga-ut']").count() == 0


def test_under_16_is_refused(page, lang, live):
    broker_login(page, lang, "bankid", CITIZENS["child"].personnummer)
    assert h1(page) == T[lang]["under16"]
    assert crawl.violations(page) == []


def test_idle_timeout_dialog_by_keyboard(browser, live, lang):
    """The warning opens five minutes before the end, takes focus, passes axe, and Enter extends."""
    from conftest import new_context

    app = live.app
    app.config["SESSION_POLL_MS"] = 300
    try:
        context = new_context(browser, live.url, lang=lang)
        page = context.new_page()
        broker_login(page, lang, "bankid", CITIZENS["ordinary"].personnummer)
        page.goto("/mina-intyg/")  # a page rendered with the short poll interval
        tab_to(page, lambda f: f["text"] == T[lang]["logout"])  # focus somewhere known
        app.extensions["clock"].advance(minutes=26)
        dialog = page.locator("#app-timeout")
        dialog.wait_for(state="visible", timeout=5000)
        assert page.get_by_role("dialog").get_by_role("heading").inner_text() == T[lang]["warning"]
        assert focused(page)["text"] == T[lang]["continue"]  # focus moved into the dialog
        assert crawl.violations(page) == []
        page.keyboard.press("Enter")  # "Fortsätt vara inloggad" has focus
        dialog.wait_for(state="hidden", timeout=5000)
        assert focused(page)["text"] == T[lang]["logout"]  # focus returned where it was
        status = page.evaluate("() => fetch('/session/status').then(r => r.json())")
        assert status["remaining"] == 1800
        # and a real timeout: the next page is "Du har blivit utloggad"
        app.extensions["clock"].advance(minutes=31)
        page.wait_for_url("**/utloggad/inaktivitet", timeout=5000)
        assert h1(page) == T[lang]["timed_out"]
        assert crawl.violations(page) == []
        context.close()
    finally:
        app.config["SESSION_POLL_MS"] = 30_000
