"""Rehabstöd's unit overview (GET /rehabstod/) through the Flask test client, on SQLite and
PostgreSQL with the small demo data: its figures equal an independent count from the database, a
doctor's covers only their own cases, a coordinator's leaves out the patients the list leaves out,
it writes no PDL record and shows no patient, it fails closed when the person service is down,
and every chart is an accessible SVG followed by a table whose rows lead to the list."""
from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select, update

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.domain import sick_leave
from portal.models import CareUnit, Certificate, CertificateRelation, PdlRecord, Person

COORDINATOR = demo_data.hsa("R001")  # rehab coordinator on VE10
DOCTOR = demo_data.hsa("L002")  # doctor on VE10
VE10 = demo_data.hsa("VE10")
TODAY = NOW.date()
PNR_RE = re.compile(r"(19|20)\d{6}-?\d{4}")
SECTIONS = ("kon", "diagnosgrupp", "grad", "grader", "langd")


def login(client, app, hsa_id, role, unit=VE10):
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=hsa_id)


# --- reading the page ----------------------------------------------------------------------------

def _int(text: str) -> int:
    return int(re.sub(r"\D", "", html_lib.unescape(text)))


def figures(html: str) -> dict:
    """What the page shows: the total and, per chart section, {row key: count} from its table, and
    the same from the SVG's value labels."""
    total = _int(re.search(r'id="overview-total">([^<]+)<', html).group(1))
    shown = {"total": total}
    for section in SECTIONS:
        part = html.split(f'<section class="app-chart" id="{section}"', 1)[1].split("</section>", 1)[0]
        table = part.split("<table", 1)[1]
        shown[section] = {key: _int(n) for key, n in re.findall(
            r'<tr data-key="([^"]+)">.*?<td class="app-num">([^<]+)</td>', table, re.S)}
        svg = part.split("<svg", 1)[1].split("</svg>", 1)[0]
        in_svg = {key: _int(n) for key, n in re.findall(
            r'<g class="app-chart__row" data-key="([^"]+)">.*?class="app-chart__value"[^>]*>([^<(]+)\(', svg, re.S)}
        assert in_svg == shown[section], f"the {section} chart and its table disagree"
        assert _int(re.search(r'<tfoot>.*?<td class="app-num">([^<]+)</td>', table, re.S).group(1)) == total
    return shown


