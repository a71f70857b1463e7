"""Regionsstatistik's upload (portal/statistics/region.py) through the test client, on SQLite and PostgreSQL: a
care provider's statistician (system role INTYG;Statistik-<provider>) uploads the region's listing file; a good
file replaces the stored listing and comes back with a confirmation, a bad one changes nothing and lists every
problem; everyone else gets a 404 (or the login)."""
from __future__ import annotations

import html
import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.domain import region_listing as rl
from portal.models import PdlRecord, RegionFile, RegionListing

VG1, VG2 = demo_data.hsa("VG1"), demo_data.hsa("VG2")
VE10, VE20, VE30, VE40, VE50 = (demo_data.hsa(u) for u in ("VE10", "VE20", "VE30", "VE40", "VE50"))
PAGE = f"/statistik/verksamhet/vardgivare/{VG1}/regionsstatistik"
HEADER = ("HSA-id", "Vårdenhet", "Antal listade")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


GOOD = [HEADER, (VE10, "Vårdcentralen Norrby", 12000), (VE20, "Ortopedkliniken Demostad", "3 400"),
        (VE40, "Exempelkliniken City (avtal)", 800)]  # a private provider's unit under contract with the region


def login(client, app, local_id: str = "T002", role: str = "STATISTIK", unit: str | None = None):
    session_login(client, app, "staff", demo_data.hsa(local_id), role=role, name=local_id,
                  unit_id=demo_data.hsa(unit) if unit else None)
    return client


def token(client) -> str:
    page = client.get(PAGE).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def upload(client, data: bytes | None, name: str = "listade.xlsx", *, csrf: str | None = None, path: str = PAGE):
    form: dict = {"csrf_token": csrf if csrf is not None else token(client)}
    form["fil"] = (io.BytesIO(data), name) if data is not None else (io.BytesIO(b""), "")
    return client.post(path, data=form, content_type="multipart/form-data")


def stored(app) -> tuple[list[tuple], list[tuple]]:
    with db.new_session(app) as s:
        files = [(f.provider_id, f.file_name, f.uploaded_at, f.uploaded_by) for f in s.scalars(select(RegionFile))]
        rows = sorted((r.provider_id, r.unit_id, r.unit_name, r.listed) for r in s.scalars(select(RegionListing)))
    return files, rows


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_a_good_file_is_stored_as_it_is_and_the_page_shows_it(client, demo):
    login(client, demo)
    assert "Ingen fil är uppladdad ännu." in text_of(client.get(PAGE))
    response = upload(client, xlsx(GOOD), "Listade 2026.xlsx")
    assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
    assert stored(demo) == (
        [(VG1, "Listade 2026.xlsx", NOW, demo_data.hsa("T002"))],
        sorted([(VG1, VE10, "Vårdcentralen Norrby", 12000), (VG1, VE20, "Ortopedkliniken Demostad", 3400),
                (VG1, VE40, "Exempelkliniken City (avtal)", 800)]))
    page = client.get(PAGE)
    body = page.get_data(as_text=True)
    shown = text_of(page)
    assert page.status_code == 200 and 'role="status"' in body
    assert "Filen Listade 2026.xlsx är uppladdad." in shown
    assert "Gustav Regionsson" in shown  # who uploaded it, by the directory's name
    assert "16 200" in shown.replace("\u00a0", " ")  # the total listed
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>\s*<td class=\"app-num\">(.*?)</td>\s*<td>(.*?)</td>",
                      body, re.S)
    assert [(re.sub(r"<.*", "", n, flags=re.S).strip(), c.replace("\u00a0", " "), u) for n, c, u in rows] == [
        ("Exempelkliniken City", "800", VE40), ("Ortopedkliniken Demostad", "3 400", VE20),
        ("Vårdcentralen Norrby", "12 000", VE10)]  # by the directory's names
    assert "I filen: Exempelkliniken City (avtal)" in shown
    assert "<caption" in body and 'scope="col"' in body
    assert client.get(PAGE).get_data(as_text=True).count("är uppladdad.") == 0  # the notice is shown once


def test_a_new_file_replaces_the_whole_listing(client, demo):
    login(client, demo)
    assert upload(client, xlsx(GOOD)).status_code == 303
    assert upload(client, xlsx([HEADER, (VE30, "Psykiatrimottagningen Söder", 4100)]), "hösten.xlsx").status_code \
        == 303
    files, rows = stored(demo)
    assert [f[1] for f in files] == ["hösten.xlsx"]
    assert rows == [(VG1, VE30, "Psykiatrimottagningen Söder", 4100)]


BAD = [
    HEADER,
    (VE10, "Vårdcentralen Norrby", 12.5),
    ("inte-ett-id", "Fel", 10),
    (VE10, "Norrby igen", 10),
    (demo_data.hsa("OKAND"), "Okänd enhet", 10),
    (VE20, None, -4),
    (VE30, "Söder", "1,200"),
]


