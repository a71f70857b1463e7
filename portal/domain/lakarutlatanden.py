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
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from . import diagnosis, patient_access
from . import list_model as lm
from . import persons as pnr_rules
from .access import LAKARE, REHABKOORDINATOR
from .filter_params import FROM_AFTER_TO, swedish_key
from .list_model import N_
from .patient_access import PersonFacts, Viewer, display_name

__all__ = [
    "COLUMN_KEYS", "DEFAULT_ORDER", "DEFAULT_SORT", "MODEL", "PARAMS", "SORT_KEYS", "TYPES",
    "Filters", "Row", "Stored", "apply_filters", "columns", "list_rows", "parse_filters", "sort_rows",
    "visible_rows",
]

#: The läkarutlåtanden types of the list (the registry marks them with rehab = "lakarutlatande").
TYPES = ("FK7800", "FK7801", "FK7802")

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
    waiting: int = 0  # the unit's questions to FK that FK has not answered ("Väntar på svar från FK")

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
                 questions: Mapping[str, tuple[int, int]] | None = None,
                 waiting: Mapping[str, int] | None = None) -> list[Row]:
    """The läkarutlåtanden the viewer may see, as rows, in the order given.

    ``persons``: what PU-tjänsten said, by personnummer (a missing patient is unknown);
    ``questions``: certificate id -> (komplettering, administrative) from ``questions.question_counts``;
    ``waiting``: certificate id -> the unit's questions to FK that FK has not answered.
    """
    questions, waiting = questions or {}, waiting or {}
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
            komplettering=k, administrative=a, waiting=waiting.get(s.id, 0)))
    return rows


# --- The list model: filters, columns, sorting, paging -------------------------------------------

_DATE_ERROR = N_("Ange ett datum som ÅÅÅÅ-MM-DD")

#: The läkarutlåtanden list, declared once: the page, its exports and its filter tags read it. The type
#: filter's choices are the registry's läkarutlåtanden (given when parsing). Dates sort newest first.
MODEL = lm.ListModel(
    name="lakarutlatanden",
    fields=(
        lm.Field("types", "typ", lm.CHOICE, lambda r, v: r.type_code in v, N_("Intygstyp: %(value)s")),
        lm.Field("chapters", "kapitel", lm.CHOICE, lambda r, v: r.chapter in v, N_("Diagnoskapitel %(value)s"),
                 allowed=diagnosis.CHAPTER_IDS),
        lm.Field("doctors", "lakare", lm.VALUES, lambda r, v: r.doctor_id in v, N_("Läkare: %(value)s")),
        lm.Field("signed_from", "signerad_fran", lm.DATE, lambda r, v: r.signed >= v, N_("Signerat från %(value)s"),
                 to="signed_to", error=_DATE_ERROR,
                 errors={FROM_AFTER_TO: N_("Datumet i Från får inte vara efter datumet i Till")}),
        lm.Field("signed_to", "signerad_till", lm.DATE, lambda r, v: r.signed <= v, N_("Signerat till %(value)s"),
                 error=_DATE_ERROR),
    ),
    columns=(
        lm.Column("personnummer", N_("Personnummer"), sort=lambda r: r.patient_pnr, personal=True),
        lm.Column("alder", N_("Ålder"), lm.NUMBER_CELL, sort=lambda r: r.age),
        lm.Column("namn", N_("Namn"), sort=lambda r: swedish_key(r.name), personal=True),  # masked: by masking text
        lm.Column("kon", N_("Kön"), sort=lambda r: r.gender),
        lm.Column("intygstyp", N_("Intygstyp"), sort=lambda r: r.type_code),
        lm.Column("diagnos", N_("Diagnos"), sort=lambda r: r.diagnosis),
        lm.Column("signerad", N_("Signeringsdatum"), lm.DATE_CELL, sort=lambda r: r.signed_at, first="desc"),
        lm.Column("arenden", N_("Ärenden"), sort=lambda r: r.unanswered),
        lm.Column("lakare", N_("Läkare"), sort=lambda r: swedish_key(r.doctor_name) or None, coordinators_only=True),
    ),
    default_sort="signerad",
    default_order="desc",
    # ties: newest signed first, then certificate id
    tie_order=lambda rows: sorted(sorted(rows, key=lambda r: r.certificate_id), key=lambda r: r.signed_at,
                                  reverse=True),
    page_size=100,
    personal_param="personuppgifter",
)


