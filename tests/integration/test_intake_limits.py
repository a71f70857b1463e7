"""What intake refuses because no database could hold it, or because it would cross from one certificate's
conversation into another's (issue 12), through both ways in: `portal load` and the API (`/api/v1`), on
SQLite and PostgreSQL. Each is one problem line in the usual format (with its JSON pointer for the API),
and nothing of the document is stored:

- numbers that are not finite (JSON `NaN`, `Infinity`, or a number too large such as 1e999);
- text holding a NUL character or half a surrogate pair (PostgreSQL refuses the first, no encoder the
  second), in a value or in a field's name;
- documents nested deeper than intake's limit;
- a reply or reminder (`in_reply_to`, `reminder_of`) naming another certificate's question, or itself;
- text longer than its database column: every column intake writes, its length read from the models.
"""
from __future__ import annotations

import copy
import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import NOW
from portal import db
from portal.cli import main
from portal.domain import demo as demo_data
from portal.domain.intake import MAX_DEPTH
from portal.models import (
    CareProvider,
    CareUnit,
    Certificate,
    CertificateRelation,
    Commission,
    Message,
    Person,
    Staff,
)
from tests.api_support import bearer, registration, token

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs" / "example-load.json").read_text(encoding="utf-8"))
MODELS = [CareProvider, CareUnit, Staff, Commission, Person, Certificate, CertificateRelation, Message]
SIGNED = NOW - timedelta(days=2)


def stored(app) -> dict[str, int]:
    with db.new_session(app) as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in MODELS}


def load_file(app, tmp_path, text: str):
    """`portal load` of a file holding exactly this text (so NaN and Infinity can be written)."""
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    return app.test_cli_runner().invoke(main, ["load", str(path)], catch_exceptions=False)


def problem_lines(result) -> list[str]:
    return [line.strip() for line in result.output.splitlines()[1:] if line.strip()]


def example_with_vision_certificate() -> dict:
    """The example document and a TSTRK1007 (with decimal answers: visual acuity) for its patient."""
    from portal.domain import certificate_types as ct

    doc = copy.deepcopy(EXAMPLE)
    ctx = demo_data.Context(signed=date(2026, 10, 1), diagnoses=[{"code": "H52.1", "text": "Myopi"}], periods=[])
    content = demo_data.content_for(ct.load_registry()["TSTRK1007"], random.Random(1), ctx)
    entry = {k: v for k, v in doc["certificates"][2].items() if k != "version"}
    doc["certificates"].append({**entry, "id": "example-ts-1007", "type": "TSTRK1007", "content": content})
    return doc


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _reply_across(doc: dict) -> None:
    """A reply (FK's answer) in the conversation of example-fk7804-2, but about example-fk7804-1."""
    doc["questions"].append({"id": "example-q-3", "certificate": "example-fk7804-1", "subject": "KONTKT",
                             "sender": "FK", "text": "Svar.", "sent": "2026-11-18T10:00:00",
                             "in_reply_to": "example-q-1"})


