"""Regionsstatistik (seed 000 "Administration av Regionsstatistik"): a region's file of care units and their number
of listed patients (antal listade), read into rows or into every problem it has. Pure: bytes in, plain data out.

The file is an Excel workbook (.xlsx). Its first sheet has a header row (the first row that is not empty) with
the columns "HSA-id", "Vårdenhet" and "Antal listade" (in any order, any case; other columns are ignored), then
one row per care unit; empty rows are skipped. A problem names the row as Excel shows it and the column (its
name and letter), and a code the blueprint words in the user's language (portal/statistics/region.py).

Decisions:
- "Antal listade" is a whole number from 0 to ``MAX_LISTED``: a number cell (1200, or 1200.0 as Excel stores it),
  or a text cell of digits, with spaces between groups of three as Swedish writes them ("1 200", also with a
  no-break space). "1,200", "1.200" and "12,5" are refused: a comma or point is a decimal mark in one language
  and a thousands separator in the other, and a guess would store a wrong count.
- An HSA-id is trimmed and upper-cased, then must look like one (``HSA_ID``); whether the directory knows the
  unit is the caller's question (``with_known``): a region's file may name any known unit, its own or a private
  one under contract.
- A unit's name is required (at most ``MAX_NAME`` characters); the directory's name is what the reports show.
- Limits: ``MAX_FILE_BYTES``; ``MAX_UNPACKED_BYTES`` for what the zip holds unpacked (a small file that unpacks
  to gigabytes is refused before it is parsed); ``MAX_ROWS`` units; at most ``MAX_PROBLEMS`` problems listed
  (``Parsed.more`` counts the rest).
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Iterator

MAX_FILE_BYTES = 1024 * 1024  # a file of 5 000 units is some 150 KB
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
MAX_ROWS = 5000
MAX_LISTED = 10_000_000  # more than anyone could have listed at one unit (and within a 32-bit column)
MAX_NAME = 200  # RegionListing.unit_name
MAX_FILE_NAME = 200  # RegionFile.file_name
MAX_PROBLEMS = 500
MAX_VALUE_SHOWN = 40  # a wrong value is quoted in its problem, shortened to this

HSA, NAME, LISTED = "HSA-id", "Vårdenhet", "Antal listade"
COLUMNS = (HSA, NAME, LISTED)

# problem codes (portal/statistics/region.py words them)
NO_FILE = "no_file"  # nothing was chosen (the blueprint's)
EMPTY_FILE = "empty_file"
TOO_LARGE = "too_large"
OLD_EXCEL = "old_excel"  # an OLE2 file: .xls, or an .xlsx with a password
NOT_EXCEL = "not_excel"
NOT_READABLE = "not_readable"
EMPTY_SHEET = "empty_sheet"
MISSING_COLUMN = "missing_column"
DUPLICATE_COLUMN = "duplicate_column"
HSA_MISSING = "hsa_missing"
HSA_FORMAT = "hsa_format"
HSA_DUPLICATE = "hsa_duplicate"
UNKNOWN_UNIT = "unknown_unit"
NAME_MISSING = "name_missing"
NAME_TOO_LONG = "name_too_long"
LISTED_MISSING = "listed_missing"
LISTED_NOT_INTEGER = "listed_not_integer"
LISTED_NEGATIVE = "listed_negative"
LISTED_TOO_LARGE = "listed_too_large"
NO_UNITS = "no_units"
TOO_MANY_ROWS = "too_many_rows"

#: an HSA-id: a country code (two letters; the test ids' TSTNMT), the organisation number (10 digits, 12 with the
#: century), a hyphen and a serial of letters and digits; 31 characters at most (SE2321000016-0001)
HSA_ID = re.compile(r"[A-Z]{2}[A-Z0-9]{0,6}[0-9]{10}-[A-Z0-9]{1,18}")
HSA_ID_MAX = 31
_WHOLE = re.compile(r"[0-9]+|[0-9]{1,3}(?: [0-9]{3})+")
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: a code, where (the row as Excel numbers it, the column's name and letter)
    and what (the value, shortened; for a unit named twice, the row it was first named on)."""

    code: str
    row: int | None = None
    column: str | None = None
    letter: str | None = None
    value: str | None = None
    first_row: int | None = None


@dataclass(frozen=True)
class Row:
    """One care unit of the file."""

    row: int
    unit_id: str
    unit_name: str
    listed: int


@dataclass(frozen=True)
class Parsed:
    """What the file holds: its good rows and its problems (the first MAX_PROBLEMS; ``more`` counts the rest).
    A file with any problem changes nothing."""

    rows: tuple[Row, ...] = ()
    problems: tuple[Problem, ...] = ()
    more: int = 0
    ids: tuple[tuple[int, str], ...] = ()  # (row, HSA-id) of every well-formed id, for with_known
    hsa_letter: str | None = None  # the HSA-id column's letter in the file

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_listed(self) -> int:
        return sum(r.listed for r in self.rows)


