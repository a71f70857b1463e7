"""`portal load`: all or nothing, one precise line per problem, idempotent."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.cli import main
from portal.models import CareProvider, CareUnit, Certificate, CertificateRelation, Commission, Message, Person, Staff

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs" / "example-load.json").read_text())


def counts(session) -> dict[str, int]:
    models = [CareProvider, CareUnit, Staff, Commission, Person, Certificate, CertificateRelation, Message]
    result = {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in models}
    result["revoked"] = session.scalar(select(func.count()).select_from(Certificate)
                                       .where(Certificate.revoked_at.is_not(None)))
    return result


def run_load(app, tmp_path, doc):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    runner = app.test_cli_runner()
    return runner.invoke(main, ["load", str(path)], catch_exceptions=False)


def test_example_file_loads_and_loading_it_again_changes_nothing(app, tmp_path, session):
    result = run_load(app, tmp_path, EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "certificates: 3 new" in result.output
    first = counts(session)
    assert first == {"care_providers": 1, "care_units": 2, "staff": 2, "commissions": 2, "persons": 2,
                     "certificates": 3, "certificate_relations": 1, "messages": 2, "revoked": 1}
    stored = session.get(Certificate, "example-fk7804-1")
    assert stored.provider_id == "TSTNMT2321000156-EXVG"
    assert stored.sick_leave_start.isoformat() == "2026-11-02" and stored.sick_leave_end.isoformat() == "2026-11-29"
    assert stored.main_diagnosis == "M54.5"
    assert session.get(Certificate, "example-fk7804-2").unit_id == "TSTNMT2321000156-EXMO"

    again = run_load(app, tmp_path, EXAMPLE)
    assert again.exit_code == 0
    assert "0 new, 0 updated" in again.output and " new, " in again.output
    assert "certificates: 0 new, 0 updated, 3 unchanged" in again.output
    session.expire_all()
    assert counts(session) == first


def broken(mutate):
    doc = copy.deepcopy(EXAMPLE)
    mutate(doc)
    return doc


def _period_end_before_start(doc):
    doc["certificates"][0]["content"]["sick_leave_periods"][1]["end"] = "2026-11-01"


CASES = {
    "unknown type": (lambda d: d["certificates"][0].update(type="FK9999"),
                     "certificates[0] (example-fk7804-1): type: unknown certificate type 'FK9999'"),
    "invalid personnummer": (lambda d: d["certificates"][1].update(patient="198004129833"),
                             "certificates[1] (example-fk7804-2): patient: is not a valid personnummer"),
    "period end before start": (_period_end_before_start,
                                "certificates[0] (example-fk7804-1): content.sick_leave_periods[1].end: period end "
                                "2026-11-01 is before its start 2026-11-16"),
    "unknown unit": (lambda d: d["certificates"][2].update(unit="TSTNMT2321000156-NOPE"),
                     "certificates[2] (example-ts-1): unit: unknown care unit 'TSTNMT2321000156-NOPE'"),
    "content not matching the type": (lambda d: d["certificates"][0]["content"].update(prognosis="KANSKE"),
                                      "certificates[0] (example-fk7804-1): content.prognosis: must be one of"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_with_a_bad_entry_is_refused_whole_with_a_precise_message(app, tmp_path, session, case):
    mutate, expected = CASES[case]
    result = run_load(app, tmp_path, broken(mutate))
    assert result.exit_code == 1
    assert "refused, nothing was stored" in result.output
    lines = [line.strip() for line in result.output.splitlines()[1:] if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines
    assert set(counts(session).values()) == {0}


def test_problems_are_all_listed_and_never_echo_a_personnummer(app, tmp_path, session):
    def many(d):
        d["persons"][0]["personnummer"] = "198004129833"
        d["certificates"][0]["type"] = "FK9999"
        d["questions"][1]["subject"] = "FRAGA"
    result = run_load(app, tmp_path, broken(many))
    assert result.exit_code == 1
    assert "persons[0]: personnummer: is not a valid personnummer" in result.output
    assert "certificates[0] (example-fk7804-1): type:" in result.output
    assert "questions[1] (example-q-2): subject: must be one of" in result.output
    assert "198004129833" not in result.output
    assert set(counts(session).values()) == {0}


def test_a_signed_certificate_cannot_be_changed_by_a_later_load(app, tmp_path, session):
    assert run_load(app, tmp_path, EXAMPLE).exit_code == 0
    changed = broken(lambda d: d["certificates"][0]["content"].update(occupation_description="Annat arbete"))
    changed["persons"][0]["family_name"] = "Nyttnamn"
    result = run_load(app, tmp_path, changed)
    assert result.exit_code == 1
    assert ("certificates[0] (example-fk7804-1): content: differs from what is already stored, and it cannot change"
            in result.output)
    session.expire_all()
    assert session.get(Person, "198004129832").family_name == "Patientsson"  # nothing of the file was stored


def test_not_json_is_refused(app, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    result = app.test_cli_runner().invoke(main, ["load", str(path)])
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_demo_data_small_is_loadable_and_idempotent(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(main, ["demo-data", "--size", "small"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    n = counts(session)
    assert n["certificates"] > 800 and n["persons"] > 150 and n["messages"] > 10
    second = runner.invoke(main, ["demo-data", "--size", "small"], catch_exceptions=False)
    assert "certificates: 0 new, 0 updated" in second.output
    third = runner.invoke(main, ["demo-data", "--size", "small", "--if-empty"], catch_exceptions=False)
    assert "already holds certificates" in third.output
    session.expire_all()
    assert counts(session) == n
