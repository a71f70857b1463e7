"""Defects an outside review of Rehabstöd found, each with a test that failed before its fix (issue 11):
patient data shown without a PDL record, a write whose "Skriva" record came in a transaction of its own,
the certificate page without a unit or doctor check, the patient token outliving "Byt vårdenhet", a
doctor's gate to the patient view broader than the list's rule, and the patient view logging only the
user's own unit."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conftest import session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Message, PdlRecord, Send
from tests.integration.test_rehab_questions import ADMINISTRATIVE, VE10, login, scope, with_reminder


def csrf(client) -> str:
    html = client.get("/rehabstod/installningar").get_data(as_text=True)  # shows no patient, logs nothing
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def records(app, pnr: str) -> list[tuple[str, str, str]]:
    with db.new_session(app) as s:
        return [(r.activity, r.resource_type, r.data_unit_id)
                for r in s.scalars(select(PdlRecord).where(PdlRecord.patient_pnr == pnr).order_by(PdlRecord.id))]


def test_a_question_page_shown_after_a_refused_post_is_pdl_logged(demo, client):
    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    response = client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": csrf(client), "svar_id": "nope",
                                                                    "svar": "Hej"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert q.patient_pnr[:8] in html  # the page shows the patient…
    assert [r[0] for r in records(demo, q.patient_pnr)] == ["Läsa"]  # …so it is logged


def test_an_answer_and_its_skriva_record_are_one_transaction(demo, client, monkeypatch):
    from portal.repository import pdl as pdl_store

    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    html = client.get(f"/rehabstod/fragor/{q.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    answer_id = re.search(r'name="svar_id" value="([0-9a-f]{32})"', html).group(1)
    real_append = pdl_store.append

    def failing(session, entries, **kw):
        if any(e.activity == "Skriva" for e in entries):
            raise RuntimeError("the audit log cannot be written")
        return real_append(session, entries, **kw)

    monkeypatch.setattr(pdl_store, "append", failing)
    response = client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": token, "svar_id": answer_id,
                                                                    "svar": "Vi ringer på tisdag."})
    assert response.status_code == 500
    with db.new_session(demo) as s:
        assert s.scalars(select(Message).where(Message.in_reply_to == q.id, Message.sender == "CARE")).all() == []
        assert s.scalars(select(Send).where(Send.kind == "ANSWER")).all() == []
        assert s.get(Message, q.id).handled_at is None
    monkeypatch.setattr(pdl_store, "append", real_append)
    ok = client.post(f"/rehabstod/fragor/{q.id}/svar", data={"csrf_token": token, "svar_id": answer_id,
                                                              "svar": "Vi ringer på tisdag."})
    assert ok.status_code == 303
    assert ("Skriva", "Intyg") in {(a, r) for a, r, _ in records(demo, q.patient_pnr)} or (
        ("Skriva", "Läkarutlåtande") in {(a, r) for a, r, _ in records(demo, q.patient_pnr)})


def test_marking_handled_is_not_stored_without_its_skriva_record(demo, client, monkeypatch):
    from portal.repository import pdl as pdl_store

    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    login(client, demo)
    token = csrf(client)
    monkeypatch.setattr(pdl_store, "append", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no log")))
    monkeypatch.setattr(pdl_store, "log", lambda *a, **k: 1)  # the page's own "Läsa" is not what is tested here
    assert client.post(f"/rehabstod/fragor/{q.id}/hanterad", data={"csrf_token": token}).status_code == 500
    with db.new_session(demo) as s:
        assert s.get(Message, q.id).handled_at is None


# --- the certificate page, the patient token and the doctor's gate ----------------------------------------

VE20 = demo_data.hsa("VE20")
L001, L002 = demo_data.hsa("L001"), demo_data.hsa("L002")
NEW_PATIENT = demo_data.make_pnr(demo_data.date(1950, 6, 1), 985)


def token_for(app, client, pnr: str, unit: str) -> str:
    """The patient link the portal would mint for this client's login session on this unit."""
    from types import SimpleNamespace

    from flask import g

    from portal.auth import sessions
    from portal.rehab import patient_token

    with client.session_transaction() as sess:
        sid = sess["_user_id"]
    with app.test_request_context():
        g.auth_row = SimpleNamespace(sid_hash=sessions._hash(sid))
        g._login_user = SimpleNamespace(unit_id=unit, is_authenticated=True)
        return patient_token(pnr)


def add_patient_with_two_doctors(app) -> dict[str, str]:
    """A patient on VE10 whose ongoing case L001 began and L002 decides (the newest certificate), with an
    earlier certificate on VE20 (another unit of the same provider)."""
    from datetime import timedelta

    from conftest import NOW
    from portal.repository import intake
    from tests.api_support import fk7804_content

    today = NOW.date()

    def cert(cid, unit, staff, start, days):
        return {"id": cid, "type": "FK7804", "patient": NEW_PATIENT, "staff": staff, "unit": unit,
                "signed": f"{start.isoformat()}T09:00:00", "content": fk7804_content(start, days)}

    doc = {"persons": [{"personnummer": NEW_PATIENT, "given_name": "Tvåläkar", "family_name": "Patientsson"}],
           "certificates": [cert("defect-ve20", VE20, L001, today - timedelta(days=200), 10),
                            cert("defect-l001", VE10, L001, today - timedelta(days=20), 14),
                            cert("defect-l002", VE10, L002, today - timedelta(days=6), 30)]}
    with db.new_session(app) as s:
        problems, _ = intake.load(s, doc, app.extensions["certificate_types"])
    assert problems == []
    return {"ve20": "defect-ve20", "l001": "defect-l001", "l002": "defect-l002"}