# (mutation of the example document as JSON text, or of the parsed document; the problem line)
CLI_CASES = {
    "NaN": (lambda text: text.replace('"acuity_right_without": 0.8', '"acuity_right_without": NaN'),
            "certificates[3] (example-ts-1007): content.acuity_right_without: must be a finite number, got NaN"),
    "Infinity": (lambda text: text.replace('"acuity_left_without": 0.1', '"acuity_left_without": -Infinity'),
                 "certificates[3] (example-ts-1007): content.acuity_left_without: must be a finite number, got "
                 "-Infinity (or a number too large)"),
    "a number too large": (lambda text: text.replace('"acuity_binocular_without": 0.1',
                                                     '"acuity_binocular_without": 1e999'),
                           "certificates[3] (example-ts-1007): content.acuity_binocular_without: must be a finite "
                           "number, got Infinity (or a number too large)"),
    "NUL in a name": (lambda doc: doc["units"][0].update(name="Vårdcentralen\u0000"),
                      "units[0] (TSTNMT2321000156-EXVE): name: contains a NUL character (\\u0000), which cannot be "
                      "stored"),
    "NUL in an id": (lambda doc: doc["certificates"][0].update(id="example\u0000"),
                     "certificates[0]: id: contains a NUL character (\\u0000), which cannot be stored"),
    "NUL in free text": (lambda doc: doc["certificates"][0]["content"].update(occupation_description="Snickare\0"),
                         "certificates[0] (example-fk7804-1): content.occupation_description: contains a NUL "
                         "character (\\u0000), which cannot be stored"),
    "half a surrogate pair": (lambda doc: doc["questions"][0].update(text="Hej \ud83d"),
                              "questions[0] (example-q-1): text: contains \\ud83d, half of a surrogate pair, which is "
                              "not text"),
    "NUL in a field's name": (lambda doc: doc["persons"][0].update({"note\u0000": "x"}),
                              "persons[0]: note\\x00: the field's name contains a NUL character (\\u0000), which "
                              "cannot be stored"),
    "too deep": (lambda doc: doc["certificates"][0]["content"].update(treatment=_deep(MAX_DEPTH)),
                 "certificates[0] (example-fk7804-1): content.treatment" + "[0]" * (MAX_DEPTH - 5)
                 + f": is nested more than {MAX_DEPTH} levels deep"),
    "a reply about another certificate": (_reply_across, "questions[2] (example-q-3): in_reply_to: question "
                                                         "'example-q-1' is about another certificate"),
    "a reminder about another certificate": (
        lambda doc: doc["questions"][1].update(certificate="example-fk7804-1"),
        "questions[1] (example-q-2): reminder_of: question 'example-q-1' is about another certificate"),
    "a question replying to itself": (lambda doc: doc["questions"][0].update(in_reply_to="example-q-1"),
                                      "questions[0] (example-q-1): in_reply_to: a question cannot refer to itself"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_portal_load_refuses_what_cannot_be_stored_with_one_line_and_stores_nothing(app, tmp_path, case):
    mutate, expected = CLI_CASES[case]
    doc = example_with_vision_certificate()
    if case in ("NaN", "Infinity", "a number too large"):
        text = mutate(json.dumps(doc, ensure_ascii=False))
        assert text != json.dumps(doc, ensure_ascii=False)
    else:
        mutate(doc)
        text = json.dumps(doc)  # escapes: a NUL or a lone surrogate as \u0000, \ud83d
    result = load_file(app, tmp_path, text)
    assert result.exit_code == 1, result.output
    assert "refused, nothing was stored" in result.output
    assert problem_lines(result) == [expected]
    assert set(stored(app).values()) == {0}


def test_the_example_with_the_vision_certificate_loads(app, tmp_path):
    """(The cases above start from a document that loads.)"""
    result = load_file(app, tmp_path, json.dumps(example_with_vision_certificate()))
    assert result.exit_code == 0, result.output
    assert stored(app)["certificates"] == 4


def test_a_reply_in_the_conversation_of_a_stored_question_must_be_about_its_certificate(app, tmp_path):
    assert load_file(app, tmp_path, json.dumps(EXAMPLE)).exit_code == 0
    before = stored(app)
    doc = {"questions": [{"id": "later", "certificate": "example-fk7804-1", "subject": "PAMINN", "sender": "FK",
                          "text": "Påminnelse.", "sent": "2026-11-20T10:00:00", "reminder_of": "example-q-1"}]}
    result = load_file(app, tmp_path, json.dumps(doc))
    assert problem_lines(result) == ["questions[0] (later): reminder_of: question 'example-q-1' is about another "
                                     "certificate"]
    assert stored(app) == before
    doc["questions"][0]["certificate"] = "example-fk7804-2"  # the reminder's own certificate: fine
    assert load_file(app, tmp_path, json.dumps(doc)).exit_code == 0
    with db.new_session(app) as s:
        assert s.get(Message, "later").reminder_of == "example-q-1"


# --- the database's column lengths ------------------------------------------------------------------------

# (section, entry index, field) of the example document -> the column it is stored in
COLUMNS = {
    ("providers", 0, "hsa_id"): CareProvider.hsa_id,
    ("providers", 0, "name"): CareProvider.name,
    ("units", 0, "hsa_id"): CareUnit.hsa_id,
    ("units", 0, "name"): CareUnit.name,
    ("units", 0, "address"): CareUnit.address,
    ("units", 0, "postal_code"): CareUnit.postal_code,
    ("units", 0, "city"): CareUnit.city,
    ("units", 0, "phone"): CareUnit.phone,
    ("staff", 0, "hsa_id"): Staff.hsa_id,
    ("staff", 0, "given_name"): Staff.given_name,
    ("staff", 0, "family_name"): Staff.family_name,
    ("staff", 0, "title"): Staff.title,
    ("commissions", 0, "purpose"): Commission.purpose,
    ("persons", 0, "given_name"): Person.given_name,
    ("persons", 0, "family_name"): Person.family_name,
    ("certificates", 2, "id"): Certificate.id,
    ("revocations", 0, "reason"): Certificate.revoke_reason,
    ("questions", 0, "id"): Message.id,
    ("questions", 0, "heading"): Message.heading,
}


def _renamed(doc: dict, section: str, index: int, name: str, value: str) -> None:
    """Give a field a new value, and whatever refers to it too (an id or HSA-id)."""
    old = doc[section][index][name]
    doc[section][index][name] = value
    if name in ("id", "hsa_id"):
        text = json.dumps(doc).replace(json.dumps(old), json.dumps(value))
        doc.clear()
        doc.update(json.loads(text))


@pytest.mark.parametrize("where", list(COLUMNS), ids=[f"{s}.{f}" for s, _, f in COLUMNS])
def test_text_longer_than_its_column_is_refused_and_text_as_long_is_stored(app, where):
    from portal.repository import intake as store

    section, index, name = where
    length = COLUMNS[where].type.length
    registry = app.extensions["certificate_types"]
    too_long = copy.deepcopy(EXAMPLE)
    _renamed(too_long, section, index, name, "A" * (length + 1))
    with db.new_session(app) as s:
        problems, _ = store.load(s, too_long, registry)
    assert [p.message for p in problems if p.fields == (name,)] == [f"is longer than {length} characters"], problems
    assert set(stored(app).values()) == {0}
    fits = copy.deepcopy(EXAMPLE)
    _renamed(fits, section, index, name, "A" * length)
    with db.new_session(app) as s:
        assert store.load(s, fits, registry)[0] == []
    with db.new_session(app) as s:
        assert s.scalar(select(func.count()).where(COLUMNS[where] == "A" * length)) == 1


def test_every_text_column_intake_writes_has_its_limit_tested():
    """A new String column on a table intake fills needs a line in COLUMNS (or a reason here)."""
    # references that must name something stored or in the document, codes from a fixed set, values derived
    # from checked ones (main_diagnosis: an ICD-10 code), and the API client's id (not from the document)
    not_from_documents = {"care_units.provider_id", "care_units.parent_id", "care_units.county", "staff.gender",
                          "commissions.staff_id", "commissions.unit_id", "persons.personnummer",
                          "certificates.type_code", "certificates.type_version", "certificates.patient_pnr",
                          "certificates.main_diagnosis", "certificates.registered_by", "certificates.staff_id",
                          "certificates.unit_id", "certificates.provider_id", "certificate_relations.kind",
                          "certificate_relations.from_id", "certificate_relations.to_id", "care_sends.recipient",
                          "care_sends.certificate_id", "messages.certificate_id", "messages.unit_id",
                          "messages.patient_pnr", "messages.subject", "messages.sender", "messages.in_reply_to",
                          "messages.reminder_of", "messages.handled_by",
                          # who wrote a care message (the logged-in staff's HSA-id) and FK's case officer: set by
                          # the portal, never read from a document (issue 17)
                          "messages.author_id", "messages.author_name"}
    from sqlalchemy import String

    from portal.models import CareSend

    tested = {f"{c.table.name}.{c.name}" for c in (col.property.columns[0] for col in COLUMNS.values())}
    tables = [m.__table__ for m in MODELS + [CareSend]]
    written = {f"{t.name}.{c.name}" for t in tables for c in t.columns
               if isinstance(c.type, String) and c.type.length is not None}
    assert written - tested - not_from_documents == set()


# --- the same through the API -----------------------------------------------------------------------------

def _raw_post(client, headers, text: str, path: str = "/api/v1/certificates"):
    return client.post(path, data=text.encode("utf-8"), headers={**headers, "Content-Type": "application/json"})


API_CASES = {
    "a number too large": (
        lambda body: json.dumps(body).replace('"degree": 100', '"degree": 1e999'),
        [{"pointer": "/content/sick_leave_periods/0/degree",
          "detail": "must be a finite number, got Infinity (or a number too large)"}]),
    "NUL in the unit's name": (
        lambda body: json.dumps({**body, "unit": {**body["unit"], "name": "Enhet\u0000"}}),
        [{"pointer": "/unit/name", "detail": "contains a NUL character (\\u0000), which cannot be stored"}]),
    "half a surrogate pair in the doctor's name": (
        lambda body: json.dumps({**body, "issuer": {**body["issuer"], "given_name": "Alva\ud800"}}),
        [{"pointer": "/issuer/given_name", "detail": "contains \\ud800, half of a surrogate pair, which is not text"}]),
    "NUL in the id of a replacement": (
        lambda body: json.dumps({**body, "id": "api\u0000", "relation": {"kind": "REPLACES", "certificate": "a"}}),
        [{"pointer": "/id", "detail": "must be 1–64 letters, digits or . _ : - (starting with a letter or digit)"},
         {"pointer": "/id", "detail": "contains a NUL character (\\u0000), which cannot be stored"}]),
    "NUL in free text": (
        lambda body: json.dumps({**body, "content": {**body["content"], "occupation_description": "\u0000"}}),
        [{"pointer": "/content/occupation_description",
          "detail": "contains a NUL character (\\u0000), which cannot be stored"}]),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_the_api_refuses_what_cannot_be_stored_with_a_pointer_and_stores_nothing(app, client, case):
    headers = bearer(token(client, "journal-demo"))
    make, expected = API_CASES[case]
    response = _raw_post(client, headers, make(registration("api-limits", SIGNED)))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["type"] == "/api/v1/docs#problem-invalid"
    assert response.json["errors"] == expected
    assert set(stored(app).values()) == {0}


def _question(qid: str, certificate: str, **extra) -> dict:
    return {"id": qid, "certificate": certificate, "subject": "KONTKT", "heading": "Kontakt",
            "text": "Ring oss.", "sent": NOW.isoformat(), **extra}


@pytest.mark.parametrize("field, subject", [("in_reply_to", "KONTKT"), ("reminder_of", "PAMINN")])
def test_the_api_refuses_a_reply_or_reminder_about_another_certificate(app, client, field, subject):
    journal = bearer(token(client, "journal-demo"))
    for cid in ("api-a", "api-b"):
        assert client.post("/api/v1/certificates", json=registration(cid, SIGNED), headers=journal).status_code == 201
    fk = bearer(token(client, "fk-demo"))
    if field == "in_reply_to":  # FK answers only a question the care unit asked (issue 17): one on api-a
        with db.new_session(app) as s:
            cert = s.get(Certificate, "api-a")
            s.add(Message(id="q-a", certificate_id="api-a", unit_id=cert.unit_id, patient_pnr=cert.patient_pnr,
                          subject="KONTKT", sender="CARE", heading="Kontakt", text="Ring oss.", sent_at=NOW))
            s.commit()
    else:
        assert client.post("/api/v1/questions", json=_question("q-a", "api-a"), headers=fk).status_code == 201
    before = stored(app)
    response = client.post("/api/v1/questions", json=_question("q-b", "api-b", subject=subject, **{field: "q-a"}),
                           headers=fk)
    assert response.status_code == 422, response.json
    assert response.json["errors"] == [{"pointer": f"/{field}",
                                        "detail": "question 'q-a' is about another certificate"}]
    assert stored(app) == before
    same = client.post("/api/v1/questions", json=_question("q-b", "api-a", subject=subject, **{field: "q-a"}),
                       headers=fk)
    assert same.status_code == 201


def test_the_api_answers_a_list_where_a_code_belongs_with_a_pointer(app, client):
    journal = bearer(token(client, "journal-demo"))
    assert client.post("/api/v1/certificates", json=registration("api-a", SIGNED), headers=journal).status_code == 201
    before = stored(app)
    response = client.post("/api/v1/questions", json=_question("q-a", "api-a", subject=["KONTKT"]),
                           headers=bearer(token(client, "fk-demo")))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert [e["pointer"] for e in response.json["errors"]] == ["/subject"]
    assert stored(app) == before


@pytest.mark.parametrize("kind", [[], {}, ["UNDERSOKNING_FYSISKT"]])
def test_a_list_or_object_as_a_dated_choices_type_is_a_problem_not_a_crash(app, client, kind):
    body = registration("api-basis", SIGNED)
    body["content"]["basis"] = [{"type": kind, "date": SIGNED.date().isoformat()}]
    before = stored(app)
    response = client.post("/api/v1/certificates", json=body, headers=bearer(token(client, "journal-demo")))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert [e["pointer"] for e in response.json["errors"]] == ["/content/basis/0/type"]
    assert stored(app) == before


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"persons": [' + "9" * 5000 + "]}"])
def test_portal_load_refuses_a_file_nested_too_deep_or_with_a_huge_number(app, tmp_path, text):
    result = load_file(app, tmp_path, text)
    assert result.exit_code == 2 and "not valid JSON" in result.output and "Traceback" not in result.output
