"""Intygsstatistik (issue 15), the reports beyond the first ones: by diagnosis group, within one chapter, chosen
diagnoses, by county, by the doctor's position and by the doctor's gender and age group, and a region's cases per
1 000 listed patients. Each against the independent count of test_statistics (written from the rules, from the
certificates, not through the engine or the report code), with the directory's facts read directly."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from sqlalchemy import select

from portal import db
from portal.domain import demo as demo_data
from portal.domain import diagnosis
from portal.domain import statistics as st
from portal.models import CareUnit, RegionFile, RegionListing, Staff
from portal.repository import statistics as store
from tests.integration.test_statistics import MONTHS, _staff, _table, _value, independent_cases, run

NATION = store.Scope()


def _check_page(html: str, expected: dict, columns: list[str], index: int = 0) -> int:
    """The page's table against {(month, column heading): true count}: a shown figure is the true count, a
    count below 5 says so. Returns how many figures were shown."""
    heads, rows = _table(html, index)
    shown = 0
    for month, row in zip(MONTHS, rows, strict=False):
        for column in columns:
            raw = row[heads.index(column)]
            true = expected.get((month, column), 0)
            value = _value(raw)
            if true < 5:
                assert raw in ("färre än 5", "fewer than 5"), (month, column, raw, true)
            if value is not None:
                assert value == true, (month, column, raw, true)
                shown += 1
    return shown


def test_diagnosis_groups_and_categories_equal_an_independent_count(demo, client):
    run(demo)
    expected = independent_cases(demo)
    groups = {g.id: g for g in diagnosis.GROUPS}

    def group_of(category: str) -> str:  # from the group's code ranges, not the report code
        if category == "UTAN":
            return "UTAN"
        for g in groups.values():
            for r in g.ranges:
                low, high = r.split("-")
                if low <= category <= high:
                    return g.id
        return "UTAN"

    with db.new_session(demo) as s:
        by_group = store.case_counts(s, NATION, MONTHS[0], MONTHS[-1], "group")
        by_category = store.case_counts(s, NATION, MONTHS[0], MONTHS[-1], "category")
        within = store.case_counts(s, NATION, MONTHS[0], MONTHS[-1], "category", {"chapter": ["F00-F99"]})
    for month in MONTHS:
        cases = expected.get(month, [])
        for g in groups:
            assert by_group.get((month, g), 0) == sum(1 for c in cases if group_of(c["category"]) == g), (month, g)
        for category in {c["category"] for c in cases}:
            true = sum(1 for c in cases if c["category"] == category)
            assert by_category.get((month, category), 0) == true
            if category.startswith("F"):
                assert within.get((month, category), 0) == true
    assert not any(k[1][0] != "F" for k in within)
    # the pages
    html = client.get("/statistik/nationell/diagnosgrupp").get_data(as_text=True)
    truth = {(m, g.sv): sum(1 for c in expected.get(m, []) if group_of(c["category"]) == g.id)
             for m in MONTHS for g in diagnosis.GROUPS}
    assert _check_page(html, truth, [g.sv for g in diagnosis.GROUPS]) > 10
    html = client.get("/statistik/nationell/inom-kapitel?kapitel=F00-F99").get_data(as_text=True)
    heads, _rows = _table(html)
    found = sorted({c["category"] for m in MONTHS for c in expected.get(m, []) if c["category"].startswith("F")})
    assert heads == ["Månad"] + found + ["Totalt"]
    truth = {(m, k): sum(1 for c in expected.get(m, []) if c["category"] == k) for m in MONTHS for k in found}
    assert _check_page(html, truth, found) > 0


def test_chosen_diagnoses_are_compared_side_by_side(demo, client):
    run(demo)
    expected = independent_cases(demo)
    counted = Counter(c["category"] for m in MONTHS for c in expected.get(m, []))
    chosen = [k for k, _n in counted.most_common(3)]
    html = client.get("/statistik/nationell/jamfor-diagnoser?diagnos=" + ",%20".join(c.lower() for c in chosen))
    assert html.status_code == 200
    page = html.get_data(as_text=True)
    heads, _rows = _table(page)
    assert heads == ["Månad"] + chosen  # no total: the chosen diagnoses need not cover every case
    truth = {(m, k): sum(1 for c in expected.get(m, []) if c["category"] == k) for m in MONTHS for k in chosen}
    assert _check_page(page, truth, chosen) > 5
    assert f'value="{", ".join(chosen)}"' in page
    # the default choice when none is given
    heads, _rows = _table(client.get("/statistik/nationell/jamfor-diagnoser").get_data(as_text=True))
    assert heads == ["Månad", *st.DEFAULT_DIAGNOSES]


@pytest.mark.parametrize("query,field", [("diagnos=F3", "diagnos"), ("diagnos=F32,hej", "diagnos"),
                                         ("diagnos=" + ",".join(f"F{n:02d}" for n in range(11)), "diagnos")])
def test_a_bad_diagnosis_choice_gets_a_clear_400(client, demo, query, field):
    response = client.get(f"/statistik/nationell/jamfor-diagnoser?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Det finns ett problem" in html and f'href="#{field}"' in html


def test_within_a_chapter_needs_one_chapter(client, demo):
    response = client.get("/statistik/nationell/inom-kapitel?kapitel=F00-F99&kapitel=M00-M99")
    assert response.status_code == 400 and "Välj ett diagnoskapitel" in response.get_data(as_text=True)
    default = client.get("/statistik/nationell/inom-kapitel").get_data(as_text=True)
    assert '<option value="F00-F99" selected>' in default


def test_cases_by_county_equal_an_independent_count(demo, client):
    from portal.domain import counties

    run(demo)
    expected = independent_cases(demo)
    with db.new_session(demo) as s:
        county = {u: c or "" for u, c in s.execute(select(CareUnit.hsa_id, CareUnit.county))}
        by_county = store.case_counts(s, NATION, MONTHS[0], MONTHS[-1], "county")
    for month in MONTHS:
        cases = expected.get(month, [])
        for code in set(county.values()):
            assert by_county.get((month, code), 0) == sum(1 for c in cases if county[c["unit"]] == code)
    html = client.get("/statistik/nationell/lan").get_data(as_text=True)
    labels = {code: counties.label(code, "sv") for code in set(county.values())}
    truth = {(m, labels[code]): sum(1 for c in expected.get(m, []) if county[c["unit"]] == code)
             for m in MONTHS for code in labels}
    assert _check_page(html, truth, list(labels.values())) > 5


def _doctor_facts(app) -> dict[str, tuple[str, str | None, int | None]]:
    """Each staff member's position group (the first doctor's position of the report's list that they hold; "EJ"
    with none of them, "OKAND" with no position at all), gender and birth year, from the directory."""
    order = ["201010", "201011", "201012", "201013", "202010", "204010", "204090", "203010", "203090"]
    out = {}
    with db.new_session(app) as s:
        for staff in s.scalars(select(Staff)):
            codes = [c["code"] for c in staff.position_codes or []]
            position = next((o for o in order if o in codes), "EJ" if codes else "OKAND")
            out[staff.hsa_id] = (position, staff.gender, staff.birth_year)
    return out


def _doctor_age(birth_year: int | None, year: int) -> str:
    if birth_year is None:
        return ""
    age = year - birth_year
    return "lt30" if age < 30 else "30-39" if age < 40 else "40-49" if age < 50 else "50-59" if age < 60 else "gt59"


def test_a_provider_sees_its_cases_by_the_doctors_position_gender_and_age(demo, client):
    run(demo)
    expected = independent_cases(demo)
    facts = _doctor_facts(demo)
    vg1 = demo_data.hsa("VG1")
    scope = store.Scope(provider_id=vg1)
    with db.new_session(demo) as s:
        by_position = store.case_counts(s, scope, MONTHS[0], MONTHS[-1], "position")
        by_doctor = store.case_counts(s, scope, MONTHS[0], MONTHS[-1], "doctor")
    positions, doctors = defaultdict(int), defaultdict(int)
    for month in MONTHS:
        for c in expected.get(month, []):
            if c["provider"] != vg1:
                continue
            position, gender, born = facts.get(c["doctor"], ("OKAND", None, None))
            positions[(month, position)] += 1
            age = _doctor_age(born, month.year)
            doctors[(month, f"{gender}:{age}" if gender and age else ":")] += 1
    assert dict(positions) == by_position
    assert dict(doctors) == by_doctor
    _staff(client, demo, "T002", role="STATISTIK")
    html = client.get(f"/statistik/verksamhet/vardgivare/{vg1}/lakarbefattning").get_data(as_text=True)
    labels = {p[0]: p[1] for p in st.DOCTOR_POSITIONS}
    truth = {(m, labels[p]): n for (m, p), n in positions.items()}
    assert _check_page(html, truth, [labels[p] for _m, p in positions]) > 0
    assert client.get(f"/statistik/verksamhet/vardgivare/{vg1}/lakare-alder-kon").status_code == 200


def test_the_reports_are_offered_where_they_belong(demo, client):
    assert client.get("/statistik/nationell/lan").status_code == 200
    for report_id in ("lakarbefattning", "lakare-alder-kon", "listade", "enheter"):
        assert client.get(f"/statistik/nationell/{report_id}").status_code == 404
    _staff(client, demo, "T001", role="STATISTIK")
    ve10 = demo_data.hsa("VE10")
    assert client.get(f"/statistik/verksamhet/enhet/{ve10}/lakarbefattning").status_code == 404
    assert client.get(f"/statistik/verksamhet/enhet/{ve10}/lan").status_code == 404
    assert client.get(f"/statistik/verksamhet/enhet/{ve10}/inom-kapitel").status_code == 200
    start = client.get("/statistik/verksamhet").get_data(as_text=True)
    assert "lakarbefattning" not in start


def _listing(app, units: dict[str, int]) -> None:
    vg1 = demo_data.hsa("VG1")
    with db.new_session(app) as s:
        s.add(RegionFile(provider_id=vg1, file_name="listade.xlsx", uploaded_at=datetime(2026, 11, 1),
                         uploaded_by=demo_data.hsa("T002")))
        s.flush()
        for local, listed in units.items():
            s.add(RegionListing(provider_id=vg1, unit_id=demo_data.hsa(local), unit_name=local, listed=listed))
        s.commit()


def _rates_table(html: str) -> dict[str, list[str]]:
    body = re.search(r'<caption id="rate-caption">.*?</table>', html, re.S).group(0)
    out = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
        out[cells[0]] = cells[1:]
    return out


def test_a_region_sees_cases_per_1000_listed_patients(demo, client):
    run(demo)
    vg1 = demo_data.hsa("VG1")
    _staff(client, demo, "T002", role="STATISTIK")
    assert f"/statistik/verksamhet/region/{vg1}/" not in client.get("/statistik/verksamhet").get_data(as_text=True)
    assert client.get(f"/statistik/verksamhet/region/{vg1}/listade").status_code == 404
    _listing(demo, {"VE10": 4000, "VE20": 2500, "VE30": 1200})
    assert f"/statistik/verksamhet/region/{vg1}/listade" in client.get("/statistik/verksamhet").get_data(as_text=True)
    first, last = MONTHS[-6], MONTHS[-1]
    page = client.get(f"/statistik/verksamhet/region/{vg1}/listade?fran={first:%Y-%m}&till={last:%Y-%m}")
    assert page.status_code == 200
    rates = _rates_table(page.get_data(as_text=True))
    # independently: a case counts once on a unit for the period, and again each time it comes back to it
    expected = independent_cases(demo)
    with db.new_session(demo) as s:
        parent = {u: p or u for u, p in s.execute(select(CareUnit.hsa_id, CareUnit.parent_id))}
        names = dict(s.execute(select(CareUnit.hsa_id, CareUnit.name)).all())
    visits: Counter = Counter()
    history: dict = defaultdict(list)
    for month in sorted(expected):
        for c in expected[month]:
            history[c["chain"]].append((month, parent[c["unit"]], c["unit"]))
    for months in history.values():
        previous = None
        for month, unit, exact in months:
            if first <= month <= last and (month == first or previous is None or previous != exact):
                visits[unit] += 1
            previous = exact
    shown = 0
    for local, listed in (("VE10", 4000), ("VE20", 2500), ("VE30", 1200)):
        unit = demo_data.hsa(local)
        listed_text, cases_text, rate_text = rates[names[unit]]
        assert int(listed_text.replace("\u00a0", "").replace(" ", "")) == listed
        value = _value(cases_text)
        if value is not None:
            assert value == visits[unit], (local, value, visits[unit])
            assert float(rate_text.replace(",", ".")) == pytest.approx(round(visits[unit] * 1000 / listed, 1))
            shown += 1
        else:
            assert visits[unit] < 5 or cases_text == "dolt"
    assert shown >= 1 and "Hela regionen" in rates
    assert client.get(f"/statistik/verksamhet/region/{vg1}/listade.xlsx").data[:2] == b"PK"
    # a unit statistician does not see the region
    client2 = demo.test_client()
    _staff(client2, demo, "T001", role="STATISTIK")
    assert client2.get(f"/statistik/verksamhet/region/{vg1}/listade").status_code == 404


def test_a_provider_limits_its_reports_to_chosen_units(demo, client):
    run(demo)
    expected = independent_cases(demo)
    vg1, ve10, ve20 = demo_data.hsa("VG1"), demo_data.hsa("VE10"), demo_data.hsa("VE20")
    _staff(client, demo, "T002", role="STATISTIK")
    page = client.get(f"/statistik/verksamhet/vardgivare/{vg1}/sjukfall?enhet={ve10}&enhet={ve20}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'name="enhet" value="{ve10}" checked' in html and "Filtrerat urval." in html
    truth = {}
    for month in MONTHS:
        chosen = [c for c in expected.get(month, []) if c["unit"] in (ve10, ve20)]
        truth[(month, "Kvinnor")] = sum(1 for c in chosen if c["gender"] == "F")
        truth[(month, "Män")] = sum(1 for c in chosen if c["gender"] == "M")
        truth[(month, "Totalt")] = len(chosen)
    assert _check_page(html, truth, ["Kvinnor", "Män", "Totalt"]) > 5
    # the report by unit shows the chosen units only
    heads, _rows = _table(client.get(f"/statistik/verksamhet/vardgivare/{vg1}/enheter?enhet={ve20}")
                          .get_data(as_text=True))
    assert heads == ["Månad", "Ortopedkliniken Demostad", "Totalt"]
    # a unit that is not the provider's, and the units filter where there are no units to choose: 400
    other = demo_data.hsa("VE40") if "VE40" in {u[0] for u in demo_data.UNITS} else "SE0000000000-XXXX"
    assert client.get(f"/statistik/verksamhet/vardgivare/{vg1}/sjukfall?enhet={other}").status_code == 400
    assert client.get(f"/statistik/nationell/sjukfall?enhet={ve10}").status_code == 400


def test_a_published_table_is_computed_once_for_every_process_and_made_ahead_by_the_job(demo, client, monkeypatch):
    from sqlalchemy import func

    from portal.domain import suppression
    from portal.models import StatPublished

    first = _table(client.get("/statistik/nationell/aldersgrupp?kapitel=F00-F99").get_data(as_text=True))
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(StatPublished)) >= 1

    def refuse(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(suppression, "suppress", refuse)
    again = demo.test_client().get("/statistik/nationell/aldersgrupp?kapitel=F00-F99")  # another reader
    assert _table(again.get_data(as_text=True)) == first
    monkeypatch.undo()
    # the job empties them (new counts), then publishes the default reports of the nation and each provider ahead
    from portal.cli import statistics_command

    result = demo.test_cli_runner().invoke(statistics_command, catch_exceptions=False)
    assert result.exit_code == 0 and "default reports published ahead" in result.output, result.output
    monkeypatch.setattr(suppression, "suppress", refuse)
    for url in ("/statistik/nationell/lan", "/statistik/nationell/diagnoskapitel"):
        assert demo.test_client().get(url).status_code == 200
    _staff(client, demo, "T002", role="STATISTIK")
    assert client.get(f"/statistik/verksamhet/vardgivare/{demo_data.hsa('VG1')}/lakarbefattning").status_code == 200


def test_a_rendered_report_is_read_again_until_the_job_runs_and_the_job_renders_the_national_ones(demo, monkeypatch):
    """A report page kept rendered (portal/statistics `_page`): the same address (and language) from any reader is
    read, not counted or rendered again, and it is the same page; another language, filter or scope is its own; the
    job empties what is kept (new counts) and renders the national reports' default pages in both languages."""
    from sqlalchemy import func

    from portal.cli import statistics_command
    from portal.models import StatPublished
    from portal.statistics import tables

    def pages() -> int:
        with db.new_session(demo) as s:
            return s.scalar(select(func.count()).select_from(StatPublished).where(StatPublished.key.like("page:%")))

    url = "/statistik/nationell/aldersgrupp?kapitel=F00-F99&jamfor=1"
    first = demo.test_client().get(url)
    assert first.status_code == 200 and pages() == 1
    build = tables.build

    def refuse(*args, **kwargs):
        raise AssertionError("counted again")

    monkeypatch.setattr(tables, "build", refuse)
    def report(response) -> str:
        html = response.get_data(as_text=True)
        return html[html.index('<div id="report"'):html.index("Ladda ner som Excel")]

    again = demo.test_client().get(url)  # another reader, the same address
    assert again.status_code == 200 and report(again) == report(first)
    htmx = demo.test_client().get(url, headers={"HX-Request": "true"})  # the fragment: the same report
    assert report(htmx) == report(first) and "<html" not in htmx.get_data(as_text=True)
    monkeypatch.setattr(tables, "build", build)
    english = demo.test_client()
    english.set_cookie("lang", "en")
    assert "Age group" in english.get(url).get_data(as_text=True) and pages() == 2
    assert demo.test_client().get(url + "&grad=100").status_code == 200 and pages() == 3
    assert demo.test_client().get("/statistik/nationell/aldersgrupp?fran=nej").status_code == 400
    assert pages() == 3  # a page with errors is not kept

    result = demo.test_cli_runner().invoke(statistics_command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    national = len(st.reports_for(st.NATION))
    assert f"{national * 2} national pages rendered" in result.output and pages() == national * 2
    monkeypatch.setattr(tables, "build", refuse)
    for lang in ("sv", "en"):
        reader = demo.test_client()
        reader.set_cookie("lang", lang)
        for rep in st.reports_for(st.NATION):
            assert reader.get(f"/statistik/nationell/{rep.id}").status_code == 200, (lang, rep.id)


def test_the_embedded_default_takes_in_each_intake(demo, tmp_path):
    """The delivery thread's statistics tick (worker.refresh_statistics) runs when a unit's data changed, and
    `portal load` runs the job after a batch when STATISTICS_AFTER_LOAD is on (the development default)."""
    import json

    from portal import worker
    from portal.cli import main
    from tests.integration.test_statistics import _load, _new_patient, _total

    run(demo)
    assert worker.refresh_statistics(demo) is None  # nothing changed
    before = _total(demo, MONTHS[-1])
    _person, doc = _new_patient(demo, 7)
    _load(demo, doc)
    assert worker.refresh_statistics(demo) == "incremental"
    assert _total(demo, MONTHS[-1]) == before + 1
    _person, doc = _new_patient(demo, 8)
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    demo.config["STATISTICS_AFTER_LOAD"] = True
    try:
        result = demo.test_cli_runner().invoke(main, ["load", str(path)], catch_exceptions=False)
    finally:
        demo.config["STATISTICS_AFTER_LOAD"] = False
    assert result.exit_code == 0 and "statistics: incremental run" in result.output, result.output
    assert _total(demo, MONTHS[-1]) == before + 2
