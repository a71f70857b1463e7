"""Intygsstatistik (issue 15): the job's figures against an independent count written from domain.md's and
sick-leave-rules.md's rules (day by day, from the certificates' JSON, not through the engine or the report
code), incremental runs, no personnummer in the statistics tables, and the public report pages."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from conftest import NOW
from portal import db
from portal.domain import diagnosis
from portal.domain import statistics as st
from portal.models import Certificate, CertificateRelation, Person
from portal.repository import statistics as store

MONTHS = st.last_months(NOW.date())


def run(app, full=False):
    with db.new_session(app) as s:
        return store.run(s, app.extensions["certificate_types"], store.statistics_key(app.config),
                         app.extensions["clock"].now(), full=full)


def independent_cases(app) -> dict[date, list[dict]]:
    """Each month's cases, counted from the rules: counting types, not revoked, not replaced or complemented by a
    certificate that is not revoked, not a valideringsperson's, with a diagnosis; chained per patient and care
    provider when a certificate starts at most 5 uncovered days after the latest end so far; a case counts in a
    month when it covers a day of it, described by its last covered day of the month."""
    with db.new_session(app) as s:
        certs = s.execute(select(Certificate).where(Certificate.type_code.in_(("FK7804", "FK7263")))).scalars().all()
        live = {c.id for c in s.execute(select(Certificate)).scalars() if c.revoked_at is None}
        replaced = {r.to_id for r in s.execute(select(CertificateRelation)).scalars() if r.from_id in live}
        validation = {p.personnummer for p in s.execute(select(Person)).scalars() if p.validation_person}
        usable = []
        for c in certs:
            data = json.loads(c.engine_data or "{}")
            if c.revoked_at is not None or c.id in replaced or c.patient_pnr in validation or not data.get("d"):
                continue
            periods = [(date.fromisoformat(a), date.fromisoformat(b), int(d)) for a, b, d in data["p"]]
            usable.append((c.patient_pnr, c.provider_id, c.unit_id, c.signed_at, c.id, periods, data["d"][0],
                           c.staff_id))
    by_key = defaultdict(list)
    for u in usable:
        by_key[(u[0], u[1])].append(u)
    out: dict[date, list[dict]] = defaultdict(list)
    for (pnr, _provider), items in by_key.items():
        items.sort(key=lambda u: (min(p[0] for p in u[5]), max(p[1] for p in u[5]), u[3], u[4]))
        chains, latest = [], None
        for u in items:
            start, end = min(p[0] for p in u[5]), max(p[1] for p in u[5])
            if latest is not None and start <= latest + timedelta(days=6):
                chains[-1].append(u)
                latest = max(latest, end)
            else:
                chains.append([u])
                latest = end
        for number, chain in enumerate(chains):
            days = {p[0] + timedelta(days=i) for u in chain for p in u[5] for i in range((p[1] - p[0]).days + 1)}
            for month in MONTHS:
                in_month = [d for d in days if d.year == month.year and d.month == month.month]
                if not in_month:
                    continue
                day = max(in_month)
                active = [u for u in chain if any(p[0] <= day <= p[1] for p in u[5])]
                deciding = max(active, key=lambda u: (u[3], u[4]))
                degree = next(p[2] for p in deciding[5] if p[0] <= day <= p[1])
                code = deciding[6].upper().replace(".", "")
                born = date(int(pnr[:4]), int(pnr[4:6]), int(pnr[6:8]) % 60)  # a samordningsnummer adds 60
                age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
                out[month].append({"gender": "M" if int(pnr[-2]) % 2 else "F", "unit": deciding[2],
                                   "category": code[:3] if diagnosis.chapter_of(code) != diagnosis.UTAN else "UTAN",
                                   "doctor": deciding[7], "age": age, "chain": (pnr, _provider, number),
                                   "provider": deciding[1],
                                   "started": min(days) >= month, "ended": max(days) <= month_end(month),
                                   "chapter": diagnosis.chapter_of(deciding[6].upper().replace(".", "")),
                                   "degree": degree, "length": len([d for d in days if d <= day])})
    return out


def test_the_case_counts_equal_an_independent_count(demo):
    result = run(demo, full=True)
    assert result.kind == "full" and result.case_months > 0
    expected = independent_cases(demo)
    with db.new_session(demo) as s:
        by_gender = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "gender")
        by_degree = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "degree")
        by_chapter = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "chapter")
    assert sum(len(v) for v in expected.values()) > 100
    for month in MONTHS:
        cases = expected.get(month, [])
        for g in ("F", "M"):
            assert by_gender.get((month, g), 0) == sum(1 for c in cases if c["gender"] == g), (month, g)
        for d in (25, 50, 75, 100):
            assert by_degree.get((month, str(d)), 0) == sum(1 for c in cases if c["degree"] == d), (month, d)
        for chapter in {c["chapter"] for c in cases}:
            assert by_chapter.get((month, chapter), 0) == sum(1 for c in cases if c["chapter"] == chapter)


def test_no_personnummer_in_any_statistics_table(demo):
    from portal.models import Base
    from portal.security import PNR_RE

    run(demo)
    demo.test_client().get("/statistik/nationell/sjukfall")  # a published table stored
    tables = sorted(t for t in Base.metadata.tables if t.startswith(("stat_", "region_")))
    assert {"stat_case_months", "stat_case_cube", "stat_published", "stat_doctors", "region_listings"} <= set(tables)
    with db.new_session(demo) as s:
        pnrs = set(s.scalars(select(Certificate.patient_pnr)))
        for table in tables:
            rows = s.execute(text(f"SELECT * FROM {table}")).all()
            assert rows or table in ("stat_state", "region_files", "region_listings")
            for row in rows:
                for value in row:
                    value = str(value)
                    assert not PNR_RE.search(value), (table, value)
                    assert not any(p in value or p[2:] in value for p in pnrs), (table, value)


def _new_patient(app, seed: int):
    """A new person with an ongoing FK7804 sick leave on VE10, as an intake document (as the cache tests make)."""
    from tests.integration.test_rehab_cache import _new_patient as new_patient

    return new_patient(app, seed)


def _load(app, doc):
    from portal.repository import intake

    with db.new_session(app) as s:
        problems, _ = intake.load(s, doc, app.extensions["certificate_types"])
    assert problems == []


def _total(app, month) -> int:
    with db.new_session(app) as s:
        return sum(store.case_counts(s, store.Scope(), month, month, "all").values())


def test_an_incremental_run_takes_in_only_the_changed_patients(demo):
    run(demo)
    this_month = MONTHS[-1]
    before = _total(demo, this_month)
    person, doc = _new_patient(demo, 3)
    _load(demo, doc)
    result = run(demo)
    assert result.kind == "incremental"
    assert _total(demo, this_month) == before + 1
    key = st.patient_key(store.statistics_key(demo.config), person["personnummer"])
    with db.new_session(demo) as s:
        assert s.scalar(text("SELECT count(*) FROM stat_case_months WHERE patient_key = :k"), {"k": key}) >= 1
    # revoked: gone again at the next run
    _load(demo, {"revocations": [{"certificate": c["id"], "at": (NOW - timedelta(hours=1)).isoformat(),
                                  "reason": "Fel patient"} for c in doc["certificates"]]})
    assert run(demo).kind == "incremental"
    assert _total(demo, this_month) == before
    # a full run gives the same figures
    with db.new_session(demo) as s:
        incremental = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "chapter")
    assert run(demo, full=True).kind == "full"
    with db.new_session(demo) as s:
        assert store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "chapter") == incremental


def test_valideringspersoner_never_count(demo):
    run(demo)
    person, doc = _new_patient(demo, 4)
    doc["persons"][0]["validation_person"] = True
    before = _total(demo, MONTHS[-1])
    _load(demo, doc)
    run(demo)
    assert _total(demo, MONTHS[-1]) == before


# --- the public report pages --------------------------------------------------------------------------------------

def _table(html: str, index: int = 0) -> tuple[list[str], list[list[str]]]:
    """The index'th statistics table on the page: its column headings and its rows (first cell the row heading)."""
    tables = re.findall(r'<table class="app-table app-table--numeric app-stat-table">(.*?)</table>', html, re.S)
    body = tables[index]
    heads = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", body, re.S)]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]:
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in cells])
    return heads, rows