def overview_page(client) -> str:
    response = client.get("/rehabstod/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- an independent count --------------------------------------------------------------------------

#: domain.md "Diagnosis chapters and groups", written out again here (not portal.domain.diagnosis)
CHAPTER_RANGES = ("A00-B99 C00-D48 D50-D89 E00-E90 F00-F99 G00-G99 H00-H59 H60-H95 I00-I99 J00-J99 K00-K93 "
                  "L00-L99 M00-M99 N00-N99 O00-O99 P00-P96 Q00-Q99 R00-R99 S00-T98 U00-U99 V01-Y98 Z00-Z99").split()
GROUP_RANGES = {
    "SOMATISKA": ("A00-E90", "G00-L99", "N00-N99"), "MUSKULOSKELETALA": ("M00-M99",), "PSYKISKA": ("F00-F99",),
    "GRAVIDITET": ("O00-O99",), "SYMTOM": ("R00-R99",), "FAKTORER": ("Z00-Z99",),
    "OVRIGT": ("P00-P96", "Q00-Q99", "S00-Y98"),
}


def _in(code: str, ranges) -> bool:
    key = (code[0], int(code[1:3]))
    return any((r[0], int(r[1:3])) <= key <= (r[4], int(r[5:7])) for r in ranges)


def _group(code: str | None) -> str:
    code = re.sub(r"[^A-Z0-9]", "", (code or "").upper())
    if not re.match(r"^[A-Z][0-9]{2}", code) or not _in(code, CHAPTER_RANGES):
        return "UTAN"
    return next(g for g, ranges in GROUP_RANGES.items() if _in(code, ranges))


def _length(days: int) -> str:
    return "lt90" if days < 90 else "90-180" if days <= 180 else "181-365" if days <= 365 else "gt365"


def independent_figures(app, unit: str, *, doctor: str | None = None, hidden=frozenset()) -> dict:
    """The overview's figures computed without the portal's Rehabstöd code (no portal.rehab,
    repository.rehab or domain.rehab, no stored engine data): the unit's and its sub-units' FK7804
    and FK7263 certificates are read from the database and their periods and diagnoses from each
    certificate's full content (through its type definition); replaced certificates are found from
    the relations table; the sick-leave engine (the one checked against the 49 reference cases)
    builds the cases with the default settings; the rules of domain.md "Rehabstöd" pick the cases the
    user may see, reading the persons table directly; and the counts are made here (gender from the
    personnummer, diagnosis groups from the ranges written out above, today's degree from the
    deciding certificate's period that holds today, length buckets from the days).
    ``hidden``: personnummer a test makes unknown to the person service."""
    from portal.domain import certificate_types as ct

    registry = app.extensions["certificate_types"]
    with db.new_session(app) as s:
        scope, frontier = {unit}, {unit}
        while frontier:
            frontier = set(s.scalars(select(CareUnit.hsa_id).where(CareUnit.parent_id.in_(frontier))))
            scope |= frontier
        certs = s.scalars(select(Certificate).where(Certificate.unit_id.in_(scope),
                                                    Certificate.type_code.in_(("FK7804", "FK7263")))).all()
        revoked = {c.id for c in s.scalars(select(Certificate).where(Certificate.revoked_at.is_not(None)))}
        relations = s.execute(select(CertificateRelation.from_id, CertificateRelation.to_id))
        replaced = {to_id for from_id, to_id in relations
                    if from_id not in revoked}
        people = {p.personnummer: p for p in s.scalars(select(Person))}
        input_ = []
        for c in certs:
            person = people.get(c.patient_pnr)
            if c.revoked_at is not None or c.id in replaced or (person is not None and person.validation_person):
                continue
            ctype = registry[c.type_code]
            codes = [d["code"] for d in ct.diagnoses(ctype, c.content)]
            periods = [sick_leave.Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), int(p["degree"]))
                       for p in ct.sick_leave_periods(ctype, c.content)]
            if periods and codes:
                input_.append(sick_leave.SickLeaveCertificate(
                    id=c.id, patient_id=c.patient_pnr, signed=c.signed_at, periods=periods, diagnosis=codes[0],
                    doctor_id=c.staff_id, unit_id=c.unit_id))
    cases = sick_leave.unit_cases(input_, TODAY, sick_leave.Settings())
    seen = []
    for case in cases:
        person = None if case.patient_id in hidden else people.get(case.patient_id)
        if person is not None and (person.deceased or person.validation_person):
            continue
        if doctor is None and (person is None or person.protected):
            continue  # a coordinator never sees a protected patient nor one unknown to the person service
        if doctor is not None and case.doctor_id != doctor:
            continue
        seen.append(case)
    today_degree = [next((p.degree for p in c.deciding.periods if p.start <= TODAY <= p.end), None) for c in seen]
    return {
        "total": len(seen),
        "kon": dict(Counter("M" if int(c.patient_id[10]) % 2 else "F" for c in seen)),
        "diagnosgrupp": dict(Counter(_group(c.deciding.diagnosis) for c in seen)),
        "grad": dict(Counter(str(d) if d else "none" for d in today_degree)),
        "grader": dict(Counter("one" if len({p.degree for p in c.deciding.periods}) == 1 else "several" for c in seen)),
        "langd": dict(Counter(_length(c.days) for c in seen)),
        "patients": {c.patient_id for c in seen},
    }


def same(shown: dict, expected: dict) -> None:
    assert shown["total"] == expected["total"]
    for section in SECTIONS:
        # the page lists every category, zeros included; the count here only the ones that occur
        assert {k: v for k, v in shown[section].items() if v} == expected[section], section


# --- the tests ---------------------------------------------------------------------------------------

