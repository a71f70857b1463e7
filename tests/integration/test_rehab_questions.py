"""FK's questions in Rehabstöd through the Flask test client, on SQLite and PostgreSQL: the unit's open
questions and the subject filter, the question page, answering (one answer and one outbox row however
often it is submitted, delivered to FK once), marking handled and undoing it, a komplettering handled
by a complementing certificate from the intake, and the same protected-identity, person-service, unit
and PDL rules as the ongoing list."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from conftest import NOW, LiveServer, free_port, session_login
from portal import db, recipient_sim
from portal.domain import demo as demo_data
from portal.models import Certificate, Message, PdlRecord, Person, Send, SimDelivery
from portal.repository import intake
from portal.repository import rehab as rehab_store

COORDINATOR = demo_data.hsa("R001")  # rehab coordinator on VE10
VE10, VE40 = demo_data.hsa("VE10"), demo_data.hsa("VE40")
PNR_RE = re.compile(r"(19|20)\d{6}-?\d{4}")
QUESTION_LINK = re.compile(r'href="/rehabstod/fragor/([^"/?]+)"')
ADMINISTRATIVE = ("AVSTMN", "KONTKT", "OVRIGT")


def login(client, app, hsa_id=COORDINATOR, unit=VE10, role="REHABKOORDINATOR"):
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=hsa_id)


def scope(app, unit=VE10) -> list[str]:
    with db.new_session(app) as s:
        return rehab_store.unit_scope(s, unit)


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def open_questions_in_db(app, units, *, subjects=None, protected=False) -> list[Message]:
    """FK's open questions (the rule of domain.md, computed here independently) on these units whose
    patient a coordinator may see (or, protected=True, whose patient is protected)."""
    since = NOW - timedelta(days=90)
    with db.new_session(app) as s:
        answered = select(Message.in_reply_to).where(Message.sender == "CARE", Message.in_reply_to.is_not(None))
        rows = s.scalars(
            select(Message).join(Certificate, Certificate.id == Message.certificate_id)
            .join(Person, Person.personnummer == Message.patient_pnr)
            .where(Message.unit_id.in_(units), Message.sender == "FK", Message.subject != "PAMINN",
                   Message.handled_at.is_(None), Message.sent_at >= since, Message.id.not_in(answered),
                   Certificate.revoked_at.is_(None), Person.protected.is_(protected), Person.deceased.is_(False),
                   Person.validation_person.is_(False))
            .order_by(Message.id)).all()
    return [m for m in rows if subjects is None or m.subject in subjects]


def add_question(app, cert_id: str, subject: str = "KONTKT", qid: str = "test-q-1", sent=None) -> str:
    with db.new_session(app) as s:
        cert = s.get(Certificate, cert_id)
        s.add(Message(id=qid, certificate_id=cert.id, unit_id=cert.unit_id, patient_pnr=cert.patient_pnr,
                      subject=subject, sender="FK", heading="Kontakt", text="Ring oss gärna.",
                      sent_at=sent or NOW - timedelta(days=2)))
        s.commit()
    return qid


def message(app, mid: str) -> Message | None:
    with db.new_session(app) as s:
        return s.get(Message, mid)


def answers_to(app, qid: str) -> list[Message]:
    with db.new_session(app) as s:
        return list(s.scalars(select(Message).where(Message.in_reply_to == qid, Message.sender == "CARE")))


def answer_sends(app) -> list[Send]:
    with db.new_session(app) as s:
        return list(s.scalars(select(Send).where(Send.kind == "ANSWER")))


def pdl_records(app) -> list[PdlRecord]:
    with db.new_session(app) as s:
        return list(s.scalars(select(PdlRecord)))


def with_reminder(app, units, subjects) -> Message:
    """An open question (of these subjects) that has a reminder; one is made if the demo has none."""
    found = open_questions_in_db(app, units, subjects=subjects)
    assert found, "the demo data has open questions of these subjects"
    with db.new_session(app) as s:
        for q in found:
            if s.scalar(select(Message.id).where(Message.reminder_of == q.id)):
                return q
        q = found[0]
        s.add(Message(id=f"{q.id}-p", certificate_id=q.certificate_id, unit_id=q.unit_id, patient_pnr=q.patient_pnr,
                      subject="PAMINN", sender="FK", heading="Påminnelse", text="Påminnelse om vår fråga.",
                      sent_at=q.sent_at + timedelta(days=1), reminder_of=q.id))
        s.commit()
    return q


# --- the list ----------------------------------------------------------------------------------------

def test_the_list_shows_exactly_the_units_open_questions_a_coordinator_may_see(demo, client):
    login(client, demo)
    response = client.get("/rehabstod/fragor")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    expected = {m.id for m in open_questions_in_db(demo, scope(demo))}
    assert expected, "the demo data has open questions on VE10"
    assert set(QUESTION_LINK.findall(html)) == expected
    assert f"Visar {len(expected)} av {len(expected)} frågor" in html
    # never a protected patient's question, name or personnummer
    for q in open_questions_in_db(demo, scope(demo), protected=True):
        assert q.id not in html and q.patient_pnr not in html.replace("-", "")


def test_the_subject_filter_is_a_get_parameter_and_htmx_gets_the_results_only(demo, client):
    login(client, demo)
    komplt = {m.id for m in open_questions_in_db(demo, scope(demo), subjects={"KOMPLT"})}
    html = client.get("/rehabstod/fragor?amne=KOMPLT").get_data(as_text=True)
    assert set(QUESTION_LINK.findall(html)) == komplt
    assert 'id="amne-KOMPLT"' in html and re.search(r'id="amne-KOMPLT"[^>]*checked', html)
    admin = {m.id for m in open_questions_in_db(demo, scope(demo), subjects=set(ADMINISTRATIVE))}
    html = client.get("/rehabstod/fragor?amne=AVSTMN&amne=KONTKT&amne=OVRIGT").get_data(as_text=True)
    assert set(QUESTION_LINK.findall(html)) == admin
    fragment = client.get("/rehabstod/fragor?amne=KOMPLT", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.strip().startswith('<div id="results"')
    assert f'data-app-announce="Visar {len(komplt)} av ' in body
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_an_unknown_subject_is_a_400_with_an_error_summary(demo, client):
    login(client, demo)
    response = client.get("/rehabstod/fragor?amne=NOPE")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Det finns ett problem" in html and 'href="#amne-KOMPLT"' in html and "Välj bland ämnena" in html


def test_the_ongoing_lists_counts_agree_with_the_question_list(demo, client):
    """Komplettering (n) / Administrativ fråga (n) on the ongoing list count the same open questions."""
    login(client, demo)
    ongoing = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    listed_komplt = sum(int(n) for n in re.findall(r"Komplettering \((\d+)\)", ongoing.split("<tbody>")[1]))
    listed_admin = sum(int(n) for n in re.findall(r"Administrativ fråga \((\d+)\)", ongoing.split("<tbody>")[1]))
    questions = client.get("/rehabstod/fragor").get_data(as_text=True)
    n_komplt = int(re.search(r'Komplettering \((\d+)\)</label>', questions).group(1))
    assert listed_komplt <= n_komplt  # the list counts ongoing cases only; the question page the whole unit
    assert listed_komplt + listed_admin >= 1


# --- who sees what -----------------------------------------------------------------------------------

def _protected_certificate(app, units):
    with db.new_session(app) as s:
        return s.scalar(select(Certificate.id).join(Person, Person.personnummer == Certificate.patient_pnr)
                        .where(Certificate.unit_id.in_(units), Person.protected.is_(True), Person.deceased.is_(False),
                               Certificate.revoked_at.is_(None), Certificate.type_code == "FK7804")
                        .order_by(Certificate.id).limit(1))


def test_a_coordinator_never_sees_a_protected_patients_question(demo, client):
    cert_id = _protected_certificate(demo, scope(demo))
    if cert_id is None:
        pytest.skip("no protected patient's certificate on VE10")
    qid = add_question(demo, cert_id)
    person = message(demo, qid).patient_pnr
    with db.new_session(demo) as s:
        p = s.get(Person, person)
        name = f"{p.given_name} {p.family_name}"
    login(client, demo)
    html = client.get("/rehabstod/fragor").get_data(as_text=True)
    assert qid not in html and person not in html.replace("-", "") and name not in html
    page = client.get(f"/rehabstod/fragor/{qid}")
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert person not in body.replace("-", "") and name not in body
    token = csrf(client, "/rehabstod/fragor")
    assert client.post(f"/rehabstod/fragor/{qid}/hanterad", data={"csrf_token": token}).status_code == 404
    assert message(demo, qid).handled_at is None
    assert not [r for r in pdl_records(demo) if r.patient_pnr == person]


def test_a_doctor_sees_their_protected_patients_question_masked_and_another_doctor_gets_404(demo, client, app):
    from tests.integration.test_rehab import _doctor_with_protected_case

    doctor, unit, patient = _doctor_with_protected_case(demo)
    with db.new_session(demo) as s:
        cert_id = s.scalar(select(Certificate.id).where(Certificate.patient_pnr == patient.personnummer,
                                                        Certificate.staff_id == doctor,
                                                        Certificate.type_code == "FK7804",
                                                        Certificate.revoked_at.is_(None))
                           .order_by(Certificate.signed_at.desc()).limit(1))
        other = s.scalar(select(Certificate.staff_id).where(Certificate.unit_id == unit, Certificate.staff_id != doctor,
                                                            Certificate.patient_pnr != patient.personnummer).limit(1))
    qid = add_question(demo, cert_id)
    login(client, demo, doctor, unit, "LAKARE")
    listed = client.get("/rehabstod/fragor").get_data(as_text=True)
    assert qid in listed and "Sekretessmarkerad uppgift" in listed
    page = client.get(f"/rehabstod/fragor/{qid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Sekretessmarkerad uppgift" in html
    assert f"{patient.given_name} {patient.family_name}" not in html and patient.family_name not in listed
    # every question a doctor is shown is on a certificate they signed or of their own case
    with db.new_session(demo) as s:
        for q in set(QUESTION_LINK.findall(listed)):
            assert s.get(Message, q) is not None
    other_client = app.test_client()
    login(other_client, demo, other, unit, "LAKARE")
    assert other_client.get(f"/rehabstod/fragor/{qid}").status_code == 404
    assert qid not in other_client.get("/rehabstod/fragor").get_data(as_text=True)


def test_person_service_down_is_a_503_with_nothing_about_patients(demo, client):
    login(client, demo)
    qid = open_questions_in_db(demo, scope(demo))[0].id
    demo.extensions["person_service"].mode = "fail"
    try:
        for path in ("/rehabstod/fragor", f"/rehabstod/fragor/{qid}"):
            response = client.get(path)
            html = response.get_data(as_text=True)
            assert response.status_code == 503
            assert "Frågor från Försäkringskassan kunde inte hämtas" in html
            main = html.split("<main")[1].split("</main>")[0]
            assert not PNR_RE.search(html) and qid not in main and "Visar" not in main
        assert client.post(f"/rehabstod/fragor/{qid}/hanterad", data={"csrf_token": "x"}).status_code in (400, 503)
    finally:
        demo.extensions["person_service"].mode = "ok"
    assert pdl_records(demo) == []
    assert message(demo, qid).handled_at is None


def test_another_units_question_is_a_404_and_nothing_changes(demo, client):
    other = open_questions_in_db(demo, scope(demo, VE40), subjects=set(ADMINISTRATIVE))
    assert other and not set(scope(demo, VE40)) & set(scope(demo))
    qid = other[0].id
    login(client, demo)
    token = csrf(client, "/rehabstod/fragor")
    assert client.get(f"/rehabstod/fragor/{qid}").status_code == 404
    assert client.post(f"/rehabstod/fragor/{qid}/svar", data={"csrf_token": token, "svar": "Hej",
                                                             "svar_id": "a" * 32}).status_code == 404
    assert client.post(f"/rehabstod/fragor/{qid}/hanterad", data={"csrf_token": token}).status_code == 404
    assert client.get("/rehabstod/fragor/no-such-question").status_code == 404
    assert message(demo, qid).handled_at is None and answers_to(demo, qid) == [] and answer_sends(demo) == []


def test_the_question_page_shows_the_certificate_question_reminders_and_writes_pdl(demo, client):
    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    response = client.get(f"/rehabstod/fragor/{q.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert q.text in html and "Påminnelser" in html and "Obesvarad" in html
    assert re.search(r'href="/rehabstod/patient/[^"]+/intyg/' + re.escape(q.certificate_id) + '"', html)
    assert 'name="svar"' in html and "Markera som hanterad" in html
    records = [(r.activity, r.resource_type, r.patient_pnr) for r in pdl_records(demo)]
    assert ("Läsa", "Intyg", q.patient_pnr) in records or ("Läsa", "Läkarutlåtande", q.patient_pnr) in records
    client.get(f"/rehabstod/fragor/{q.id}")
    assert len([r for r in pdl_records(demo) if r.patient_pnr == q.patient_pnr]) == len(
        [r for r in records if r[2] == q.patient_pnr])  # once per session


# --- answering ---------------------------------------------------------------------------------------

def test_answering_stores_one_answer_and_one_send_however_often_it_is_submitted(demo, client):
    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    html = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    answer_id = re.search(r'name="svar_id" value="([0-9a-f]{32})"', html).group(1)
    form = {"csrf_token": token, "svar_id": answer_id, "svar": "  Vi ringer upp er på tisdag.\r\nMvh  "}
    first = client.post(f"/rehabstod/fragor/{q.id}/svar", data=form)
    assert first.status_code == 303 and first.headers["Location"].endswith(f"/rehabstod/fragor/{q.id}")
    second = client.post(f"/rehabstod/fragor/{q.id}/svar", data=form)  # a double submit
    assert second.status_code == 303
    answers = answers_to(demo, q.id)
    assert len(answers) == 1
    a = answers[0]
    assert a.text == "Vi ringer upp er på tisdag.\nMvh" and a.certificate_id == q.certificate_id
    assert a.unit_id == q.unit_id and a.patient_pnr == q.patient_pnr and a.sent_at == NOW
    sends = answer_sends(demo)
    assert [(s.payload_ref, s.recipient, s.state, s.certificate_id) for s in sends] == [
        (a.id, "FK", "PENDING", q.certificate_id)]
    assert sends[0].idempotency_key == f"answer-{a.id}"
    with db.new_session(demo) as s:
        assert s.get(Message, q.id).handled_at == NOW
        assert all(r.handled_at == NOW for r in s.scalars(select(Message).where(Message.reminder_of == q.id)))
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Svaret är sparat och skickas till Försäkringskassan" in page
    assert "Besvarad" in page and "Vi ringer upp er på tisdag." in page and "Skickas till Försäkringskassan" in page
    assert 'name="svar"' not in page  # no second answer form
    # a new form (another svar_id) is refused too: one answer per question
    again = client.post(f"/rehabstod/fragor/{q.id}/svar", data=dict(form, svar_id="b" * 32))
    assert again.status_code == 409 and "redan" in again.get_data(as_text=True)
    assert len(answers_to(demo, q.id)) == 1 and len(answer_sends(demo)) == 1
    assert q.id not in client.get("/rehabstod/fragor").get_data(as_text=True)
    assert ("Skriva", "Intyg") in {(r.activity, r.resource_type) for r in pdl_records(demo)} or (
        "Skriva", "Läkarutlåtande") in {(r.activity, r.resource_type) for r in pdl_records(demo)}


@pytest.mark.parametrize("text, answer_id, message", [
    ("   ", "c" * 32, "Skriv ett svar till Försäkringskassan"),
    ("x" * 2001, "c" * 32, "högst 2000 tecken"),
    ("Hej", "not-an-id", "Formuläret gick inte att använda"),
])
def test_bad_answers_are_a_400_with_an_error_and_nothing_is_stored(demo, client, text, answer_id, message):
    q = open_questions_in_db(demo, scope(demo), subjects=set(ADMINISTRATIVE))[0]
    login(client, demo)
    token = csrf(client, f"/rehabstod/fragor/{q.id}")
    response = client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": token, "svar_id": answer_id,
                                                                   "svar": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Det finns ett problem" in html and 'href="#svar"' in html and message in html
    assert 'aria-describedby="svar-hint svar-error"' in html
    if text.strip() and len(text) <= 2000:
        assert f">{text}</textarea>" in html  # what was typed is kept
    assert answers_to(demo, q.id) == [] and answer_sends(demo) == [] and message_handled(demo, q.id) is None


def message_handled(app, qid):
    return message(app, qid).handled_at


def test_a_post_without_the_csrf_token_is_refused(demo, client):
    q = open_questions_in_db(demo, scope(demo), subjects=set(ADMINISTRATIVE))[0]
    login(client, demo)
    response = client.post(f"/rehabstod/fragor/{q.id}/hanterad", data={})
    assert response.status_code == 400
    assert message_handled(demo, q.id) is None


def test_a_komplettering_cannot_be_answered_with_text_or_marked_handled(demo, client):
    q = open_questions_in_db(demo, scope(demo), subjects={"KOMPLT"})[0]
    login(client, demo)
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Komplettering kräver ett nytt intyg" in page and 'name="svar"' not in page
    assert "markeras frågan som hanterad automatiskt" in page
    token = csrf(client, f"/rehabstod/fragor/{q.id}")
    answer = client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": token, "svar_id": "d" * 32,
                                                                 "svar": "Vi skickar mer"})
    assert answer.status_code == 409 and "nytt intyg som kompletterar" in answer.get_data(as_text=True)
    assert client.post(f"/rehabstod/fragor/{q.id}/hanterad", data={"csrf_token": token}).status_code == 409
    assert answers_to(demo, q.id) == [] and answer_sends(demo) == [] and message_handled(demo, q.id) is None


def test_mark_handled_and_undo_with_the_reminders(demo, client):
    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    token = csrf(client, f"/rehabstod/fragor/{q.id}")
    done = client.post(f"/rehabstod/fragor/{q.id}/hanterad", data={"csrf_token": token})
    assert done.status_code == 303
    with db.new_session(demo) as s:
        assert (s.get(Message, q.id).handled_at, s.get(Message, q.id).handled_by) == (NOW, COORDINATOR)
        reminders = list(s.scalars(select(Message).where(Message.reminder_of == q.id)))
        assert reminders and all(r.handled_at == NOW and r.handled_by == COORDINATOR for r in reminders)
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Frågan är markerad som hanterad." in page and "Markera som ej hanterad" in page
    assert q.id not in client.get("/rehabstod/fragor").get_data(as_text=True)
    # marking again changes nothing
    assert client.post(f"/rehabstod/fragor/{q.id}/hanterad", data={"csrf_token": token}).status_code == 303
    undo = client.post(f"/rehabstod/fragor/{q.id}/ej-hanterad", data={"csrf_token": token})
    assert undo.status_code == 303
    with db.new_session(demo) as s:
        assert s.get(Message, q.id).handled_at is None
        assert all(r.handled_at is None for r in s.scalars(select(Message).where(Message.reminder_of == q.id)))
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Frågan är markerad som ej hanterad igen." in page and 'name="svar"' in page
    assert q.id in client.get("/rehabstod/fragor").get_data(as_text=True)
    assert answer_sends(demo) == []


def test_a_complementing_certificate_from_the_intake_handles_the_komplettering(demo, client):
    q = with_reminder(demo, scope(demo), {"KOMPLT"})
    with db.new_session(demo) as s:
        old = s.get(Certificate, q.certificate_id)
        new_id = f"{old.id}-k"
        signed = NOW - timedelta(hours=1)
        doc = {"certificates": [{"id": new_id, "type": old.type_code, "version": old.type_version,
                                 "patient": old.patient_pnr, "staff": old.staff_id, "unit": old.unit_id,
                                 "signed": signed.isoformat(), "content": old.content}],
               "relations": [{"from": new_id, "to": old.id, "kind": "COMPLEMENTS"}]}
    registry = demo.extensions["certificate_types"]
    with db.new_session(demo) as s:
        problems, _ = intake.load(s, doc, registry)
        assert problems == []
    with db.new_session(demo) as s:
        handled = s.get(Message, q.id)
        assert (handled.handled_at, handled.handled_by) == (signed, "KOMPLETTERING")
        reminders = s.scalars(select(Message).where(Message.reminder_of == q.id))
        assert all(r.handled_by == "KOMPLETTERING" for r in reminders)
    login(client, demo)
    assert q.id not in client.get("/rehabstod/fragor").get_data(as_text=True)
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Hanterad: kompletterad med ett nytt intyg" in page and "Kompletterad" in page
    assert re.search(r'href="/rehabstod/patient/[^"]+/intyg/' + re.escape(new_id) + '"', page)
    assert "Markera som ej hanterad" not in page
    token = csrf(client, f"/rehabstod/fragor/{q.id}")
    assert client.post(f"/rehabstod/fragor/{q.id}/ej-hanterad", data={"csrf_token": token}).status_code == 409
    assert message(demo, q.id).handled_by == "KOMPLETTERING"


# --- delivery to FK ----------------------------------------------------------------------------------

@pytest.fixture
def served(demo):
    """The demo app with the recipient simulator served on a free port (the worker posts over HTTP)."""
    app = demo
    port = free_port()
    app.config.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", RECIPIENT_TIMEOUT=2, OUTBOX_LEASE_SECONDS=60)
    app.config.pop("RECIPIENT_ENDPOINTS", None)
    if "recipient_sim" not in app.blueprints:
        recipient_sim.init_app(app)
    app.extensions["recipient_sim"].reset()
    with LiveServer(app, port):
        yield app


def test_an_answer_reaches_fk_once_even_when_posted_again(served):
    from portal.worker import deliver_due

    app = served
    client = app.test_client()
    q = open_questions_in_db(app, scope(app), subjects=set(ADMINISTRATIVE))[0]
    login(client, app)
    token = csrf(client, f"/rehabstod/fragor/{q.id}")
    client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": token, "svar_id": "e" * 32, "svar": "Välkomna."})
    assert deliver_due(app)["delivered"] == 1
    (send,) = answer_sends(app)
    assert send.state == "DELIVERED" and send.delivered_at == NOW
    # the worker died after posting but before recording: the send is posted again with the same key
    with db.new_session(app) as s:
        s.execute(update(Send).where(Send.id == send.id).values(state="PENDING", next_attempt_at=NOW,
                                                                delivered_at=None))
        s.commit()
    assert deliver_due(app)["delivered"] == 1
    with db.new_session(app) as s:
        got = list(s.scalars(select(SimDelivery).where(SimDelivery.recipient == "FK")))
    assert len(got) == 1
    payload = got[0].payload
    assert got[0].idempotency_key == f"answer-svar-{'e' * 32}"
    assert payload["kind"] == "ANSWER" and payload["message_id"] == f"svar-{'e' * 32}"
    assert payload["in_reply_to"] == q.id and payload["certificate_id"] == q.certificate_id
    assert payload["text"] == "Välkomna." and payload["subject"] == q.subject
    assert payload["sent_at"] == NOW.isoformat()
    page = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    assert "Skickat till Försäkringskassan" in page
    sim_page = client.get("/simulator/FK").get_data(as_text=True)
    assert "Svar på fråga" in sim_page and not PNR_RE.search(sim_page.split("<main")[1])



# --- the patient view --------------------------------------------------------------------------------

def _patient_link(client, qid: str) -> str:
    page = client.get(f"/rehabstod/fragor/{qid}").get_data(as_text=True)
    return re.search(r'href="(/rehabstod/patient/[^"/]+)"', page).group(1)


def test_the_patient_view_counts_open_questions_per_case_and_links_them(demo, client):
    login(client, demo)
    ongoing = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    row = next(r for r in ongoing.split("<tbody>")[1].split("<tr>")
               if re.search(r"Komplettering \(\d+\)|Administrativ fråga \(\d+\)", r))
    link = re.search(r'href="(/rehabstod/patient/[^"]+)"', row).group(1)
    page = client.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    case_html = html.split('id="cases-title"')[1].split("</section>")[0]
    first_case = case_html.split('class="app-case"')[1]
    for label in ("Komplettering", "Administrativ fråga"):
        listed = re.search(label + r" \((\d+)\)", row)
        shown = re.search(label + r" \((\d+)\)", first_case)
        assert (listed and listed.group(1)) == (shown and shown.group(1)), label
    linked = set(QUESTION_LINK.findall(html.split('id="questions-title"')[1].split("</section>")[0]))
    assert linked and all(client.get(f"/rehabstod/fragor/{q}").status_code == 200 for q in linked)


def test_the_patient_views_lakarutlatanden_are_in_a_tab_of_their_own(demo, client):
    registry = demo.extensions["certificate_types"]
    statements = {c for c in registry.codes() if registry[c].rehab == "lakarutlatande"}
    q = next(m for m in open_questions_in_db(demo, scope(demo)) if message_type(demo, m) in statements)
    login(client, demo)
    link = _patient_link(client, q.id)
    main = client.get(link).get_data(as_text=True)
    assert 'aria-current="page">Sjukfall och intyg' in main
    assert f'/intyg/{q.certificate_id}"' not in main  # not among the certificates
    tab = client.get(f"{link}?flik=lakarutlatanden")
    html = tab.get_data(as_text=True)
    assert tab.status_code == 200 and "Läkarutlåtanden hos vårdgivaren" in html
    assert re.search(r'aria-current="page">Läkarutlåtanden \(\d+\)', html)
    assert f'/intyg/{q.certificate_id}"' in html and "Sjukfall hos vårdgivaren" not in html
    assert ("Läsa", "Läkarutlåtande", q.patient_pnr) in {(r.activity, r.resource_type, r.patient_pnr)
                                                          for r in pdl_records(demo)}


def message_type(app, m: Message) -> str:
    with db.new_session(app) as s:
        return s.get(Certificate, m.certificate_id).type_code


def test_two_staff_answering_at_once_give_one_answer_and_one_send(demo):
    """Racing writes (two sessions, two threads): the conditional update lets exactly one answer in."""
    import threading

    from portal.domain import questions as rules
    from portal.repository import questions as qstore

    q = open_questions_in_db(demo, scope(demo), subjects=set(ADMINISTRATIVE))[0]
    with db.new_session(demo) as s:
        question, _ = qstore.one(s, q.id)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def answer(n: int) -> None:
        with db.new_session(demo) as s:
            s.execute(select(Message.id).where(Message.id == q.id)).all()  # both have read before writing
            start.wait()
            outcomes.append(qstore.answer(s, question=question, answer_id=f"svar-race-{n}", text=f"Svar {n}",
                                          staff_id=COORDINATOR, now=NOW))

    threads = [threading.Thread(target=answer, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == [qstore.ANSWERED, qstore.NOT_OPEN]
    assert len(answers_to(demo, q.id)) == 1 and len(answer_sends(demo)) == 1
    assert rules.idempotency_key(answers_to(demo, q.id)[0].id) == answer_sends(demo)[0].idempotency_key
