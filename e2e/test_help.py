"""The help pages by keyboard alone on a phone, in Swedish and English: a logged-in citizen on the send page finds
the help on sending by Tab, opens it, reads its heading, goes back to the send page with nothing sent; the axe
check runs on the help page."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from accessibility import crawl
from conftest import NOW, new_context
from portal import db
from portal.domain import demo
from portal.models import CareSend, Certificate, CertificateRelation, Send

from .keyboard import activate

pytestmark = pytest.mark.e2e

ORDINARY = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
T = {
    "sv": {"send": "Skicka intyget till Försäkringskassan", "help": "Så skickar du ett intyg",
           "steps": "Så gör du"},
    "en": {"send": "Send the certificate to Försäkringskassan (Social Insurance Agency)",
           "help": "How to send a certificate", "steps": "How to do it"},
}


def sendable_fk7804(app) -> str:
    """The demo citizen's newest FK7804 that can be sent: not revoked, not replaced, not sent by anyone."""
    replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
    with db.new_session(app) as s:
        return s.scalars(
            select(Certificate.id).where(Certificate.patient_pnr == ORDINARY, Certificate.type_code == "FK7804",
                                         Certificate.revoked_at.is_(None), Certificate.id.not_in(replaced),
                                         Certificate.id.not_in(select(Send.certificate_id)),
                                         Certificate.id.not_in(select(CareSend.certificate_id)))
            .order_by(Certificate.signed_at.desc())).first()


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def test_from_the_send_page_to_the_help_on_sending_and_back_by_keyboard(browser, live, lang):
    t = T[lang]
    context = new_context(browser, live.url, lang=lang, width=390, height=844)
    context.set_default_timeout(10_000)
    page = context.new_page()
    crawl.login(page, "citizen")
    cert_id = sendable_fk7804(live.app)
    assert cert_id is not None
    send_url = f"/mina-intyg/intyg/{cert_id}/skicka"
    page.goto(send_url)
    assert h1(page) == t["send"]
    activate(page, t["help"])  # Tab until the help link has focus, then Enter
    assert page.url.endswith("/hjalp/skicka")
    assert h1(page) == t["help"]
    assert page.locator("html").get_attribute("lang") == lang
    assert page.get_by_role("heading", level=2, name=t["steps"]).is_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)
    page.go_back()  # the browser's Back (Alt+Left)
    page.wait_for_load_state()
    assert page.url.endswith(send_url) and h1(page) == t["send"]
    assert not page.locator("#consent").is_checked()
    with db.new_session(live.app) as s:  # reading the help sent nothing
        assert s.scalars(select(Send).where(Send.certificate_id == cert_id)).first() is None
    context.close()
