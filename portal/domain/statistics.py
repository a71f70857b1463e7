"""Intygsstatistik: de-identified sick-leave statistics, the facts the reports count (issue 15). Pure.

The statistics count **sick-leave cases per month**, from the same engine as Rehabstöd (sick_leave.py): a
patient's counting certificates (FK7804, FK7263; not revoked, replaced, valideringspersoner's or without a
diagnosis: `sick_leave.counting`) are chained per care provider with the default gap (5 days), and a case counts
in every calendar month in which one of its periods covers a day. For each such month the case gives one
`CaseMonth`, described on the **last day of the month the case covers** (its "day of the month"):

- the deciding certificate: among the case's certificates active that day, the one signed latest; its unit
  (and so care provider), doctor and main diagnosis (chapter, ICD-10 category "F32");
- the sick-leave degree that day; the patient's gender and age group that day (from the personnummer, which is
  then dropped: the rows keep only these);
- the length so far: the distinct days the case covered up to that day, in the length buckets of domain.md;
- flows (seed 004 6.2.3): `started` — the case's first day is in this month; `arrived` — the case came to this
  unit this month from another unit (last month's unit was another); `ended` — the case's last day is in this
  month (it ended on this month's unit).

A patient is known to the statistics tables only by `patient_key`, a keyed hash (HMAC-SHA256 with the
statistics key) written in letters only: it lets the daily job replace one patient's rows when their
certificates change, and holds no personnummer and nothing that looks like one.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from . import diagnosis, persons, sick_leave
from .ongoing import LENGTH_BUCKETS, length_bucket

GAP = sick_leave.Settings().max_days_between_certificates  # the default "Antal dagar mellan intyg"
MONTHS = 18  # the reports' default period: the last 18 months, month by month

#: age groups (id, sv, en, from, to): as Intygsstatistik
AGE_GROUPS: tuple[tuple[str, str, str, int, int | None], ...] = (
    ("lt21", "Under 21 år", "Under 21 years", 0, 20),
    ("21-25", "21–25 år", "21–25 years", 21, 25),
    ("26-30", "26–30 år", "26–30 years", 26, 30),
    ("31-35", "31–35 år", "31–35 years", 31, 35),
    ("36-40", "36–40 år", "36–40 years", 36, 40),
    ("41-45", "41–45 år", "41–45 years", 41, 45),
    ("46-50", "46–50 år", "46–50 years", 46, 50),
    ("51-55", "51–55 år", "51–55 years", 51, 55),
    ("56-60", "56–60 år", "56–60 years", 56, 60),
    ("61-65", "61–65 år", "61–65 years", 61, 65),
    ("gt65", "Över 65 år", "Over 65 years", 66, None),
)
AGE_IDS = tuple(a[0] for a in AGE_GROUPS)
LENGTH_IDS = tuple(b.id for b in LENGTH_BUCKETS)
DEGREES = sick_leave.DEGREES
GENDERS = ("F", "M")


def age_group(age: int) -> str:
    for gid, _sv, _en, low, high in AGE_GROUPS:
        if age >= low and (high is None or age <= high):
            return gid
    return AGE_GROUPS[0][0]


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_end(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def months(first: date, last: date) -> list[date]:
    """Every month from `first`'s to `last`'s, in order."""
    out, month = [], month_of(first)
    while month <= month_of(last):
        out.append(month)
        month = next_month(month)
    return out


def last_months(today: date, count: int = MONTHS) -> list[date]:
    """The `count` months up to and including today's."""
    month = month_of(today)
    out = [month]
    while len(out) < count:
        month = month_of(month - timedelta(days=1))
        out.append(month)
    return out[::-1]


def year_earlier(month: date) -> date:
    return month.replace(year=month.year - 1)


def patient_key(secret: bytes, pnr: str) -> str:
    """The patient's pseudonym in the statistics tables: HMAC-SHA256 of the personnummer, 32 letters a–p."""
    digest = hmac.new(secret, pnr.encode("ascii", "replace"), hashlib.sha256).digest()[:16]
    return "".join("abcdefghijklmnop"[b >> 4] + "abcdefghijklmnop"[b & 15] for b in digest)