def test_coordinators_figures_equal_an_independent_count_from_the_database(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    shown = figures(overview_page(client))
    expected = independent_figures(demo, VE10)
    assert expected["total"] >= 10  # the demo unit has enough cases for the comparison to mean something
    same(shown, expected)
    # every category is listed, in the order of domain.md
    assert list(shown["langd"]) == ["lt90", "90-180", "181-365", "gt365"]
    assert list(shown["kon"]) == ["F", "M"]
    assert list(shown["diagnosgrupp"]) == list(GROUP_RANGES) + ["UTAN"]


def test_doctors_overview_counts_only_their_own_cases(demo, client):
    login(client, demo, DOCTOR, "LAKARE")
    html = overview_page(client)
    shown = figures(html)
    expected = independent_figures(demo, VE10, doctor=DOCTOR)
    coordinator = independent_figures(demo, VE10)
    assert 0 < expected["total"] < coordinator["total"]
    same(shown, expected)
    assert "Du ser de sjukfall där du har signerat det aktuella intyget." in html


def test_a_doctors_own_protected_patient_is_counted_but_not_shown(demo, client):
    from tests.integration.test_rehab import _doctor_with_protected_case

    doctor, unit, patient = _doctor_with_protected_case(demo)
    login(client, demo, doctor, "LAKARE", unit=unit)
    html = overview_page(client)
    expected = independent_figures(demo, unit, doctor=doctor)
    assert patient.personnummer in expected["patients"]
    same(figures(html), expected)
    assert f"{patient.given_name} {patient.family_name}" not in html and "Sekretessmarkerad" not in html


def test_coordinators_overview_leaves_out_protected_unknown_deceased_and_validation_patients(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    before = figures(overview_page(client))
    patients = sorted(independent_figures(demo, VE10)["patients"])
    protected, deceased, validation, unknown = patients[:4]
    with db.new_session(demo) as s:
        s.execute(update(Person).where(Person.personnummer == protected).values(protected=True))
        s.execute(update(Person).where(Person.personnummer == deceased).values(deceased=True))
        s.execute(update(Person).where(Person.personnummer == validation).values(validation_person=True))
        s.commit()
    service = demo.extensions["person_service"]
    real_lookup = service.lookup
    service.lookup = lambda pnrs: {p: i for p, i in real_lookup(pnrs).items() if p != unknown}
    try:
        after = figures(overview_page(client))
    finally:
        service.lookup = real_lookup
    assert after["total"] == before["total"] - 4
    expected = independent_figures(demo, VE10, hidden={unknown})
    assert not {protected, deceased, validation, unknown} & expected["patients"]
    same(after, expected)
    # the same rule as the list: the list shows as many cases as the overview counts
    service.lookup = lambda pnrs: {p: i for p, i in real_lookup(pnrs).items() if p != unknown}
    try:
        listed = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    finally:
        service.lookup = real_lookup
    assert re.search(r"Visar (\d+) av (\d+) sjukfall", listed).group(2) == str(after["total"])


def test_the_overview_writes_no_pdl_record_and_shows_no_patient(demo, client, app):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    html = overview_page(client)
    doctor = app.test_client()
    login(doctor, demo, DOCTOR, "LAKARE")
    doctor_html = overview_page(doctor)
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(PdlRecord)) == 0
        names = [f"{p.given_name} {p.family_name}" for p in s.scalars(select(Person))]
    for page in (html, doctor_html):
        assert not PNR_RE.search(page)
        assert not any(name in page for name in names)
        assert "/rehabstod/patient/" not in page
    # the list does write records: the overview's silence is not a broken log
    client.get("/rehabstod/sjukfall")
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(PdlRecord)) > 0


