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
from portal.models import AuthSession, Message, PdlRecord, Send
from tests.integration.test_rehab_questions import ADMINISTRATIVE, COORDINATOR, VE10, login, scope, with_reminder


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