@dataclass(frozen=True)
class CaseMonth:
    month: date
    provider_id: str
    unit_id: str
    doctor_id: str | None
    gender: str
    age_group: str
    chapter: str
    category: str  # the ICD-10 category, letter and two digits ("F32"), or diagnosis.UTAN
    degree: int
    length_bucket: str
    started: bool
    arrived: bool
    ended: bool


def _merged(chain: Sequence[sick_leave.SickLeaveCertificate]) -> list[tuple[date, date]]:
    """The days the chain covers, as merged inclusive intervals in order."""
    spans = sorted((p.start, p.end) for c in chain for p in c.periods)
    out: list[list[date]] = []
    for start, end in spans:
        if out and start <= out[-1][1] + timedelta(days=1):
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _covered_until(spans: list[tuple[date, date]], day: date) -> int:
    return sum((min(e, day) - s).days + 1 for s, e in spans if s <= day)


def _last_covered(spans: list[tuple[date, date]], month: date) -> date | None:
    """The last day of the month the spans cover, or None."""
    first, last = month, month_end(month)
    best = None
    for s, e in spans:
        if s <= last and e >= first:
            best = min(e, last)
    return best


def _category(code: str | None) -> str:
    chapter = diagnosis.chapter_of(code)
    if chapter == diagnosis.UTAN or not code:
        return diagnosis.UTAN
    return code[:3]


def case_months(pnr: str, certificates: Iterable[sick_leave.SickLeaveCertificate],
                until: date | None = None) -> list[CaseMonth]:
    """One patient's case-months: their counting certificates (already through `sick_leave.counting`) chained
    per care provider. Months after `until` (e.g. the end of this month) are left out."""
    gender = persons.gender(pnr)
    born = persons.birth_date(pnr)
    by_provider: dict[str, list[sick_leave.SickLeaveCertificate]] = {}
    for cert in certificates:
        by_provider.setdefault(cert.care_provider_id or "", []).append(cert)
    out: list[CaseMonth] = []
    for provider_id, certs in sorted(by_provider.items()):
        for chain in sick_leave.chain_certificates(certs, GAP):
            spans = _merged(chain)
            start, end = spans[0][0], spans[-1][1]
            previous_unit = None
            for month in months(start, end):
                if until is not None and month > until:
                    break
                day = _last_covered(spans, month)
                if day is None:  # a month the case skips (a gap within the chain)
                    continue
                active = [c for c in chain if c.degree_on(day) is not None]
                deciding = max(active, key=lambda c: (c.signed, c.id))
                age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
                unit = deciding.unit_id or ""
                out.append(CaseMonth(
                    month=month, provider_id=provider_id, unit_id=unit, doctor_id=deciding.doctor_id,
                    gender=gender, age_group=age_group(age), chapter=diagnosis.chapter_of(deciding.diagnosis_code),
                    category=_category(deciding.diagnosis_code), degree=deciding.degree_on(day) or 0,
                    length_bucket=length_bucket(_covered_until(spans, day)),
                    started=month_of(start) == month,
                    arrived=previous_unit is not None and previous_unit != unit,
                    ended=month_of(end) == month))
                previous_unit = unit
    return out


# --- the reports -----------------------------------------------------------------------------------------------

CASES, CERTIFICATES, QUESTIONS, KOMPLETTERING = "cases", "certificates", "questions", "komplettering"
SUBJECTS = ("AVSTMN", "KOMPLT", "KONTKT", "PAMINN", "OVRIGT")
SUBJECT_LABELS = {"AVSTMN": ("Avstämningsmöte", "Reconciliation meeting"), "KOMPLT": ("Komplettering", "Supplement"),
                  "KONTKT": ("Kontakt", "Contact"), "PAMINN": ("Påminnelse", "Reminder"),
                  "OVRIGT": ("Övrigt", "Other")}
