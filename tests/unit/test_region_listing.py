"""Regionsstatistik's listing file (domain/region_listing.py): real workbooks built with openpyxl are read into
rows, or into every problem they have, each with the row as Excel numbers it and the column; the example file
reads back through the same parser."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest
from openpyxl import Workbook, load_workbook

from portal.domain import region_listing as rl

P = "TSTNMT2321000156-"
VE10, VE20, VE30 = P + "VE10", P + "VE20", P + "VE30"
HEADER = ("HSA-id", "Vårdenhet", "Antal listade")


def workbook(rows, *, sheets: int = 1) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    for i in range(1, sheets):
        wb.create_sheet(f"Blad{i + 1}").append(["HSA-id", "Vårdenhet", "Antal listade"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def codes(parsed: rl.Parsed) -> list[tuple]:
    return [(p.code, p.row, p.letter) for p in parsed.problems]


def test_a_good_file_gives_one_row_per_unit_with_its_excel_row():
    parsed = rl.parse(workbook([HEADER, (VE10, "Vårdcentralen Norrby", 12000), (VE20, "Ortopedkliniken", 0),
                                (VE30, "Psykiatrimottagningen Söder", 1850)]))
    assert parsed.ok and parsed.more == 0
    assert parsed.rows == (rl.Row(2, VE10, "Vårdcentralen Norrby", 12000), rl.Row(3, VE20, "Ortopedkliniken", 0),
                           rl.Row(4, VE30, "Psykiatrimottagningen Söder", 1850))
    assert parsed.total_listed == 13850
    assert rl.unit_ids(parsed) == [VE10, VE20, VE30]


def test_headers_in_any_order_and_case_extra_columns_ignored_empty_rows_skipped():
    parsed = rl.parse(workbook([
        (None, None, None, None),  # the header is the first row that is not empty
        ("Kommentar", "ANTAL  LISTADE", " hsa-id ", "vårdenhet"),
        ("ny i år", 1200, VE10, "Norrby"),
        (None, None, None, None),
        ("bara en kommentar", None, None, "   "),  # empty in the three columns: skipped
        (None, "950", VE20.lower(), "  Ortopeden  "),
    ]))
    assert parsed.ok, parsed.problems
    assert parsed.rows == (rl.Row(3, VE10, "Norrby", 1200), rl.Row(6, VE20, "Ortopeden", 950))
    assert parsed.hsa_letter == "C"


@pytest.mark.parametrize("cell, expected", [
    (1200, 1200), (1200.0, 1200), ("1200", 1200), (" 1200 ", 1200), ("1 200", 1200), ("1\u00a0200", 1200),
    ("12 345", 12345), ("1 234 567", 1234567), ("0", 0), (0, 0), (rl.MAX_LISTED, rl.MAX_LISTED),
])
def test_whole_numbers_are_read_as_swedish_writes_them(cell, expected):
    parsed = rl.parse(workbook([HEADER, (VE10, "Norrby", cell)]))
    assert parsed.ok, parsed.problems
    assert parsed.rows[0].listed == expected


@pytest.mark.parametrize("cell, code", [
    (12.5, rl.LISTED_NOT_INTEGER), ("12,5", rl.LISTED_NOT_INTEGER), ("1,200", rl.LISTED_NOT_INTEGER),
    ("1.200", rl.LISTED_NOT_INTEGER), ("12 00", rl.LISTED_NOT_INTEGER), ("många", rl.LISTED_NOT_INTEGER),
    (True, rl.LISTED_NOT_INTEGER), (datetime(2026, 1, 1), rl.LISTED_NOT_INTEGER),
    (-1, rl.LISTED_NEGATIVE), ("-40", rl.LISTED_NEGATIVE), (-0.5, rl.LISTED_NOT_INTEGER),
    (rl.MAX_LISTED + 1, rl.LISTED_TOO_LARGE), (None, rl.LISTED_MISSING), ("  ", rl.LISTED_MISSING),
])
def test_a_count_that_is_not_a_whole_number_of_zero_or_more_is_a_problem_at_its_cell(cell, code):
    parsed = rl.parse(workbook([HEADER, (VE10, "Norrby", cell), (VE20, "Ortopeden", 10)]))
    assert codes(parsed) == [(code, 2, "C")]
    assert parsed.problems[0].column == "Antal listade"
    assert parsed.rows == (rl.Row(3, VE20, "Ortopeden", 10),)  # the good rows are still read (never stored)


def test_hsa_id_problems_missing_misshaped_and_named_twice():
    parsed = rl.parse(workbook([
        HEADER,
        (VE10, "Norrby", 100),
        (None, "Utan id", 100),
        ("Vårdcentralen Norrby", "Namn i fel kolumn", 100),
        ("SE2321000016", "Utan löpnummer", 100),
        (12345, "Ett tal", 100),
        (VE10.lower(), "Norrby igen", 100),
        ("SE2321000016-15CQ", "Ett riktigt format", 100),
    ]))
    assert codes(parsed) == [(rl.HSA_MISSING, 3, "A"), (rl.HSA_FORMAT, 4, "A"), (rl.HSA_FORMAT, 5, "A"),
                             (rl.HSA_FORMAT, 6, "A"), (rl.HSA_DUPLICATE, 7, "A")]
    assert parsed.problems[1].value == "VÅRDCENTRALEN NORRBY"
    assert parsed.problems[4].value == VE10 and parsed.problems[4].first_row == 2
    assert [r.unit_id for r in parsed.rows] == [VE10, "SE2321000016-15CQ"]


@pytest.mark.parametrize("text, ok", [
    ("SE2321000016-0001", True), ("SE162321000024-A1B2", True), (VE10, True), ("se2321000016-0001", False),
    ("SE2321000016-", False), ("2321000016-0001", False), ("SE232100001-0001", False), ("SE2321000016-00 1", False),
    ("SE2321000016-" + "1" * 19, False),
])
def test_the_shape_of_an_hsa_id(text, ok):
    assert rl.is_hsa_id(text) is ok


def test_a_name_is_needed_and_not_too_long():
    parsed = rl.parse(workbook([HEADER, (VE10, None, 10), (VE20, "x" * (rl.MAX_NAME + 1), 10),
                                (VE30, "  Söder  ", 10)]))
    assert codes(parsed) == [(rl.NAME_MISSING, 2, "B"), (rl.NAME_TOO_LONG, 3, "B")]
    assert parsed.rows == (rl.Row(4, VE30, "Söder", 10),)


def test_every_problem_of_a_row_left_to_right_and_rows_in_order():
    parsed = rl.parse(workbook([("Antal listade", "Vårdenhet", "HSA-id"), (-5, None, "fel"), (10, "Ok", VE10)]))
    assert codes(parsed) == [(rl.LISTED_NEGATIVE, 2, "A"), (rl.NAME_MISSING, 2, "B"), (rl.HSA_FORMAT, 2, "C")]


def test_missing_and_doubled_columns_are_named_on_the_header_row():
    parsed = rl.parse(workbook([(None,), ("HSA-id", "Namn", "Antal"), (VE10, "Norrby", 10)]))
    assert [(p.code, p.row, p.column) for p in parsed.problems] == [
        (rl.MISSING_COLUMN, 2, "Vårdenhet"), (rl.MISSING_COLUMN, 2, "Antal listade")]
    parsed = rl.parse(workbook([("HSA-id", "Vårdenhet", "Antal listade", "hsa-id"), (VE10, "Norrby", 10, VE20)]))
    assert [(p.code, p.row, p.column, p.letter) for p in parsed.problems] == [
        (rl.DUPLICATE_COLUMN, 1, "HSA-id", "D")]
    assert parsed.rows == ()


def test_a_file_without_units_or_with_an_empty_first_sheet():
    assert codes(rl.parse(workbook([HEADER, (None, None, None)]))) == [(rl.NO_UNITS, 2, None)]
    assert codes(rl.parse(workbook([], sheets=2))) == [(rl.EMPTY_SHEET, None, None)]  # only the first sheet


def test_at_most_max_rows_units(monkeypatch):
    monkeypatch.setattr(rl, "MAX_ROWS", 3)
    rows = [HEADER] + [(f"{P}VE{i}", f"Enhet {i}", i) for i in range(1, 4)]
    assert rl.parse(workbook(rows)).ok
    parsed = rl.parse(workbook(rows + [(None, None, None), (f"{P}VE9", "En för mycket", 1)]))
    assert codes(parsed) == [(rl.TOO_MANY_ROWS, 6, None)]


def test_at_most_max_problems_are_listed_and_the_rest_counted(monkeypatch):
    monkeypatch.setattr(rl, "MAX_PROBLEMS", 4)
    parsed = rl.parse(workbook([HEADER] + [("fel", None, -1)] * 3))
    assert len(parsed.problems) == 4 and parsed.more == 5
    assert not parsed.ok


@pytest.mark.parametrize("data, code", [
    (b"", rl.EMPTY_FILE),
    (b"HSA-id;V\xe5rdenhet;Antal listade\n", rl.NOT_EXCEL),  # a CSV
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, rl.OLD_EXCEL),  # .xls, or an .xlsx with a password
    (b"PK\x03\x04 not really a zip", rl.NOT_EXCEL),
])
def test_files_that_are_not_xlsx_workbooks(data, code):
    assert codes(rl.parse(data)) == [(code, None, None)]


def test_a_zip_that_is_not_a_workbook_and_a_workbook_that_is_broken():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("content.xml", "<office:document/>")  # an OpenDocument file, say
    assert codes(rl.parse(out.getvalue())) == [(rl.NOT_EXCEL, None, None)]
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook([HEADER, (VE10, "Norrby", 10)]))) as src, \
            zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(item, body[: len(body) // 2] if item.filename.startswith("xl/worksheets/") else body)
    assert codes(rl.parse(broken.getvalue())) == [(rl.NOT_READABLE, None, None)]


def test_a_file_over_the_size_limit_or_unpacking_to_too_much_is_refused_unread():
    assert codes(rl.parse(b"PK" + b"\0" * rl.MAX_FILE_BYTES)) == [(rl.TOO_LARGE, None, None)]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", " " * (rl.MAX_UNPACKED_BYTES + 1))
    assert len(bomb.getvalue()) < rl.MAX_FILE_BYTES
    assert codes(rl.parse(bomb.getvalue())) == [(rl.NOT_READABLE, None, None)]


def test_rows_far_down_keep_their_excel_row_numbers():
    wb = Workbook()
    ws = wb.active
    ws["B3"], ws["C3"], ws["D3"] = HEADER
    ws["B40"], ws["C40"], ws["D40"] = VE10, "Norrby", "ett tusen"
    out = io.BytesIO()
    wb.save(out)
    assert codes(rl.parse(out.getvalue())) == [(rl.LISTED_NOT_INTEGER, 40, "D")]


def test_a_formula_counts_with_its_saved_value():
    # what Excel saves: the formula and its last value (openpyxl writes no values, so the XML is edited in)
    data = workbook([HEADER, (VE10, "Norrby", "=1000+200")])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<f>1000+200</f><v />", b"<f>1000+200</f><v>1200</v>")
                assert b"<v>1200</v>" in body
            dst.writestr(item, body)
    parsed = rl.parse(out.getvalue())
    assert parsed.ok and parsed.rows[0].listed == 1200


def test_units_the_directory_does_not_know_are_problems_also_on_rows_with_other_problems():
    parsed = rl.parse(workbook([HEADER, (VE10, "Norrby", 10), (P + "OKAND", "Okänd", 10), (P + "OKAND2", None, 5),
                                (VE20, "Ortopeden", -1)]))
    checked = rl.with_known(parsed, {VE10, VE20})
    assert codes(checked) == [(rl.UNKNOWN_UNIT, 3, "A"), (rl.UNKNOWN_UNIT, 4, "A"), (rl.NAME_MISSING, 4, "B"),
                              (rl.LISTED_NEGATIVE, 5, "C")]
    assert checked.problems[0].value == P + "OKAND" and checked.problems[0].column == "HSA-id"
    assert [r.unit_id for r in checked.rows] == [VE10]
    good = rl.parse(workbook([HEADER, (VE10, "Norrby", 10)]))
    assert rl.with_known(good, {VE10, VE20}) == good


def test_the_example_file_reads_back_with_only_the_counts_missing():
    units = [(VE10, "Vårdcentralen Norrby"), (VE20, "=HYPERLINK(\"http://evil.example\")"), (VE30, "+46 Söder")]
    data = rl.example_workbook(units)
    ws = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in ws[1]] == list(HEADER)
    assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    parsed = rl.parse(data)
    assert codes(parsed) == [(rl.LISTED_MISSING, 2, "C"), (rl.LISTED_MISSING, 3, "C"), (rl.LISTED_MISSING, 4, "C")]
    assert rl.unit_ids(parsed) == [VE10, VE20, VE30]
    ws.cell(row=2, column=3, value=100)
    ws.cell(row=3, column=3, value=200)
    ws.cell(row=4, column=3, value=300)
    out = io.BytesIO()
    ws.parent.save(out)
    filled = rl.parse(out.getvalue())
    assert filled.ok and [(r.unit_id, r.unit_name, r.listed) for r in filled.rows] == [
        (u, n, c) for (u, n), c in zip(units, (100, 200, 300), strict=True)]


@pytest.mark.parametrize("raw, shown", [
    ("listade.xlsx", "listade.xlsx"), ("C:\\Users\\anna\\Listade vårdenheter.xlsx", "Listade vårdenheter.xlsx"),
    ("../../etc/passwd", "passwd"), ("a\x00b\nc.xlsx", "abc.xlsx"), ("", "—"), (None, "—"),
    ("x" * 300 + ".xlsx", "x" * rl.MAX_FILE_NAME),
])
def test_the_file_name_kept_is_the_last_part_without_control_characters(raw, shown):
    assert rl.display_file_name(raw) == shown