def is_hsa_id(text: str) -> bool:
    return len(text) <= HSA_ID_MAX and HSA_ID.fullmatch(text) is not None


def display_file_name(raw: str | None) -> str:
    """The uploaded file's name to store and show: the last part of a path, no control characters, shortened."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:MAX_FILE_NAME] or "—"


def parse(data: bytes) -> Parsed:
    """Read a listing file. Never raises for what a user can upload: a file that cannot be read is a problem."""
    early = _container_problem(data)
    if early is not None:
        return Parsed(problems=(Problem(early),))
    try:
        return _read(data)
    except Exception:  # noqa: BLE001 - a broken workbook can fail anywhere in openpyxl; it is the user's file
        return Parsed(problems=(Problem(NOT_READABLE),))


def with_known(parsed: Parsed, known: Collection[str]) -> Parsed:
    """The file's problems with every unit that is not in ``known`` (the directory's units among the file's ids)
    added, in row order: also on a row with other problems, so one upload shows them all."""
    unknown = [Problem(UNKNOWN_UNIT, n, HSA, parsed.hsa_letter, unit_id) for n, unit_id in parsed.ids
               if unit_id not in known]
    if not unknown:
        return parsed
    listed = sorted(list(parsed.problems) + unknown, key=_order)
    more = parsed.more + max(0, len(listed) - MAX_PROBLEMS)
    return Parsed(tuple(r for r in parsed.rows if r.unit_id in known), tuple(listed[:MAX_PROBLEMS]), more,
                  parsed.ids, parsed.hsa_letter)


def unit_ids(parsed: Parsed) -> list[str]:
    """The well-formed HSA-ids the file names (to ask the directory which it knows)."""
    return [unit_id for _, unit_id in parsed.ids]


# --- reading ------------------------------------------------------------------------------------------------

def _container_problem(data: bytes) -> str | None:
    """What is wrong with the file before any cell is read: empty, too large, not an .xlsx at all."""
    if not data:
        return EMPTY_FILE
    if len(data) > MAX_FILE_BYTES:
        return TOO_LARGE
    if data.startswith(_OLE2):
        return OLD_EXCEL
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return NOT_EXCEL
    if not any(e.filename == "xl/workbook.xml" for e in entries):
        return NOT_EXCEL  # another zip: an .ods, a .docx, ...
    # the sizes the zip declares bound what zipfile unpacks (it stops there and checks the CRC)
    if sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
        return NOT_READABLE
    return None


def _read(data: bytes) -> Parsed:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if not workbook.worksheets:
            return Parsed(problems=(Problem(EMPTY_SHEET),))
        sheet: Any = workbook.worksheets[0]
        sheet.reset_dimensions()  # the dimensions some writers record are wrong: read every row there is
        return _rows(enumerate(sheet.iter_rows(values_only=True), start=1))
    finally:
        workbook.close()


def _rows(numbered: Iterator[tuple[int, tuple[Any, ...]]]) -> Parsed:
    header = next(((n, values) for n, values in numbered if not _empty_row(values)), None)
    if header is None:
        return Parsed(problems=(Problem(EMPTY_SHEET),))
    header_row, titles = header
    columns, problems = _columns(header_row, titles)
    if problems:
        return Parsed(problems=tuple(problems))
    reader = _RowReader(columns)
    for n, values in numbered:
        picked = (_cell(values, columns[0]), _cell(values, columns[1]), _cell(values, columns[2]))
        if _empty_row(picked):
            continue
        if reader.count == MAX_ROWS:
            reader.add(Problem(TOO_MANY_ROWS, n))
            break
        reader.read(n, picked)
    if reader.count == 0:
        reader.add(Problem(NO_UNITS, header_row + 1))
    return reader.parsed()


def _columns(row: int, titles: tuple[Any, ...]) -> tuple[tuple[int, int, int], list[Problem]]:
    """The positions of HSA-id, Vårdenhet and Antal listade in the header row, or the problems with it."""
    wanted = {_key(c): c for c in COLUMNS}
    found: dict[str, int] = {}
    problems = []
    for i, title in enumerate(titles):
        column = wanted.get(_key(title)) if isinstance(title, str) else None
        if column is None:
            continue
        if column in found:
            problems.append(Problem(DUPLICATE_COLUMN, row, column, _letter(i)))
        else:
            found[column] = i
    problems += [Problem(MISSING_COLUMN, row, c) for c in COLUMNS if c not in found]
    if problems:
        return (0, 0, 0), problems
    return (found[HSA], found[NAME], found[LISTED]), []


class _RowReader:
    """Reads the unit rows one by one, keeping the good ones and the problems."""

    def __init__(self, columns: tuple[int, int, int]):
        self.letters = tuple(_letter(i) for i in columns)
        self.rows: list[Row] = []
        self.problems: list[Problem] = []
        self.more = 0
        self.count = 0
        self.first_row: dict[str, int] = {}
        self.ids: list[tuple[int, str]] = []
        self.pending: list[Problem] = []

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1

    def read(self, n: int, values: tuple[Any, Any, Any]) -> None:
        self.count += 1
        self.pending = []
        unit_id = self._unit_id(n, values[0])
        name = self._name(n, values[1])
        listed = self._listed(n, values[2])
        if not self.pending and unit_id and name is not None and listed is not None:
            self.rows.append(Row(n, unit_id, name, listed))
        for problem in sorted(self.pending, key=_order):  # left to right, as the user reads the row
            self.add(problem)

    def parsed(self) -> Parsed:
        return Parsed(tuple(self.rows), tuple(self.problems), self.more, tuple(self.ids), self.letters[0])

    def _problem(self, code: str, n: int, column: int, value: Any = None, first_row: int | None = None) -> None:
        self.pending.append(Problem(code, n, COLUMNS[column], self.letters[column], _shown(value), first_row))

    def _unit_id(self, n: int, value: Any) -> str | None:
        text = _text(value).upper()
        if not text:
            self._problem(HSA_MISSING, n, 0)
            return None
        if not is_hsa_id(text):
            self._problem(HSA_FORMAT, n, 0, text)
            return None
        if text in self.first_row:
            self._problem(HSA_DUPLICATE, n, 0, text, self.first_row[text])
            return None
        self.first_row[text] = n
        self.ids.append((n, text))
        return text

    def _name(self, n: int, value: Any) -> str | None:
        text = _SPACES.sub(" ", _text(value))
        if not text:
            self._problem(NAME_MISSING, n, 1)
            return None
        if len(text) > MAX_NAME:
            self._problem(NAME_TOO_LONG, n, 1)
            return None
        return text

    def _listed(self, n: int, value: Any) -> int | None:
        number, code = _whole_number(value)
        if code is not None:
            self._problem(code, n, 2, value)
            return None
        return number


def _whole_number(value: Any) -> tuple[int | None, str | None]:
    """A count of listed patients from a cell: (the number, None) or (None, the problem's code)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, LISTED_MISSING
    if isinstance(value, bool):
        return None, LISTED_NOT_INTEGER
    number: int
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = _SPACES.sub(" ", value.strip())
        negative = text.startswith(("-", "\u2212"))
        digits = text[1:].strip() if negative else text
        if not _WHOLE.fullmatch(digits):
            return None, LISTED_NOT_INTEGER
        number = -int(digits.replace(" ", "")) if negative else int(digits.replace(" ", ""))
    else:  # a date, a time, a fraction
        return None, LISTED_NOT_INTEGER
    if number < 0:
        return None, LISTED_NEGATIVE
    if number > MAX_LISTED:
        return None, LISTED_TOO_LARGE
    return number, None


def _cell(values: tuple[Any, ...], index: int) -> Any:
    return values[index] if index < len(values) else None  # a row stops at its last cell


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def _key(title: Any) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", str(title)).strip()).casefold()


def _empty_row(values: Iterable[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    return text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN - 1] + "…"


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _order(problem: Problem) -> tuple[int, int, str]:
    """Row by row, and left to right within a row (column letters sort by length, then alphabet: Z before AA)."""
    letter = problem.letter or ""
    return (problem.row or 0, len(letter), letter)


# --- the example file ---------------------------------------------------------------------------------------

#: what a spreadsheet reads as the start of a formula when a text is typed in (as portal/export.py guards)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def example_workbook(units: Iterable[tuple[str, str]]) -> bytes:
    """An example file: the header row and one row per (HSA-id, name), "Antal listade" left empty. Names are
    written as text, never as formulas (they come from the directory, which is outside data)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = "Listade"
    for i, title in enumerate(COLUMNS, start=1):
        sheet.cell(row=1, column=i, value=title).font = Font(bold=True)
    for r, (unit_id, name) in enumerate(units, start=2):
        for i, text in ((1, unit_id), (2, name)):
            cell = sheet.cell(row=r, column=i)
            cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
            cell.data_type = "s"
            if text.startswith(_FORMULA_START):
                cell.quotePrefix = True
    for letter, width in (("A", 28), ("B", 44), ("C", 16)):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    workbook.properties.creator = "Intygsportalen"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
