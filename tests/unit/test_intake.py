"""Intake: checking a document before anything is stored (pure: no database).

Every problem is one line naming the entry (section, index and, except for persons, its id) and the
field; a document with any problem must not be applied. docs/example-load.json is the reference
document.
"""
from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from portal.domain import intake
from portal.domain.certificate_types import load_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-load.json"
HSA = "TSTNMT2321000156-"
KNOWN_TYPES = ("AG1-14, AG7804, DB, DOI, FK3226, FK7210, FK7263, FK7472, FK7800, FK7801, FK7802, FK7804, FK7809, "
               "TSTRK1007, TSTRK1031")
NOT_A_PNR = "is not a valid personnummer (12 digits, valid date and check digit)"
EXAMPLE_COUNTS = {"providers": 1, "units": 2, "staff": 2, "commissions": 2, "persons": 2, "certificates": 3,
                  "relations": 1, "revocations": 1, "care_sends": 1, "questions": 2}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture
def doc(example_text) -> dict:
    return json.loads(example_text)


def check(doc, registry, existing: intake.Existing | None = None):
    return intake.check(doc, existing if existing is not None else intake.Existing(), registry)


def existing_from(plan: intake.Plan) -> intake.Existing:
    """What the store would hold after applying a plan (same values as the plan's records, copied: the
    records share their content with the document, so build this before changing the document)."""
    new = copy.deepcopy(plan.new)
    certificates = {c["id"]: c for c in new["certificates"]}
    for r in new["revocations"]:
        certificates[r["id"]].update(revoked_at=r["revoked_at"], revoke_reason=r["revoke_reason"])
    return intake.Existing(
        providers={p["hsa_id"]: p for p in new["providers"]},
        units={u["hsa_id"]: u for u in new["units"]},
        staff={s["hsa_id"]: s for s in new["staff"]},
        commissions={(c["staff_id"], c["unit_id"], c["purpose"]): c for c in new["commissions"]},
        persons={p["personnummer"]: p for p in new["persons"]},
        certificates=certificates,
        relations={(r["from_id"], r["to_id"], r["kind"]) for r in new["relations"]},
        questions={q["id"]: q for q in new["questions"]},
        care_sends={(c["certificate_id"], c["recipient"]): c for c in new["care_sends"]},
    )


# --- the example document -----------------------------------------------------------------------

def test_the_example_document_has_no_problems(doc, registry):
    problems, _ = check(doc, registry)
    assert problems == []


def test_the_example_plan_has_one_new_record_per_entry(doc, registry):
    _, plan = check(doc, registry)
    assert {s: len(plan.new[s]) for s in intake.SECTIONS} == EXAMPLE_COUNTS
    assert all(plan.changed[s] == [] for s in intake.SECTIONS)
    assert plan.changes == sum(EXAMPLE_COUNTS.values())


def test_the_plan_holds_normalised_records(doc, registry):
    doc["persons"][0]["personnummer"] = "19800412-9832"  # the hyphenated form is normalised
    _, plan = check(doc, registry)
    cert = next(c for c in plan.new["certificates"] if c["id"] == "example-fk7804-2")
    assert cert["patient_pnr"] == "198004129832"
    assert cert["unit_id"] == HSA + "EXMO" and cert["provider_id"] == HSA + "EXVG"  # a sub-unit's provider
    assert cert["signed_at"] == datetime(2026, 11, 3, 9, 0)
    assert (cert["sick_leave_start"], cert["sick_leave_end"]) == (date(2026, 11, 2), date(2026, 11, 29))
    assert cert["main_diagnosis"] == "M54.5"
    assert (cert["type_code"], cert["type_version"]) == ("FK7804", "2.0")
    pregnancy = next(c for c in plan.new["certificates"] if c["id"] == "example-ts-1")
    assert (pregnancy["type_version"], pregnancy["sick_leave_start"],
            pregnancy["main_diagnosis"]) == ("1.0", None, None)
    assert plan.new["persons"][0] == {"personnummer": "198004129832", "given_name": "Exempel",
                                      "family_name": "Patientsson", "protected": False, "deceased": False,
                                      "validation_person": False}
    assert plan.new["persons"][1]["protected"] is True
    assert plan.new["relations"] == [{"from_id": "example-fk7804-2", "to_id": "example-fk7804-1", "kind": "REPLACES",
                                      "created_at": datetime(2026, 11, 3, 9, 0)}]
    assert plan.new["revocations"] == [{"id": "example-ts-1", "revoked_at": datetime(2026, 10, 2, 8, 0),
                                        "revoke_reason": "Intyget har utfärdats på fel patient."}]
    reminder = plan.new["questions"][1]
    assert (reminder["subject"], reminder["reminder_of"], reminder["unit_id"]) == ("PAMINN", "example-q-1",
                                                                                   HSA + "EXMO")
    commission = plan.new["commissions"][1]
    assert commission["valid_from"] == date(2024, 1, 1) and commission["valid_to"] is None


