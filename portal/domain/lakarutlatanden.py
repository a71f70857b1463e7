"""Rehabstöd's läkarutlåtanden list (FK7800, FK7801, FK7802 on the unit): who sees which, masking,
filters, sorting and columns.

Pure: plain data in, plain data out (no Flask, no SQL, no I/O). The identity rules are the ongoing
list's (``domain.rehab``), used here, not copied:

- Valideringspersoner and deceased patients never appear (``patient_access.may_see_patient``).
- A rehab coordinator sees the whole unit, except protected patients and patients unknown to
  PU-tjänsten.
- A doctor sees only the läkarutlåtanden they signed; their protected patients with the name
  replaced by ``patient_access.MASKED`` ("Sekretessmarkerad uppgift"), unknown ones as ``patient_access.UNKNOWN_NAME``.
  The real name of a protected patient never enters a row.
- When PU-tjänsten cannot answer, the caller shows nothing about patients and does not call this.

Filters are GET parameters (``PARAMS``): type, diagnosis chapter, doctor and a signing-date range.
The default order is newest signed first.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from . import diagnosis, patient_access
from . import filter_params as fp
from . import persons as pnr_rules
from .access import LAKARE, REHABKOORDINATOR
from .filter_params import FROM_AFTER_TO, swedish_key
from .ongoing import ORDERS
from .patient_access import PersonFacts, Viewer, display_name

__all__ = [
    "COLUMN_KEYS", "DEFAULT_ORDER", "DEFAULT_SORT", "PARAMS", "SORT_KEYS", "TYPES",
    "Filters", "Row", "Stored", "apply_filters", "columns", "list_rows", "parse_filters", "sort_rows",
    "visible_rows",
]

#: The läkarutlåtanden types of the list (the registry marks them with rehab = "lakarutlatande").
TYPES = ("FK7800", "FK7801", "FK7802")

#: GET parameter names, by ``Filters`` field.
PARAMS = {
    "types": "typ",
    "chapters": "kapitel",
    "doctors": "lakare",
    "signed_from": "signerad_fran",
    "signed_to": "signerad_till",
    "sort": "sortera",
    "order": "ordning",
    "show_personal": "personuppgifter",
}

#: The list's columns, in order (all sortable).
COLUMN_KEYS = ("personnummer", "alder", "namn", "kon", "intygstyp", "diagnos", "signerad", "arenden", "lakare")
SORT_KEYS = COLUMN_KEYS
DEFAULT_SORT = "signerad"
DEFAULT_ORDER = "desc"


@dataclass(frozen=True)
class Stored:
    """One stored läkarutlåtande as the repository gives it (not revoked; on the unit or a sub-unit)."""

    id: str
    type_code: str
    patient_pnr: str
    signed_at: datetime
    unit_id: str
    doctor_id: str
    diagnosis: str | None = None


@dataclass(frozen=True)
class Row:
    """One line of the list as the viewer may see it. ``patient_pnr`` is always the real
    personnummer (for PDL and the link); ``name`` is the real name, ``patient_access.MASKED`` or
    ``patient_access.UNKNOWN_NAME``."""

    certificate_id: str
    type_code: str
    patient_pnr: str
    name: str
    masked: bool
    age: int
    gender: str  # "M" | "F"
    diagnosis: str | None
    chapter: str
    signed_at: datetime
    unit_id: str
    doctor_id: str
    doctor_name: str
    komplettering: int = 0
    administrative: int = 0

    @property
    def signed(self) -> date:
        return self.signed_at.date()

    @property
    def unknown(self) -> bool:
        return not self.masked and self.name == patient_access.UNKNOWN_NAME

    @property
    def unanswered(self) -> int:
        return self.komplettering + self.administrative


def visible_rows(stored: Iterable[Stored], persons: Mapping[str, PersonFacts], viewer: Viewer, today: date, *,
                 doctor_names: Mapping[str, str],
                 questions: Mapping[str, tuple[int, int]] | None = None) -> list[Row]:
    """The läkarutlåtanden the viewer may see, as rows, in the order given.

    ``persons``: what PU-tjänsten said, by personnummer (a missing patient is unknown);
    ``questions``: certificate id -> (komplettering, administrative) from ``questions.question_counts``.
    """
    questions = questions or {}
    rows: list[Row] = []
    for s in stored:
        person = persons.get(s.patient_pnr)
        if not patient_access.may_see_patient(person, viewer):
            continue
        if not viewer.is_coordinator and s.doctor_id != viewer.hsa_id:
            continue
        name, masked = display_name(person)
        k, a = questions.get(s.id, (0, 0))
        rows.append(Row(
            certificate_id=s.id, type_code=s.type_code, patient_pnr=s.patient_pnr, name=name, masked=masked,
            age=pnr_rules.age(s.patient_pnr, today), gender=pnr_rules.gender(s.patient_pnr),
            diagnosis=s.diagnosis, chapter=diagnosis.chapter_of(s.diagnosis), signed_at=s.signed_at,
            unit_id=s.unit_id, doctor_id=s.doctor_id, doctor_name=doctor_names.get(s.doctor_id) or s.doctor_id,
            komplettering=k, administrative=a))
    return rows


def columns(viewer: Viewer, show_personal: bool = True) -> list[str]:
    """The column keys for this viewer, in order: the page and the exports use the same. "lakare" is
    for coordinators only; "personnummer" and "namn" go when personal data is hidden."""
    keys = list(COLUMN_KEYS)
    if not viewer.is_coordinator:
        keys.remove("lakare")
    if not show_personal:
        keys.remove("personnummer")
        keys.remove("namn")
    if viewer.role not in (LAKARE, REHABKOORDINATOR):
        raise ValueError(f"unknown Rehabstöd role {viewer.role!r}")
    return keys


# --- Filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The list's filters, sort and "Visa personuppgifter" switch (empty = no restriction)."""

    types: tuple[str, ...] = ()
    chapters: tuple[str, ...] = ()
    doctors: tuple[str, ...] = ()
    signed_from: date | None = None
    signed_to: date | None = None
    sort: str | None = None
    order: str = DEFAULT_ORDER
    show_personal: bool = True

    @property
    def active(self) -> bool:
        return bool(self.types or self.chapters or self.doctors or self.signed_from is not None
                    or self.signed_to is not None)

    def as_query(self, *, sort: bool = True) -> list[tuple[str, str]]:
        """The filters as (parameter, value) pairs, defaults left out; ``parse_filters`` reads them back."""
        pairs: list[tuple[str, str]] = []
        pairs += [(PARAMS["types"], v) for v in self.types]
        pairs += [(PARAMS["chapters"], v) for v in self.chapters]
        pairs += [(PARAMS["doctors"], v) for v in self.doctors]
        if self.signed_from is not None:
            pairs.append((PARAMS["signed_from"], self.signed_from.isoformat()))
        if self.signed_to is not None:
            pairs.append((PARAMS["signed_to"], self.signed_to.isoformat()))
        if sort and self.sort is not None:
            pairs.append((PARAMS["sort"], self.sort))
        if sort and self.order != DEFAULT_ORDER:
            pairs.append((PARAMS["order"], self.order))
        if not self.show_personal:
            pairs.append((PARAMS["show_personal"], "0"))
        return pairs

    def without(self, param: str, value: str | None = None) -> list[tuple[str, str]]:
        """``as_query()`` without one chosen value (or every value of ``param``): a filter tag's link."""
        return fp.without(self.as_query(), param, value)

    def tags(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """Each chosen filter value as (parameter, value, the query without it): the removable tags."""
        return [(p, v, self.without(p, v)) for p, v in self.as_query()
                if p not in (PARAMS["sort"], PARAMS["order"], PARAMS["show_personal"])]

    @property
    def sort_key(self) -> str:
        return self.sort or DEFAULT_SORT

    def sort_query(self, key: str) -> list[tuple[str, str]]:
        """A column header's link: sort by ``key`` (dates newest first, the rest ascending first), and
        the other way when the list is already sorted by it."""
        first = "desc" if key == "signerad" else "asc"
        other = "asc" if first == "desc" else "desc"
        order = other if self.sort_key == key and self.order == first else first
        return replace(self, sort=key, order=order).as_query()

    def sort_state(self, key: str) -> str | None:
        if key != self.sort_key:
            return None
        return "ascending" if self.order == "asc" else "descending"


def parse_filters(args: Mapping[str, Sequence[str]],
                  types: Sequence[str] = TYPES) -> tuple[Filters, list[tuple[str, str]]]:
    """Filters from GET parameters (``request.args.to_dict(flat=False)``), and the errors as
    (parameter, code): a signing date that is not a real YYYY-MM-DD (``filter_params.NOT_A_DATE``); a "from"
    after its "to" (``filter_params.FROM_AFTER_TO`` on the "from"; both then left out). Unknown type, chapter,
    sort and order values are dropped; "Visa personuppgifter": the last value of the parameter
    counts (the form sends a hidden 0 and then 1 when ticked)."""
    errors: list[tuple[str, str]] = []
    signed_from = fp.parse_date(fp.first(args, PARAMS["signed_from"]), PARAMS["signed_from"], errors)
    signed_to = fp.parse_date(fp.first(args, PARAMS["signed_to"]), PARAMS["signed_to"], errors)
    if signed_from is not None and signed_to is not None and signed_from > signed_to:
        errors.append((PARAMS["signed_from"], FROM_AFTER_TO))
        signed_from = signed_to = None
    raw_personal = args.get(PARAMS["show_personal"]) or []
    if isinstance(raw_personal, str):
        raw_personal = [raw_personal]
    sort = fp.first(args, PARAMS["sort"])
    order = fp.first(args, PARAMS["order"])
    filters = Filters(
        types=fp.choices(args, PARAMS["types"], tuple(types)),
        chapters=fp.choices(args, PARAMS["chapters"], diagnosis.CHAPTER_IDS),
        doctors=tuple(v for v in fp.values(args, PARAMS["doctors"]) if len(v) <= 64),
        signed_from=signed_from,
        signed_to=signed_to,
        sort=sort if sort in SORT_KEYS else None,
        order=order if order in ORDERS else DEFAULT_ORDER,
        show_personal="0" not in list(raw_personal)[-1:],
    )
    return filters, errors


def _matches(row: Row, f: Filters) -> bool:
    if f.types and row.type_code not in f.types:
        return False
    if f.chapters and row.chapter not in f.chapters:
        return False
    if f.doctors and row.doctor_id not in f.doctors:
        return False
    if f.signed_from is not None and row.signed < f.signed_from:
        return False
    if f.signed_to is not None and row.signed > f.signed_to:
        return False
    return True


def apply_filters(rows: Iterable[Row], f: Filters) -> list[Row]:
    """The rows passing every filter (several values of one filter are alternatives; the date range is
    inclusive), in their order."""
    return [row for row in rows if _matches(row, f)]


_SORT_VALUES = {
    "personnummer": lambda r: r.patient_pnr,
    "alder": lambda r: r.age,
    "namn": lambda r: swedish_key(r.name),  # masked rows sort by their masking text
    "kon": lambda r: r.gender,
    "intygstyp": lambda r: r.type_code,
    "diagnos": lambda r: r.diagnosis,
    "signerad": lambda r: r.signed_at,
    "arenden": lambda r: r.unanswered,
    "lakare": lambda r: swedish_key(r.doctor_name) or None,
}


def sort_rows(rows: Iterable[Row], key: str | None = None, order: str | None = None) -> list[Row]:
    """Sorted by a column key ("asc"/"desc"); default newest signed first. Rows without a value (no
    diagnosis) come last either way; ties newest signed first, then certificate id."""
    key = key if key in _SORT_VALUES else DEFAULT_SORT
    if order not in ORDERS:
        order = DEFAULT_ORDER if key == DEFAULT_SORT else "asc"
    value_of = _SORT_VALUES[key]
    tie_ordered = sorted(sorted(rows, key=lambda r: r.certificate_id), key=lambda r: r.signed_at, reverse=True)
    present = [r for r in tie_ordered if value_of(r) is not None]
    missing = [r for r in tie_ordered if value_of(r) is None]
    return sorted(present, key=value_of, reverse=order == "desc") + missing


def list_rows(stored: Iterable[Stored], persons: Mapping[str, PersonFacts], viewer: Viewer, today: date,
              filters: Filters, *, doctor_names: Mapping[str, str],
              questions: Mapping[str, tuple[int, int]] | None = None) -> tuple[list[Row], list[Row]]:
    """``visible_rows`` → ``apply_filters`` → ``sort_rows``: (the rows to show, every row the viewer may
    see before filtering — for "Visar X av Y" and the doctor filter's choices)."""
    rows = visible_rows(stored, persons, viewer, today, doctor_names=doctor_names, questions=questions)
    return sort_rows(apply_filters(rows, filters), filters.sort, filters.order), rows
