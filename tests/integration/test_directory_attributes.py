"""The directory facts Intygsstatistik counts by: a unit's county (län) and a doctor's gender and birth year.

They come with the directory's data in a batch document (`portal load`), and a unit's county also with an API
registration that creates the unit. A value that is not valid refuses the whole document with a problem naming
the entry and the field (the API: a 422 with the field's pointer), and nothing is stored; a later document
changes them, as it changes a unit's or staff member's other fields. The demo data has them, spread over
three counties, both genders and every age group of the reports (and one unit and one doctor unknown).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from conftest import NOW
from portal import db
from portal.cli import main
from portal.domain import counties
from portal.domain import demo as demo_data
from portal.domain import statistics as st
from portal.domain.certificate_types import load_registry
from portal.models import CareProvider, CareUnit, Certificate, Staff
from tests.api_support import EXAMPLE, ISSUER, UNIT, bearer, registration, token

PROVIDER_ID = "TSTNMT2321000156-DAVG"
UNIT_ID = "TSTNMT2321000156-DAVE"
DOCTOR_ID = "TSTNMT2321000156-DAL1"
COUNTY_CODES = ", ".join(counties.CODES)


def directory(unit: dict | None = None, staff: dict | None = None) -> dict:
    """A batch document with a provider, a unit in Värmland and a doctor born 1975 (changes merged in; a value
    of ... leaves the field out)."""
    unit_entry = {"hsa_id": UNIT_ID, "name": "Vårdcentralen Attribut", "provider": PROVIDER_ID, "city": "Karlstad",
                  "county": "17", **(unit or {})}
    staff_entry = {"hsa_id": DOCTOR_ID, "given_name": "Disa", "family_name": "Attributsson", "title": "Läkare",
                   "professions": ["Läkare"], "gender": "F", "birth_year": 1975, **(staff or {})}
    return {"providers": [{"hsa_id": PROVIDER_ID, "name": "Region Attribut"}],
            "units": [{k: v for k, v in unit_entry.items() if v is not ...}],
            "staff": [{k: v for k, v in staff_entry.items() if v is not ...}]}


def run_load(app, tmp_path, doc: dict):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return app.test_cli_runner().invoke(main, ["load", str(path)], catch_exceptions=False)


def problem_lines(result) -> list[str]:
    return [line.strip() for line in result.output.splitlines()[1:] if line.strip()]


def stored_unit(app) -> tuple | None:
    with db.new_session(app) as s:
        unit = s.get(CareUnit, UNIT_ID)
        return (unit.county, unit.city) if unit else None


def stored_doctor(app) -> tuple | None:
    with db.new_session(app) as s:
        doctor = s.get(Staff, DOCTOR_ID)
        return (doctor.gender, doctor.birth_year, doctor.title) if doctor else None


def nothing_stored(app) -> bool:
    with db.new_session(app) as s:
        return all(s.scalar(select(func.count()).select_from(m)) == 0 for m in (CareProvider, CareUnit, Staff))


def this_year() -> int:
    """The latest birth year intake takes: the year it is in Sweden."""
    return datetime.now(ZoneInfo("Europe/Stockholm")).year


# --- batch intake -------------------------------------------------------------------------------------------

def test_a_batch_document_stores_the_units_county_and_the_doctors_gender_and_birth_year(app, tmp_path):
    result = run_load(app, tmp_path, directory())
    assert result.exit_code == 0, result.output
    assert stored_unit(app) == ("17", "Karlstad")
    assert stored_doctor(app) == ("F", 1975, "Läkare")


def test_they_are_optional(app, tmp_path):
    result = run_load(app, tmp_path, directory(unit={"county": ...}, staff={"gender": ..., "birth_year": None}))
    assert result.exit_code == 0, result.output
    assert stored_unit(app) == (None, "Karlstad")
    assert stored_doctor(app) == (None, None, "Läkare")


def test_the_example_file_has_them(app, tmp_path):
    assert run_load(app, tmp_path, json.loads(EXAMPLE.read_text(encoding="utf-8"))).exit_code == 0
    with db.new_session(app) as s:
        assert s.get(CareUnit, "TSTNMT2321000156-EXVE").county == "05"
        doctor = s.get(Staff, "TSTNMT2321000156-EXL1")
        assert (doctor.gender, doctor.birth_year) == ("F", 1978)


@pytest.mark.parametrize("county", ["99", 17, "", "Värmland", "17 ", "7", ["17"], {"code": "17"}, True],
                         ids=repr)
def test_a_county_that_is_not_a_county_code_refuses_the_document(app, tmp_path, county):
    result = run_load(app, tmp_path, directory(unit={"county": county}))
    assert result.exit_code == 1
    assert problem_lines(result) == [f"units[0] ({UNIT_ID}): county: must be a county code (länskod) as text, one "
                                     f"of {COUNTY_CODES}, got {county!r}"]
    assert nothing_stored(app)


@pytest.mark.parametrize("gender", ["K", "f", "", "X", 1, True, ["F"]], ids=repr)
def test_a_gender_other_than_f_or_m_refuses_the_document(app, tmp_path, gender):
    result = run_load(app, tmp_path, directory(staff={"gender": gender}))
    assert result.exit_code == 1
    assert problem_lines(result) == [f"staff[0] ({DOCTOR_ID}): gender: must be F or M, got {gender!r}"]
    assert nothing_stored(app)


@pytest.mark.parametrize("birth_year", [1899, "later", True, False, "1975", 1975.0, 1975.5, -1975, [1975]],
                         ids=repr)
def test_a_birth_year_that_is_not_a_year_refuses_the_document(app, tmp_path, birth_year):
    if birth_year == "later":
        birth_year = this_year() + 1
    result = run_load(app, tmp_path, directory(staff={"birth_year": birth_year}))
    assert result.exit_code == 1
    assert problem_lines(result) == [f"staff[0] ({DOCTOR_ID}): birth_year: must be a year from 1900 to "
                                     f"{this_year()} (a number), got {birth_year!r}"]
    assert nothing_stored(app)


def test_the_first_and_the_latest_birth_year_are_taken(app):
    from portal.repository import intake as store

    registry = app.extensions["certificate_types"]
    with db.new_session(app) as s:
        assert store.load(s, directory(staff={"birth_year": 1900}), registry)[0] == []
    assert stored_doctor(app)[1] == 1900
    with db.new_session(app) as s:  # the latest is this year (in Sweden), or the `today` given
        problems, _ = store.load(s, directory(staff={"birth_year": 2031}), registry, today=date(2030, 12, 31))
    assert [p.fields for p in problems] == [("birth_year",)]
    with db.new_session(app) as s:
        assert store.load(s, directory(staff={"birth_year": 2031}), registry, today=date(2031, 1, 1))[0] == []
    assert stored_doctor(app)[1] == 2031


def test_every_bad_value_is_listed_and_nothing_of_the_document_is_stored(app, tmp_path):
    doc = directory(unit={"county": "26"}, staff={"gender": "W", "birth_year": 1850})
    doc["units"].append({"hsa_id": "TSTNMT2321000156-DAV2", "name": "Fin enhet", "provider": PROVIDER_ID,
                         "county": "01"})
    result = run_load(app, tmp_path, doc)
    assert result.exit_code == 1 and "refused, nothing was stored" in result.output
    assert [line.split(":")[1].strip() for line in problem_lines(result)] == ["county", "gender", "birth_year"]
    assert nothing_stored(app)


def test_a_later_document_changes_them_and_the_same_again_changes_nothing(app, tmp_path):
    assert run_load(app, tmp_path, directory()).exit_code == 0
    changed = directory(unit={"county": "01"}, staff={"gender": "M", "birth_year": 1980})
    result = run_load(app, tmp_path, changed)
    assert result.exit_code == 0, result.output
    assert "units: 0 new, 1 updated" in result.output and "staff: 0 new, 1 updated" in result.output
    assert stored_unit(app) == ("01", "Karlstad")
    assert stored_doctor(app) == ("M", 1980, "Läkare")
    again = run_load(app, tmp_path, changed)
    assert "units: 0 new, 0 updated, 1 unchanged" in again.output
    assert "staff: 0 new, 0 updated, 1 unchanged" in again.output


def test_a_later_document_without_them_clears_them_as_it_clears_other_fields(app, tmp_path):
    assert run_load(app, tmp_path, directory()).exit_code == 0
    result = run_load(app, tmp_path, directory(unit={"county": ..., "city": ...},
                                               staff={"gender": ..., "birth_year": ..., "title": ...}))
    assert result.exit_code == 0, result.output
    assert stored_unit(app) == (None, None)
    assert stored_doctor(app) == (None, None, None)


def test_a_bad_value_in_a_later_document_leaves_the_stored_ones(app, tmp_path):
    assert run_load(app, tmp_path, directory()).exit_code == 0
    result = run_load(app, tmp_path, directory(unit={"county": "01"}, staff={"birth_year": "1980"}))
    assert result.exit_code == 1
    assert stored_unit(app) == ("17", "Karlstad")
    assert stored_doctor(app) == ("F", 1975, "Läkare")


# --- the API ----------------------------------------------------------------------------------------------

SIGNED = NOW - timedelta(days=2)


@pytest.fixture
def journal(client):
    return bearer(token(client, "journal-demo"))


def count(app, model) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_registration_stores_a_new_units_county(app, client, journal):
    body = registration("api-county-1", SIGNED, unit={**UNIT, "county": "14"})
    assert client.post("/api/v1/certificates", json=body, headers=journal).status_code == 201
    with db.new_session(app) as s:
        assert s.get(CareUnit, UNIT["hsa_id"]).county == "14"


def test_a_registration_without_a_county_stores_the_unit_without_one(app, client, journal):
    assert client.post("/api/v1/certificates", json=registration("api-county-1", SIGNED),
                       headers=journal).status_code == 201
    with db.new_session(app) as s:
        assert s.get(CareUnit, UNIT["hsa_id"]).county is None


@pytest.mark.parametrize("county", ["99", 17, "", "Stockholm"], ids=repr)
def test_a_registration_with_a_bad_county_is_a_422_pointing_at_it_and_stores_nothing(app, client, journal, county):
    body = registration("api-county-1", SIGNED, unit={**UNIT, "county": county})
    response = client.post("/api/v1/certificates", json=body, headers=journal)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"] == [{"pointer": "/unit/county", "detail": "must be a county code (länskod) as "
                                        f"text, one of {COUNTY_CODES}, got {county!r}"}]
    assert count(app, Certificate) == count(app, CareUnit) == count(app, CareProvider) == 0


def test_a_known_unit_keeps_the_directorys_county(demo, client, journal):
    ve10 = demo_data.hsa("VE10")
    with db.new_session(demo) as s:
        provider = s.get(CareUnit, ve10).provider_id
    body = registration("api-county-1", SIGNED, unit={"hsa_id": ve10, "name": "Vårdcentralen Norrby", "county": "01"},
                        provider={"hsa_id": provider, "name": "Region Demoland"})
    assert client.post("/api/v1/certificates", json=body, headers=journal).status_code == 201
    with db.new_session(demo) as s:
        assert s.get(CareUnit, ve10).county == "17"


def test_the_doctors_gender_and_birth_year_do_not_come_through_the_api(app, client, journal):
    body = registration("api-county-1", SIGNED, issuer={**ISSUER, "gender": "F", "birth_year": 1975})
    response = client.post("/api/v1/certificates", json=body, headers=journal)
    assert response.status_code == 422
    assert sorted(e["pointer"] for e in response.json["errors"]) == ["/issuer/birth_year", "/issuer/gender"]
    assert count(app, Certificate) == 0


def test_the_openapi_document_describes_the_county(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    county = schemas["Unit"]["properties"]["county"]
    assert county["type"] == "string" and county["enum"] == list(counties.CODES)
    assert "county" not in schemas["Unit"]["required"]
    assert not {"gender", "birth_year"} & set(schemas["Issuer"]["properties"])


# --- the demo data ------------------------------------------------------------------------------------------

def test_the_demo_units_have_counties_but_one(demo):
    with db.new_session(demo) as s:
        by_unit = dict(s.execute(select(CareUnit.hsa_id, CareUnit.county)).all())
    assert set(by_unit) == {demo_data.hsa(u[0]) for u in demo_data.UNITS}
    assert [u for u, county in by_unit.items() if county is None] == [demo_data.hsa("VE41")]  # "Okänt län"
    assert {c for c in by_unit.values() if c is not None} == {"01", "14", "17"}
    with db.new_session(demo) as s:  # and each of them has certificates to count
        signed_on = set(s.scalars(select(Certificate.unit_id).distinct()))
    assert set(by_unit) <= signed_on


def test_the_demo_doctors_have_gender_and_birth_year_but_one_spread_over_every_age_group(demo):
    with db.new_session(demo) as s:
        doctors = s.execute(select(Staff.hsa_id, Staff.gender, Staff.birth_year)
                            .where(Staff.hsa_id.in_(select(Certificate.staff_id).distinct()))).all()
    unknown = [d.hsa_id for d in doctors if d.gender is None or d.birth_year is None]
    assert unknown == [demo_data.hsa("L008")]
    known = [d for d in doctors if d.hsa_id not in unknown]
    assert len(known) >= 6 and {d.gender for d in known} == {"F", "M"}
    groups = {aid for d in known for year in range(NOW.year - 3, NOW.year + 1)  # the demo data's three years
              for aid, _sv, _en, low, high in st.DOCTOR_AGES if low <= year - d.birth_year <= (high or 200)}
    assert groups == {aid for aid, *_ in st.DOCTOR_AGES}
    for d in known:  # each doctor stays in one age group over those years (the reports' columns are stable)
        ages = {aid for year in (NOW.year - 3, NOW.year) for aid, _sv, _en, low, high in st.DOCTOR_AGES
                if low <= year - d.birth_year <= (high or 200)}
        assert len(ages) == 1, d


def test_the_large_sets_certificates_are_signed_by_the_same_doctors():
    """The large set (the benchmarks' million certificates) adds patients only: its units and doctors are the
    small set's, so they have the same counties, genders and birth years."""
    stream = demo_data.patients(today=NOW.date(), seed=7, registry=load_registry())
    signers = {c["staff"] for _ in range(40) for c in next(stream).certificates}
    facts = {s.hsa_id: (s.gender, s.birth_year) for s in demo_data.STAFF}
    assert signers <= set(facts)
    assert sum(1 for s in signers if None in facts[s]) <= 1