# --- one precise line per bad entry -------------------------------------------------------------

def _set(path: str, value):
    """A mutation that sets doc[section][index][key](...) = value."""
    def mutate(doc):
        *parts, last = path.split(".")
        target = doc
        for part in parts:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return mutate


def _delete(path: str):
    def mutate(doc):
        *parts, last = path.split(".")
        target = doc
        for part in parts:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]
    return mutate


def _other_provider_for_the_sub_unit(doc):
    doc["providers"].append({"hsa_id": HSA + "VG2", "name": "Vårdbolaget Annat AB"})
    doc["units"][1]["provider"] = HSA + "VG2"


def _append_copy(section: str, index: int, **changes):
    def mutate(doc):
        doc[section].append({**copy.deepcopy(doc[section][index]), **changes})
    return mutate


BAD_ENTRIES = {
    "unknown type": (
        _set("certificates.0.type", "FK9999"),
        f"certificates[0] (example-fk7804-1): type: unknown certificate type 'FK9999' (known: {KNOWN_TYPES})"),
    "person with a bad check digit": (
        _set("persons.0.personnummer", "19800412-9833"),
        f"persons[0]: personnummer: {NOT_A_PNR}"),
    "patient with a bad check digit": (
        _set("certificates.0.patient", "198004129833"),
        f"certificates[0] (example-fk7804-1): patient: {NOT_A_PNR}"),
    "period end before start": (
        _set("certificates.0.content.sick_leave_periods.0.end", "2026-11-01"),
        "certificates[0] (example-fk7804-1): content.sick_leave_periods[0].end: "
        "period end 2026-11-01 is before its start 2026-11-02"),
    "unknown unit": (
        _set("certificates.0.unit", HSA + "NOPE"),
        f"certificates[0] (example-fk7804-1): unit: unknown care unit '{HSA}NOPE'"),
    "content not matching the type": (
        _set("certificates.2.content.diagnoses", [{"code": "O26.8", "text": "Graviditetsbesvär"}]),
        "certificates[2] (example-ts-1): content.diagnoses: is not a question of this type"),
    "content answer of the wrong kind": (
        _set("certificates.1.content.prognosis", "BRA"),
        "certificates[1] (example-fk7804-2): content.prognosis: must be one of STOR_SANNOLIKHET, "
        "ATER_X_ANTAL_MANADER, SANNOLIKT_INTE, PROGNOS_OKLAR, got 'BRA'"),
    "certificate version the type does not have": (
        _set("certificates.0.version", "1.0"),
        "certificates[0] (example-fk7804-1): version: FK7804 has version 2.0, got '1.0'"),
    "unknown staff on a certificate": (
        _set("certificates.0.staff", HSA + "NOPE"),
        f"certificates[0] (example-fk7804-1): staff: unknown staff member '{HSA}NOPE'"),
    "unknown staff on a commission": (
        _set("commissions.0.staff", HSA + "NOPE"),
        f"commissions[0] ({HSA}NOPE @ {HSA}EXVE): staff: unknown staff member '{HSA}NOPE'"),
    "unit with an unknown provider": (
        _set("units.0.provider", HSA + "NOPE"),
        f"units[0] ({HSA}EXVE): provider: unknown care provider '{HSA}NOPE'"),
    "sub-unit whose parent belongs to another provider": (
        _other_provider_for_the_sub_unit,
        f"units[1] ({HSA}EXMO): parent: '{HSA}EXVE' belongs to another care provider"),
    "commission ending before it starts": (
        _set("commissions.0.valid_to", "2023-12-31"),
        f"commissions[0] ({HSA}EXL1 @ {HSA}EXVE): valid_to: 2023-12-31 is before valid_from 2024-01-01"),
    "relation between different patients": (
        _set("certificates.1.patient", "197508309908"),
        "relations[0] (example-fk7804-2 REPLACES example-fk7804-1): to: the two certificates are for different "
        "patients"),
    "relation to an unknown certificate": (
        _set("relations.0.to", "example-nope"),
        "relations[0] (example-fk7804-2 REPLACES example-nope): to: unknown certificate 'example-nope'"),
    "relation of an unknown kind": (
        _set("relations.0.kind", "ERSATTER"),
        "relations[0] (example-fk7804-2 ERSATTER example-fk7804-1): kind: must be REPLACES or COMPLEMENTS, "
        "got 'ERSATTER'"),
    "revocation before signing": (
        _set("revocations.0.at", "2026-10-01T13:59:59"),
        "revocations[0] (example-ts-1): at: a certificate cannot be revoked before it was signed"),
    "revocation of an unknown certificate": (
        _set("revocations.0.certificate", "example-nope"),
        "revocations[0] (example-nope): certificate: unknown certificate 'example-nope'"),
    "question with an unknown subject": (
        _set("questions.0.subject", "FRAGA"),
        "questions[0] (example-q-1): subject: must be one of AVSTMN, KOMPLT, KONTKT, OVRIGT, PAMINN, got 'FRAGA'"),
    "reminder without reminder_of": (
        _delete("questions.1.reminder_of"),
        "questions[1] (example-q-2): reminder_of: a reminder (PAMINN) must name the question it reminds of"),
    "question sent before the certificate was signed": (
        _set("questions.0.sent", "2026-11-02T13:00:00"),
        "questions[0] (example-q-1): sent: is before the certificate was signed"),
    "certificate id twice": (
        _append_copy("certificates", 0),
        "certificates[3] (example-fk7804-1): id: appears twice in the document"),
    "question id twice": (
        _append_copy("questions", 0),
        "questions[2] (example-q-1): id: appears twice in the document"),
    "person twice (once with a hyphen)": (
        _append_copy("persons", 0, personnummer="19800412-9832"),
        "persons[2]: personnummer: appears twice in the document"),
    "unknown section": (
        _set("patients", []),
        "patients: unknown section (known: providers, units, staff, commissions, persons, certificates, relations, "
        "revocations, care_sends, questions)"),
    "unknown field in a certificate": (
        _set("certificates.0.colour", "blå"),
        "certificates[0] (example-fk7804-1): colour: is not a known field"),
    "unknown field in a person": (
        _set("persons.1.nickname", "Skydde"),
        "persons[1]: nickname: is not a known field"),
    "missing required field": (
        _delete("staff.0.family_name"),
        f"staff[0] ({HSA}EXL1): family_name: is required"),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES))
