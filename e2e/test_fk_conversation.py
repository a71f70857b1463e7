"""Issue 17 by keyboard alone, in Swedish and English, at 1280 px: a coordinator opens an FK question, asks FK a
question of their own about the same certificate (first empty: the error summary), sees it delivered to FK's
simulator once, FK answers through the API, the answer shows in the conversation; the question is forwarded to
the certificate's doctor, who sees it marked as forwarded to them. axe runs on every state.

New texts are translated centrally after this change, so the test finds elements by role, name or address."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import delete, select

from conftest import new_context
from portal import db
from portal.domain import demo
from portal.domain import questions as rules
from portal.models import Certificate, Message, QuestionForward, Send, SimDelivery
from portal.repository import questions as qstore
from portal.worker import deliver_due
from tests.api_support import bearer, token

from .keyboard import focused
from .test_login import broker_login
from .test_rehab_questions import T, follow, listed_ids, no_violations, tab_to_css

pytestmark = pytest.mark.e2e
R001 = demo.hsa("R001")
VE10 = demo.hsa("VE10")


@pytest.fixture
def pages(browser, live, lang):
    """A coordinator's browser and a doctor's; what the test stored is removed afterwards."""
    contexts = [new_context(browser, live.url, lang=lang, width=1280, height=900) for _ in range(2)]
    for c in contexts:
        c.set_default_timeout(10_000)
    made: dict = {"certificates": set(), "forwarded": set()}
    yield [c.new_page() for c in contexts], made
    for c in contexts:
        c.close()
    with db.new_session(live.app) as s:
        mine = list(s.scalars(select(Message.id).where(Message.certificate_id.in_(made["certificates"]),
                                                       Message.sender == "CARE", Message.in_reply_to.is_(None),
                                                       Message.author_id == R001)))
        s.execute(delete(SimDelivery).where(SimDelivery.idempotency_key.in_([f"question-{m}" for m in mine])))
        s.execute(delete(Send).where(Send.kind == "QUESTION", Send.payload_ref.in_(mine)))
        s.execute(delete(Message).where(Message.in_reply_to.in_(mine)))
        s.execute(delete(QuestionForward).where(QuestionForward.message_id.in_(list(made["forwarded"]) + mine)))
        s.execute(delete(Message).where(Message.id.in_(mine)))
        s.commit()


def forwardable(app, ids: list[str]) -> tuple[str, str]:
    """Among the listed questions, an administrative one whose certificate's doctor works on VE10 (a colleague to
    forward it to), and that doctor."""
    with db.new_session(app) as s:
        colleagues = qstore.colleagues(s, VE10, app.extensions["clock"].today())
        for qid in ids:
            m = s.get(Message, qid)
            cert = s.get(Certificate, m.certificate_id)
            found = rules.forward_candidates(colleagues, me=R001, certificate_staff_id=cert.staff_id)
            if m.subject in rules.ADMINISTRATIVE_SUBJECTS and found and cert.type_code == "FK7804":
                return qid, found[0].hsa_id
    raise AssertionError("a question whose doctor works on VE10")


def test_ask_fk_receive_the_answer_and_forward(pages, lang, live):
    (page, doctor_page), made = pages
    app = live.app
    broker_login(page, lang, "siths", R001)
    follow(page, "a.app-subnav__link[href='/rehabstod/fragor']")
    no_violations(page)
    fk_q, doctor = forwardable(app, listed_ids(page))
    with db.new_session(app) as s:
        cert_id = s.get(Message, fk_q).certificate_id
    made["certificates"].add(cert_id)
    made["forwarded"].add(fk_q)
    follow(page, f"#results a[href='/rehabstod/fragor/{fk_q}']")
    no_violations(page)

    # ask FK: the form, empty first (the error summary, focused), then a real question
    follow(page, "main a[href$='/fraga']")
    assert f"/intyg/{cert_id}/fraga" in page.url
    no_violations(page)
    follow(page, "main form button[type=submit]")
    assert page.locator(".app-error-summary").count() == 1
    assert focused(page)["text"].startswith(T[lang]["problem"])
    no_violations(page)
    tab_to_css(page, "input#amne-AVSTMN")
    page.keyboard.press("Space")
    tab_to_css(page, "input#rubrik")
    page.keyboard.type("Avstämningsmöte i december")
    tab_to_css(page, "textarea#text")
    page.keyboard.type("Kan vi ha ett avstämningsmöte vecka 50?")
    follow(page, "main form button[type=submit]")
    assert "/rehabstod/fragor/fraga-" in page.url
    asked = page.url.rsplit("/", 1)[1]
    assert page.locator(".app-notification--success").count() == 1
    assert "Kan vi ha ett avstämningsmöte vecka 50?" in page.locator("main").inner_text()
    no_violations(page)

    # the outbox delivers it to FK's simulator, once
    assert deliver_due(app)["delivered"] >= 1
    deliver_due(app)
    with db.new_session(app) as s:
        got = list(s.scalars(select(SimDelivery).where(SimDelivery.idempotency_key == f"question-{asked}")))
    assert len(got) == 1 and got[0].payload["kind"] == "QUESTION" and got[0].payload["subject"] == "AVSTMN"
    page.reload()
    no_violations(page)

    # FK answers through the API; the answer shows in the conversation, after the question
    http = requests.Session()
    fk = bearer(token(http, "fk-demo", prefix=live.url))
    sent = app.extensions["clock"].now() + timedelta(minutes=1)
    answer = {"id": f"fk-e2e-svar-{lang}", "certificate": cert_id, "subject": "AVSTMN", "heading": "Svar",
              "text": "Ja, tisdag vecka 50 klockan 10.", "sent": sent.replace(microsecond=0).isoformat(),
              "in_reply_to": asked}
    assert http.post(f"{live.url}/api/v1/questions", json=answer, headers=fk).status_code == 201
    page.reload()
    conversation = page.locator("#conversation-title + p + ol").inner_text()
    assert conversation.index("vecka 50?") < conversation.index("Ja, tisdag vecka 50 klockan 10.")
    assert page.locator(".app-tag--green").count() >= 1
    no_violations(page)

    # forward FK's question to the certificate's doctor
    page.goto(f"/rehabstod/fragor/{fk_q}")
    tab_to_css(page, "select#till")
    options = page.locator("select#till option").evaluate_all("els => els.map(e => e.value)")
    for _ in range(options.index(doctor)):
        page.keyboard.press("ArrowDown")
    assert page.locator("select#till").input_value() == doctor
    follow(page, "form[action$='/vidarebefordra'] button[type=submit]")
    assert page.locator(".app-notification--success").count() == 1
    no_violations(page)
    follow(page, "a[href='/rehabstod/fragor']:not(.app-subnav__link)")
    assert page.locator("#waiting-title").count() == 1
    no_violations(page)

    # the doctor sees it forwarded to them, in the list and on the page
    broker_login(doctor_page, lang, "siths", doctor)
    doctor_page.goto("/rehabstod/fragor")
    row = doctor_page.locator(f"#results tr:has(a[href='/rehabstod/fragor/{fk_q}'])")
    assert row.locator(".app-tag--blue").count() == 1
    no_violations(doctor_page)
    follow(doctor_page, f"#results a[href='/rehabstod/fragor/{fk_q}']")
    assert doctor_page.locator("main .app-tag--blue").count() >= 1
    no_violations(doctor_page)
