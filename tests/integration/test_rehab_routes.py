"""Every Rehabstöd route, taken from the app's URL map, held to the rules that make Rehabstöd lawful, as a
rehab coordinator and as a doctor (issue 11):

- with the person service down the answer is 503 and shows no personnummer (nothing is written);
- another unit's or another doctor's patient, certificate or question is a 404 and changes nothing;
- every answer that shows patients has written exactly one PDL record per patient shown, with the
  activity and resource domain.md asks for, in the same login session; none when none is shown.

A new route fails `test_every_route_is_covered` until it is given an example here (or a reason in
NO_PATIENT_DATA), so no route can be forgotten."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from sqlalchemy import func, select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Certificate, Message, PdlRecord, Send
from tests.integration.test_rehab_defects import NEW_PATIENT, add_patient_with_two_doctors, token_for

VE10, VE40 = demo_data.hsa("VE10"), demo_data.hsa("VE40")
COORDINATOR, L001, L002 = demo_data.hsa("R001"), demo_data.hsa("L001"), demo_data.hsa("L002")
PNR = re.compile(r"(?<!\d)((?:19|20)\d{6})-?(\d{4})(?!\d)")
OTHER_PATIENT = demo_data.make_pnr(demo_data.date(1951, 7, 2), 986)  # L001's own case: not L002's

# routes that show no patient, with the reason (the other checks do not apply)
NO_PATIENT_DATA = {
    ("rehab.settings", "GET"): "the user's own settings",
    ("rehab.settings", "POST"): "the user's own settings",
    ("rehab.unit_settings", "POST"): "the unit's own settings (its e-mail address for notices; issue 17)",
    ("rehab.search", "GET"): "only redirects to the list (where a unit choice's `next` may lead)",
    ("rehab.clear_search", "GET"): "ends the search and redirects to the list: shows nothing itself",
}


@dataclass
class World:
    """The objects the routes are called with: the user's own and another unit's or doctor's."""

    app: object
    own_question: str
    foreign_question: str  # another unit's (coordinator) or another doctor's (doctor)
    own_certificate: str
    foreign_certificate: str  # another unit's certificate of the own patient
    foreign_patient: str


def _add_question(s, qid: str, cert: Certificate) -> None:
    s.add(Message(id=qid, certificate_id=cert.id, unit_id=cert.unit_id, patient_pnr=cert.patient_pnr,
                  subject="KONTKT", sender="FK", heading="Kontakt", text="Ring oss, tack.", sent_at=NOW))


@pytest.fixture
def world(demo) -> World:
    from portal.repository import intake
    from tests.api_support import fk7804_content

    ids = add_patient_with_two_doctors(demo)
    start = NOW.date() - timedelta(days=4)
    doc = {"persons": [{"personnummer": OTHER_PATIENT, "given_name": "Annan", "family_name": "Läkarsson"}],
           "certificates": [{"id": "routes-l001", "type": "FK7804", "patient": OTHER_PATIENT, "staff": L001,
                             "unit": VE10, "signed": f"{start.isoformat()}T09:00:00",
                             "content": fk7804_content(start, 30)}]}
    with db.new_session(demo) as s:
        assert intake.load(s, doc, demo.extensions["certificate_types"])[0] == []
    with db.new_session(demo) as s:
        _add_question(s, "routes-own", s.get(Certificate, ids["l002"]))
        _add_question(s, "routes-doctor-foreign", s.get(Certificate, "routes-l001"))
        ve40 = s.scalars(select(Certificate).where(Certificate.unit_id == VE40, Certificate.type_code == "FK7804",
                                                   Certificate.revoked_at.is_(None))).first()
        _add_question(s, "routes-unit-foreign", ve40)
        s.commit()
        foreign_patient = ve40.patient_pnr
    return World(demo, "routes-own", "routes-unit-foreign", ids["l002"], ids["ve20"], foreign_patient)


# who logs in: (hsa-id, role); the doctor decides the own patient's case (L002)
USERS = {"coordinator": (COORDINATOR, "REHABKOORDINATOR"), "doctor": (L002, "LAKARE")}


def login(app, who: str):
    hsa_id, role = USERS[who]
    client = app.test_client()
    session_login(client, app, "staff", hsa_id, unit_id=VE10, role=role, name=hsa_id)
    return client