def test_a_bad_entry_gives_one_line_naming_the_entry_and_the_field(doc, registry, case):
    mutate, line = BAD_ENTRIES[case]
    mutate(doc)
    problems, _ = check(doc, registry)
    assert problems == [line]  # a non-empty list: the plan must not be applied


def test_every_bad_entry_is_reported_in_one_pass(doc, registry):
    for case in ("unknown type", "unit with an unknown provider", "question with an unknown subject",
                 "person with a bad check digit"):
        BAD_ENTRIES[case][0](doc)
    problems, _ = check(doc, registry)
    assert sorted(problems) == sorted(BAD_ENTRIES[case][1] for case in (
        "unknown type", "unit with an unknown provider", "question with an unknown subject",
        "person with a bad check digit"))


def test_a_document_that_is_not_an_object_is_refused(registry):
    assert check([], registry)[0] == ["the document must be a JSON object"]


def test_a_section_that_is_not_a_list_is_refused(doc, registry):
    doc["persons"] = {"personnummer": "198004129832"}
    assert check(doc, registry)[0] == ["persons: must be a list"]


@pytest.mark.parametrize("section", ["providers", "units", "staff"])
def test_a_duplicate_hsa_id_names_the_hsa_id_field(doc, registry, section):
    _append_copy(section, 0)(doc)
    problems, _ = check(doc, registry)
    assert problems == [f"{section}[{len(doc[section]) - 1}] ({doc[section][0]['hsa_id']}): hsa_id: "
                        "appears twice in the document"]


@pytest.mark.parametrize("path, entry", [("certificates.0.id", "certificates[0]"),
                                         ("relations.0.from", "relations[0]"),
                                         ("questions.1.reminder_of", "questions[1]"),
                                         ("units.1.parent", "units[1]")])
