"""Rehabstöd through the Flask test client: who sees which cases, protected identity, the person
service failing closed, unit isolation, the patient view, settings, and PDL records."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Certificate, PdlRecord, Person, UserSettings

COORDINATOR = demo_data.hsa("R001")  # rehab coordinator on VE10
VE10, VE40 = demo_data.hsa("VE10"), demo_data.hsa("VE40")
PNR_RE = re.compile(r"(19|20)\d{6}-?\d{4}")


def login_staff(client, app, hsa_id, unit, role):
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=hsa_id)


def shown_pnrs(html: str) -> set[str]:
    return {m.group(0).replace("-", "") for m in PNR_RE.finditer(html)}


def persons(app) -> dict[str, Person]:
    with db.new_session(app) as s:
        return {p.personnummer: p for p in s.scalars(select(Person))}


def unit_patients(app, units) -> set[str]:
    with db.new_session(app) as s:
        return set(s.scalars(select(Certificate.patient_pnr).where(Certificate.unit_id.in_(units))))


def test_coordinator_sees_the_units_cases_and_never_a_protected_or_unknown_patient(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    response = client.get("/rehabstod/sjukfall")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    shown = shown_pnrs(html)
    assert len(shown) >= 5
    everyone = persons(demo)
    for pnr in shown:
        assert pnr in everyone and not everyone[pnr].protected and not everyone[pnr].deceased
        assert not everyone[pnr].validation_person
    protected = [p for p in everyone.values() if p.protected]
    for p in protected:
        assert p.personnummer not in html.replace("-", "") and f"{p.given_name} {p.family_name}" not in html
    # and the patients shown are this unit's (or its sub-units')
    assert shown <= unit_patients(demo, [VE10, demo_data.hsa("VE11")])


def test_doctor_sees_only_cases_they_decided(demo, client):
    login_staff(client, demo, demo_data.hsa("L002"), VE10, "LAKARE")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    shown = shown_pnrs(html)
    with db.new_session(demo) as s:
        signed_by_doctor = set(s.scalars(select(Certificate.patient_pnr)
                                         .where(Certificate.staff_id == demo_data.hsa("L002"))))
    assert shown and shown <= signed_by_doctor
    assert "<th scope=\"col\">" in html and ">Läkare<" not in html.split("<tbody>")[0]  # no doctor column for doctors


def _doctor_with_protected_case(app):
    """A doctor and unit where one of the doctor's own ongoing cases is a protected patient."""
    from portal.domain import sick_leave
    from portal.repository import rehab as store

    registry = app.extensions["certificate_types"]
    everyone = persons(app)
    with db.new_session(app) as s:
        for unit_local in ("VE10", "VE20", "VE40", "VE50"):
            unit = demo_data.hsa(unit_local)
            data = store.unit_certificates(s, registry, unit_ids=store.unit_scope(s, unit),
                                           provider_id=demo_data.hsa(
                                               {u[0]: u[2] for u in demo_data.UNITS}[unit_local]),
                                           since=NOW.date())
            for case in sick_leave.unit_cases(sick_leave.counting(data.records), NOW.date()):
                p = everyone.get(case.patient_id)
                if p and p.protected and not p.deceased:
                    return case.doctor_id, unit, p
    pytest.skip("no doctor with a protected patient in the demo data")


def test_doctor_sees_their_protected_patient_masked(demo, client):
    doctor, unit, patient = _doctor_with_protected_case(demo)
    login_staff(client, demo, doctor, unit, "LAKARE")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    assert "Sekretessmarkerad uppgift" in html
    assert f"{patient.given_name} {patient.family_name}" not in html


def test_person_service_down_shows_nothing_about_patients(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    demo.extensions["person_service"].mode = "fail"
    response = client.get("/rehabstod/sjukfall")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Sjukfall för enheten kunde inte hämtas" in html
    assert not shown_pnrs(html)
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(PdlRecord)) == 0