def csrf(client) -> str:
    html = client.get("/rehabstod/installningar").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# (endpoint, method) -> how to call it on the user's own object: (path, form) for a fresh client
Call = Callable[[World, object, str], tuple]  # (path, form or None[, headers])


def _patient(w: World, client, who: str) -> tuple[str, None]:
    return f"/rehabstod/patient/{token_for(w.app, client, NEW_PATIENT, VE10)}", None


def _certificate(w: World, client, who: str) -> tuple[str, None]:
    token = token_for(w.app, client, NEW_PATIENT, VE10)
    return f"/rehabstod/patient/{token}/intyg/{w.own_certificate}", None


def _answer(w: World, client, who: str) -> tuple[str, dict]:
    return f"/rehabstod/fragor/{w.own_question}/svar", {"csrf_token": csrf(client), "svar_id": "a" * 32,
                                                         "svar": "Vi ringer på tisdag."}


def _handled(w: World, client, who: str) -> tuple[str, dict]:
    return f"/rehabstod/fragor/{w.own_question}/hanterad", {"csrf_token": csrf(client)}


def _undo(w: World, client, who: str) -> tuple[str, dict]:
    with db.new_session(w.app) as s:  # a question staff marked handled, to open again
        s.get(Message, w.own_question).handled_at = NOW
        s.get(Message, w.own_question).handled_by = USERS[who][0]
        s.commit()
    return f"/rehabstod/fragor/{w.own_question}/ej-hanterad", {"csrf_token": csrf(client)}


def _ask_url(w: World, client, pnr: str, certificate_id: str) -> str:
    return f"/rehabstod/patient/{token_for(w.app, client, pnr, VE10)}/intyg/{certificate_id}/fraga"


def _ask(w: World, client, who: str) -> tuple[str, dict]:
    """Issue 17: a question to FK about the own certificate (FK wrote about it: it has it)."""
    return _ask_url(w, client, NEW_PATIENT, w.own_certificate), {
        "csrf_token": csrf(client), "fraga_id": "c" * 32, "amne": "KONTKT", "rubrik": "Kontakt", "text": "Ring mig."}


def _forward(w: World, client, who: str) -> tuple[str, dict]:
    """Issue 17: forward the own question to a colleague who may see it (the other user)."""
    other = USERS["doctor" if who == "coordinator" else "coordinator"][0]
    return f"/rehabstod/fragor/{w.own_question}/vidarebefordra", {"csrf_token": csrf(client), "till": other}


def _search(w: World, client, who: str) -> tuple[str, dict, dict]:
    """The ongoing list's search, as htmx sends it: the results block (an empty term: every case)."""
    return "/rehabstod/sjukfall/sok", {"csrf_token": csrf(client), "fritext": ""}, {"HX-Request": "true"}


def _plain(path: str) -> Call:
    return lambda w, client, who: (path, None)


ROUTES: dict[tuple[str, str], Call] = {
    ("rehab.start", "GET"): _plain("/rehabstod/"),
    ("rehab.ongoing", "GET"): _plain("/rehabstod/sjukfall"),
    ("rehab.search", "POST"): _search,
    ("rehab.ongoing_pdf", "GET"): _plain("/rehabstod/sjukfall/export.pdf"),
    ("rehab.ongoing_xlsx", "GET"): _plain("/rehabstod/sjukfall/export.xlsx"),
    ("rehab.lakarutlatanden", "GET"): _plain("/rehabstod/lakarutlatanden"),
    ("rehab.lakarutlatanden_pdf", "GET"): _plain("/rehabstod/lakarutlatanden/export.pdf"),
    ("rehab.lakarutlatanden_xlsx", "GET"): _plain("/rehabstod/lakarutlatanden/export.xlsx"),
    ("rehab.questions", "GET"): _plain("/rehabstod/fragor"),
    ("rehab.question", "GET"): lambda w, client, who: (f"/rehabstod/fragor/{w.own_question}", None),
    ("rehab.answer", "POST"): _answer,
    ("rehab.mark_handled", "POST"): _handled,
    ("rehab.undo_handled", "POST"): _undo,
    ("rehab.patient", "GET"): _patient,
    ("rehab.certificate", "GET"): _certificate,
    ("rehab.ask_question", "GET"): lambda w, client, who: (_ask_url(w, client, NEW_PATIENT, w.own_certificate), None),
    ("rehab.send_question", "POST"): _ask,
    ("rehab.forward", "POST"): _forward,
}

