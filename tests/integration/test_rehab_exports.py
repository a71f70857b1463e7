"""The Rehabstöd exports (PDF and Excel of the ongoing list and the läkarutlåtanden list) through the
Flask test client, read back with pypdf and openpyxl: the same rows, columns, masking and personal-data
choice as the page; typed cells; PDL "Utskrift" once per patient in the file; protected identity; the
person service failing closed; bad input; headers."""
from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import delete, select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.export import XLSX_HEADER_ROW
from portal.models import PdlRecord, Person

from .test_rehab import PNR_RE, persons
from .test_rehab_lakarutlatanden import headers, lakarutlatanden, protected_lakarutlatande, table

COORDINATOR = demo_data.hsa("R001")
VE10 = demo_data.hsa("VE10")
LISTS = {"sjukfall": ("/rehabstod/sjukfall", "Sjukfall"),
         "lakarutlatanden": ("/rehabstod/lakarutlatanden", "Läkarutlåtande")}
EXPORTS = [(name, fmt) for name in LISTS for fmt in ("pdf", "xlsx")]


def login(client, app, hsa_id=COORDINATOR, unit=VE10, role="REHABKOORDINATOR", name="Lena Forsberg"):
    session_login(client, app, "staff", hsa_id, unit_id=unit, role=role, name=name)


def page_pnrs_in_order(html: str) -> list[str]:
    return [m.group(0).replace("-", "") for m in PNR_RE.finditer(table(html))]


def read_xlsx(data: bytes):
    """(headings, rows of values, the worksheet) of an exported workbook."""
    ws = load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(min_row=XLSX_HEADER_ROW, values_only=True))
    return list(rows[0]), [list(r) for r in rows[1:]], ws