def test_person_service_down_shows_the_unavailable_page_and_no_figures(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    demo.extensions["person_service"].mode = "fail"
    response = client.get("/rehabstod/")
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Sjukfall för enheten kunde inte hämtas" in html
    main = html.split('<main', 1)[1].split(">", 1)[1].split("</main>", 1)[0]  # (the header's logo is an SVG)
    assert "<svg" not in main and "app-chart" not in html and 'id="overview-total"' not in html
    main = html.split('<main', 1)[1].split(">", 1)[1].split("</main>", 1)[0]
    assert not re.search(r"\d", re.sub(r"<[^>]+>", "", main))  # not a single figure


def test_every_chart_is_an_svg_with_a_name_a_description_and_a_table(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    html = overview_page(client)
    main = html.split('<main', 1)[1].split("</main>", 1)[0]
    assert "style=" not in main and "<script" not in main  # strict CSP: no inline style or script
    shown = figures(html)
    assert len(re.findall(r"<h2 ", main)) == len(SECTIONS) and main.count("<h1") == 1
    for section in SECTIONS:
        part = main.split(f'<section class="app-chart" id="{section}"', 1)[1].split("</section>", 1)[0]
        svg_tag = re.search(r"<svg[^>]*>", part).group(0)
        assert 'role="img"' in svg_tag
        title_id = re.search(r'aria-labelledby="([^"]+)"', svg_tag).group(1)
        desc_id = re.search(r'aria-describedby="([^"]+)"', svg_tag).group(1)
        title = re.search(rf'<title id="{title_id}">([^<]+)</title>', part).group(1)
        desc = html_lib.unescape(re.search(rf'<desc id="{desc_id}">([^<]+)</desc>', part).group(1))
        assert title.startswith("Pågående sjukfall")
        # the description gives every number of the chart, with its label
        for key, count in shown[section].items():
            label = html_lib.unescape(re.search(
                rf'<tr data-key="{re.escape(key)}">\s*<th scope="row">(?:<a [^>]*>)?([^<]+)', part).group(1))
            assert f"{label}: {count} (" in desc
        # the table: a caption (the chart's title), column and row headers
        assert f"<caption>{title}</caption>" in part
        assert part.count('<th scope="col"') == 3 and part.count('<th scope="row"') == len(shown[section]) + 1


def test_table_rows_lead_to_the_list_filtered_to_the_same_cases(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    html = overview_page(client)
    shown = figures(html)
    links = re.findall(r'<tr data-key="([^"]+)">\s*<th scope="row"><a href="([^"]+)"', html)
    keys = {k for k, _ in links}
    assert {"F", "M", "PSYKISKA", "UTAN", "100", "lt90", "gt365"} <= keys
    assert "one" not in keys and "several" not in keys  # the list has no filter for these
    by_key = {key: count for section in SECTIONS for key, count in shown[section].items()}
    for key, href in links:
        listed = client.get(html_lib.unescape(href)).get_data(as_text=True)
        matched, total = re.search(r"Visar (\d+) av (\d+) sjukfall", listed).groups()
        assert (int(matched), int(total)) == (by_key[key], shown["total"]), key


def test_the_overview_in_english_uses_english_labels_and_number_format(demo, client):
    login(client, demo, COORDINATOR, "REHABKOORDINATOR")
    client.set_cookie("lang", "en")
    html = overview_page(client)
    assert '<html lang="en"' in html
    assert "&gt; 365 days" in html and "Day 90–180" in html and "Musculoskeletal diseases" in html
    assert "Woman" in html and "Sick-leave length" in html
    assert re.search(r"\(\d+%\)", html) and not re.search(r"\(\d+\xa0%\)", html)  # 57%, not 57 %
    sv = app_client_in_swedish(demo)
    assert re.search(r"\(\d+\xa0%\)", sv) and "&gt; 365 dagar" in sv and "Dag 181–365" in sv and "&lt; 90" in sv


def app_client_in_swedish(app) -> str:
    other = app.test_client()
    login(other, app, COORDINATOR, "REHABKOORDINATOR")
    return overview_page(other)


@pytest.mark.parametrize("path", ["/rehabstod/"])
def test_citizens_and_anonymous_users_cannot_see_the_overview(demo, client, path):
    assert client.get(path).status_code == 302  # to the SITHS login
    citizen = next(c for c in demo_data.demo_citizens(TODAY) if c.key == "ordinary")
    session_login(client, demo, "citizen", citizen.personnummer)
    assert client.get(path).status_code == 403