def _value(text_value: str) -> int | None:
    if text_value in ("färre än 5", "fewer than 5", "dolt", "hidden"):
        return None
    return int(text_value.replace("\u00a0", "").replace(" ", "").replace(",", ""))


def test_the_public_report_needs_no_login_writes_no_pdl_and_shows_the_counts(demo, client):
    from sqlalchemy import func

    from portal.models import PdlRecord

    expected = independent_cases(demo)
    response = client.get("/statistik/nationell/sjukfall")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    heads, rows = _table(html)
    assert heads == ["Månad", "Kvinnor", "Män", "Totalt"]
    assert len(rows) == len(MONTHS) + 1  # the months and the total
    shown = 0
    for month, row in zip(MONTHS, rows, strict=False):
        cases = expected.get(month, [])
        truth = [sum(1 for c in cases if c["gender"] == "F"), sum(1 for c in cases if c["gender"] == "M"), len(cases)]
        for raw, true in zip(row[1:], truth, strict=True):
            value = _value(raw)
            if true < 5:
                assert raw == "färre än 5"  # a count below 5 says so
            elif value is None:
                assert raw == "dolt"  # hidden to protect a small count: 5 or more
            if value is not None:
                assert value == true
                shown += 1
    assert shown > 20
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(PdlRecord)) == 0


