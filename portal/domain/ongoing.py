"""Rehabstöd's ongoing list: the rows a viewer may see (built once, with the access and masking rules of
``patient_access``), the length buckets, the filters (GET parameters), matching, sorting and columns.
Pure: plain data in, plain data out.

The free-text search never matches a masked name, and sorting by name sorts masked rows by their
masking text. The default order is ``DEFAULT_SORT`` = "slut" ascending: the cases that end soonest
first, which is what a coordinator acts on next.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar, NamedTuple

from . import diagnosis
from . import filter_params as fp
from . import list_model as lm
from . import persons as pnr_rules
from .filter_params import swedish_key
from .list_model import N_
from .patient_access import UNKNOWN_NAME, PersonFacts, Viewer, check_role, display_name, may_see_patient
from .sick_leave import DEGREES, SickLeaveCase, clean_diagnosis_code

AGE_RANGE = range(0, 121)  # the age filter accepts 0-120
MAX_FREE_TEXT = 100  # characters

# --- Rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """One line of the ongoing sick-leave list, as the viewer may see it.

    ``patient_pnr`` is always the real personnummer (12 digits), for PDL and the patient link;
    ``name`` is what may be displayed: the real name, ``MASKED`` or ``UNKNOWN_NAME``. ``masked``
    is True for a protected patient shown to their doctor. ``active_step`` is the index in
    ``degrees`` of today's period (None when the case is only recently ended).
    """

    case: SickLeaveCase
    patient_pnr: str
    name: str
    masked: bool
    age: int
    gender: str  # "M" | "F"
    diagnosis: str | None
    chapter: str
    occupation: tuple[str, ...]
    start: date
    end: date
    days: int
    certificate_count: int
    degrees: tuple[int, ...]
    active_degree: int | None
    doctor_id: str | None
    doctor_name: str
    komplettering: int = 0
    administrative: int = 0
    active_step: int | None = None
    waiting: int = 0  # the unit's questions to FK that FK has not answered ("Väntar på svar från FK")

    @property
    def unknown(self) -> bool:
        """True when PU-tjänsten does not know the patient (the name is ``UNKNOWN_NAME``)."""
        return not self.masked and self.name == UNKNOWN_NAME

    @property
    def unanswered(self) -> int:
        """All unanswered FK questions of the case."""
        return self.komplettering + self.administrative

    @property
    def length_bucket(self) -> str:
        """The id of the case's length bucket (see ``LENGTH_BUCKETS``)."""
        return length_bucket(self.days)

    @property
    def group(self) -> str:
        """The id of the diagnosis group of the overview."""
        return diagnosis.group_of(self.diagnosis)

def _active_step(case: SickLeaveCase, today: date) -> int | None:
    periods = case.deciding.periods
    return next((i for i, p in enumerate(periods) if p.contains(today)), None)


def visible_rows(cases: Iterable[SickLeaveCase], persons: Mapping[str, PersonFacts],
                 viewer: Viewer, today: date, *, doctor_names: Mapping[str, str],
                 questions: Mapping[str, tuple[int, int]] | None = None,
                 waiting: Mapping[str, int] | None = None) -> list[CaseRow]:
    """The cases the viewer may see, as display rows, in the order of ``cases``.

    ``persons`` maps personnummer to what PU-tjänsten said; a patient missing from it is unknown.
    ``doctor_names`` maps HSA-id to name; ``questions`` maps certificate id to
    (komplettering, administrative) counts from ``question_counts``: a row's counts are the sums
    over its case's certificates; ``waiting`` maps certificate id to the unit's questions to FK that FK has not
    answered (``questions.is_waiting``), summed the same way.
    """
    check_role(viewer)
    questions, waiting = questions or {}, waiting or {}
    rows: list[CaseRow] = []
    for case in cases:
        person = persons.get(case.patient_id)
        if not may_see_patient(person, viewer):
            continue
        if not viewer.is_coordinator and case.doctor_id != viewer.hsa_id:
            continue
        name, masked = display_name(person)
        counts = [questions.get(cid, (0, 0)) for cid in case.certificate_ids]
        rows.append(CaseRow(
            case=case,
            patient_pnr=case.patient_id,
            name=name,
            masked=masked,
            age=pnr_rules.age(case.patient_id, today),
            gender=pnr_rules.gender(case.patient_id),
            diagnosis=case.diagnosis,
            chapter=diagnosis.chapter_of(case.diagnosis),
            occupation=tuple(case.occupation),
            start=case.start,
            end=case.end,
            days=case.days,
            certificate_count=case.certificate_count,
            degrees=tuple(case.degrees),
            active_degree=case.active_degree,
            doctor_id=case.doctor_id,
            doctor_name=(doctor_names.get(case.doctor_id or "") or case.deciding.doctor_name
                         or case.doctor_id or ""),
            komplettering=sum(k for k, _ in counts),
            administrative=sum(a for _, a in counts),
            waiting=sum(waiting.get(cid, 0) for cid in case.certificate_ids),
            active_step=_active_step(case, today),
        ))
    return rows


