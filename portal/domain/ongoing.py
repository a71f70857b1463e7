"""Rehabstöd's ongoing list: the rows a viewer may see (built once, with the access and masking rules of
``patient_access``), the length buckets, the filters (GET parameters), matching, sorting and columns.
Pure: plain data in, plain data out.

The free-text search never matches a masked name, and sorting by name sorts masked rows by their
masking text. The default order is ``DEFAULT_SORT`` = "slut" ascending: the cases that end soonest
first, which is what a coordinator acts on next.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

from . import diagnosis
from . import filter_params as fp
from . import persons as pnr_rules
from .filter_params import FROM_AFTER_TO, TOO_LONG, swedish_key
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
                 questions: Mapping[str, tuple[int, int]] | None = None) -> list[CaseRow]:
    """The cases the viewer may see, as display rows, in the order of ``cases``.

    ``persons`` maps personnummer to what PU-tjänsten said; a patient missing from it is unknown.
    ``doctor_names`` maps HSA-id to name; ``questions`` maps certificate id to
    (komplettering, administrative) counts from ``question_counts``: a row's counts are the sums
    over its case's certificates.
    """
    check_role(viewer)
    questions = questions or {}
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
            active_step=_active_step(case, today),
        ))
    return rows


def degree_steps(row: CaseRow) -> list[tuple[int, bool]]:
    """The deciding certificate's degrees in period order, today's flagged: [(100, False),
    (50, True)] renders "100 % → 50 %" with 50 % marked. No flag when only recently ended."""
    return [(degree, i == row.active_step) for i, degree in enumerate(row.degrees)]


def columns(viewer: Viewer, show_personal: bool = True) -> list[str]:
    """The list's column keys, in order, for this viewer: the page and the exports use the same.

    "lakare" is for coordinators only; "personnummer" and "namn" go when personal data is hidden
    ("Visa personuppgifter" off).
    """
    check_role(viewer)
    keys = list(COLUMN_KEYS)
    if not viewer.is_coordinator:
        keys.remove("lakare")
    if not show_personal:
        keys.remove("personnummer")
        keys.remove("namn")
    return keys

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

# --- Filters -----------------------------------------------------------------------------------

#: GET parameter names, by ``Filters`` field.
PARAMS = {
    "chapters": "kapitel",
    "doctors": "lakare",
    "age_from": "alder_fran",
    "age_to": "alder_till",
    "genders": "kon",
    "lengths": "langd",
    "end_from": "slut_fran",
    "end_to": "slut_till",
    "degrees": "grad",
    "with_questions": "arenden",
    "text": "fritext",
    "sort": "sortera",
    "order": "ordning",
    "show_personal": "personuppgifter",
}

GENDERS = ("M", "F")
ORDERS = ("asc", "desc")

#: The list's columns, in order ("nr" is the row number and not sortable).
COLUMN_KEYS = ("nr", "personnummer", "alder", "namn", "kon", "diagnos", "sysselsattning", "start",
               "slut", "langd", "antal", "grad", "arenden", "lakare")
#: The sortable columns.
SORT_KEYS = COLUMN_KEYS[1:]
DEFAULT_SORT = "slut"
DEFAULT_ORDER = "asc"


@dataclass(frozen=True)
class Filters:
    """The list's filters, sort and "Visa personuppgifter" switch, as parsed from the URL.

    Empty tuples and None mean "no restriction". ``sort`` None means ``DEFAULT_SORT``; ``order``
    is "asc" or "desc".
    """

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
    order: str = DEFAULT_ORDER
    show_personal: bool = True

    @property
    def active(self) -> bool:
        """True when any filter restricts the list (sort and the personal-data switch do not)."""
        return bool(self.chapters or self.doctors or self.age_from is not None
                    or self.age_to is not None or self.genders or self.lengths
                    or self.end_from is not None or self.end_to is not None or self.degrees
                    or self.with_questions or self.text)

    def as_query(self, *, sort: bool = True) -> list[tuple[str, str]]:
        """The filters as (parameter, value) pairs for links, defaults left out.

        ``parse_filters(as_query())`` gives back the same filters. ``sort=False`` leaves out the
        sort and order (for the sortable headers' own links).
        """
        pairs: list[tuple[str, str]] = []
        pairs += [(PARAMS["chapters"], v) for v in self.chapters]
        pairs += [(PARAMS["doctors"], v) for v in self.doctors]
        if self.age_from is not None:
            pairs.append((PARAMS["age_from"], str(self.age_from)))
        if self.age_to is not None:
            pairs.append((PARAMS["age_to"], str(self.age_to)))
        pairs += [(PARAMS["genders"], v) for v in self.genders]
        pairs += [(PARAMS["lengths"], v) for v in self.lengths]
        if self.end_from is not None:
            pairs.append((PARAMS["end_from"], self.end_from.isoformat()))
        if self.end_to is not None:
            pairs.append((PARAMS["end_to"], self.end_to.isoformat()))
        pairs += [(PARAMS["degrees"], str(v)) for v in self.degrees]
        if self.with_questions:
            pairs.append((PARAMS["with_questions"], "1"))
        if self.text:
            pairs.append((PARAMS["text"], self.text))
        if sort and self.sort is not None:
            pairs.append((PARAMS["sort"], self.sort))
        if sort and self.order != DEFAULT_ORDER:
            pairs.append((PARAMS["order"], self.order))
        if not self.show_personal:
            pairs.append((PARAMS["show_personal"], "0"))
        return pairs

    def without(self, param: str, value: str | None = None) -> list[tuple[str, str]]:
        """``as_query()`` without one selected value (or every value of ``param``): the link of a
        removable filter tag."""
        return fp.without(self.as_query(), param, value)

    def tags(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """Each chosen filter value as (parameter, value, the query without it): the removable tags
        (the sort and the personal-data switch are not filters, and stay in every tag's query)."""
        return fp.tags(self.as_query(), self.without, NOT_FILTERS)

    @property
    def sort_key(self) -> str:
        """The effective sort column."""
        return self.sort or DEFAULT_SORT

    def sort_query(self, key: str) -> list[tuple[str, str]]:
        """The query of a column header's link: sort by ``key``; ascending first, and the other
        way when the list is already sorted by it."""
        order = "desc" if self.sort_key == key and self.order == "asc" else "asc"
        return replace(self, sort=key, order=order).as_query()

    def sort_state(self, key: str) -> str | None:
        """"ascending" / "descending" for the column the list is sorted by (``aria-sort``)."""
        if key != self.sort_key:
            return None
        return "ascending" if self.order == "asc" else "descending"

#: Parameters that are not filters: never shown as removable tags.
NOT_FILTERS = frozenset({PARAMS["sort"], PARAMS["order"], PARAMS["show_personal"]})

def parse_filters(args: Mapping[str, Sequence[str]]) -> tuple[Filters, list[tuple[str, str]]]:
    """Filters from GET parameters (``request.args.to_dict(flat=False)``), and the errors.

    Errors are (parameter, code): an age that is not a whole number (``NOT_A_NUMBER``) or not
    0-120 (``OUT_OF_RANGE``), a date that is not a real YYYY-MM-DD (``NOT_A_DATE``), a "from"
    after its "to" (``FROM_AFTER_TO``, on the "from" parameter; both are then left out), a free
    text over 100 characters (``TOO_LONG``). Invalid values are left out of the filters, so the
    page lists by the valid ones. Unknown choice values (chapter, gender, length, degree, sort,
    order) are dropped silently; single-value parameters take their first non-empty value.
    """
    errors: list[tuple[str, str]] = []

    age_from = fp.parse_int(fp.first(args, PARAMS["age_from"]), PARAMS["age_from"], AGE_RANGE, errors)
    age_to = fp.parse_int(fp.first(args, PARAMS["age_to"]), PARAMS["age_to"], AGE_RANGE, errors)
    if age_from is not None and age_to is not None and age_from > age_to:
        errors.append((PARAMS["age_from"], FROM_AFTER_TO))
        age_from = age_to = None

    end_from = fp.parse_date(fp.first(args, PARAMS["end_from"]), PARAMS["end_from"], errors)
    end_to = fp.parse_date(fp.first(args, PARAMS["end_to"]), PARAMS["end_to"], errors)
    if end_from is not None and end_to is not None and end_from > end_to:
        errors.append((PARAMS["end_from"], FROM_AFTER_TO))
        end_from = end_to = None

    text = " ".join((fp.first(args, PARAMS["text"]) or "").split())
    if len(text) > MAX_FREE_TEXT:
        errors.append((PARAMS["text"], TOO_LONG))
        text = ""

    sort = fp.first(args, PARAMS["sort"])
    order = fp.first(args, PARAMS["order"])
    filters = Filters(
        chapters=fp.choices(args, PARAMS["chapters"], diagnosis.CHAPTER_IDS),
        doctors=tuple(v for v in fp.values(args, PARAMS["doctors"]) if len(v) <= 64),
        age_from=age_from,
        age_to=age_to,
        genders=fp.choices(args, PARAMS["genders"], GENDERS),
        lengths=fp.choices(args, PARAMS["lengths"], LENGTH_IDS),
        end_from=end_from,
        end_to=end_to,
        degrees=tuple(int(v) for v in fp.choices(args, PARAMS["degrees"],
                                                tuple(str(d) for d in DEGREES))),
        with_questions=fp.first(args, PARAMS["with_questions"]) == "1",
        text=text,
        sort=sort if sort in SORT_KEYS else None,
        order=order if order in ORDERS else DEFAULT_ORDER,
        show_personal=fp.first(args, PARAMS["show_personal"]) != "0",
    )
    return filters, errors

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


def _matches(row: CaseRow, f: Filters) -> bool:
    if f.chapters and row.chapter not in f.chapters:
        return False
    if f.doctors and row.doctor_id not in f.doctors:
        return False
    if f.age_from is not None and row.age < f.age_from:
        return False
    if f.age_to is not None and row.age > f.age_to:
        return False
    if f.genders and row.gender not in f.genders:
        return False
    if f.lengths and row.length_bucket not in f.lengths:
        return False
    if f.end_from is not None and row.end < f.end_from:
        return False
    if f.end_to is not None and row.end > f.end_to:
        return False
    if f.degrees and row.active_degree not in f.degrees:
        return False
    if f.with_questions and not row.unanswered:
        return False
    if f.text and not all(_term_matches(row, term) for term in f.text.split()):
        return False
    return True


def apply_filters(rows: Iterable[CaseRow], f: Filters) -> list[CaseRow]:
    """The rows that pass every filter, in their order.

    Several values of one filter are alternatives (chapter F or M); different filters must all
    hold. Ranges are inclusive. The degree filter is today's degree (a recently ended case has
    none and passes no degree filter). Free text: every word must match the name (not a masked
    or unknown one), the personnummer or the diagnosis code.
    """
    return [row for row in rows if _matches(row, f)]

# --- Sorting -----------------------------------------------------------------------------------

# Swedish alphabetical order: ... x y z å ä ö; é sorts as e, ü as y. The three Swedish letters
# map to the characters right after "z" in code-point order.

_SORT_VALUES = {
    "personnummer": lambda r: r.patient_pnr,
    "alder": lambda r: r.age,
    # Masked rows carry only the masking text, so they sort as "Sekretessmarkerad uppgift".
    "namn": lambda r: swedish_key(r.name),
    "kon": lambda r: r.gender,
    "diagnos": lambda r: r.diagnosis,
    "sysselsattning": lambda r: ",".join(r.occupation) or None,
    "start": lambda r: r.start,
    "slut": lambda r: r.end,
    "langd": lambda r: r.days,
    "antal": lambda r: r.certificate_count,
    "grad": lambda r: r.active_degree,
    "arenden": lambda r: r.unanswered,
    "lakare": lambda r: swedish_key(r.doctor_name) or None,
}


def sort_rows(rows: Iterable[CaseRow], key: str | None = None,
              order: str | None = None) -> list[CaseRow]:
    """The rows sorted by a column key of ``SORT_KEYS`` ("asc" or "desc").

    Unknown or missing key: ``DEFAULT_SORT`` ("slut", end date: those ending soonest first);
    unknown order: ascending. Rows without a value (no diagnosis, no degree today) come last
    either way. Ties: end date, start date, personnummer, ascending.
    """
    key = key if key in _SORT_VALUES else DEFAULT_SORT
    descending = order == "desc"
    value_of = _SORT_VALUES[key]
    tie_ordered = sorted(rows, key=lambda r: (r.end, r.start, r.patient_pnr))
    present = [r for r in tie_ordered if value_of(r) is not None]
    missing = [r for r in tie_ordered if value_of(r) is None]
    return sorted(present, key=value_of, reverse=descending) + missing

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