@pytest.mark.parametrize("report_id", [r.id for r in st.reports_for(st.NATION)])
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_report_opens_in_both_languages_and_downloads_as_excel(demo, client, report_id, lang):
    client.set_cookie("lang", lang)
    response = client.get(f"/statistik/nationell/{report_id}?jamfor=1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rep = st.report(report_id)
    assert rep.title[lang == "en"] in html
    xlsx = client.get(f"/statistik/nationell/{report_id}.xlsx?jamfor=1")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_page_and_the_excel_file_publish_the_same_figures_and_no_lone_suppressed_cell(demo, client):
    import io

    from openpyxl import load_workbook

    url = "/statistik/nationell/aldersgrupp?kapitel=F00-F99"  # a filter: many small counts
    html = client.get(url).get_data(as_text=True)
    heads, rows = _table(html)
    page = [[_value(v) for v in row[1:]] for row in rows]
    assert any(v is None for row in page for v in row), "the filter gives counts below 5"
    sheet = load_workbook(io.BytesIO(client.get(url.replace("aldersgrupp", "aldersgrupp.xlsx")).data)).active
    from portal.export import XLSX_HEADER_ROW

    excel = [[_value(str(c)) if c is not None else None for c in r[1:]]
             for r in sheet.iter_rows(min_row=XLSX_HEADER_ROW + 1, values_only=True)]
    assert excel == page
    # the simplest attack: a line (a month, a category, the totals) with exactly one suppressed figure and its
    # total shown gives the figure away; there is none
    columns = list(zip(*page, strict=True))
    for line in page + [list(c) for c in columns]:
        total, cells = line[-1], line[:-1]
        if total is not None:
            assert sum(v is None for v in cells) != 1, line


@pytest.mark.parametrize("query,field", [("fran=2026-13", "fran"), ("fran=2030-01", "fran"),
                                         ("fran=2026-11&till=2026-01", "fran"), ("fran=2020-01", "fran"),
                                         ("kapitel=X99", "kapitel"), ("alder=old", "alder"), ("grad=30", "grad"),
                                         ("jamfor=ja", "jamfor")])
def test_a_bad_filter_gets_a_clear_400(client, demo, query, field):
    response = client.get(f"/statistik/nationell/sjukfall?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Det finns ett problem" in html and f'href="#{field}"' in html
    assert client.get(f"/statistik/nationell/sjukfall.xlsx?{query}").status_code == 400


def test_the_filters_live_in_the_url_and_htmx_gets_the_report_alone(client, demo):
    url = "/statistik/nationell/diagnoskapitel?fran=2026-01&till=2026-06&jamfor=1&grad=100"
    html = client.get(url).get_data(as_text=True)
    assert 'value="2026-01" selected' in html and 'value="2026-06" selected' in html
    assert 'id="jamfor" name="jamfor" value="1" checked' in html
    heads, rows = _table(html)
    assert len(rows) == 7 and rows[0][0] == "januari 2026"
    _heads, earlier = _table(html, 1)
    assert earlier[0][0] == "januari 2025"
    fragment = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="report"') and "<html" not in fragment


# --- the staff statistics ---------------------------------------------------------------------------------------

def _staff(client, app, local_id: str, role: str | None = None, unit: str | None = None):
    from conftest import session_login
    from portal.domain import demo as demo_data

    session_login(client, app, "staff", demo_data.hsa(local_id), unit_id=demo_data.hsa(unit) if unit else None,
                  role=role, name=local_id)
    return client


def test_the_staff_statistics_need_a_siths_login(client, demo):
    response = client.get("/statistik/verksamhet")
    assert response.status_code == 302 and "/inloggning/siths?tjanst=statistik" in response.headers["Location"]


def test_a_unit_statistician_sees_the_unit_and_its_subunits_and_nothing_else(client, demo):
    from portal.domain import demo as demo_data

    _staff(client, demo, "T001", role="STATISTIK")
    start = client.get("/statistik/verksamhet").get_data(as_text=True)
    ve10 = demo_data.hsa("VE10")
    assert f"/statistik/verksamhet/enhet/{ve10}/sjukfall" in start and "Vårdcentralen Norrby" in start
    assert "/statistik/verksamhet/vardgivare/" not in start
    page = client.get(f"/statistik/verksamhet/enhet/{ve10}/sjukfall")
    assert page.status_code == 200
    heads, rows = _table(page.get_data(as_text=True))
    with db.new_session(demo) as s:
        units = store.unit_and_subunits(s, ve10)
        counts = store.case_counts(s, store.Scope(unit_ids=tuple(units)), MONTHS[0], MONTHS[-1], "all")
    assert demo_data.hsa("VE11") in units
    total = _value(rows[-1][-1])
    assert total is None or total == sum(counts.values())
    for other in (f"/statistik/verksamhet/enhet/{demo_data.hsa('VE20')}/sjukfall",
                  f"/statistik/verksamhet/vardgivare/{demo_data.hsa('VG1')}/sjukfall",
                  f"/statistik/verksamhet/enhet/{demo_data.hsa('VE20')}/sjukfall.xlsx"):
        assert client.get(other).status_code == 404
    assert client.get(f"/statistik/verksamhet/enhet/{ve10}/sjukfall.xlsx").data[:2] == b"PK"


def test_a_provider_statistician_sees_the_whole_provider(client, demo):
    from portal.domain import demo as demo_data

    _staff(client, demo, "T002", role="STATISTIK")
    vg1 = demo_data.hsa("VG1")
    page = client.get(f"/statistik/verksamhet/vardgivare/{vg1}/aldersgrupp")
    assert page.status_code == 200 and "Region Demoland" in page.get_data(as_text=True)
    assert "Byt vårdenhet" not in page.get_data(as_text=True)  # a statistics login has no unit to change
    assert client.get(f"/statistik/verksamhet/vardgivare/{demo_data.hsa('VG2')}/aldersgrupp").status_code == 404


def test_staff_without_a_statistics_commission_get_a_clear_refusal(client, demo):
    _staff(client, demo, "R001", role="REHABKOORDINATOR", unit="VE10")
    response = client.get("/statistik/verksamhet")
    assert response.status_code == 403
    assert "Du har inte behörighet till verksamhetsstatistik" in response.get_data(as_text=True)


def test_a_citizen_is_in_the_wrong_area(client, demo):
    from conftest import session_login

    session_login(client, demo, "citizen", "198503149828", name="Tolva")
    assert client.get("/statistik/verksamhet").status_code == 403


def test_the_statistics_login_through_the_broker(live_server):
    """A real login (the test broker, authorization code with PKCE) to the staff statistics, and a refusal."""
    from conftest import PortalBrowser
    from portal.domain import demo as demo_data

    web = PortalBrowser(live_server.url)
    landed = web.choose(web.start_login("siths?tjanst=statistik"), demo_data.hsa("T001"))
    assert "/statistik/verksamhet" in landed.url and "Vårdcentralen Norrby" in landed.text
    # a Rehabstöd login as the same person is refused: no "Vård och behandling" commission
    rehab = PortalBrowser(live_server.url)
    assert rehab.choose(rehab.start_login("siths"), demo_data.hsa("T001")).status_code == 403
    other = PortalBrowser(live_server.url)
    refused = other.choose(other.start_login("siths?tjanst=statistik"), demo_data.hsa("L002"))
    assert refused.status_code == 403 and "Du har inte behörighet till verksamhetsstatistik" in refused.text


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def test_new_and_ended_cases_equal_an_independent_count(demo, client):
    expected = independent_cases(demo)
    with db.new_session(demo) as s:
        started = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "all", flag="started")
        ended = store.case_counts(s, store.Scope(), MONTHS[0], MONTHS[-1], "all", flag="ended")
    assert sum(started.values()) > 20 and sum(ended.values()) > 20
    for month in MONTHS:
        cases = expected.get(month, [])
        assert started.get((month, "all"), 0) == sum(1 for c in cases if c["started"]), month
        assert ended.get((month, "all"), 0) == sum(1 for c in cases if c["ended"]), month
    html = client.get("/statistik/nationell/inflode-utflode").get_data(as_text=True)
    heads, rows = _table(html)
    assert heads == ["Månad", "Helt nya sjukfall", "Började på en annan enhet", "Avslutade sjukfall"]
    for month, row in zip(MONTHS, rows, strict=False):
        new = _value(row[1])
        assert new is None or new == started.get((month, "all"), 0)


def test_a_provider_sees_its_cases_by_unit_and_the_nation_does_not(demo, client):
    from portal.domain import demo as demo_data

    assert client.get("/statistik/nationell/enheter").status_code == 404
    _staff(client, demo, "T002", role="STATISTIK")
    html = client.get(f"/statistik/verksamhet/vardgivare/{demo_data.hsa('VG1')}/enheter").get_data(as_text=True)
    heads, rows = _table(html)
    assert "Vårdcentralen Norrby" in heads and "Ortopedkliniken Demostad" in heads
    assert "Exempelkliniken City" not in heads  # another provider's unit
    expected = independent_cases(demo)
    ve10 = demo_data.hsa("VE10")
    column = heads.index("Vårdcentralen Norrby")
    for month, row in zip(MONTHS, rows, strict=False):
        value = _value(row[column])
        true = sum(1 for c in expected.get(month, []) if c["unit"] == ve10)
        assert value is None or value == true