def test_a_bad_file_lists_every_problem_and_changes_nothing(client, demo):
    login(client, demo)
    assert upload(client, xlsx(GOOD)).status_code == 303
    before = stored(demo)
    response = upload(client, xlsx(BAD))
    assert response.status_code == 400
    assert stored(demo) == before
    shown = text_of(response)
    body = response.get_data(as_text=True)
    for expected in (
        "Rad 2, kolumn C (Antal listade): ”12.5” är inte ett heltal.",
        "Rad 3, kolumn A (HSA-id): ”INTE-ETT-ID” är inte ett HSA-id.",
        f"Rad 4, kolumn A (HSA-id): Vårdenheten {VE10} finns redan på rad 2.",
        f"Rad 5, kolumn A (HSA-id): Det finns ingen vårdenhet med HSA-id {demo_data.hsa('OKAND')} i HSA-katalogen.",
        "Rad 6, kolumn B (Vårdenhet): Ange vårdenhetens namn.",
        "Rad 6, kolumn C (Antal listade): Antalet listade kan inte vara negativt.",
        "Rad 7, kolumn C (Antal listade): ”1,200” är inte ett heltal.",
    ):
        assert expected in shown, expected
    summary = re.search(r'<div class="app-error-summary".*?</div>', body, re.S).group(0)
    assert 'role="alert"' in summary and summary.count('href="#fil"') == 7
    assert "Filen har 7 problem. Inget har ändrats." in shown
    assert 'aria-describedby="fil-hint fil-error"' in body and 'aria-invalid="true"' in body
    assert "<title>Fel: Regionsstatistik" in body


def test_an_unknown_unit_alone_is_refused(client, demo):
    login(client, demo)
    response = upload(client, xlsx([HEADER, (VE10, "Norrby", 100), (demo_data.hsa("VE99"), "Finns inte", 50)]))
    assert response.status_code == 400
    assert "Det finns ingen vårdenhet med HSA-id" in text_of(response)
    assert stored(demo) == ([], [])


@pytest.mark.parametrize("data, name, message", [
    (b"HSA-id;Vardenhet;Antal listade\n", "listade.csv", "Filen är inte en Excel-fil."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "listade.xls", "det gamla Excel-formatet (.xls)"),
    (b"", "tom.xlsx", "Filen är tom."),
    (None, "", "Välj en Excel-fil att ladda upp"),
])
def test_no_file_or_not_an_excel_file_is_a_clear_refusal(client, demo, data, name, message):
    login(client, demo)
    response = upload(client, data, name)
    assert response.status_code == 400
    shown = text_of(response)
    assert message in shown and "Filen kunde inte laddas upp" in shown
    assert stored(demo) == ([], [])


def test_a_file_over_the_limits(client, demo):
    login(client, demo)
    response = upload(client, b"PK" + b"\0" * rl.MAX_FILE_BYTES)  # over the file limit, under the request limit
    assert response.status_code == 413
    assert "Filen är för stor. Den får vara högst 1 MB." in text_of(response)
    response = upload(client, b"PK" + b"\0" * demo.config["MAX_CONTENT_LENGTH"])  # over the request limit
    assert response.status_code == 413
    assert "Filen är för stor. Den får vara högst 1 MB." in text_of(response)
    assert "Regionsstatistik" in text_of(response) and response.headers["Cache-Control"].startswith("no-store")
    assert stored(demo) == ([], [])


def test_a_request_over_the_limit_from_anyone_else_gets_the_plain_error_page(client, demo):
    login(client, demo, "T001")
    big = {"fil": (io.BytesIO(b"\0" * (demo.config["MAX_CONTENT_LENGTH"] + 1)), "x.xlsx")}
    response = client.post(PAGE, data=big, content_type="multipart/form-data")
    assert response.status_code == 413 and "Regionsstatistik" not in text_of(response)


def test_without_the_csrf_token_nothing_is_stored(client, demo):
    login(client, demo)
    response = upload(client, xlsx(GOOD), csrf="")
    assert response.status_code == 400
    response = upload(client, xlsx(GOOD), csrf="forged-token")
    assert response.status_code == 400
    assert stored(demo) == ([], [])


@pytest.mark.parametrize("who, role, unit", [
    ("T001", "STATISTIK", None),  # a unit's statistician (commission "Statistik" on VE10)
    ("L001", "LAKARE", "VE10"),  # a doctor logged in to Rehabstöd
    ("R001", "REHABKOORDINATOR", "VE10"),
])
def test_anyone_without_the_providers_system_role_gets_a_404(client, demo, who, role, unit):
    login(client, demo, who, role, unit)
    assert client.get(PAGE).status_code == 404
    assert client.get(PAGE + "/mall.xlsx").status_code == 404
    page = client.get("/statistik/").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert upload(client, xlsx(GOOD), csrf=csrf).status_code == 404
    assert stored(demo) == ([], [])


def test_another_providers_page_is_a_404(client, demo):
    login(client, demo)
    other = f"/statistik/verksamhet/vardgivare/{VG2}/regionsstatistik"
    assert client.get(other).status_code == 404
    assert client.get(other + "/mall.xlsx").status_code == 404
    assert upload(client, xlsx(GOOD), csrf=token(client), path=other).status_code == 404
    assert client.get(f"/statistik/verksamhet/enhet/{VE10}/regionsstatistik").status_code == 404
    assert stored(demo) == ([], [])