# routes that serve an export made in the background (portal/rehab/exports.py): what is in the file was decided,
# masked and PDL-logged ("Utskrift") by the export request (ROUTES above) in its login session; these ask the
# person service nothing and log nothing more, and are a 404 for every other login session, user and unit
# (test_a_background_exports_page_and_file_show_only_what_its_request_logged)
BUILT_EXPORTS = {("rehab.export_job", "GET"), ("rehab.export_file", "GET")}

# what a shown patient is logged as: activity and the resources that may appear
EXPECTED = {
    "rehab.start": None,  # counts only: no patient, no record
    "rehab.ongoing": ("Läsa", {"Sjukfall"}),
    "rehab.search": ("Läsa", {"Sjukfall"}),
    "rehab.ongoing_pdf": ("Utskrift", {"Sjukfall"}),
    "rehab.ongoing_xlsx": ("Utskrift", {"Sjukfall"}),
    "rehab.lakarutlatanden": ("Läsa", {"Läkarutlåtande"}),
    "rehab.lakarutlatanden_pdf": ("Utskrift", {"Läkarutlåtande"}),
    "rehab.lakarutlatanden_xlsx": ("Utskrift", {"Läkarutlåtande"}),
    "rehab.questions": ("Läsa", {"Intyg", "Läkarutlåtande"}),
    "rehab.question": ("Läsa", {"Intyg", "Läkarutlåtande"}),
    "rehab.answer": ("Skriva", {"Intyg"}),
    "rehab.mark_handled": ("Skriva", {"Intyg"}),
    "rehab.undo_handled": ("Skriva", {"Intyg"}),
    "rehab.patient": ("Läsa", {"Sjukfall", "Intyg"}),
    "rehab.certificate": ("Läsa", {"Intyg"}),
    "rehab.ask_question": ("Läsa", {"Intyg"}),
    "rehab.send_question": ("Skriva", {"Intyg"}),
    "rehab.forward": ("Skriva", {"Intyg"}),
}

# the examples that show at least one patient to both users (so their check is never empty)
MUST_SHOW = {"rehab.ongoing", "rehab.search", "rehab.ongoing_pdf", "rehab.ongoing_xlsx", "rehab.questions",
             "rehab.question", "rehab.answer", "rehab.mark_handled", "rehab.undo_handled", "rehab.patient",
             "rehab.certificate", "rehab.ask_question", "rehab.send_question", "rehab.forward"}

# how to reach another unit's or another doctor's object with a route that takes one
FOREIGN: dict[str, Callable[[World, object, str], list[tuple[str, dict | None]]]] = {
    "rehab.question": lambda w, c, who: [(f"/rehabstod/fragor/{q}", None) for q in _foreign_questions(w, who)],
    "rehab.answer": lambda w, c, who: [(f"/rehabstod/fragor/{q}/svar",
                                        {"csrf_token": csrf(c), "svar_id": "b" * 32, "svar": "Hej"})
                                       for q in _foreign_questions(w, who)],
    "rehab.mark_handled": lambda w, c, who: [(f"/rehabstod/fragor/{q}/hanterad", {"csrf_token": csrf(c)})
                                             for q in _foreign_questions(w, who)],
    "rehab.undo_handled": lambda w, c, who: [(f"/rehabstod/fragor/{q}/ej-hanterad", {"csrf_token": csrf(c)})
                                             for q in _foreign_questions(w, who)],
    "rehab.patient": lambda w, c, who: [(f"/rehabstod/patient/{token_for(w.app, c, p, VE10)}", None)
                                        for p in _foreign_patients(w, who)],
    "rehab.certificate": lambda w, c, who: [
        (f"/rehabstod/patient/{token_for(w.app, c, NEW_PATIENT, VE10)}/intyg/{w.foreign_certificate}", None),
        (f"/rehabstod/patient/{token_for(w.app, c, w.foreign_patient, VE10)}/intyg/{w.own_certificate}", None)],
    "rehab.ask_question": lambda w, c, who: [(_ask_url(w, c, NEW_PATIENT, w.foreign_certificate), None),
                                             (_ask_url(w, c, w.foreign_patient, w.own_certificate), None)],
    "rehab.send_question": lambda w, c, who: [
        (_ask_url(w, c, NEW_PATIENT, w.foreign_certificate), _ask(w, c, who)[1]),
        (_ask_url(w, c, w.foreign_patient, w.own_certificate), _ask(w, c, who)[1])],
    "rehab.forward": lambda w, c, who: [(f"/rehabstod/fragor/{q}/vidarebefordra", _forward(w, c, who)[1])
                                        for q in _foreign_questions(w, who)],
}