def test_a_non_text_id_is_a_problem_line_not_a_crash(doc, registry, path, entry):
    _set(path, ["a", "list"])(doc)
    problems, _ = check(doc, registry)
    field = path.rsplit(".", 1)[1]
    assert problems and problems[0].startswith(entry), problems
    assert f": {field}: must be text" in problems[0]


# --- personnummer never leak into problem lines ----------------------------------------------------

def test_a_personnummer_is_never_echoed_in_a_problem_line(doc, registry):
    doc["persons"] += [
        {"personnummer": "19800412-9833", "given_name": "Fel", "family_name": "Kontrollsiffra"},
        {"personnummer": "8004129832", "given_name": "Tio", "family_name": "Siffror"},
        {"personnummer": "198004129832", "given_name": "Dubbel", "family_name": "Patientsson"},
        {"personnummer": "197508309908", "given_name": "", "family_name": "Utannamn", "protected": "ja"},
        {"personnummer": "198013019834", "given_name": "Fel", "family_name": "Datum", "shoe_size": 42},
    ]
    doc["certificates"][0]["patient"] = "19800412-9833"
    doc["certificates"][1]["patient"] = "800412-9832"
    problems, _ = check(doc, registry)
    pnrs = ["198004129833", "198004129832", "197508309908", "198013019834"]
    forms = {f for p in pnrs for f in (p, f"{p[:8]}-{p[8:]}", p[2:], f"{p[2:8]}-{p[8:]}")}
    assert len(problems) >= 7
    leaks = [line for line in problems for f in forms if f in line]
    assert leaks == []
    assert all(re.match(r"persons\[\d+\]: \w+: ", line) for line in problems if line.startswith("persons"))


# --- idempotency --------------------------------------------------------------------------------

def test_loading_the_same_document_again_changes_nothing(doc, registry):
    _, first = check(doc, registry)
    problems, second = check(doc, registry, existing_from(first))
    assert problems == []
    assert second.changes == 0
    assert second.unchanged == EXAMPLE_COUNTS
    assert second.summary().startswith("providers: 0 new, 0 updated, 1 unchanged; units: 0 new, 0 updated, 2 unchanged")