GENDER_LABELS = {"F": ("Kvinnor", "Women"), "M": ("Män", "Men")}


FLOWS = "flows"
FLOW_LABELS = {"started": ("Helt nya sjukfall", "Wholly new cases"),
               "arrived": ("Började på en annan enhet", "Began on another unit"),
               "ended": ("Avslutade sjukfall", "Ended cases")}


NATION, UNIT, PROVIDER, REGION = "nationell", "enhet", "vardgivare", "region"  # where a report is offered
STAFF_SCOPES = frozenset({UNIT, PROVIDER, REGION})
ALL_SCOPES = frozenset({NATION}) | STAFF_SCOPES
CATEGORIES, COUNTIES, DOCTORS, LISTED = "categories", "counties", "doctors", "listed"

#: the doctors' positions (befattningskod in HSA) the report by position shows, in order; a doctor with several
#: counts under the first of these they hold; none of them: "EJ" (not a doctor's position); unknown: "OKAND"
DOCTOR_POSITIONS: tuple[tuple[str, str, str], ...] = (
    ("201010", "Överläkare", "Senior consultant"),
    ("201011", "Distriktsläkare/Specialist allmänmedicin", "District physician/Specialist in general medicine"),
    ("201012", "Skolläkare", "School physician"),
    ("201013", "Företagsläkare", "Occupational health physician"),
    ("202010", "Specialistläkare", "Specialist physician"),
    ("204010", "Läkare, legitimerad, specialiseringstjänstgöring", "Licensed physician, specialist training"),
    ("204090", "Läkare, legitimerad, annan", "Licensed physician, other"),
    ("203010", "Läkare, ej legitimerad, allmäntjänstgöring", "Physician, not licensed, internship"),
    ("203090", "Läkare, ej legitimerad, annan", "Physician, not licensed, other"),
    ("EJ", "Ej läkarbefattning", "Not a physician's position"),
    ("OKAND", "Okänd befattning", "Unknown position"),
)
_POSITION_ORDER = tuple(p[0] for p in DOCTOR_POSITIONS[:-2])

#: the doctors' age groups (id, sv, en, from, to); "" is unknown
DOCTOR_AGES: tuple[tuple[str, str, str, int, int | None], ...] = (
    ("lt30", "under 30 år", "under 30", 0, 29),
    ("30-39", "30–39 år", "30–39", 30, 39),
    ("40-49", "40–49 år", "40–49", 40, 49),
    ("50-59", "50–59 år", "50–59", 50, 59),
    ("gt59", "60 år och äldre", "60 and over", 60, None),
)


def doctor_position(codes: Iterable[str]) -> str:
    """The doctor's position group from their befattningskoder (see DOCTOR_POSITIONS)."""
    held = set(codes)
    for code in _POSITION_ORDER:
        if code in held:
            return code
    return "EJ" if held else "OKAND"


def doctor_columns(lang: str) -> list[tuple[str, str]]:
    """The columns of the report by the doctors' gender and age group: "F:30-39" …, then unknown."""
    en = lang == "en"
    out = []
    for gender in GENDERS:
        for aid, sv, english, _low, _high in DOCTOR_AGES:
            name = GENDER_LABELS[gender][en]
            out.append((f"{gender}:{aid}", f"{name} {english}" if en else f"{name} {sv}"))
    out.append((":", "Unknown gender or age" if en else "Okänt kön eller ålder"))
    return out


@dataclass(frozen=True)
class Report:
    """One report: its id (the URL's), where its counts come from (CASES: the case cubes; FLOWS: their flags;
    CATEGORIES: the cube by ICD-10 category; COUNTIES: by county; DOCTORS: by the deciding doctor; LISTED: cases per
    1 000 listed patients; CERTIFICATES, QUESTIONS, KOMPLETTERING: the monthly counts), the column it is split by,
    and the scopes it is offered for (the nation, a unit, a care provider, a region's listed units)."""

    id: str
    source: str
    by: str | None
    title: tuple[str, str]  # sv, en
    split: tuple[str, str]  # what the columns are, sv, en
    scopes: frozenset[str] = ALL_SCOPES

    @property
    def has_month_totals(self) -> bool:
        """A month's columns add up to something (not for the flows: a case can start and end in one month; not for
        the chosen diagnoses: they need not cover every case)."""
        return self.source != FLOWS and self.id != "jamfor-diagnoser"

    def offered(self, scope_kind: str) -> bool:
        return scope_kind in self.scopes


