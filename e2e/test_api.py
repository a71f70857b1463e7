"""The certificate store's API end to end, over HTTP against the live server, with the browser by
keyboard alone in Swedish and English: a journal system registers a certificate and the citizen reads
it in Mina intyg; care reports it sent and the send action gives way to that fact; Försäkringskassan
posts a question that a coordinator answers in Rehabstöd, and the answer reaches FK's simulator once.
axe runs on every state."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import delete, select

from accessibility import crawl
from conftest import NOW, new_context
from portal import db
from portal.domain import demo
from portal.models import CareSend, CareUnit, Certificate, Message, Send, SimDelivery
from portal.repository import intake
from portal.worker import deliver_due
from tests.api_support import bearer, registration, token

from .keyboard import focused
from .test_login import broker_login
from .test_rehab_questions import follow, tab_to_css

pytestmark = pytest.mark.e2e

CITIZEN = demo.demo_citizens(NOW.date())[0]
T = {"sv": {"sent_by_care": "Skickat till Försäkringskassan av vården"},
     "en": {"sent_by_care": "by healthcare"}}


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


@pytest.fixture
def system(live, lang):
    """A journal system and Försäkringskassan talking to the live server; their rows are removed after."""
    http = requests.Session()
    made: dict = {"certificates": [], "questions": []}
    yield http, made
    app = live.app
    with db.new_session(app) as s:
        answers = list(s.scalars(select(Message.id).where(Message.in_reply_to.in_(made["questions"]))))
        s.execute(delete(Send).where(Send.payload_ref.in_(answers)))
        s.execute(delete(SimDelivery).where(SimDelivery.idempotency_key.in_([f"answer-{a}" for a in answers])))
        s.execute(delete(Message).where(Message.id.in_(answers + made["questions"])))
        s.execute(delete(CareSend).where(CareSend.certificate_id.in_(made["certificates"])))
        s.execute(delete(Certificate).where(Certificate.id.in_(made["certificates"])))
        intake.bump_units(s, [demo.hsa("VE10")])
        s.commit()


def _ve10(app) -> tuple[dict, dict]:
    with db.new_session(app) as s:
        unit = s.get(CareUnit, demo.hsa("VE10"))
        return {"hsa_id": unit.hsa_id, "name": unit.name}, {"hsa_id": unit.provider_id, "name": unit.provider.name}


def test_a_registered_certificate_is_read_and_shown_as_sent_by_care(browser, live, lang, system):
    http, made = system
    app = live.app
    now = app.extensions["clock"].now()
    unit, provider = _ve10(app)
    cid = f"e2e-api-{lang}"
    made["certificates"].append(cid)
    journal = bearer(token(http, "journal-demo", prefix=live.url))
    body = registration(cid, now - timedelta(hours=2), patient=CITIZEN.personnummer, unit=unit, provider=provider)
    response = http.post(f"{live.url}/api/v1/certificates", json=body, headers=journal)
    assert response.status_code == 201, response.text

    context = new_context(browser, live.url, lang=lang, width=390, height=844)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        broker_login(page, lang, "bankid", CITIZEN.personnummer)
        assert page.locator(f"a[href='/mina-intyg/intyg/{cid}']").count() == 1
        no_violations(page)
        follow(page, f"a[href='/mina-intyg/intyg/{cid}']")
        assert page.url.endswith(f"/mina-intyg/intyg/{cid}")
        assert "Alva Apisson" in page.locator("main").inner_text()
        assert page.locator(f"a[href='/mina-intyg/intyg/{cid}/skicka']").count() == 1
        no_violations(page)

        at = now - timedelta(hours=1)
        sent = http.put(f"{live.url}/api/v1/certificates/{cid}/sent/FK", json={"at": at.isoformat()},
                        headers=journal)
        assert sent.status_code == 201, sent.text
        page.reload()
        main = page.locator("main").inner_text()
        assert T[lang]["sent_by_care"] in main
        assert page.locator(f"a[href='/mina-intyg/intyg/{cid}/skicka']").count() == 0
        no_violations(page)
        tab_to_css(page, "a[href^='/mina-intyg/intyg/'][href*='/pdf/']")  # the PDF is still a keyboard away
        assert "/pdf/" in page.evaluate("document.activeElement.getAttribute('href')")

        status = http.get(f"{live.url}/api/v1/certificates/{cid}", headers=journal).json()
        assert status["sent"] == [{"recipient": "FK", "at": at.replace(microsecond=0).isoformat(), "by": "CARE"}]
    finally:
        context.close()


def test_a_question_from_fk_is_answered_in_rehabstod_and_reaches_fk_once(browser, live, lang, system):
    http, made = system
    app = live.app
    now = app.extensions["clock"].now()
    unit, provider = _ve10(app)
    cid, qid = f"e2e-api-q-{lang}", f"e2e-fk-question-{lang}"
    made["certificates"].append(cid)
    made["questions"].append(qid)
    journal = bearer(token(http, "journal-demo", prefix=live.url))
    body = registration(cid, now - timedelta(days=3), patient=CITIZEN.personnummer, unit=unit, provider=provider)
    assert http.post(f"{live.url}/api/v1/certificates", json=body, headers=journal).status_code == 201
    fk = bearer(token(http, "fk-demo", prefix=live.url))
    question = {"id": qid, "certificate": cid, "subject": "KONTKT", "heading": "Kontakt önskas",
                "text": "Vi vill boka ett avstämningssamtal.", "sent": (now - timedelta(hours=1)).isoformat()}
    assert http.post(f"{live.url}/api/v1/questions", json=question, headers=fk).status_code == 201
    assert http.post(f"{live.url}/api/v1/questions", json=question, headers=fk).json()["result"] == "unchanged"

    context = new_context(browser, live.url, lang=lang, width=1280, height=900)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        broker_login(page, lang, "siths", demo.hsa("R001"))
        follow(page, "a.app-subnav__link[href='/rehabstod/fragor']")
        assert page.locator(f"#results a[href='/rehabstod/fragor/{qid}']").count() == 1
        no_violations(page)
        follow(page, f"#results a[href='/rehabstod/fragor/{qid}']")
        assert "Vi vill boka ett avstämningssamtal." in page.locator("main").inner_text()
        no_violations(page)
        tab_to_css(page, "textarea#svar")
        page.keyboard.type("Ring mottagningen på torsdag.")
        follow(page, "form[action$='/svar'] button[type=submit]")
        assert page.locator(".app-notification--success").count() == 1
        assert focused(page) is not None
        assert not re.search(r"(19|20)\d{6}-?\d{4}", page.url)
        no_violations(page)
    finally:
        context.close()
    with db.new_session(app) as s:
        answer = s.scalars(select(Message).where(Message.in_reply_to == qid, Message.sender == "CARE")).one()
    deliver_due(app)
    deliver_due(app)  # a second pass sends nothing again
    with db.new_session(app) as s:
        got = list(s.scalars(select(SimDelivery).where(SimDelivery.idempotency_key == f"answer-{answer.id}")))
    assert len(got) == 1 and got[0].recipient == "FK"
    assert got[0].payload["in_reply_to"] == qid and got[0].payload["text"] == "Ring mottagningen på torsdag."


def test_an_integrator_reads_the_reference_by_keyboard(page, lang, live):
    """The reference page: its contents list leads to each part, an operation's link to the operation,
    and the OpenAPI document is a keyboard away; axe at 390 and 1280 px."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        page.goto("/api/v1/docs")
        no_violations(page)
        tab_to_css(page, "a[href='#operations']")
        page.keyboard.press("Enter")
        page.wait_for_function("() => location.hash === '#operations'")
        tab_to_css(page, "a.app-api__link[href='#registerCertificate']")
        page.keyboard.press("Enter")
        page.wait_for_function("() => location.hash === '#registerCertificate'")
        assert page.locator("#registerCertificate").is_visible()
        no_violations(page)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/openapi.json")) as info:
        page.goto("/api/v1/docs")
        tab_to_css(page, "a[href$='/api/v1/openapi.json']")
        page.keyboard.press("Enter")
    assert info.value.status == 200 and info.value.json()["openapi"] == "3.1.0"
