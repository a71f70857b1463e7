"""The unit's e-mail address for notices when Försäkringskassan writes (issue 17), by keyboard alone, in Swedish
and English at 1280 px: a rehab coordinator opens Inställningar, types a bad address (the error summary, focused,
links to the field), corrects it (saved, announced), and removes it; a doctor on the unit sees the address but no
form. axe runs on every state.

New texts are translated centrally after this change, so the test finds elements by their id, name or address
rather than by words that may not be translated yet."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from accessibility import crawl
from conftest import new_context
from portal import db
from portal.domain import demo
from portal.models import UnitSettings

from .keyboard import activate, choose_radio, focused
from .test_login import T as LOGIN_T
from .test_login import broker_login
from .test_rehab_questions import follow, tab_to_css

pytestmark = pytest.mark.e2e

VE10 = demo.hsa("VE10")
PROBLEM = {"sv": "Det finns ett problem", "en": "There is a problem"}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def stored(app) -> str | None:
    with db.new_session(app) as s:
        return s.scalar(select(UnitSettings.notice_email).where(UnitSettings.unit_id == VE10))


@pytest.fixture
def staff_page(browser, live, lang):
    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
    with db.new_session(live.app) as s:  # the shared demo database as it was
        s.execute(delete(UnitSettings).where(UnitSettings.unit_id == VE10))
        s.commit()


def replace_text(page, css: str, text: str) -> None:
    tab_to_css(page, css)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def test_coordinator_sets_the_units_address_by_keyboard(staff_page, lang, live):
    page, app = staff_page, live.app
    broker_login(page, lang, "siths", demo.hsa("R001"))
    follow(page, "a.app-subnav__link[href='/rehabstod/installningar']")
    assert page.url.endswith("/rehabstod/installningar") and page.locator("#enhet form").count() == 1
    no_violations(page)

    # a bad address: the error summary, focused, links to the field; nothing stored
    replace_text(page, "input#notice_email", "rehab.norrby@region")
    follow(page, "button[name=action][value=save]")
    summary = page.locator(".app-error-summary")
    assert summary.count() == 1 and focused(page)["text"].startswith(PROBLEM[lang])
    assert summary.locator("a[href='#notice_email']").count() == 1
    assert page.locator("#notice_email").get_attribute("aria-describedby") == "notice_email-hint notice_email-error"
    assert page.locator("#notice_email").input_value() == "rehab.norrby@region"
    assert stored(app) is None
    no_violations(page)

    # the link in the summary takes the keyboard to the field; a good address is saved and announced
    tab_to_css(page, ".app-error-summary a[href='#notice_email']")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'notice_email'")
    page.keyboard.press("Control+A")
    page.keyboard.type("Rehab.Norrby@Region.se")
    follow(page, "button[name=action][value=save]")
    assert page.url.endswith("/rehabstod/installningar#enhet")
    assert page.locator(".app-error-summary").count() == 0
    assert page.locator(".app-notification--success[role=status]").count() == 1
    assert page.locator("#notice_email").input_value() == "Rehab.Norrby@region.se"
    assert stored(app) == "Rehab.Norrby@region.se"
    no_violations(page)

    # removed with its own button
    follow(page, "button[name=action][value=remove]")
    assert page.locator(".app-notification--success[role=status]").count() == 1
    assert page.locator("#notice_email").input_value() == ""
    assert page.locator("button[name=action][value=remove]").count() == 0
    assert stored(app) is None
    no_violations(page)


def test_a_doctor_sees_the_address_and_no_form(staff_page, lang, live):
    page, app = staff_page, live.app
    with db.new_session(app) as s:
        s.add(UnitSettings(unit_id=VE10, notice_email="rehab.norrby@region.se", updated_at=live.app.extensions[
            "clock"].now(), updated_by=demo.hsa("R001")))
        s.commit()
    broker_login(page, lang, "siths", demo.hsa("L001"))
    choose_radio(page, VE10, "unit")  # the unit choice by keyboard, as in e2e/test_login.py
    activate(page, LOGIN_T[lang]["choose"])
    page.wait_for_url("**/rehabstod/")
    follow(page, "a.app-subnav__link[href='/rehabstod/installningar']")
    section = page.locator("#enhet")
    assert "rehab.norrby@region.se" in section.inner_text()
    assert section.locator("form").count() == 0 and page.locator("#notice_email").count() == 0
    no_violations(page)