REPORTS: tuple[Report, ...] = (
    Report("sjukfall", CASES, "gender", ("Sjukfall per månad", "Sick-leave cases per month"), ("Kön", "Gender")),
    Report("diagnoskapitel", CASES, "chapter", ("Sjukfall per diagnoskapitel", "Sick-leave cases by diagnosis chapter"),
           ("Diagnoskapitel", "Diagnosis chapter")),
    Report("diagnosgrupp", CASES, "group", ("Sjukfall per diagnosgrupp", "Sick-leave cases by diagnosis group"),
           ("Diagnosgrupp", "Diagnosis group")),
    Report("inom-kapitel", CATEGORIES, "category", ("Sjukfall inom ett diagnoskapitel",
                                                    "Sick-leave cases within one diagnosis chapter"),
           ("Diagnos", "Diagnosis")),
    Report("jamfor-diagnoser", CATEGORIES, "category", ("Jämför diagnoser", "Compare diagnoses"),
           ("Diagnos", "Diagnosis")),
    Report("aldersgrupp", CASES, "age_group", ("Sjukfall per åldersgrupp", "Sick-leave cases by age group"),
           ("Åldersgrupp", "Age group")),
    Report("sjukskrivningsgrad", CASES, "degree", ("Sjukfall per sjukskrivningsgrad",
                                                   "Sick-leave cases by sick-leave degree"),
           ("Sjukskrivningsgrad", "Sick-leave degree")),
    Report("sjukskrivningslangd", CASES, "length_bucket", ("Sjukfall per sjukskrivningslängd",
                                                           "Sick-leave cases by length"),
           ("Sjukskrivningslängd", "Length")),
    Report("inflode-utflode", FLOWS, None, ("Nya och avslutade sjukfall", "New and ended sick-leave cases"),
           ("Sjukfall", "Cases")),
    Report("lan", COUNTIES, "county", ("Sjukfall per län", "Sick-leave cases by county"), ("Län", "County"),
           scopes=frozenset({NATION})),
    Report("enheter", CASES, "unit_id", ("Sjukfall per vårdenhet", "Sick-leave cases by care unit"),
           ("Vårdenhet", "Care unit"), scopes=STAFF_SCOPES),
    Report("listade", LISTED, "unit_id", ("Sjukfall per 1 000 listade patienter",
                                          "Sick-leave cases per 1,000 listed patients"),
           ("Vårdenhet", "Care unit"), scopes=frozenset({REGION})),
    Report("lakarbefattning", DOCTORS, "position", ("Sjukfall per läkarbefattning",
                                                    "Sick-leave cases by the doctor's position"),
           ("Läkarbefattning", "Doctor's position"), scopes=frozenset({PROVIDER})),
    Report("lakare-alder-kon", DOCTORS, "doctor", ("Sjukfall per läkares ålder och kön",
                                                   "Sick-leave cases by the doctor's age and gender"),
           ("Läkarens kön och ålder", "Doctor's gender and age"), scopes=frozenset({PROVIDER})),
    Report("intygstyp", CERTIFICATES, None, ("Utfärdade intyg per månad och typ",
                                             "Certificates issued per month by type"),
           ("Intygstyp", "Certificate type")),
    Report("fragor", QUESTIONS, None, ("Frågor från Försäkringskassan per månad",
                                       "Questions from Försäkringskassan per month"),
           ("Ämne", "Subject")),
    Report("komplettering", KOMPLETTERING, None, ("Andel intyg med begäran om komplettering",
                                                  "Share of certificates with a request for supplement"),
           ("Intygstyp", "Certificate type")),
)
REPORT_IDS = tuple(r.id for r in REPORTS)