def read_pdf(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def pdf_pnrs_in_order(text: str) -> list[str]:
    return [m.group(0).replace("-", "") for m in PNR_RE.finditer(text)]


def utskrift(app) -> list[PdlRecord]:
    with db.new_session(app) as s:
        return list(s.scalars(select(PdlRecord).where(PdlRecord.activity == "Utskrift")))


def all_records(app) -> list[PdlRecord]:
    with db.new_session(app) as s:
        return list(s.scalars(select(PdlRecord)))


@pytest.mark.parametrize("name", LISTS)
def test_the_excel_file_holds_the_pages_rows_and_columns_with_typed_cells(demo, client, name):
    url, _resource = LISTS[name]
    login(client, demo)
    query = "?kapitel=F00-F99&kapitel=M00-M99&kapitel=S00-T98" if name == "sjukfall" else "?typ=FK7800&typ=FK7801"
    html = client.get(url + query).get_data(as_text=True)
    response = client.get(f"{url}/export.xlsx{query}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(rf'attachment; filename="{name}-{NOW.date()}\.xlsx"', response.headers["Content-Disposition"])
    heads, rows, ws = read_xlsx(response.data)
    assert heads == headers(html)
    col = {h: i for i, h in enumerate(heads)}
    assert [r[col["Personnummer"]].replace("-", "") for r in rows] == page_pnrs_in_order(html)
    assert 0 < len(rows) < len(page_pnrs_in_order(client.get(url).get_data(as_text=True)))  # the filter held
    assert "Vårdcentralen Norrby" in ws["A1"].value and "2026-11-23 10:00" in ws["A2"].value
    assert all(isinstance(r[col["Ålder"]], int) for r in rows)
    date_columns = ["Startdatum", "Slutdatum"] if name == "sjukfall" else ["Signeringsdatum"]
    for heading in date_columns:
        cells = [ws.cell(row=XLSX_HEADER_ROW + 1 + i, column=col[heading] + 1) for i in range(len(rows))]
        assert all(c.is_date and isinstance(c.value, (date, datetime)) and "yy" in c.number_format for c in cells)
    if name == "sjukfall":
        assert all(isinstance(r[col[h]], int) for r in rows for h in ("#", "Längd", "Antal intyg"))
        assert [r[col["#"]] for r in rows] == list(range(1, len(rows) + 1))
        days = [int(d) for d in re.findall(r"<td>(\d+) dagar</td>", table(html))]
        assert [r[col["Längd"]] for r in rows] == days
    else:
        page_days = re.findall(r'<td class="app-nowrap">(\d{4}-\d{2}-\d{2})</td>', table(html))
        assert [r[col["Signeringsdatum"]].date().isoformat() for r in rows] == page_days
        assert {r[col["Intygstyp"]][-8:] for r in rows} <= {"(FK7800)", "(FK7801)"}


@pytest.mark.parametrize("name", LISTS)
def test_the_pdf_holds_the_unit_the_time_the_headings_and_the_pages_rows_in_order(demo, client, name):
    url, _resource = LISTS[name]
    login(client, demo)
    html = client.get(url + "?sortera=alder&ordning=asc").get_data(as_text=True)
    response = client.get(f"{url}/export.pdf?sortera=alder&ordning=asc")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(rf'attachment; filename="{name}-{NOW.date()}\.pdf"', response.headers["Content-Disposition"])
    reader = PdfReader(io.BytesIO(response.data))
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height  # landscape
    text = read_pdf(response.data)
    assert "Vårdcentralen Norrby" in text and "Utskriven 2026-11-23 10:00 av Lena Forsberg" in text
    flat = " ".join(text.split())
    for heading in headers(html):
        assert heading.split()[0] in flat
    assert pdf_pnrs_in_order(text) == page_pnrs_in_order(html)


def test_every_page_of_a_long_pdf_repeats_the_table_headings(demo, client):
    login(client, demo)
    response = client.get("/rehabstod/sjukfall/export.pdf")
    pages = PdfReader(io.BytesIO(response.data)).pages
    assert len(pages) > 1
    for page in pages:
        assert "Personnummer" in page.extract_text() and "Slutdatum" in page.extract_text()


@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_each_export_writes_one_utskrift_record_per_patient_in_the_file_once_per_session(demo, client, name, fmt):
    url, resource = LISTS[name]
    login(client, demo)
    response = client.get(f"{url}/export.{fmt}")
    if fmt == "xlsx":
        heads, rows, _ws = read_xlsx(response.data)
        in_file = [r[heads.index("Personnummer")].replace("-", "") for r in rows]
    else:
        in_file = pdf_pnrs_in_order(read_pdf(response.data))
    assert in_file
    records = utskrift(demo)
    assert sorted(r.patient_pnr for r in records) == sorted(set(in_file))
    assert {(r.resource_type, r.user_hsa_id, r.user_unit_id, r.user_title) for r in records} == {
        (resource, COORDINATOR, VE10, "Rehabkoordinator")}
    assert len(all_records(demo)) == len(records)  # an export is Utskrift, not also Läsa
    client.get(f"{url}/export.{fmt}")  # again in the same login session: already logged
    assert len(utskrift(demo)) == len(records)
    from portal.repository import pdl

    with db.new_session(demo) as s:
        assert pdl.verify_chain(s) == []


@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_personal_data_off_leaves_name_and_personnummer_out_of_the_files(demo, client, name, fmt):
    url, _resource = LISTS[name]
    login(client, demo)
    response = client.get(f"{url}/export.{fmt}?personuppgifter=0")
    assert response.status_code == 200
    names = [f"{p.given_name} {p.family_name}" for p in persons(demo).values()]
    if fmt == "xlsx":
        heads, rows, _ws = read_xlsx(response.data)
        assert "Personnummer" not in heads and "Namn" not in heads and rows
        text = " ".join(str(v) for r in rows for v in r)
    else:
        text = read_pdf(response.data)
        heading_line = next(line for line in text.splitlines() if "Ålder" in line and "Kön" in line)
        assert "Personnummer" not in heading_line and "Namn" not in heading_line
        assert "Personnummer och namn visas inte" in text  # and the file says so
    assert not PNR_RE.search(text)
    assert not any(n in text for n in names)
    assert len(utskrift(demo)) > 0  # the patients are still identified in the log


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
def test_a_coordinators_export_never_holds_a_protected_or_unknown_patient(demo, client, fmt):
    everyone = persons(demo)
    cert, protected = protected_lakarutlatande(demo)
    unknown = next(c.patient_pnr for c in lakarutlatanden(demo) if not everyone[c.patient_pnr].protected
                   and not everyone[c.patient_pnr].validation_person)
    with db.new_session(demo) as s:
        s.execute(delete(Person).where(Person.personnummer == unknown))
        s.commit()
    login(client, demo)
    for url in ("/rehabstod/sjukfall", "/rehabstod/lakarutlatanden"):
        data = client.get(f"{url}/export.{fmt}").data
        text = read_pdf(data) if fmt == "pdf" else " ".join(str(v) for r in read_xlsx(data)[1] for v in r)
        in_file = {m.group(0).replace("-", "") for m in PNR_RE.finditer(text)}
        assert in_file
        assert all(p in everyone and not everyone[p].protected and not everyone[p].deceased
                   and not everyone[p].validation_person for p in in_file)
        assert cert.patient_pnr not in in_file and unknown not in in_file
        assert f"{protected.given_name} {protected.family_name}" not in text
        assert "Sekretessmarkerad uppgift" not in text and "Namn okänt" not in text
    assert {r.patient_pnr for r in utskrift(demo)} & {cert.patient_pnr, unknown} == set()


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
def test_a_doctors_export_holds_only_their_own_with_a_protected_patient_masked(demo, client, fmt):
    cert, protected = protected_lakarutlatande(demo)
    login(client, demo, cert.staff_id, VE10, "LAKARE", name="Doktor")
    page = client.get("/rehabstod/lakarutlatanden").get_data(as_text=True)
    data = client.get(f"/rehabstod/lakarutlatanden/export.{fmt}").data
    own = {c.patient_pnr for c in lakarutlatanden(demo) if c.staff_id == cert.staff_id}
    if fmt == "xlsx":
        heads, rows, _ws = read_xlsx(data)
        assert "Läkare" not in heads and heads == headers(page)
        masked = [r for r in rows if r[heads.index("Personnummer")].replace("-", "") == cert.patient_pnr]
        assert [r[heads.index("Namn")] for r in masked] == ["Sekretessmarkerad uppgift"]
        text = " ".join(str(v) for r in rows for v in r)
    else:
        text = read_pdf(data)
        assert "Sekretessmarkerad uppgift" in " ".join(text.split())
    in_file = {m.group(0).replace("-", "") for m in PNR_RE.finditer(text)}
    assert cert.patient_pnr in in_file and in_file <= own
    assert protected.given_name not in text and protected.family_name not in text


@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_person_service_down_is_a_503_without_a_file_or_anything_about_patients(demo, client, name, fmt):
    url, _resource = LISTS[name]
    login(client, demo)
    demo.extensions["person_service"].mode = "fail"
    response = client.get(f"{url}/export.{fmt}")
    assert response.status_code == 503
    assert "Content-Disposition" not in response.headers and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "kunde inte hämtas" in html and not PNR_RE.search(html)
    assert all_records(demo) == []


@pytest.mark.parametrize("name, fmt, query, field", [
    ("sjukfall", "pdf", "?alder_fran=abc", "alder_fran"),
    ("sjukfall", "xlsx", "?slut_fran=2026-13-45", "slut_fran"),
    ("lakarutlatanden", "pdf", "?signerad_fran=2026-02-30", "signerad_fran"),
    ("lakarutlatanden", "xlsx", "?signerad_till=igår", "signerad_till"),
])
def test_bad_filter_input_is_a_400_page_with_a_clear_message_and_no_file(demo, client, name, fmt, query, field):
    url, _resource = LISTS[name]
    login(client, demo)
    response = client.get(f"{url}/export.{fmt}{query}")
    assert response.status_code == 400
    assert "Content-Disposition" not in response.headers and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Det finns ett problem" in html and "ingen fil har skapats" in html
    assert re.search(rf'href="{url}\?[^"#]*#{field}"', html)  # back to the list, at the field
    assert ("Ange en ålder mellan 0 och 120" if field.startswith("alder") else "Ange ett datum som ÅÅÅÅ-MM-DD") in html
    assert not PNR_RE.search(html) and all_records(demo) == []


def test_the_export_follows_the_users_language(demo, client):
    login(client, demo)
    client.set_cookie("lang", "en")
    page = client.get("/rehabstod/lakarutlatanden").get_data(as_text=True)
    response = client.get("/rehabstod/lakarutlatanden/export.xlsx")
    assert 'filename="medical-statements-2026-11-23.xlsx"' in response.headers["Content-Disposition"]
    heads, rows, _ws = read_xlsx(response.data)
    assert heads == headers(page)
    assert heads[0] == "Personal identity number" and "Doctor" in heads
    assert {r[heads.index("Gender")] for r in rows} <= {"Woman", "Man"}
    pdf = client.get("/rehabstod/sjukfall/export.pdf")
    assert 'filename="sick-leave-cases-2026-11-23.pdf"' in pdf.headers["Content-Disposition"]
    assert "Personal identity number" in " ".join(read_pdf(pdf.data).split())


def test_only_logged_in_staff_can_export(demo, client):
    assert client.get("/rehabstod/sjukfall/export.xlsx").status_code == 302
    citizen = next(c for c in demo_data.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
    session_login(client, demo, "citizen", citizen)
    for name, fmt in EXPORTS:
        response = client.get(f"{LISTS[name][0]}/export.{fmt}")
        assert response.status_code == 403 and "Content-Disposition" not in response.headers


def test_the_pages_link_to_their_exports_with_the_current_filters(demo, client):
    login(client, demo)
    html = client.get("/rehabstod/sjukfall?kapitel=F00-F99&personuppgifter=0&sortera=langd").get_data(as_text=True)
    assert 'href="/rehabstod/sjukfall/export.pdf?kapitel=F00-F99&amp;sortera=langd&amp;personuppgifter=0"' in html
    assert 'href="/rehabstod/sjukfall/export.xlsx?kapitel=F00-F99&amp;sortera=langd&amp;personuppgifter=0"' in html
    # the page's columns are rehab.columns' (the exports use those)
    from portal.domain import rehab

    heads, _rows, _ws = read_xlsx(client.get("/rehabstod/sjukfall/export.xlsx?personuppgifter=0").data)
    assert heads == headers(html)
    assert len(heads) == len(rehab.columns(rehab.Viewer(COORDINATOR, "REHABKOORDINATOR", VE10), False))


@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_an_export_of_an_empty_list_is_a_file_with_the_headings_and_no_patient(demo, client, name, fmt):
    url, _resource = LISTS[name]
    login(client, demo)
    query = "?kapitel=U00-U99" if name == "sjukfall" else "?signerad_fran=2030-01-01"
    assert "<tbody>" not in client.get(url + query).get_data(as_text=True)  # the page is empty too
    response = client.get(f"{url}/export.{fmt}{query}")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    if fmt == "xlsx":
        heads, rows, _ws = read_xlsx(response.data)
        assert "Personnummer" in heads and rows == []
    else:
        text = read_pdf(response.data)
        assert "Visar 0 av" in text and not PNR_RE.search(text)
    assert utskrift(demo) == []
