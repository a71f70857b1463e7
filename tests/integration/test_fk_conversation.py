"""Issue 17 through the Flask test client, on SQLite and PostgreSQL: the care unit asks FK a question (stored with
its outbox send and its PDL "Skriva" record in one transaction, delivered to FK's simulator once), every refusal
(revoked, never received by FK, valideringsperson, a doctor who did not sign it, a patient the user may not see,
bad input), FK's answer through the API (POST /questions with in_reply_to) shown in the conversation, the lists'
counts in both directions, and forwarding a question to a colleague on the unit."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from conftest import NOW
from portal import db
from portal.domain import demo as demo_data
from portal.models import CareSend, Certificate, Message, PdlRecord, Person, QuestionForward, Send, SimDelivery
from portal.repository import questions as qstore
from tests.api_support import bearer, token
from tests.integration.test_rehab_defects import L001, L002, add_patient_with_two_doctors, token_for
from tests.integration.test_rehab_questions import COORDINATOR, VE10, VE40, login, open_questions_in_db, scope
from tests.integration.test_rehab_questions import served as served  # noqa: F401 - a fixture

ASK_FORM_ID = re.compile(r'name="fraga_id" value="([0-9a-f]{32})"')


def fresh_certificate(app, *, received: bool = True) -> Certificate:
    """An FK7804 on VE10 (not revoked) of a patient a coordinator may see, with no messages or sends; FK has
    received it (care sent it) unless `received` is False."""
    with db.new_session(app) as s:
        query = (select(Certificate).join(Person, Person.personnummer == Certificate.patient_pnr)
                 .where(Certificate.unit_id == VE10, Certificate.type_code == "FK7804",
                        Certificate.revoked_at.is_(None), Certificate.signed_at <= NOW - timedelta(days=1),
                        Person.protected.is_(False),
                        Person.deceased.is_(False), Person.validation_person.is_(False),
                        Certificate.id.not_in(select(Message.certificate_id)),
                        Certificate.id.not_in(select(CareSend.certificate_id)),
                        Certificate.id.not_in(select(Send.certificate_id))))
        cert = s.scalars(query.order_by(Certificate.signed_at.desc())).first()
        assert cert is not None, "the demo data has such a certificate"
        if received:
            s.add(CareSend(certificate_id=cert.id, recipient="FK", sent_at=cert.signed_at + timedelta(hours=1)))
            s.commit()
        s.expunge(cert)
        return cert


def ask_url(app, client, cert: Certificate, unit: str = VE10) -> str:
    return f"/rehabstod/patient/{token_for(app, client, cert.patient_pnr, unit)}/intyg/{cert.id}/fraga"


def form_of(client, url: str) -> dict:
    html = client.get(url).get_data(as_text=True)
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "fraga_id": ASK_FORM_ID.search(html).group(1)}


def care_questions(app, cert_id: str | None = None) -> list[Message]:
    with db.new_session(app) as s:
        query = select(Message).where(Message.sender == "CARE", Message.in_reply_to.is_(None))
        if cert_id:
            query = query.where(Message.certificate_id == cert_id)
        return list(s.scalars(query))


def question_sends(app) -> list[Send]:
    with db.new_session(app) as s:
        return list(s.scalars(select(Send).where(Send.kind == "QUESTION")))


def records(app, pnr: str) -> list[tuple[str, str]]:
    with db.new_session(app) as s:
        return [(r.activity, r.resource_type) for r in s.scalars(select(PdlRecord).where(PdlRecord.patient_pnr == pnr))]


def ask(app, client, cert, **fields):
    url = ask_url(app, client, cert)
    form = form_of(client, url)
    form.update({"amne": "AVSTMN", "rubrik": "Avstämningsmöte", "text": "Kan vi ses nästa vecka?"}, **fields)
    return url, form, client.post(url, data=form)


# --- asking ---------------------------------------------------------------------------------------------------

def test_a_coordinator_asks_fk_once_and_sees_it_wait_for_the_answer(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    url = ask_url(demo, client, cert)
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Högst 200 tecken." in html and "Högst 2000 tecken." in html  # FK's limits, stated
    assert all(f'id="amne-{s}"' in html for s in ("AVSTMN", "KONTKT", "OVRIGT")) and 'id="amne-KOMPLT"' not in html
    assert records(demo, cert.patient_pnr) == [("Läsa", "Intyg")]
    form = form_of(client, url)
    form.update(amne="KONTKT", rubrik="  Kontakt   om  patienten ", text=" Ring mig gärna.\r\nMvh ")
    first = client.post(url, data=form)
    assert first.status_code == 303
    second = client.post(url, data=form)  # a double submit
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    (q,) = care_questions(demo, cert.id)
    assert first.headers["Location"].endswith(f"/rehabstod/fragor/{q.id}")
    assert (q.subject, q.heading, q.text, q.author_id, q.sent_at) == (
        "KONTKT", "Kontakt om patienten", "Ring mig gärna.\nMvh", COORDINATOR, NOW)
    assert (q.unit_id, q.patient_pnr) == (cert.unit_id, cert.patient_pnr)
    (send,) = question_sends(demo)
    assert (send.payload_ref, send.recipient, send.state, send.idempotency_key) == (
        q.id, "FK", "PENDING", f"question-{q.id}")
    assert ("Skriva", "Intyg") in records(demo, cert.patient_pnr)
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Frågan är sparad och skickas till Försäkringskassan" in page
    assert "Väntar på svar från Försäkringskassan" in page and "Skickas till Försäkringskassan…" in page
    assert "Ring mig gärna." in page and "Hela konversationen om intyget" in page
    listing = client.get("/rehabstod/fragor").get_data(as_text=True)
    waiting = listing.split('id="waiting-title"')[1]
    assert "Väntar på svar från FK (1)" in listing and f'href="/rehabstod/fragor/{q.id}"' in waiting
    # FK's open questions are counted apart: the care unit's question is not one of them
    assert f'href="/rehabstod/fragor/{q.id}"' not in listing.split('id="waiting-title"')[0]


@pytest.mark.parametrize("fields, field, message", [
    ({"amne": ""}, "amne-AVSTMN", "Välj ett ämne för frågan"),
    ({"amne": "KOMPLT"}, "amne-AVSTMN", "Välj ett av ämnena Avstämningsmöte, Kontakt eller Övrigt"),
    ({"rubrik": "  "}, "rubrik", "Skriv en rubrik för frågan"),
    ({"rubrik": "x" * 201}, "rubrik", "högst 200 tecken"),
    ({"text": " \r\n "}, "text", "Skriv din fråga till Försäkringskassan"),
    ({"text": "x" * 2001}, "text", "högst 2000 tecken"),
    ({"fraga_id": "nope"}, "text", "Formuläret gick inte att använda"),
])
def test_bad_input_is_a_400_with_an_error_summary_and_nothing_is_stored(demo, client, fields, field, message):
    cert = fresh_certificate(demo)
    login(client, demo)
    _url, _form, response = ask(demo, client, cert, **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Det finns ett problem" in html and f'href="#{field}"' in html and message in html
    assert care_questions(demo) == [] and question_sends(demo) == []
    assert ("Skriva", "Intyg") not in records(demo, cert.patient_pnr)


def test_a_post_without_the_csrf_token_is_refused(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    url, form, _ = ask(demo, client, cert, fraga_id="a" * 32)
    response = client.post(url, data={k: v for k, v in form.items() if k != "csrf_token"} | {"fraga_id": "b" * 32})
    assert response.status_code == 400
    assert len(care_questions(demo)) == 1  # only the one with the token


def test_a_revoked_certificate_is_refused_with_a_clear_message(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    url = ask_url(demo, client, cert)
    form = form_of(client, url)
    with db.new_session(demo) as s:
        s.execute(update(Certificate).where(Certificate.id == cert.id).values(revoked_at=NOW, revoke_reason="Fel"))
        s.commit()
    for response in (client.get(url), client.post(url, data={**form, "amne": "OVRIGT", "rubrik": "R", "text": "T"})):
        html = response.get_data(as_text=True)
        assert response.status_code == 409 and "Intyget är makulerat" in html and 'name="rubrik"' not in html
    assert care_questions(demo) == [] and question_sends(demo) == []


def test_a_certificate_fk_never_received_is_refused(demo, client):
    cert = fresh_certificate(demo, received=False)
    login(client, demo)
    url = ask_url(demo, client, cert)
    response = client.get(url)
    assert response.status_code == 409 and "Försäkringskassan har inte tagit emot intyget" in response.get_data(
        as_text=True)
    token_value = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    csrf_value = token_value.group(1) if token_value else ""
    if not csrf_value:  # the refusal page has no form: take the token from another page
        csrf_value = re.search(r'name="csrf_token" value="([^"]+)"',
                               client.get("/rehabstod/installningar").get_data(as_text=True)).group(1)
    post = client.post(url, data={"csrf_token": csrf_value, "fraga_id": "c" * 32, "amne": "OVRIGT", "rubrik": "R",
                                  "text": "T"})
    assert post.status_code == 409 and care_questions(demo) == [] and question_sends(demo) == []
    # a citizen's send through the portal that FK has acknowledged makes it received
    with db.new_session(demo) as s:
        s.add(Send(certificate_id=cert.id, recipient="FK", kind="CERTIFICATE", idempotency_key="k-1",
                   state="DELIVERED", attempts=1, requested_at=NOW, delivered_at=NOW))
        s.commit()
    assert client.get(url).status_code == 200


def test_a_valideringsperson_is_refused_and_the_page_shows_no_patient_data(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    url = ask_url(demo, client, cert)
    with db.new_session(demo) as s:
        s.execute(update(Person).where(Person.personnummer == cert.patient_pnr).values(validation_person=True))
        s.commit()
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "valideringsperson" in html
    assert cert.patient_pnr[:8] not in html and 'name="rubrik"' not in html
    assert records(demo, cert.patient_pnr) == []  # nothing about the patient was shown


def test_a_doctor_who_did_not_sign_the_certificate_may_not_ask(demo, client):
    ids = add_patient_with_two_doctors(demo)
    with db.new_session(demo) as s:
        for cid in ids.values():
            s.add(CareSend(certificate_id=cid, recipient="FK", sent_at=NOW - timedelta(days=1)))
        s.commit()
    login(client, demo, hsa_id=L002, role="LAKARE")  # decides the case: reads L001's certificate, did not sign it
    cert = Certificate(id=ids["l001"], patient_pnr=demo_data.make_pnr(demo_data.date(1950, 6, 1), 985))
    response = client.get(ask_url(demo, client, cert))
    assert response.status_code == 403 and "Bara intygets läkare" in response.get_data(as_text=True)
    own = client.get(ask_url(demo, client, Certificate(id=ids["l002"], patient_pnr=cert.patient_pnr)))
    assert own.status_code == 200  # the certificate's own doctor may
    other = demo.test_client()
    login(other, demo, hsa_id=L001, role="LAKARE")  # signed l001 but the case is L002's
    assert other.get(ask_url(demo, other, cert)).status_code in (200, 404)


def test_a_patient_the_user_may_not_see_is_a_404(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    url = ask_url(demo, client, cert)
    with db.new_session(demo) as s:  # protected identity: a coordinator never sees the patient
        s.execute(update(Person).where(Person.personnummer == cert.patient_pnr).values(protected=True))
        s.commit()
    assert client.get(url).status_code == 404
    with db.new_session(demo) as s:
        s.execute(update(Person).where(Person.personnummer == cert.patient_pnr).values(protected=False))
        s.commit()
    other_unit = demo.test_client()
    login(other_unit, demo, unit=VE40)
    assert other_unit.get(ask_url(demo, other_unit, cert, unit=VE40)).status_code == 404
    assert care_questions(demo) == []


def test_a_failing_pdl_write_stores_nothing_and_sends_nothing(demo, client, monkeypatch):
    from portal.repository import pdl as pdl_store

    cert = fresh_certificate(demo)
    login(client, demo)
    url = ask_url(demo, client, cert)
    form = {**form_of(client, url), "amne": "AVSTMN", "rubrik": "Möte", "text": "Kan vi ses?"}
    real_append = pdl_store.append

    def failing(session, entries, **kw):
        if any(e.activity == "Skriva" for e in entries):
            raise RuntimeError("the audit log cannot be written")
        return real_append(session, entries, **kw)

    monkeypatch.setattr(pdl_store, "append", failing)
    assert client.post(url, data=form).status_code == 500
    assert care_questions(demo) == [] and question_sends(demo) == []
    monkeypatch.setattr(pdl_store, "append", real_append)
    assert client.post(url, data=form).status_code == 303
    assert len(care_questions(demo)) == 1 and len(question_sends(demo)) == 1


# --- delivery to FK and FK's answer ------------------------------------------------------------------------------

def test_the_question_reaches_fks_simulator_once_and_fks_answer_arrives_through_the_api(served):
    from portal.worker import deliver_due

    app = served
    client = app.test_client()
    cert = fresh_certificate(app)
    login(client, app)
    _url, _form, response = ask(app, client, cert, amne="OVRIGT", rubrik="Övrig fråga", text="Behöver ni mer?")
    assert response.status_code == 303
    (q,) = care_questions(app)
    assert deliver_due(app)["delivered"] == 1
    (send,) = question_sends(app)
    assert send.state == "DELIVERED"
    with db.new_session(app) as s:  # the worker died after posting, before recording: posted again, same key
        s.execute(update(Send).where(Send.id == send.id).values(state="PENDING", next_attempt_at=NOW,
                                                                delivered_at=None))
        s.commit()
    assert deliver_due(app)["delivered"] == 1
    with db.new_session(app) as s:
        got = list(s.scalars(select(SimDelivery).where(SimDelivery.recipient == "FK")))
    assert len(got) == 1 and got[0].idempotency_key == f"question-{q.id}"
    payload = got[0].payload
    assert (payload["kind"], payload["message_id"], payload["certificate_id"], payload["subject"]) == (
        "QUESTION", q.id, cert.id, "OVRIGT")
    assert payload["heading"] == "Övrig fråga" and payload["text"] == "Behöver ni mer?"
    assert cert.patient_pnr not in str(payload)
    assert "Fråga från vården" in client.get("/simulator/FK").get_data(as_text=True)
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Skickat till Försäkringskassan" in page
    # FK answers through the API
    fk = bearer(token(client, "fk-demo"))
    answer = {"id": "fk-svar-1", "certificate": cert.id, "subject": "OVRIGT", "heading": "Svar",
              "text": "Nej tack, det räcker.", "sent": (NOW + timedelta(minutes=5)).isoformat(), "in_reply_to": q.id}
    assert client.post("/api/v1/questions", json=answer, headers=fk).status_code == 201
    assert client.post("/api/v1/questions", json=answer, headers=fk).json["result"] == "unchanged"
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Besvarad av Försäkringskassan" in page and "Nej tack, det räcker." in page
    conversation = page.split('id="conversation-title"')[1]
    assert conversation.index("Behöver ni mer?") < conversation.index("Nej tack, det räcker.")
    assert "Svar från Försäkringskassan" in conversation and "Fråga från vården" in conversation
    listing = client.get("/rehabstod/fragor").get_data(as_text=True)
    assert "Väntar på svar från FK (0)" in listing and 'href="/rehabstod/fragor/fk-svar-1"' not in listing
    # FK's answer is not an open question from FK (nor counted in the ongoing list)
    assert client.get("/rehabstod/fragor/fk-svar-1").status_code == 404


def test_the_api_refuses_answers_that_do_not_answer_a_care_question(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    ask(demo, client, cert, amne="KONTKT")
    (q,) = care_questions(demo)
    fk_q = open_questions_in_db(demo, scope(demo))[0]
    fk = bearer(token(client, "fk-demo"))
    base = {"certificate": cert.id, "subject": "KONTKT", "text": "Svar.", "sent": NOW.isoformat()}
    to_fk = client.post("/api/v1/questions", headers=fk, json={**base, "id": "x1", "certificate": fk_q.certificate_id,
                                                               "subject": fk_q.subject, "in_reply_to": fk_q.id})
    assert to_fk.status_code == 422 and [e["pointer"] for e in to_fk.json["errors"]] == ["/in_reply_to"]
    wrong = client.post("/api/v1/questions", headers=fk, json={**base, "id": "x2", "subject": "OVRIGT",
                                                               "in_reply_to": q.id})
    assert wrong.status_code == 422 and [e["pointer"] for e in wrong.json["errors"]] == ["/subject"]
    first = client.post("/api/v1/questions", headers=fk, json={**base, "id": "x3", "in_reply_to": q.id})
    assert first.status_code == 201
    again = client.post("/api/v1/questions", headers=fk, json={**base, "id": "x4", "in_reply_to": q.id})
    assert again.status_code == 409
    with db.new_session(demo) as s:
        assert {m.id for m in s.scalars(select(Message).where(Message.id.in_(["x1", "x2", "x3", "x4"])))} == {"x3"}


def test_fks_answer_is_stored_by_the_one_store_function(demo, client, monkeypatch):
    """The intake stores every FK message through repository.questions.store_messages (the notices' hook)."""
    from portal.repository import intake

    seen: list[str] = []
    real = qstore.store_messages

    def spy(session, records):
        seen.extend(r["id"] for r in records)
        return real(session, records)

    monkeypatch.setattr(intake, "store_messages", spy)
    cert = fresh_certificate(demo)
    fk = bearer(token(client, "fk-demo"))
    body = {"id": "fk-new-1", "certificate": cert.id, "subject": "KONTKT", "text": "Ring oss.", "sent": NOW.isoformat()}
    assert client.post("/api/v1/questions", headers=fk, json=body).status_code == 201
    assert seen == ["fk-new-1"]


# --- forwarding ----------------------------------------------------------------------------------------------------

def forwardable(app) -> tuple[Message, str]:
    """An open administrative question on VE10 and a colleague it may be forwarded to: the certificate's own
    doctor, with a commission on VE10 (the demo's VE10 has one rehab coordinator, R001)."""
    from portal.domain import questions as rules

    with db.new_session(app) as s:
        colleagues = qstore.colleagues(s, VE10, NOW.date())
        for q in open_questions_in_db(app, scope(app), subjects={"AVSTMN", "KONTKT", "OVRIGT"}):
            cert = s.get(Certificate, q.certificate_id)
            found = rules.forward_candidates(colleagues, me=COORDINATOR, certificate_staff_id=cert.staff_id)
            if found and q.unit_id == VE10:
                return q, found[0].hsa_id
    raise AssertionError("the demo data has a question whose doctor works on VE10")


def test_forwarding_marks_the_question_for_the_colleague(demo, client):
    q, colleague = forwardable(demo)
    login(client, demo)
    html = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert f'<option value="{colleague}"' in html and f'<option value="{COORDINATOR}"' not in html
    csrf_value = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    bad = client.post(f"/rehabstod/fragor/{q.id}/vidarebefordra", data={"csrf_token": csrf_value, "till": "nobody"})
    assert bad.status_code == 400 and 'href="#till"' in bad.get_data(as_text=True)
    assert client.post(f"/rehabstod/fragor/{q.id}/vidarebefordra", data={"till": colleague}).status_code == 400
    with db.new_session(demo) as s:
        assert s.scalars(select(QuestionForward)).all() == []
    done = client.post(f"/rehabstod/fragor/{q.id}/vidarebefordra", data={"csrf_token": csrf_value, "till": colleague})
    assert done.status_code == 303
    assert client.post(f"/rehabstod/fragor/{q.id}/vidarebefordra",
                       data={"csrf_token": csrf_value, "till": colleague}).status_code == 303  # again: no change
    with db.new_session(demo) as s:
        rows = s.scalars(select(QuestionForward)).all()
        assert [(r.message_id, r.to_staff_id, r.by_staff_id) for r in rows] == [(q.id, colleague, COORDINATOR)]
    assert "Frågan är vidarebefordrad till" in client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert ("Skriva", "Intyg") in records(demo, q.patient_pnr) or ("Skriva", "Läkarutlåtande") in records(
        demo, q.patient_pnr)
    other = demo.test_client()
    login(other, demo, hsa_id=colleague, role="LAKARE")
    listing = other.get("/rehabstod/fragor").get_data(as_text=True)
    row = next(r for r in listing.split("<tr>") if f'href="/rehabstod/fragor/{q.id}"' in r)
    assert "Vidarebefordrad till dig" in row
    assert "Vidarebefordrad till dig" in other.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)