def _foreign_questions(w: World, who: str) -> list[str]:
    return [w.foreign_question] + (["routes-doctor-foreign"] if who == "doctor" else [])


def _foreign_patients(w: World, who: str) -> list[str]:
    return [w.foreign_patient] + ([OTHER_PATIENT] if who == "doctor" else [])


def new_records(app, before: int) -> list[PdlRecord]:
    with db.new_session(app) as s:
        return list(s.scalars(select(PdlRecord).where(PdlRecord.id > before).order_by(PdlRecord.id)))


def last_record_id(app) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.coalesce(func.max(PdlRecord.id), 0)))


def shown_patients(response) -> set[str]:
    """The personnummer a response shows (HTML, PDF or Excel), as 12 digits."""
    if response.mimetype == "application/pdf":
        from pypdf import PdfReader

        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    elif "spreadsheet" in response.mimetype:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.data))
        text = "\n".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row if c.value is not None)
    else:
        text = response.get_data(as_text=True)
    return {a + b for a, b in PNR.findall(text)}


def reset(app) -> None:
    """The own question open again, with no answer (each route is called on the same world)."""
    from sqlalchemy import delete, update

    with db.new_session(app) as s:
        answers = list(s.scalars(select(Message.id).where(Message.in_reply_to.like("routes-%"))))
        s.execute(delete(Send).where(Send.payload_ref.in_(answers)))
        s.execute(delete(Message).where(Message.id.in_(answers)))
        s.execute(update(Message).where(Message.id.like("routes-%")).values(handled_at=None, handled_by=None))
        s.commit()


def state(app) -> tuple:
    """What the routes could change: FK questions' handling, answers, outbox rows."""
    with db.new_session(app) as s:
        return (sorted((m.id, m.handled_at, m.handled_by) for m in s.scalars(select(Message).where(
                    Message.id.like("routes-%")))),
                s.scalar(select(func.count()).select_from(Message).where(Message.sender == "CARE")),
                s.scalar(select(func.count()).select_from(Send)))


#: POSTs that show a list (the search keeps personal data out of URLs) rather than write.
READS_BY_POST = {"rehab.search"}