def report(report_id: str) -> Report | None:
    return next((r for r in REPORTS if r.id == report_id), None)


def reports_for(scope_kind: str) -> list[Report]:
    return [r for r in REPORTS if r.offered(scope_kind)]


def chapter_group(chapter_id: str) -> str:
    """The diagnosis group (diagnosis.GROUPS) a chapter lies in: "F00-F99" -> "PSYKISKA"."""
    if chapter_id == diagnosis.UTAN:
        return diagnosis.UTAN
    return diagnosis.group_of(chapter_id[:3])


_CASE_COLUMNS = {
    "gender": lambda en: [(g, GENDER_LABELS[g][en]) for g in GENDERS],
    "chapter": lambda en: [(c.id, c.en if en else c.sv) for c in diagnosis.CHAPTERS],
    "group": lambda en: [(g.id, g.en if en else g.sv) for g in diagnosis.GROUPS],
    "age_group": lambda en: [(a[0], a[2] if en else a[1]) for a in AGE_GROUPS],
    "degree": lambda en: [(str(d), f"{d} %") for d in DEGREES],
    "length_bucket": lambda en: [(b.id, b.en if en else b.sv) for b in LENGTH_BUCKETS],
}


def categories(rep: Report, lang: str, type_codes: Sequence[str] = (),
               units: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The report's columns in order: (key, label in `lang`); `units` (id, name) for the split by unit. The
    reports by ICD-10 category take their columns from the filters and the data (tables.build)."""
    from . import counties

    en = lang == "en"
    if rep.source == FLOWS:
        return [(k, v[en]) for k, v in FLOW_LABELS.items()]
    if rep.by == "unit_id":
        return list(units)
    if rep.source == COUNTIES:
        return [(c, counties.label(c, lang)) for c in counties.CODES] + [(counties.UNKNOWN,
                                                                         counties.UNKNOWN_LABEL[en])]
    if rep.source == DOCTORS:
        if rep.by == "position":
            return [(p[0], p[2] if en else p[1]) for p in DOCTOR_POSITIONS]
        return doctor_columns(lang)
    if rep.source == CASES and rep.by in _CASE_COLUMNS:
        return _CASE_COLUMNS[rep.by](en)
    if rep.source == QUESTIONS:
        return [(s, SUBJECT_LABELS[s][en]) for s in SUBJECTS]
    return [(code, code) for code in type_codes]


# --- the filters (in the URL) ----------------------------------------------------------------------------------

MAX_MONTHS = 36


@dataclass(frozen=True)
class Filters:
    first: date
    last: date
    compare: bool = False
    chapters: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    degrees: tuple[int, ...] = ()
    diagnoses: tuple[str, ...] = ()  # ICD-10 categories chosen to compare ("F32")
    units: tuple[str, ...] = ()  # a care provider's or region's units chosen (HSA-ids)

    @property
    def months(self) -> list[date]:
        return months(self.first, self.last)

    def where(self) -> dict[str, Iterable]:
        """The case-month columns the filters limit."""
        out: dict[str, Iterable] = {}
        if self.chapters:
            out["chapter"] = self.chapters
        if self.age_groups:
            out["age_group"] = self.age_groups
        if self.degrees:
            out["degree"] = self.degrees
        return out

    @property
    def active(self) -> bool:
        return bool(self.chapters or self.age_groups or self.degrees or self.units)


def _month_value(text: str) -> date | None:
    import re

    m = re.fullmatch(r"(\d{4})-(\d{2})", text or "")
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        return None
    return date(int(m.group(1)), int(m.group(2)), 1)


def _period(args: dict[str, list[str]], today: date, errors: dict[str, str]) -> tuple[date, date]:
    """The months from fran to till (YYYY-MM), the last 18 by default; errors by parameter."""
    default = last_months(today)
    this_month = month_of(today)
    chosen = {"fran": default[0], "till": default[-1]}
    for name in chosen:
        raw = (args.get(name) or [""])[0]
        if not raw:
            continue
        value = _month_value(raw)
        if value is None:
            errors[name] = "PERIOD_FORMAT"
        elif value > this_month:
            errors[name] = "PERIOD_FUTURE"
        else:
            chosen[name] = value
    first, last = chosen["fran"], chosen["till"]
    if not errors and first > last:
        errors["fran"] = "PERIOD_ORDER"
    elif not errors and len(months(first, last)) > MAX_MONTHS:
        errors["fran"] = "PERIOD_LONG"
    if errors:
        return default[0], default[-1]
    return first, last


DEFAULT_DIAGNOSES = ("F32", "F43", "M54")  # depression, stress reactions, back pain: the commonest comparison
MAX_DIAGNOSES = 10
DEFAULT_CHAPTER = "F00-F99"  # the chapter shown within by default: the commonest in sick leave


def parse_diagnoses(values: Sequence[str], errors: dict[str, str]) -> tuple[str, ...]:
    """ICD-10 categories from one or more `diagnos` values, each a list separated by commas or spaces ("F32, m54");
    a full code ("F32.1", "F321") counts as its category. Errors: DIAGNOSIS_FORMAT, DIAGNOSIS_MANY."""
    import re

    found: list[str] = []
    for value in values:
        for part in re.split(r"[\s,;]+", value or ""):
            if not part:
                continue
            m = re.fullmatch(r"([A-Za-z])(\d{2})(?:\.?[0-9A-Za-z]{0,4})", part)
            if not m:
                errors["diagnos"] = "DIAGNOSIS_FORMAT"
                continue
            category = m.group(1).upper() + m.group(2)
            if category not in found:
                found.append(category)
    if len(found) > MAX_DIAGNOSES:
        errors["diagnos"] = "DIAGNOSIS_MANY"
    if "diagnos" in errors:
        return ()
    return tuple(found)


def parse_filters(args: dict[str, list[str]], today: date,
                  units: Sequence[str] = ()) -> tuple[Filters, dict[str, str]]:
    """The report's filters from the query (fran, till: YYYY-MM; jamfor=1; kapitel, alder, grad: several
    values; diagnos: ICD-10 categories to compare), with errors by parameter (PERIOD_FORMAT, PERIOD_ORDER,
    PERIOD_FUTURE, PERIOD_LONG, VALUE, DIAGNOSIS_FORMAT, DIAGNOSIS_MANY); `enhet`: some of `units` (a care
    provider's or a region's; elsewhere there are none to choose). A bad value is reported, and the default used in
    its place."""
    errors: dict[str, str] = {}
    first, last = _period(args, today, errors)
    compare_raw = (args.get("jamfor") or [""])[0]
    if compare_raw not in ("", "1"):
        errors["jamfor"] = "VALUE"

    def many(name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        values = [v for v in args.get(name) or [] if v]
        if any(v not in allowed for v in values):
            errors[name] = "VALUE"
        return tuple(v for v in allowed if v in values)

    chapters = many("kapitel", diagnosis.CHAPTER_IDS)
    ages = many("alder", AGE_IDS)
    degrees = tuple(int(d) for d in many("grad", tuple(str(d) for d in DEGREES)))
    diagnoses = parse_diagnoses(args.get("diagnos") or [], errors)
    chosen_units = many("enhet", tuple(units))
    return Filters(first, last, compare_raw == "1", chapters, ages, degrees, diagnoses, chosen_units), errors


def chapter_within(filters: Filters, errors: dict[str, str]) -> str:
    """The one chapter the report within a chapter shows: the chosen one (the kapitel filter), the default when
    none is chosen; choosing several is an error (ONE_CHAPTER) and the first is shown."""
    if len(filters.chapters) > 1:
        errors.setdefault("kapitel", "ONE_CHAPTER")
    return filters.chapters[0] if filters.chapters else DEFAULT_CHAPTER
