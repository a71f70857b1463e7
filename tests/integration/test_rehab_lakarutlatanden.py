"""The läkarutlåtanden list through the Flask test client: what a coordinator and a doctor see,
protected identity, the person service failing closed, unit isolation, filters, sorting, bad input,
the personal-data switch, htmx fragments and PDL records."""
from __future__ import annotations

import re

from sqlalchemy import delete, func, select

from conftest import session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Certificate, PdlRecord, Person

from .test_rehab import PNR_RE, persons, shown_pnrs

URL = "/rehabstod/lakarutlatanden"
COORDINATOR = demo_data.hsa("R001")
VE10, VE11, VE40 = demo_data.hsa("VE10"), demo_data.hsa("VE11"), demo_data.hsa("VE40")
TYPES = ("FK7800", "FK7801", "FK7802")


def login(client, app, hsa_id=COORDINATOR, unit=VE10, role="REHABKOORDINATOR"):
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=hsa_id)


def lakarutlatanden(app, units=(VE10, VE11)) -> list[Certificate]:
    with db.new_session(app) as s:
        return list(s.scalars(select(Certificate).where(Certificate.unit_id.in_(units),
                                                        Certificate.type_code.in_(TYPES),
                                                        Certificate.revoked_at.is_(None))))


def table(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""


def headers(html: str) -> list[str]:
    thead = html.split("<thead>")[1].split("</thead>")[0]
    return [re.sub(r"<[^>]+>", "", re.sub(r'<span class="app-visually-hidden">.*?</span>', "", h)).strip()
            for h in re.findall(r"<th [^>]*>(.*?)</th>", thead, re.S)]


def signed_dates(html: str) -> list[str]:
    return re.findall(r'<td class="app-nowrap">(\d{4}-\d{2}-\d{2})</td>', table(html))


def pdl_records(app) -> list[PdlRecord]:
    with db.new_session(app) as s:
        return list(s.scalars(select(PdlRecord)))


def protected_lakarutlatande(app) -> tuple[Certificate, Person]:
    everyone = persons(app)
    cert = next(c for c in lakarutlatanden(app) if everyone[c.patient_pnr].protected)
    return cert, everyone[cert.patient_pnr]


def test_a_coordinator_sees_the_units_lakarutlatanden_never_a_protected_deceased_or_validation_patient(demo, client):
    login(client, demo)
    response = client.get(URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    everyone = persons(demo)
    on_unit = {c.patient_pnr for c in lakarutlatanden(demo)}
    allowed = {p for p in on_unit
               if not (everyone[p].protected or everyone[p].deceased or everyone[p].validation_person)}
    shown = shown_pnrs(table(html))
    assert shown == allowed and len(shown) >= 10
    assert on_unit - allowed  # the demo data holds a protected patient and a valideringsperson here
    for p in on_unit - allowed:
        assert p not in html.replace("-", "") and f"{everyone[p].given_name} {everyone[p].family_name}" not in html
    assert headers(html) == ["Personnummer", "Ålder", "Namn", "Kön", "Intygstyp", "Diagnos", "Signeringsdatum",
                             "Ärenden", "Läkare"]
    m = re.search(r"Visar (\d+) av (\d+) läkarutlåtanden", html)
    assert m and m.group(1) == m.group(2) == str(html.count("<tr>") - 1)
    assert "Komplettering (1)" in html or "Administrativ fråga (1)" in html  # FK's questions, counted


def test_every_patient_shown_gets_one_lasa_lakarutlatande_pdl_record(demo, client):
    login(client, demo)
    shown = shown_pnrs(table(client.get(URL).get_data(as_text=True)))
    client.get(URL + "?sortera=namn&ordning=asc")  # again in the same session: nothing new
    records = pdl_records(demo)
    assert sorted(r.patient_pnr for r in records) == sorted(shown)
    assert {(r.activity, r.resource_type, r.user_hsa_id, r.user_unit_id) for r in records} == {
        ("Läsa", "Läkarutlåtande", COORDINATOR, VE10)}


def test_a_doctor_sees_only_what_they_signed_with_their_protected_patient_masked(demo, client):
    cert, patient = protected_lakarutlatande(demo)
    login(client, demo, cert.staff_id, VE10, "LAKARE")
    html = client.get(URL).get_data(as_text=True)
    own = {c.patient_pnr for c in lakarutlatanden(demo) if c.staff_id == cert.staff_id}
    shown = shown_pnrs(table(html))
    assert shown and shown <= own
    assert cert.patient_pnr in shown  # a doctor's own protected patient is listed ...
    assert "Sekretessmarkerad uppgift" in table(html)  # ... masked
    assert f"{patient.given_name} {patient.family_name}" not in html
    assert "Läkare" not in headers(html)
    others = {c.patient_pnr for c in lakarutlatanden(demo) if c.staff_id != cert.staff_id} - own
    assert others and not (shown & others)


def test_a_patient_unknown_to_the_person_service_is_hidden_from_a_coordinator_and_unnamed_for_the_doctor(
        demo, client, app):
    everyone = persons(demo)
    cert = next(c for c in lakarutlatanden(demo) if not everyone[c.patient_pnr].protected
                and not everyone[c.patient_pnr].validation_person and not everyone[c.patient_pnr].deceased)
    with db.new_session(demo) as s:
        s.execute(delete(Person).where(Person.personnummer == cert.patient_pnr))
        s.commit()
    login(client, demo)
    assert cert.patient_pnr not in shown_pnrs(client.get(URL).get_data(as_text=True))
    doctor = app.test_client()
    login(doctor, demo, cert.staff_id, VE10, "LAKARE")
    html = doctor.get(URL).get_data(as_text=True)
    row = next(r for r in table(html).split("<tr>") if cert.patient_pnr[:8] + "-" + cert.patient_pnr[8:] in r)
    assert "Namn okänt" in row


def test_person_service_down_shows_nothing_about_patients_and_logs_nothing(demo, client):
    login(client, demo)
    demo.extensions["person_service"].mode = "fail"
    response = client.get(URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Läkarutlåtanden för enheten kunde inte hämtas" in html
    assert not PNR_RE.search(html) and "<tbody>" not in html
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(PdlRecord)) == 0


def test_another_units_coordinator_never_sees_these(demo, client):
    login(client, demo, demo_data.hsa("R003"), VE40)
    html = client.get(URL).get_data(as_text=True)
    ve10 = {c.patient_pnr for c in lakarutlatanden(demo)}
    ve40 = {c.patient_pnr for c in lakarutlatanden(demo, (VE40, demo_data.hsa("VE41")))}
    assert not (shown_pnrs(table(html)) & (ve10 - ve40))
    # the unit is the session's, never a parameter
    login(client, demo)
    assert not (shown_pnrs(table(client.get(URL + f"?enhet={VE40}").get_data(as_text=True))) & (ve40 - ve10))


def test_filters_by_type_signing_date_diagnosis_chapter_and_doctor(demo, client):
    login(client, demo)
    everything = client.get(URL).get_data(as_text=True)
    total = int(re.search(r"Visar (\d+) av (\d+)", everything).group(2))
    by_type = client.get(URL + "?typ=FK7801").get_data(as_text=True)
    shown = int(re.search(r"Visar (\d+) av (\d+)", by_type).group(1))
    assert 0 < shown < total
    assert "(FK7801)" in table(by_type) and "(FK7800)" not in table(by_type) and "(FK7802)" not in table(by_type)
    dated = client.get(URL + "?signerad_fran=2026-01-01&signerad_till=2026-06-30").get_data(as_text=True)
    days = signed_dates(dated)
    assert days and all("2026-01-01" <= d <= "2026-06-30" for d in days)
    assert len(days) < total
    certs = lakarutlatanden(demo)
    doctor = certs[0].staff_id
    by_doctor = client.get(URL + f"?lakare={doctor}").get_data(as_text=True)
    everyone = persons(demo)
    expected = {c.patient_pnr for c in certs if c.staff_id == doctor and not everyone[c.patient_pnr].protected
                and not everyone[c.patient_pnr].validation_person}
    assert shown_pnrs(table(by_doctor)) == expected
    chapter = client.get(URL + "?kapitel=M00-M99&kapitel=S00-T98").get_data(as_text=True)
    codes = re.findall(r"<td>([A-Z][0-9]{2}[0-9.]*)</td>", table(chapter))
    assert codes and all(c[0] in "MST" for c in codes)


def test_sorted_newest_first_by_default_and_by_a_column_on_request(demo, client):
    login(client, demo)
    html = client.get(URL).get_data(as_text=True)
    days = signed_dates(html)
    assert days == sorted(days, reverse=True) and len(set(days)) > 1
    assert re.search(r'<th scope="col" data-column="signerad" aria-sort="descending">', html)
    oldest = signed_dates(client.get(URL + "?sortera=signerad&ordning=asc").get_data(as_text=True))
    assert oldest == sorted(days)
    ages = client.get(URL + "?sortera=alder&ordning=asc").get_data(as_text=True)
    values = [int(a) for a in re.findall(r"<td>(\d{1,3})</td>", table(ages))]
    assert values == sorted(values)


def test_bad_filter_input_is_a_400_with_an_error_summary_linking_to_the_field(demo, client):
    login(client, demo)
    response = client.get(URL + "?signerad_fran=2026-13-45&signerad_till=igår")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Det finns ett problem" in html and 'href="#signerad_fran"' in html and 'href="#signerad_till"' in html
    assert "Ange ett datum som ÅÅÅÅ-MM-DD" in html
    assert html.count('class="app-error-message"') == 2
    wrong_way = client.get(URL + "?signerad_fran=2026-06-01&signerad_till=2026-01-01")
    assert wrong_way.status_code == 400 and "får inte vara efter" in wrong_way.get_data(as_text=True)


def test_hiding_personal_data_removes_names_and_personnummer(demo, client):
    login(client, demo)
    html = client.get(URL + "?personuppgifter=0").get_data(as_text=True)
    assert table(html) and not shown_pnrs(table(html))
    assert not any(f"{p.given_name} {p.family_name}" in html for p in persons(demo).values())
    assert "Personnummer" not in headers(html) and "Namn" not in headers(html)
    # the box ticked again (hidden 0, then 1): shown
    assert shown_pnrs(table(client.get(URL + "?personuppgifter=0&personuppgifter=1").get_data(as_text=True)))


def test_htmx_gets_the_results_block_with_the_count_to_announce_and_export_links_carrying_the_filters(demo, client):
    login(client, demo)
    response = client.get(URL + "?typ=FK7800&personuppgifter=0", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    assert html.lstrip().startswith('<div id="results"') and "<h1" not in html
    assert re.search(r'data-app-announce="Visar \d+ av \d+ läkarutlåtanden', html)
    assert 'href="/rehabstod/lakarutlatanden/export.pdf?typ=FK7800&amp;personuppgifter=0"' in html
    assert 'href="/rehabstod/lakarutlatanden/export.xlsx?typ=FK7800&amp;personuppgifter=0"' in html


def test_the_type_links_open_the_certificate_in_rehabstod(demo, client):
    login(client, demo)
    html = client.get(URL).get_data(as_text=True)
    link = re.search(r'href="(/rehabstod/patient/[^"]+/intyg/[^"]+)"', table(html)).group(1)
    assert not PNR_RE.search(link)
    page = client.get(link)
    assert page.status_code == 200 and 'class="app-certificate"' in page.get_data(as_text=True)
