"""Lists as files: a table of typed cells to a landscape PDF (WeasyPrint, tagged PDF/UA-1) or an Excel
workbook (openpyxl).

No routes, no rules: the caller gives a ``Table`` that holds exactly what its page shows (the same
rows in the same order, the same columns with the same headings) after every access and masking rule
has been applied. Cells are typed: ``date`` cells become Excel date cells, ``number`` and ``days``
cells numbers; ``text`` cells strings. PDFs and workbooks are built in memory and never stored.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import render_template
from flask_babel import gettext as _

# WeasyPrint logs every rendering step at INFO; keep its warnings and errors only.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

TEXT, NUMBER, DAYS, DATE = "text", "number", "days", "date"

#: The row of the table's headings in the workbook (above it: title, unit, printed at, count).
XLSX_HEADER_ROW = 5
XLSX_DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT


@dataclass(frozen=True)
class Table:
    """What a list page shows, ready to print. ``rows`` hold one value per column: str for text (""
    for an empty cell), int for number/days, date for date, or None. ``extra_text``: sentences printed
    after the count (e.g. that personal data is hidden)."""

    title: str
    unit_name: str
    printed_at: datetime
    printed_by: str
    count_text: str
    columns: list[Column]
    rows: list[list[Any]]
    extra_text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError("every row needs one value per column")


def _cell_text(column: Column, value: Any) -> str:
    if value is None or value == "":
        return ""
    if column.kind == DATE:
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    if column.kind == DAYS:
        return _("%(n)s dagar", n=value)
    return str(value)


def filename(stem: str, today: date, extension: str) -> str:
    """e.g. "sjukfall-2026-11-23.xlsx": ASCII, the list's name and the day only, nothing personal."""
    stem = re.sub(r"[^a-z0-9-]", "", stem.lower()) or "lista"
    return f"{stem}-{today.isoformat()}.{extension}"


# --- PDF -------------------------------------------------------------------------------------------

def pdf_html(table: Table, lang: str) -> str:
    from .pdf import _css_string, _page_counter_content

    cells = [[_cell_text(c, v) for c, v in zip(table.columns, row, strict=True)] for row in table.rows]
    return render_template("rehab/export/table.html", table=table, cells=cells, lang=lang,
                           page_counter_css=_page_counter_content(),
                           running_head_css=_css_string(f"{table.title} – {table.unit_name}"),
                           running_right_css=_css_string(
                               _("Utskriven %(at)s", at=table.printed_at.strftime("%Y-%m-%d %H:%M"))))


def to_pdf(table: Table, lang: str) -> bytes:
    """The table as a landscape A4 PDF whose heading row repeats on every page (inside a request)."""
    from weasyprint import HTML

    from .pdf import _static_files_only, _static_root

    static = _static_root()
    document = HTML(string=pdf_html(table, lang), base_url=static.as_uri() + "/",
                    url_fetcher=_static_files_only(static))
    return document.write_pdf(pdf_variant="pdf/ua-1")


# --- Excel -----------------------------------------------------------------------------------------

def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "", title)[:31] or "Lista"


#: what a spreadsheet reads as the start of a formula (or of a DDE/"@" call) when the cell is text typed in
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _xml_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)


def _text_cell(cell: Any, value: str) -> None:
    """Put a text into a cell as a string, never a formula: names, diagnoses and free texts come from
    outside ("=HYPERLINK(...)", "+1-2", "@SUM(...)"). openpyxl turns a string starting with "=" into a
    formula and "#N/A" into an error, so the type is set to string after the value; a text that a
    spreadsheet would read as a formula if the cell were edited also gets the quote prefix (Excel's
    leading apostrophe, not part of the value). Characters XML 1.0 cannot hold (control characters but
    tab, newline and carriage return) become U+FFFD rather than failing the whole file."""
    value = _xml_text(value)
    cell.value = value
    cell.data_type = "s"
    if value.startswith(FORMULA_START):
        cell.quotePrefix = True


def _put(ws: Any, row: int, column: int, value: Any) -> Any:
    """A cell with a value: text as text (``_text_cell``), anything else as openpyxl types it."""
    if isinstance(value, str):
        cell = ws.cell(row=row, column=column)
        _text_cell(cell, value)
        return cell
    return ws.cell(row=row, column=column, value=value)


def to_xlsx(table: Table) -> bytes:
    """The table as a workbook: title, unit, printed-at and count above, then the headings (bold, frozen,
    with an auto filter) on row ``XLSX_HEADER_ROW`` and one row per line with typed cells."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new workbook starts with one worksheet
    ws.title = _sheet_title(table.title)
    _put(ws, 1, 1, f"{table.title} – {table.unit_name}").font = Font(bold=True, size=14)
    _put(ws, 2, 1, _("Utskriven %(at)s av %(who)s", at=table.printed_at.strftime("%Y-%m-%d %H:%M"),
                     who=table.printed_by))
    _put(ws, 3, 1, " ".join([table.count_text] + table.extra_text))
    days_format = '0" ' + _("dagar").replace('"', "") + '"'
    for i, column in enumerate(table.columns, start=1):
        _put(ws, XLSX_HEADER_ROW, i, column.label).font = Font(bold=True)
    for r, row in enumerate(table.rows, start=XLSX_HEADER_ROW + 1):
        for i, (column, value) in enumerate(zip(table.columns, row, strict=True), start=1):
            if value is None or value == "":
                continue
            if column.kind == DATE:
                value = value.date() if isinstance(value, datetime) else value
            cell = _put(ws, r, i, value)
            if column.kind == DATE:
                cell.number_format = XLSX_DATE_FORMAT
            elif column.kind == DAYS:
                cell.number_format = days_format
    for i, column in enumerate(table.columns, start=1):
        longest = max([len(column.label)] + [len(_cell_text(column, row[i - 1])) for row in table.rows])
        ws.column_dimensions[get_column_letter(i)].width = min(max(8, longest + 2), 50)
    last = get_column_letter(len(table.columns))
    ws.freeze_panes = ws.cell(row=XLSX_HEADER_ROW + 1, column=1).coordinate
    ws.auto_filter.ref = f"A{XLSX_HEADER_ROW}:{last}{XLSX_HEADER_ROW + max(len(table.rows), 1)}"
    wb.properties.title = _xml_text(f"{table.title} – {table.unit_name}")
    wb.properties.creator = "Intygsportalen"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