@dataclass(frozen=True)
class Filters(lm.ListFilters):
    """The list's filters, sort and "Visa personuppgifter" switch (empty = no restriction; ``MODEL``)."""

    MODEL: ClassVar[lm.ListModel] = MODEL
    types: tuple[str, ...] = ()
    chapters: tuple[str, ...] = ()
    doctors: tuple[str, ...] = ()
    signed_from: date | None = None
    signed_to: date | None = None
    sort: str | None = None
    order: str = "desc"
    show_personal: bool = True


lm.check_filters_class(Filters)

#: GET parameter names, by ``Filters`` field.
PARAMS = MODEL.params
COLUMN_KEYS = MODEL.column_keys
SORT_KEYS = MODEL.sort_keys  # all columns
DEFAULT_SORT = MODEL.default_sort
DEFAULT_ORDER = MODEL.default_order


def columns(viewer: Viewer, show_personal: bool = True) -> list[str]:
    """The column keys for this viewer, in order: the page and the exports use the same. "lakare" is
    for coordinators only; "personnummer" and "namn" go when personal data is hidden."""
    if viewer.role not in (LAKARE, REHABKOORDINATOR):
        raise ValueError(f"unknown Rehabstöd role {viewer.role!r}")
    return MODEL.visible_columns(coordinator=viewer.is_coordinator, show_personal=show_personal)


def parse_filters(args: Mapping[str, Sequence[str]],
                  types: Sequence[str] = TYPES) -> tuple[Filters, list[tuple[str, str]]]:
    """Filters from GET parameters (``request.args.to_dict(flat=False)``), and the errors as
    (parameter, code): a signing date that is not a real YYYY-MM-DD (``filter_params.NOT_A_DATE``); a "from"
    after its "to" (``filter_params.FROM_AFTER_TO`` on the "from"; both then left out). Unknown type, chapter,
    sort and order values are dropped; "Visa personuppgifter": the last value of the parameter
    counts (the form sends a hidden 0 and then 1 when ticked)."""
    return lm.parse(Filters, args, {"types": tuple(types)})


def apply_filters(rows: Iterable[Row], f: Filters) -> list[Row]:
    """The rows passing every filter (several values of one filter are alternatives; the date range is
    inclusive), in their order."""
    return lm.apply(rows, f)


def sort_rows(rows: Iterable[Row], key: str | None = None, order: str | None = None) -> list[Row]:
    """Sorted by a column key ("asc"/"desc"); default newest signed first. Rows without a value (no
    diagnosis) come last either way; ties newest signed first, then certificate id."""
    return lm.sort_rows(MODEL, rows, key, order)


def list_rows(stored: Iterable[Stored], persons: Mapping[str, PersonFacts], viewer: Viewer, today: date,
              filters: Filters, *, doctor_names: Mapping[str, str],
              questions: Mapping[str, tuple[int, int]] | None = None,
              waiting: Mapping[str, int] | None = None) -> tuple[list[Row], list[Row]]:
    """``visible_rows`` → ``apply_filters`` → ``sort_rows``: (the rows to show, every row the viewer may
    see before filtering — for "Visar X av Y" and the doctor filter's choices)."""
    rows = visible_rows(stored, persons, viewer, today, doctor_names=doctor_names, questions=questions,
                        waiting=waiting)
    return sort_rows(apply_filters(rows, filters), filters.sort, filters.order), rows