def test_every_route_is_covered(app):
    found = {(r.endpoint, m) for r in app.url_map.iter_rules() if r.endpoint.startswith("rehab.")
             for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    missing = found - set(ROUTES) - set(NO_PATIENT_DATA) - BUILT_EXPORTS
    assert not missing, f"Rehabstöd routes without an example in tests/integration/test_rehab_routes.py: {missing}"
    assert {e for e, _ in ROUTES} <= set(EXPECTED)


@pytest.mark.parametrize("who", ["coordinator", "doctor"])
def test_with_the_person_service_down_every_route_is_a_503_that_shows_no_patient(world, who):
    app = world.app
    for (endpoint, method), call in ROUTES.items():
        reset(app)
        client = login(app, who)
        path, form, *headers = call(world, client, who)
        before, changed = last_record_id(app), state(app)
        app.extensions["person_service"].mode = "fail"
        try:
            response = client.open(path, method=method, data=form, headers=(headers or [{}])[0])
        finally:
            app.extensions["person_service"].mode = "ok"
        assert response.status_code == 503, (who, endpoint, response.status_code)
        assert not shown_patients(response), (who, endpoint)
        assert new_records(app, before) == [], (who, endpoint)
        assert state(app) == changed, (who, endpoint)


@pytest.mark.parametrize("who", ["coordinator", "doctor"])
def test_another_units_or_doctors_objects_are_404_and_nothing_changes(world, who):
    app = world.app
    for endpoint, calls in FOREIGN.items():
        method = next(m for e, m in ROUTES if e == endpoint)
        client = login(app, who)
        for path, form in calls(world, client, who):
            before, changed = last_record_id(app), state(app)
            response = client.open(path, method=method, data=form)
            assert response.status_code == 404, (who, endpoint, path, response.status_code)
            assert not shown_patients(response) and new_records(app, before) == [], (who, endpoint, path)
            assert state(app) == changed, (who, endpoint, path)


@pytest.mark.parametrize("who", ["coordinator", "doctor"])
def test_every_answer_logs_exactly_the_patients_it_shows(world, who):
    app = world.app
    for (endpoint, method), call in ROUTES.items():
        reset(app)
        client = login(app, who)  # a fresh login session: nothing logged yet
        path, form, *headers = call(world, client, who)
        before = last_record_id(app)
        response = client.open(path, method=method, data=form, headers=(headers or [{}])[0])
        assert response.status_code in (200, 303), (who, endpoint, response.status_code)
        records = new_records(app, before)
        expected = EXPECTED[endpoint]
        if expected is None:
            assert records == [] and not shown_patients(response), (who, endpoint)
            continue
        activity, resources = expected
        if endpoint in MUST_SHOW:
            assert records, (who, endpoint)  # the example shows a patient: the check is not empty
        assert {r.activity for r in records} <= {activity}, (who, endpoint)
        assert {r.resource_type for r in records} <= resources, (who, endpoint)
        assert all(r.user_hsa_id == USERS[who][0] and r.user_unit_id == VE10 for r in records)
        assert len({r.session_key for r in records}) <= 1
        if endpoint in READS_BY_POST:
            assert {r.patient_pnr for r in records} == shown_patients(response), (who, endpoint)
        elif method == "POST":  # a write shows no page: its own patient, once
            assert response.status_code == 303 and {r.patient_pnr for r in records} == {NEW_PATIENT}, (who, endpoint)
        else:
            assert {r.patient_pnr for r in records} == shown_patients(response), (who, endpoint)
        keys = [(r.patient_pnr, r.resource_type, r.data_unit_id) for r in records]
        assert len(keys) == len(set(keys)), (who, endpoint)  # each once


@pytest.mark.parametrize("who", ["coordinator", "doctor"])
def test_a_background_exports_page_and_file_show_only_what_its_request_logged(world, who):
    from portal.rehab.exports import build_due

    app = world.app
    app.config.update(EXPORT_INLINE_ROWS=0, EXPORT_INLINE_ROWS_XLSX=0)  # every export with a row: background
    for endpoint in ("rehab.ongoing_pdf", "rehab.ongoing_xlsx", "rehab.lakarutlatanden_pdf",
                     "rehab.lakarutlatanden_xlsx"):
        client = login(app, who)
        path, _form = ROUTES[(endpoint, "GET")](world, client, who)
        before = last_record_id(app)
        asked = client.get(path)
        assert asked.status_code == 303, (who, endpoint, asked.status_code)
        job = asked.headers["Location"]
        logged = new_records(app, before)
        activity, resources = EXPECTED[endpoint]
        assert logged or endpoint not in MUST_SHOW, (who, endpoint)
        assert {r.activity for r in logged} <= {activity} and {r.resource_type for r in logged} <= resources
        assert build_due(app) == "done"
        after, changed = last_record_id(app), state(app)
        app.extensions["person_service"].mode = "fail"  # nothing is asked any more: the file was decided
        try:
            page, file = client.get(job), client.get(job + "/fil")
        finally:
            app.extensions["person_service"].mode = "ok"
        assert page.status_code == 200 and not shown_patients(page), (who, endpoint)
        assert file.status_code == 200 and "attachment" in file.headers["Content-Disposition"], (who, endpoint)
        assert shown_patients(file) == {r.patient_pnr for r in logged}, (who, endpoint)
        assert new_records(app, after) == [] and state(app) == changed, (who, endpoint)
        for other in (login(app, who), login(app, "doctor" if who == "coordinator" else "coordinator")):
            for url in (job, job + "/fil"):
                response = other.get(url)
                assert response.status_code == 404 and not shown_patients(response), (who, endpoint, url)
        assert new_records(app, after) == [] and state(app) == changed, (who, endpoint)