def degree_steps(row: CaseRow) -> list[tuple[int, bool]]:
    """The deciding certificate's degrees in period order, today's flagged: [(100, False),
    (50, True)] renders "100 % → 50 %" with 50 % marked. No flag when only recently ended."""
    return [(degree, i == row.active_step) for i, degree in enumerate(row.degrees)]


# --- Length buckets ----------------------------------------------------------------------------


class LengthBucket(NamedTuple):
    """A case-length bucket: id (the ``langd`` parameter value), labels, inclusive day limits."""

    id: str
    sv: str
    en: str
    min_days: int
    max_days: int | None  # None: no upper limit


#: "< 90" is 1-89 days, "Dag 90–180" 90-180, "Dag 181–365" 181-365, "> 365 dagar" 366 and more.
LENGTH_BUCKETS: tuple[LengthBucket, ...] = (
    LengthBucket("lt90", "< 90", "< 90 days", 0, 89),
    LengthBucket("90-180", "Dag 90–180", "Day 90–180", 90, 180),
    LengthBucket("181-365", "Dag 181–365", "Day 181–365", 181, 365),
    LengthBucket("gt365", "> 365 dagar", "> 365 days", 366, None),
)
LENGTH_IDS = tuple(b.id for b in LENGTH_BUCKETS)


def length_bucket(days: int) -> str:
    """The id of the bucket a case of ``days`` days falls in."""
    for bucket in LENGTH_BUCKETS:
        if days >= bucket.min_days and (bucket.max_days is None or days <= bucket.max_days):
            return bucket.id
    return LENGTH_BUCKETS[0].id  # negative days do not happen; treat as shortest

# --- The list model: filters, columns, sorting, paging -------------------------------------------

GENDERS = ("M", "F")
ORDERS = lm.ORDERS


def _digits(text: str) -> str:
    return text.replace("-", "").replace("+", "")


def _term_matches(row: CaseRow, term: str) -> bool:
    """One free-text term against the row's real name (never a masked or unknown one), its
    personnummer (digits, with or without hyphen) and its diagnosis code."""
    if not row.masked and not row.unknown and term.casefold() in row.name.casefold():
        return True
    digits = _digits(term)
    if digits.isdigit() and digits in row.patient_pnr:
        return True
    code = clean_diagnosis_code(term)
    return bool(code and row.diagnosis and code in row.diagnosis)


_AGE_ERRORS = {fp.FROM_AFTER_TO: N_("Åldern i Från får inte vara högre än åldern i Till")}
_AGE_ERROR = N_("Ange en ålder mellan 0 och 120")
_DATE_ERRORS = {fp.FROM_AFTER_TO: N_("Datumet i Från får inte vara efter datumet i Till")}
_DATE_ERROR = N_("Ange ett datum som ÅÅÅÅ-MM-DD")