def test_anonymous_users_are_sent_to_the_login_and_citizens_refused(client, demo):
    for path in (PAGE, PAGE + "/mall.xlsx"):
        response = client.get(path)
        assert response.status_code == 302 and "/inloggning/siths?tjanst=statistik" in response.headers["Location"]
    session_login(client, demo, "citizen", "198503149828", name="Tolva")
    assert client.get(PAGE).status_code == 403


def test_the_example_file_has_the_providers_units_and_reads_back(client, demo):
    login(client, demo)
    response = client.get(PAGE + "/mall.xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert "attachment" in response.headers["Content-Disposition"]
    parsed = rl.parse(response.data)
    assert set(rl.unit_ids(parsed)) == {demo_data.hsa(u) for u, _, provider, _ in demo_data.UNITS if provider == "VG1"}
    assert {p.code for p in parsed.problems} == {rl.LISTED_MISSING}  # only the counts are left to fill in
    assert client.get(PAGE).get_data(as_text=True).count(f'href="{PAGE}/mall.xlsx"') == 1


def test_the_page_in_english_and_no_pdl_record(client, demo):
    login(client, demo)
    with db.new_session(demo) as s:
        before = s.query(PdlRecord).count()
    assert upload(client, xlsx(GOOD)).status_code == 303
    client.set_cookie("lang", "en")
    response = upload(client, xlsx(BAD))
    assert response.status_code == 400 and '<html lang="en"' in response.get_data(as_text=True)
    with db.new_session(demo) as s:
        assert s.query(PdlRecord).count() == before  # staff statistics are not PDL-logged: no patient is shown


def test_many_problems_the_summary_names_the_first_ten_and_a_table_lists_them_all(client, demo, monkeypatch):
    login(client, demo)
    response = upload(client, xlsx([HEADER] + [(f"fel-{i}", "Enhet", 10) for i in range(12)]))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    summary = re.search(r'<div class="app-error-summary".*?</div>', body, re.S).group(0)
    assert summary.count('href="#fil"') == 10
    assert 'href="#problem-lista"' in summary and "Se alla 12 problem" in summary
    table = re.search(r'id="problem-lista".*?</table>', body, re.S).group(0)
    assert table.count("<tr><td>") == 12 and "FEL-11" in table
    monkeypatch.setattr(rl, "MAX_PROBLEMS", 11)  # more than are listed: the rest are counted
    shown = text_of(upload(client, xlsx([HEADER] + [(f"fel-{i}", "Enhet", 10) for i in range(12)])))
    assert "Filen har 12 problem. De första 11 visas här." in shown


def test_replacing_is_all_or_nothing(client, demo):
    """A listing that fails part way (here: a unit twice, which the parser never gives) leaves the old one whole."""
    from sqlalchemy.exc import IntegrityError

    from portal.repository import region as store

    login(client, demo)
    assert upload(client, xlsx(GOOD)).status_code == 303
    before = stored(demo)
    rows = [rl.Row(2, VE30, "Söder", 10), rl.Row(3, VE30, "Söder igen", 20)]
    with db.new_session(demo) as s, pytest.raises(IntegrityError):
        store.replace(s, VG1, "trasig.xlsx", rows, demo_data.hsa("T002"), NOW)
    assert stored(demo) == before
    with db.new_session(demo) as s:
        store.replace(s, VG2, "annan.xlsx", [rl.Row(2, VE40, "City", 5)], demo_data.hsa("T002"), NOW)
        assert store.known_units(s, [VE10, VE40, demo_data.hsa("OKAND")]) == {VE10, VE40}
        assert store.current(s, VG2).units == [store.Listed(VE40, "Exempelkliniken City", "City", 5)]
    assert stored(demo)[1] == sorted(before[1] + [(VG2, VE40, "City", 5)])  # another provider's, beside it


def test_two_first_uploads_at_once_end_with_the_later_one_whole(demo):
    """PostgreSQL: while one upload's first file row is not committed, another waits on its key, fails on it when
    the first commits, and is tried again over it: the later listing is stored whole, nothing of the first left."""
    import threading

    from portal.repository import region as store

    if not demo.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time")
    first_rows = [rl.Row(2, VE10, "Norrby", 1), rl.Row(3, VE20, "Orto", 2)]
    second_rows = [rl.Row(2, VE30, "Söder", 3)]
    errors: list[Exception] = []
    with db.new_session(demo) as first:
        store._replace(first, VG1, "först.xlsx", first_rows, demo_data.hsa("T002"), NOW)  # not committed yet

        def second_upload():
            try:
                with db.new_session(demo) as second:
                    store.replace(second, VG1, "sedan.xlsx", second_rows, demo_data.hsa("T002"), NOW)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        thread = threading.Thread(target=second_upload)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting on the first's key
        first.commit()
        thread.join(10)
    assert not errors
    files, rows = stored(demo)
    assert [f[1] for f in files] == ["sedan.xlsx"] and rows == [(VG1, VE30, "Söder", 3)]