def test_unit_a_never_sees_unit_bs_cases(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    only_b = unit_patients(demo, [VE40]) - unit_patients(demo, [VE10, demo_data.hsa("VE11"), demo_data.hsa("VE20"),
                                                                    demo_data.hsa("VE21"), demo_data.hsa("VE30")])
    assert only_b and not (shown_pnrs(html) & only_b)
    # tampering: the unit is the session's, not a parameter
    assert not (shown_pnrs(client.get(f"/rehabstod/sjukfall?enhet={VE40}&unit={VE40}").get_data(as_text=True)) & only_b)


def test_patient_tokens_are_bound_to_the_session(demo, client, app):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    link = re.search(r'href="(/rehabstod/patient/[^"]+)"', html).group(1)
    assert client.get(link).status_code == 200
    other = app.test_client()
    login_staff(other, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    assert other.get(link).status_code == 404  # another session cannot use it
    assert client.get(link[:-4] + "abcd").status_code == 404  # tampered


def test_patient_view_lists_cases_and_certificates_and_logs_pdl(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    link = re.search(r'href="(/rehabstod/patient/[^"]+)"', html).group(1)
    page = client.get(link).get_data(as_text=True)
    assert "Sjukfall hos vårdgivaren" in page and "Intyg hos vårdgivaren" in page
    cert_link = re.search(r'href="(/rehabstod/patient/[^"]+/intyg/[^"]+)"', page).group(1)
    cert_page = client.get(cert_link)
    assert cert_page.status_code == 200 and 'class="app-certificate"' in cert_page.get_data(as_text=True)
    with db.new_session(demo) as s:
        kinds = {(r.activity, r.resource_type) for r in s.scalars(select(PdlRecord))}
    assert ("Läsa", "Sjukfall") in kinds and ("Läsa", "Intyg") in kinds


def test_every_patient_shown_gets_exactly_one_pdl_record_per_session(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    shown = shown_pnrs(html)
    client.get("/rehabstod/sjukfall")  # again, same session
    client.get("/rehabstod/sjukfall?sortera=namn&ordning=desc")
    with db.new_session(demo) as s:
        rows = s.scalars(select(PdlRecord)).all()
    assert sorted(r.patient_pnr for r in rows) == sorted(shown)
    assert {(r.activity, r.resource_type, r.user_hsa_id, r.user_unit_id, r.user_title) for r in rows} == {
        ("Läsa", "Sjukfall", COORDINATOR, VE10, "Rehabkoordinator")}
    from portal.repository import pdl

    with db.new_session(demo) as s:
        assert pdl.verify_chain(s) == []


def test_hide_personal_data(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    html = client.get("/rehabstod/sjukfall?personuppgifter=0").get_data(as_text=True)
    table = html.split("<tbody>")[1] if "<tbody>" in html else ""
    assert table and not shown_pnrs(table)
    everyone = persons(demo)
    assert not any(f"{p.given_name} {p.family_name}" in table for p in everyone.values())


def test_filters_and_sorting(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    all_html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    total = int(re.search(r"Visar (\d+) av (\d+) sjukfall", all_html).group(2))
    f_html = client.get("/rehabstod/sjukfall?kapitel=F00-F99").get_data(as_text=True)
    shown = int(re.search(r"Visar (\d+) av (\d+) sjukfall", f_html).group(1))
    assert 0 < shown < total
    rows = f_html.split("<tbody>")[1]
    assert all(code.startswith("F") for code in re.findall(r"<td>([A-Z][0-9]{2}\.?[0-9]*)</td>", rows))
    desc = client.get("/rehabstod/sjukfall?sortera=langd&ordning=desc").get_data(as_text=True)
    days = [int(d) for d in re.findall(r"<td>(\d+) dagar</td>", desc)]
    assert days == sorted(days, reverse=True)
    assert 'aria-sort="descending"' in desc


def test_bad_filter_input_is_a_400_with_an_error_summary(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    response = client.get("/rehabstod/sjukfall?alder_fran=abc&slut_fran=2026-13-45")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Det finns ett problem" in html and 'href="#alder_fran"' in html


def test_settings_are_validated_and_saved(demo, client):
    login_staff(client, demo, COORDINATOR, VE10, "REHABKOORDINATOR")
    page = client.get("/rehabstod/installningar").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bad = client.post("/rehabstod/installningar", data={"csrf_token": token, "max_days_between": "91",
                                                         "max_days_since_end": "-1", "default_unit": ""})
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "från 0 till 90" in html and "från 0 till 14" in html
    with db.new_session(demo) as s:
        assert s.get(UserSettings, COORDINATOR) is None
    good = client.post("/rehabstod/installningar", data={"csrf_token": token, "max_days_between": "10",
                                                          "max_days_since_end": "14", "default_unit": VE10})
    assert good.status_code == 200 and "Inställningarna är sparade" in good.get_data(as_text=True)
    with db.new_session(demo) as s:
        row = s.get(UserSettings, COORDINATOR)
        assert (row.max_days_between_certificates, row.max_days_since_end, row.default_unit_id) == (10, 14, VE10)


def test_citizens_cannot_reach_rehabstod(demo, client):
    ordinary = next(c for c in demo_data.demo_citizens(NOW.date()) if c.key == "ordinary")
    session_login(client, demo, "citizen", ordinary.personnummer)
    assert client.get("/rehabstod/sjukfall").status_code == 403