#: The ongoing list, declared once: the page, its exports and its filter tags read it. The free text
#: matches every word against the name (not a masked or unknown one), the personnummer or the diagnosis
#: code; the degree filter is today's degree (a recently ended case has none and passes no degree
#: filter). Masked rows carry only the masking text, so they sort as "Sekretessmarkerad uppgift".
MODEL = lm.ListModel(
    name="sjukfall",
    fields=(
        lm.Field("chapters", "kapitel", lm.CHOICE, lambda r, v: r.chapter in v, N_("Diagnoskapitel %(value)s"),
                 allowed=diagnosis.CHAPTER_IDS),
        lm.Field("doctors", "lakare", lm.VALUES, lambda r, v: r.doctor_id in v, N_("Läkare: %(value)s")),
        lm.Field("age_from", "alder_fran", lm.INT, lambda r, v: r.age >= v, N_("Ålder från %(value)s"),
                 bounds=AGE_RANGE, to="age_to", error=_AGE_ERROR, errors=_AGE_ERRORS),
        lm.Field("age_to", "alder_till", lm.INT, lambda r, v: r.age <= v, N_("Ålder till %(value)s"),
                 bounds=AGE_RANGE, error=_AGE_ERROR),
        lm.Field("genders", "kon", lm.CHOICE, lambda r, v: r.gender in v, N_("Kön: %(value)s"),
                 allowed=GENDERS, labels={"F": N_("Kvinna"), "M": N_("Man")}),
        lm.Field("lengths", "langd", lm.CHOICE, lambda r, v: r.length_bucket in v,
                 N_("Sjukskrivningslängd: %(value)s"), allowed=tuple(b.id for b in LENGTH_BUCKETS),
                 labels={"lt90": N_("Under 90 dagar"), "90-180": N_("Dag 90–180"), "181-365": N_("Dag 181–365"),
                         "gt365": N_("Över 365 dagar")}),
        lm.Field("end_from", "slut_fran", lm.DATE, lambda r, v: r.end >= v, N_("Slutdatum från %(value)s"),
                 to="end_to", error=_DATE_ERROR, errors=_DATE_ERRORS),
        lm.Field("end_to", "slut_till", lm.DATE, lambda r, v: r.end <= v, N_("Slutdatum till %(value)s"),
                 error=_DATE_ERROR),
        lm.Field("degrees", "grad", lm.CHOICE, lambda r, v: r.active_degree in v, N_("Grad idag: %(value)s %%"),
                 allowed=tuple(str(d) for d in DEGREES), as_int=True),
        lm.Field("with_questions", "arenden", lm.FLAG, lambda r, v: bool(r.unanswered),
                 N_("Med obesvarade ärenden")),
        lm.Field("text", "fritext", lm.TEXT, lambda r, v: all(_term_matches(r, t) for t in v.split()),
                 N_("Sök: %(value)s"), max_length=MAX_FREE_TEXT,
                 errors={fp.TOO_LONG: N_("Skriv högst 100 tecken i sökfältet")}),
    ),
    columns=(
        lm.Column("nr", "#", lm.NUMBER_CELL),
        lm.Column("personnummer", N_("Personnummer"), sort=lambda r: r.patient_pnr, personal=True),
        lm.Column("alder", N_("Ålder"), lm.NUMBER_CELL, sort=lambda r: r.age),
        lm.Column("namn", N_("Namn"), sort=lambda r: swedish_key(r.name), personal=True),
        lm.Column("kon", N_("Kön"), sort=lambda r: r.gender),
        lm.Column("diagnos", N_("Diagnos"), sort=lambda r: r.diagnosis),
        lm.Column("sysselsattning", N_("Sysselsättning"), sort=lambda r: ",".join(r.occupation) or None),
        lm.Column("start", N_("Startdatum"), lm.DATE_CELL, sort=lambda r: r.start),
        lm.Column("slut", N_("Slutdatum"), lm.DATE_CELL, sort=lambda r: r.end),
        lm.Column("langd", N_("Längd"), lm.DAYS_CELL, sort=lambda r: r.days),
        lm.Column("antal", N_("Antal intyg"), lm.NUMBER_CELL, sort=lambda r: r.certificate_count),
        lm.Column("grad", N_("Grad"), sort=lambda r: r.active_degree),
        lm.Column("arenden", N_("Ärenden"), sort=lambda r: r.unanswered),
        lm.Column("lakare", N_("Läkare"), sort=lambda r: swedish_key(r.doctor_name) or None, coordinators_only=True),
    ),
    default_sort="slut",
    default_order="asc",
    tie_order=lambda rows: sorted(rows, key=lambda r: (r.end, r.start, r.patient_pnr)),
    page_size=100,
    personal_param="personuppgifter",
)