def test_a_coordinator_cannot_open_another_units_certificate(demo, client):
    ids = add_patient_with_two_doctors(demo)
    login(client, demo)
    token = token_for(demo, client, NEW_PATIENT, VE10)
    page = client.get(f"/rehabstod/patient/{token}").get_data(as_text=True)
    assert f"/intyg/{ids['l001']}" in page and f"/intyg/{ids['ve20']}" not in page  # listed, limited, no link
    assert client.get(f"/rehabstod/patient/{token}/intyg/{ids['l001']}").status_code == 200
    other = client.get(f"/rehabstod/patient/{token}/intyg/{ids['ve20']}")
    assert other.status_code == 404
    assert "Lumbago" not in other.get_data(as_text=True)  # the diagnosis of the other unit's certificate


def test_the_patient_view_logs_every_unit_whose_data_it_shows(demo, client):
    add_patient_with_two_doctors(demo)
    login(client, demo)
    client.get(f"/rehabstod/patient/{token_for(demo, client, NEW_PATIENT, VE10)}")
    logged = set(records(demo, NEW_PATIENT))
    assert ("Läsa", "Sjukfall", VE10) in logged
    assert {("Läsa", "Intyg", VE10), ("Läsa", "Intyg", VE20)} <= logged


def test_a_patient_link_stops_working_when_the_user_changes_unit(demo):
    from types import SimpleNamespace

    from flask import g
    from werkzeug.exceptions import NotFound

    from portal.rehab import patient_from_token, patient_token

    with demo.test_request_context():
        g.auth_row = SimpleNamespace(sid_hash="a-login-session")
        g._login_user = SimpleNamespace(unit_id=VE10, is_authenticated=True)
        token = patient_token(NEW_PATIENT)
        assert patient_from_token(token) == NEW_PATIENT
        g._login_user = SimpleNamespace(unit_id=VE20, is_authenticated=True)  # "Byt vårdenhet"
        with pytest.raises(NotFound):
            patient_from_token(token)


def test_a_doctor_opens_only_the_patients_and_certificates_of_their_own_cases(demo, client):
    ids = add_patient_with_two_doctors(demo)
    # L001 signed the first certificate of the case, L002 the deciding one: the case is L002's
    session_login(client, demo, "staff", L001, unit_id=VE10, role="LAKARE", name="Anna Berglund")
    token = token_for(demo, client, NEW_PATIENT, VE10)
    assert client.get(f"/rehabstod/patient/{token}").status_code == 404  # not in L001's list
    assert client.get(f"/rehabstod/patient/{token}/intyg/{ids['l001']}").status_code == 200  # their own
    assert client.get(f"/rehabstod/patient/{token}/intyg/{ids['l002']}").status_code == 404  # another doctor's
    other = demo.test_client()
    session_login(other, demo, "staff", L002, unit_id=VE10, role="LAKARE", name="Erik Lindqvist")
    token2 = token_for(demo, other, NEW_PATIENT, VE10)
    assert other.get(f"/rehabstod/patient/{token2}").status_code == 200  # the deciding doctor's patient
    assert other.get(f"/rehabstod/patient/{token2}/intyg/{ids['l001']}").status_code == 200  # in their case


def test_the_question_list_links_a_doctor_only_to_patients_they_may_open(demo, client):
    from conftest import NOW

    ids = add_patient_with_two_doctors(demo)
    with db.new_session(demo) as s:
        s.add(Message(id="defect-q", certificate_id=ids["l001"], unit_id=VE10, patient_pnr=NEW_PATIENT,
                      subject="KONTKT", sender="FK", heading="Kontakt", text="Ring oss.", sent_at=NOW))
        s.commit()
    session_login(client, demo, "staff", L001, unit_id=VE10, role="LAKARE", name="Anna Berglund")
    html = client.get("/rehabstod/fragor").get_data(as_text=True)
    row = next(r for r in html.split("<tr") if "/rehabstod/fragor/defect-q" in r)  # L001 signed the certificate
    assert "/rehabstod/patient/" not in row
    page = client.get("/rehabstod/fragor/defect-q").get_data(as_text=True)
    assert "/rehabstod/patient/" in page  # the certificate L001 signed can still be read from the question…
    assert not re.search(r'href="/rehabstod/patient/[^"/]+"', page)  # …but there is no link to the patient view


def test_only_questions_of_the_last_90_days_have_a_page(demo, client):
    from datetime import timedelta

    from conftest import NOW

    q = with_reminder(demo, scope(demo), set(ADMINISTRATIVE))
    with db.new_session(demo) as s:
        old = s.get(Message, q.id)
        s.add(Message(id="defect-old-q", certificate_id=old.certificate_id, unit_id=old.unit_id,
                      patient_pnr=old.patient_pnr, subject="KONTKT", sender="FK", heading="Gammal",
                      text="Gammal fråga.",
                      sent_at=NOW - timedelta(days=120), handled_at=NOW - timedelta(days=100), handled_by="x"))
        s.commit()
    login(client, demo)
    assert client.get(f"/rehabstod/fragor/{q.id}").status_code == 200
    assert client.get("/rehabstod/fragor/defect-old-q").status_code == 404
    assert [r for r in records(demo, q.patient_pnr) if r[0] != "Läsa"] == []