def test_a_stored_certificate_cannot_change_its_content(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["certificates"][0]["content"]["sick_leave_periods"][1]["degree"] = 25
    problems, _ = check(doc, registry, stored)
    assert problems == ["certificates[0] (example-fk7804-1): content: differs from what is already stored, "
                        "and it cannot change"]


def test_a_stored_certificate_cannot_move_to_another_patient(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["certificates"][2]["patient"] = "198004129832"
    problems, _ = check(doc, registry, stored)
    assert problems == ["certificates[2] (example-ts-1): patient_pnr: differs from what is already stored, "
                        "and it cannot change"]


def test_a_changed_person_name_is_an_update_not_an_error(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["persons"][0]["family_name"] = "Nyttnamn"
    problems, plan = check(doc, registry, stored)
    assert problems == []
    assert plan.changed["persons"] == [{"personnummer": "198004129832", "given_name": "Exempel",
                                        "family_name": "Nyttnamn", "protected": False, "deceased": False,
                                        "validation_person": False}]
    assert (plan.new["persons"], plan.unchanged["persons"], plan.changes) == ([], 1, 1)


def test_a_changed_unit_address_is_an_update(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["units"][0]["address"] = "Nya vägen 2"
    problems, plan = check(doc, registry, stored)
    assert problems == [] and [u["address"] for u in plan.changed["units"]] == ["Nya vägen 2"]


def test_a_stored_revocation_cannot_be_moved(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["revocations"][0]["at"] = "2026-10-03T08:00:00"
    problems, _ = check(doc, registry, stored)
    assert problems == ["revocations[0] (example-ts-1): at: the certificate is already revoked, at another time or "
                        "for another reason"]


def test_a_stored_question_cannot_change(doc, registry):
    stored = existing_from(check(doc, registry)[1])
    doc["questions"][0]["text"] = "En annan fråga."
    problems, _ = check(doc, registry, stored)
    assert problems == ["questions[0] (example-q-1): text: differs from what is already stored, and it cannot change"]


def test_references_may_point_to_what_is_already_stored(doc, registry):
    _, first = check(doc, registry)
    later = {"certificates": [{**copy.deepcopy(doc["certificates"][1]), "id": "example-fk7804-3",
                               "signed": "2026-11-20T08:30:00"}],
             "relations": [{"from": "example-fk7804-3", "to": "example-fk7804-2", "kind": "REPLACES"}]}
    problems, plan = check(later, registry, existing_from(first))
    assert problems == []
    assert [c["id"] for c in plan.new["certificates"]] == ["example-fk7804-3"]
    assert plan.new["relations"][0]["to_id"] == "example-fk7804-2"


def test_a_relation_already_stored_is_unchanged(doc, registry):
    _, first = check(doc, registry)
    problems, plan = check({"relations": doc["relations"]}, registry, existing_from(first))
    assert problems == [] and plan.new["relations"] == [] and plan.unchanged["relations"] == 1


def test_a_section_that_is_not_a_list_is_a_problem_not_a_crash(registry):
    problems, _ = check({"units": 5, "certificates": "x"}, registry)
    assert "units: must be a list" in problems and "certificates: must be a list" in problems


# --- what no database can hold (issue 12) --------------------------------------------------------------

def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def test_values_no_database_can_hold_are_problems_with_their_place_and_nothing_is_planned(doc, registry):
    doc["certificates"][0]["content"]["sick_leave_periods"][1]["degree"] = float("nan")
    doc["units"][1]["city"] = "Sollefteå\x00"
    doc["about"] = {"note": float("-inf")}
    problems, plan = check(doc, registry)
    assert [(p.section, p.entry_index, p.fields, p.message) for p in problems] == [
        ("about", None, ("note",), "must be a finite number, got -Infinity (or a number too large)"),
        ("units", 1, ("city",), "contains a NUL character (\\u0000), which cannot be stored"),
        ("certificates", 0, ("content.sick_leave_periods[1].degree",), "must be a finite number, got NaN"),
    ]
    assert all(p.unstorable for p in problems)
    assert plan.changes == 0


def test_a_document_nested_thousands_deep_is_one_problem_not_a_crash(doc, registry):
    doc["questions"][0]["subject"] = _nested(5000)  # a problem line would repr() it: RecursionError
    problems, _ = check(doc, registry)
    assert problems == [f"questions[0] (example-q-1): subject{'[0]' * (intake.MAX_DEPTH - 4)}: is nested more "
                        f"than {intake.MAX_DEPTH} levels deep"]


def test_a_document_as_deep_as_allowed_is_checked_as_usual(doc, registry):
    doc["about"] = _nested(intake.MAX_DEPTH - 3)  # the document, "about" and the lists: MAX_DEPTH levels
    assert check(doc, registry)[0] == []


def test_an_id_no_database_can_hold_is_never_looked_up(doc):
    doc["certificates"][0]["id"] = "example\x00"
    doc["questions"][0]["in_reply_to"] = "x\ud800"
    ids = intake.referenced_ids(doc)
    assert "example\x00" not in ids["certificates"] and "x\ud800" not in ids["questions"]
    assert "example-fk7804-2" in ids["certificates"]


@pytest.mark.parametrize("name", ["in_reply_to", "reminder_of"])
def test_a_reply_or_reminder_must_be_about_the_same_certificate(doc, registry, name):
    doc["questions"][1].update({"subject": "PAMINN" if name == "reminder_of" else "KONTKT", "reminder_of": None,
                                name: "example-q-1"})
    assert check(doc, registry)[0] == []
    doc["questions"][1]["certificate"] = "example-fk7804-1"
    assert check(doc, registry)[0] == [f"questions[1] (example-q-2): {name}: question 'example-q-1' is about "
                                       "another certificate"]


@pytest.mark.parametrize("section, index, name, line", [
    ("questions", 0, "subject", "questions[0] (example-q-1): subject: must be one of AVSTMN, KOMPLT, KONTKT, OVRIGT, "
                                "PAMINN, got ['AVSTMN']"),
    ("questions", 0, "sender", "questions[0] (example-q-1): sender: must be FK or CARE, got ['AVSTMN']"),
    ("relations", 0, "kind", "relations[0] (example-fk7804-2 ['AVSTMN'] example-fk7804-1): kind: must be REPLACES or "
                             "COMPLEMENTS, got ['AVSTMN']"),
    ("care_sends", 0, "recipient", "care_sends[0] (example-fk7804-1): recipient: must be FK or TS, got ['AVSTMN']"),
])
def test_a_list_where_a_code_belongs_is_a_problem_line_not_a_crash(doc, registry, section, index, name, line):
    doc[section][index][name] = ["AVSTMN"]  # unhashable: `in` a set of codes raised TypeError
    assert check(doc, registry)[0] == [line]