@dataclass(frozen=True)
class Filters(lm.ListFilters):
    """The list's filters, sort and "Visa personuppgifter" switch, as parsed from the URL (``MODEL``).

    Empty tuples and None mean "no restriction". ``sort`` None means ``DEFAULT_SORT``; ``order``
    is "asc" or "desc".
    """

    MODEL: ClassVar[lm.ListModel] = MODEL
    chapters: tuple[str, ...] = ()
    doctors: tuple[str, ...] = ()
    age_from: int | None = None
    age_to: int | None = None
    genders: tuple[str, ...] = ()
    lengths: tuple[str, ...] = ()
    end_from: date | None = None
    end_to: date | None = None
    degrees: tuple[int, ...] = ()
    with_questions: bool = False
    text: str = ""
    sort: str | None = None
    order: str = "asc"
    show_personal: bool = True


lm.check_filters_class(Filters)

#: GET parameter names, by ``Filters`` field.
PARAMS = MODEL.params
COLUMN_KEYS = MODEL.column_keys
SORT_KEYS = MODEL.sort_keys  # every column but "nr"
DEFAULT_SORT = MODEL.default_sort
DEFAULT_ORDER = MODEL.default_order
#: Parameters that are not filters: never shown as removable tags.
NOT_FILTERS = MODEL.not_filters


def columns(viewer: Viewer, show_personal: bool = True) -> list[str]:
    """The list's column keys, in order, for this viewer: the page and the exports use the same.

    "lakare" is for coordinators only; "personnummer" and "namn" go when personal data is hidden
    ("Visa personuppgifter" off).
    """
    check_role(viewer)
    return MODEL.visible_columns(coordinator=viewer.is_coordinator, show_personal=show_personal)


def parse_filters(args: Mapping[str, Sequence[str]]) -> tuple[Filters, list[tuple[str, str]]]:
    """Filters from GET parameters (``request.args.to_dict(flat=False)``), and the errors.

    Errors are (parameter, code): an age that is not a whole number (``NOT_A_NUMBER``) or not
    0-120 (``OUT_OF_RANGE``), a date that is not a real YYYY-MM-DD (``NOT_A_DATE``), a "from"
    after its "to" (``FROM_AFTER_TO``, on the "from" parameter; both are then left out), a free
    text over 100 characters (``TOO_LONG``). Invalid values are left out of the filters, so the
    page lists by the valid ones. Unknown choice values (chapter, gender, length, degree, sort,
    order) are dropped silently; single-value parameters take their first non-empty value.
    """
    return lm.parse(Filters, args)


def apply_filters(rows: Iterable[CaseRow], f: Filters) -> list[CaseRow]:
    """The rows that pass every filter, in their order (see ``MODEL``)."""
    return lm.apply(rows, f)


def sort_rows(rows: Iterable[CaseRow], key: str | None = None,
              order: str | None = None) -> list[CaseRow]:
    """The rows sorted by a column key of ``SORT_KEYS`` ("asc" or "desc").

    Unknown or missing key: ``DEFAULT_SORT`` ("slut", end date: those ending soonest first);
    unknown order: ascending. Rows without a value (no diagnosis, no degree today) come last
    either way. Ties: end date, start date, personnummer, ascending.
    """
    return lm.sort_rows(MODEL, rows, key, order)

# --- The list in one call ----------------------------------------------------------------------


def list_rows(cases: Iterable[SickLeaveCase], persons: Mapping[str, PersonFacts], viewer: Viewer,
              today: date, filters: Filters, *, doctor_names: Mapping[str, str],
              questions: Mapping[str, tuple[int, int]] | None = None,
              ) -> tuple[list[CaseRow], int]:
    """``visible_rows`` → ``apply_filters`` → ``sort_rows``: (the rows to show, how many the
    viewer may see before filtering) — "Visar X av Y sjukfall"."""
    rows = visible_rows(cases, persons, viewer, today, doctor_names=doctor_names,
                        questions=questions)
    return sort_rows(apply_filters(rows, filters), filters.sort, filters.order), len(rows)