def test_the_ongoing_list_counts_the_question_waiting_for_fk_until_fk_answers(demo, client):
    cert = fresh_certificate(demo)
    login(client, demo)
    shown = f"{cert.patient_pnr[:8]}-{cert.patient_pnr[8:]}"  # as the list writes it
    before = client.get("/rehabstod/sjukfall?personuppgifter=1").get_data(as_text=True)
    assert shown in before and "Väntar på svar från FK" not in before  # the patient's case is listed
    _url, _form, response = ask(demo, client, cert)
    assert response.status_code == 303
    (q,) = care_questions(demo, cert.id)
    with db.new_session(demo) as s:
        assert qstore.waiting_counts(s, {cert.id}, NOW.date(), [VE10]) == {cert.id: 1}
        assert qstore.waiting_counts(s, {cert.id}, NOW.date(), [VE40]) == {}  # another unit's list: not its own
    listing = client.get("/rehabstod/sjukfall?personuppgifter=1").get_data(as_text=True)
    row = next(r for r in listing.split("<tr") if shown in r)
    assert "Väntar på svar från FK (1)" in row
    with db.new_session(demo) as s:  # FK answers (as the API stores it)
        s.add(Message(id=f"fk-answer-{q.id}", certificate_id=cert.id, unit_id=cert.unit_id,
                      patient_pnr=cert.patient_pnr, subject=q.subject, sender="FK", heading="Svar", text="Ja.",
                      sent_at=NOW, in_reply_to=q.id))
        s.commit()
        assert qstore.waiting_counts(s, {cert.id}, NOW.date(), [VE10]) == {}
    assert "Väntar på svar från FK" not in client.get("/rehabstod/sjukfall?personuppgifter=1").get_data(as_text=True)
