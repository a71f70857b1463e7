"""Sick-leave cases (sjukfall): the pure engine behind Rehabstöd.

Every sick-leave rule of Intygsportalen lives in this module, once. The authoritative text is
``shared/sick-leave-rules.md``; in short:

Which certificates count (``counting``, done by the caller before the engine)
    FK7804 and FK7263 only; not revoked; not replaced or complemented by a certificate that is
    itself not revoked; not a valideringsperson's. The engine itself also drops certificates
    without a diagnosis. Unit-list scope (the selected unit, its sub-units, same care provider)
    is the caller's query: other units' certificates must never be passed to ``unit_cases``.

One certificate
    Start = earliest period start, end = latest period end (inclusive dates). *Active* on day T
    when one of its periods contains T (a hole between periods on T means not active). *Recently
    ended* on T when not active, end < T and T - end <= ``Settings.max_days_since_sjukfall_end``.

Chaining (``chain_certificates``)
    Sort a patient's certificates by start; walk them keeping the latest end seen so far; a
    certificate joins the current chain when start <= latest end + gap + 1 day
    (gap = ``Settings.max_days_between_certificates``), else it starts a new chain. With gap 0,
    back-to-back certificates still join. (**Corrected** against the national engine, which in
    the patient view compares only with the previous certificate's end.)

A case's figures
    Start = earliest start, end = latest end, days = distinct calendar days covered by any period
    (overlaps once; uncovered days and holes not counted), and its number of certificates.

Unit list (``unit_cases``): at most one case per patient
    The deciding certificate is the active one signed latest; if none is active, the recently
    ended one that ended latest (ties: signed latest) (**corrected**: the national engine takes
    the one that ended earliest); if neither exists the patient is not listed. The case is the
    chain containing it. Diagnosis, secondary diagnoses, doctor, unit, occupation and degrees come
    from the deciding certificate; today's degree is that of its period containing today (None if
    only recently ended). A doctor (not coordinator) sees only cases whose deciding certificate
    they signed (``doctor_id`` argument).

Patient view (``patient_cases``)
    All the patient's chains, except those starting after today, newest first. A chain's
    diagnosis is that of its certificate active today signed latest, else of its certificate
    signed latest.

Input rules: two certificates with identical dates are two certificates; a period whose end is
before its start is invalid input and raises ``ValueError`` (never silently dropped).

``from_reference``, ``to_reference`` and ``run_reference_case`` translate the reference cases in
``shared/reference/sjukfall_cases.json`` to and from this module's types.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

__all__ = [
    "COUNTING_TYPES",
    "DEGREES",
    "CertificateRecord",
    "Period",
    "Settings",
    "SickLeaveCase",
    "SickLeaveCertificate",
    "chain_certificates",
    "clean_diagnosis_code",
    "counting",
    "covered_days",
    "deciding_certificate",
    "from_reference",
    "is_active",
    "is_recently_ended",
    "patient_cases",
    "run_reference_case",
    "to_reference",
    "unit_cases",
]

#: Certificate types that make up sick-leave cases.
COUNTING_TYPES = frozenset({"FK7804", "FK7263"})

#: Allowed sick-leave degrees (sjukskrivningsgrad), in percent.
DEGREES = (25, 50, 75, 100)

GAP_RANGE = range(0, 91)  # "Antal dagar mellan intyg", 0-90
DAYS_AFTER_END_RANGE = range(0, 15)  # "Visa nyligen avslutade sjukfall", 0-14

_ONE_DAY = timedelta(days=1)
_NOT_IN_CODE = re.compile(r"[^A-Z0-9\-]")


# --- Input types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A sick-leave period: inclusive dates and a degree in percent."""

    start: date
    end: date
    degree: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends {self.end} before it starts {self.start}")
        if self.degree not in DEGREES:
            raise ValueError(f"sick-leave degree {self.degree!r} is not one of {DEGREES}")

    def contains(self, day: date) -> bool:
        """True when ``day`` is within the period (inclusive)."""
        return self.start <= day <= self.end


@dataclass(frozen=True)
class SickLeaveCertificate:
    """The sick-leave facts of one signed certificate (FK7804 or FK7263).

    Periods are kept in start order. ``diagnosis`` is the main ICD-10-SE code as written;
    use ``diagnosis_code`` for the cleaned code.
    """

    id: str
    patient_id: str
    signed: datetime
    periods: tuple[Period, ...]
    diagnosis: str | None
    secondary_diagnoses: tuple[str, ...] = ()
    doctor_id: str | None = None
    doctor_name: str | None = None
    unit_id: str | None = None
    unit_name: str | None = None
    care_provider_id: str | None = None
    occupation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        periods = tuple(self.periods)
        if not periods:
            raise ValueError(f"certificate {self.id!r} has no sick-leave period")
        # Accept lists from callers but store tuples, so certificates stay hashable and immutable.
        object.__setattr__(self, "periods", tuple(sorted(periods, key=lambda p: (p.start, p.end))))
        object.__setattr__(self, "secondary_diagnoses", tuple(self.secondary_diagnoses))
        object.__setattr__(self, "occupation", tuple(self.occupation))

    @property
    def start(self) -> date:
        """Earliest period start."""
        return self.periods[0].start

    @property
    def end(self) -> date:
        """Latest period end."""
        return max(p.end for p in self.periods)

    @property
    def diagnosis_code(self) -> str | None:
        """The cleaned main diagnosis code, or None when there is none."""
        return clean_diagnosis_code(self.diagnosis)

    @property
    def degrees(self) -> tuple[int, ...]:
        """Degrees of the periods in start order."""
        return tuple(p.degree for p in self.periods)

    def degree_on(self, day: date) -> int | None:
        """Degree of the period containing ``day`` (None when not active that day)."""
        return next((p.degree for p in self.periods if p.contains(day)), None)


@dataclass(frozen=True)
class Settings:
    """The user's Rehabstöd settings that the engine uses.

    ``max_days_between_certificates``: "Antal dagar mellan intyg", 0-90, default 5.
    ``max_days_since_sjukfall_end``: "Visa nyligen avslutade sjukfall", 0-14, default 0.
    Out-of-range values raise ``ValueError`` on construction.
    """

    max_days_between_certificates: int = 5
    max_days_since_sjukfall_end: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` when a setting is not an integer in its allowed range."""
        _check_range("max_days_between_certificates", self.max_days_between_certificates, GAP_RANGE)
        _check_range("max_days_since_sjukfall_end", self.max_days_since_sjukfall_end,
                     DAYS_AFTER_END_RANGE)


def _check_range(name: str, value: object, allowed: range) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be a whole number {allowed.start}-{allowed.stop - 1}, "
                         f"got {value!r}")


# --- Which certificates count ------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRecord:
    """A stored certificate with the facts that decide whether it counts.

    ``replaced_by`` holds the ids of the certificates that replace or complement it.
    """

    certificate: SickLeaveCertificate
    type_code: str
    revoked: bool = False
    replaced_by: tuple[str, ...] = ()
    validation_person: bool = False


def counting(records: Iterable[CertificateRecord]) -> list[SickLeaveCertificate]:
    """The certificates that count for sick-leave cases, in input order.

    Drops other types than FK7804/FK7263, revoked certificates, valideringspersoner's,
    certificates without a diagnosis, and certificates replaced or complemented by a certificate
    that is not revoked. Pass the replacing certificates too: a replacing id that is not among
    ``records`` is taken as not revoked, so the replaced certificate does not count.
    """
    records = list(records)
    revoked = {r.certificate.id for r in records if r.revoked}
    return [
        r.certificate
        for r in records
        if r.type_code in COUNTING_TYPES
        and not r.revoked
        and not r.validation_person
        and r.certificate.diagnosis_code
        and all(other in revoked for other in r.replaced_by)
    ]


# --- One certificate ---------------------------------------------------------------------------


def clean_diagnosis_code(code: str | None) -> str | None:
    """Clean an ICD-10-SE code as the national engine does: upper case, keep only A-Z, 0-9, '-'.

    "m54.5 " -> "M545". Returns None for None or a code that cleans to nothing.
    """
    if code is None:
        return None
    return _NOT_IN_CODE.sub("", code.strip().upper()) or None


def is_active(cert: SickLeaveCertificate, day: date) -> bool:
    """True when one of the certificate's periods contains ``day``."""
    return any(p.contains(day) for p in cert.periods)


def is_recently_ended(cert: SickLeaveCertificate, day: date, max_days_after_end: int) -> bool:
    """True when the certificate is not active, ended before ``day``, at most N days before."""
    return (not is_active(cert, day)
            and cert.end < day
            and (day - cert.end).days <= max_days_after_end)


def covered_days(periods: Iterable[Period]) -> int:
    """Number of distinct calendar days covered by any of the periods."""
    total = 0
    current_start: date | None = None
    current_end: date | None = None
    for p in sorted(periods, key=lambda p: p.start):
        if current_end is not None and p.start <= current_end + _ONE_DAY:
            current_end = max(current_end, p.end)
            continue
        if current_start is not None and current_end is not None:
            total += (current_end - current_start).days + 1
        current_start, current_end = p.start, p.end
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).days + 1
    return total


# --- Chaining ----------------------------------------------------------------------------------


def _start_order(cert: SickLeaveCertificate) -> tuple:
    # Ties on start: deterministic order by end, signing time, id.
    return (cert.start, cert.end, cert.signed, cert.id)


def chain_certificates(
    certificates: Iterable[SickLeaveCertificate], max_gap: int
) -> list[tuple[SickLeaveCertificate, ...]]:
    """Split one patient's certificates into chains, oldest chain first, each in start order.

    A certificate joins the current chain when its start <= the latest end seen so far in that
    chain + ``max_gap`` + 1 day; otherwise it starts a new chain.
    """
    chains: list[list[SickLeaveCertificate]] = []
    latest_end: date | None = None
    for cert in sorted(certificates, key=_start_order):
        if latest_end is not None and cert.start <= latest_end + timedelta(days=max_gap + 1):
            chains[-1].append(cert)
            latest_end = max(latest_end, cert.end)
        else:
            chains.append([cert])
            latest_end = cert.end
    return [tuple(chain) for chain in chains]


# --- Cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SickLeaveCase:
    """One sick-leave case (sjukfall): a chain of one patient's certificates.

    ``deciding`` is the certificate that gives diagnosis, doctor, unit, occupation and degrees.
    """

    patient_id: str
    start: date
    end: date
    days: int
    certificates: tuple[SickLeaveCertificate, ...]  # in start order
    deciding: SickLeaveCertificate
    degrees: tuple[int, ...]
    active_degree: int | None
    diagnosis: str | None
    secondary_diagnoses: tuple[str, ...] = ()
    doctor_id: str | None = None
    unit_id: str | None = None
    occupation: tuple[str, ...] = ()

    @cached_property
    def certificate_ids(self) -> tuple[str, ...]:
        """Ids of the case's certificates, in start order (worked out once: the lists ask for them per row)."""
        return tuple(c.id for c in self.certificates)

    @property
    def certificate_count(self) -> int:
        """Number of certificates in the case."""
        return len(self.certificates)


def _make_case(chain: Sequence[SickLeaveCertificate], deciding: SickLeaveCertificate,
               today: date) -> SickLeaveCase:
    return SickLeaveCase(
        patient_id=deciding.patient_id,
        start=min(c.start for c in chain),
        end=max(c.end for c in chain),
        days=covered_days(p for c in chain for p in c.periods),
        certificates=tuple(chain),
        deciding=deciding,
        degrees=deciding.degrees,
        active_degree=deciding.degree_on(today),
        diagnosis=deciding.diagnosis_code,
        secondary_diagnoses=tuple(
            code for code in map(clean_diagnosis_code, deciding.secondary_diagnoses) if code),
        doctor_id=deciding.doctor_id,
        unit_id=deciding.unit_id,
        occupation=deciding.occupation,
    )


def _usable(certificates: Iterable[SickLeaveCertificate]) -> list[SickLeaveCertificate]:
    """Drop certificates without a diagnosis; refuse duplicate ids."""
    result: list[SickLeaveCertificate] = []
    seen: set[str] = set()
    for cert in certificates:
        if cert.id in seen:
            raise ValueError(f"certificate {cert.id!r} given twice")
        seen.add(cert.id)
        if cert.diagnosis_code:
            result.append(cert)
    return result


def _by_patient(
    certificates: Iterable[SickLeaveCertificate],
) -> dict[str, list[SickLeaveCertificate]]:
    groups: dict[str, list[SickLeaveCertificate]] = defaultdict(list)
    for cert in certificates:
        groups[cert.patient_id].append(cert)
    return groups


def deciding_certificate(certificates: Iterable[SickLeaveCertificate], today: date,
                         settings: Settings) -> SickLeaveCertificate | None:
    """The unit list's deciding certificate among one patient's certificates, or None.

    The active one signed latest; else the recently ended one that ended latest (ties: signed
    latest).
    """
    certificates = list(certificates)
    active = [c for c in certificates if is_active(c, today)]
    if active:
        return max(active, key=lambda c: (c.signed, c.id))
    ended = [c for c in certificates
             if is_recently_ended(c, today, settings.max_days_since_sjukfall_end)]
    if ended:
        return max(ended, key=lambda c: (c.end, c.signed, c.id))
    return None


def unit_cases(certificates: Iterable[SickLeaveCertificate], today: date,
               settings: Settings | None = None, *,
               doctor_id: str | None = None) -> list[SickLeaveCase]:
    """The unit list: at most one ongoing (or recently ended) case per patient.

    ``certificates`` must already be the counting certificates of the unit's scope. With
    ``doctor_id`` (a doctor who is not coordinator), only cases whose deciding certificate that
    doctor signed. Ordered by start, then patient id.
    """
    settings = settings or Settings()
    cases: list[SickLeaveCase] = []
    for patient_certs in _by_patient(_usable(certificates)).values():
        deciding = deciding_certificate(patient_certs, today, settings)
        if deciding is None:
            continue
        if doctor_id is not None and deciding.doctor_id != doctor_id:
            continue
        chain = next(chain
                     for chain in chain_certificates(patient_certs,
                                                     settings.max_days_between_certificates)
                     if any(c is deciding for c in chain))
        cases.append(_make_case(chain, deciding, today))
    cases.sort(key=lambda case: (case.start, case.patient_id))
    return cases


def patient_cases(certificates: Iterable[SickLeaveCertificate], today: date,
                  settings: Settings | None = None) -> list[SickLeaveCase]:
    """One patient's history: every case that started on or before today, newest first.

    A case's diagnosis (its ``deciding`` certificate) is that of its certificate active today
    signed latest, else of its certificate signed latest. Raises ``ValueError`` when the
    certificates belong to more than one patient.
    """
    settings = settings or Settings()
    usable = _usable(certificates)
    if len({c.patient_id for c in usable}) > 1:
        raise ValueError("patient_cases takes one patient's certificates")
    cases: list[SickLeaveCase] = []
    for chain in chain_certificates(usable, settings.max_days_between_certificates):
        if chain[0].start > today:
            continue
        active = [c for c in chain if is_active(c, today)]
        deciding = max(active or chain, key=lambda c: (c.signed, c.id))
        cases.append(_make_case(chain, deciding, today))
    cases.sort(key=lambda case: (case.start, case.end), reverse=True)
    return cases


# --- Reference cases ---------------------------------------------------------------------------

MODES = ("unit", "patient")

_UNIT_FIELDS = ("patient_id", "start", "end", "days", "certificate_count", "certificate_ids",
                "active_certificate_id", "degrees", "active_degree", "diagnosis", "doctor_id",
                "unit_id")
_PATIENT_FIELDS = ("start", "end", "days", "certificate_count", "certificate_ids", "diagnosis")


def _certificate_from_reference(data: dict) -> SickLeaveCertificate:
    return SickLeaveCertificate(
        id=data["id"],
        patient_id=data["patient_id"],
        signed=datetime.fromisoformat(data["signed"]),
        periods=tuple(Period(date.fromisoformat(p["start"]), date.fromisoformat(p["end"]),
                             int(p["degree"])) for p in data["periods"]),
        diagnosis=data.get("diagnosis"),
        secondary_diagnoses=tuple(data.get("secondary_diagnoses") or ()),
        doctor_id=data.get("doctor_id"),
        doctor_name=data.get("doctor_name"),
        unit_id=data.get("unit_id"),
        unit_name=data.get("unit_name"),
        care_provider_id=data.get("care_provider_id"),
        occupation=tuple(data.get("occupation") or ()),
    )


def from_reference(case: dict) -> tuple[str, date, Settings, list[SickLeaveCertificate]]:
    """Read one reference case: (mode, today, settings, certificates)."""
    mode = case["mode"]
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    settings = Settings(**case.get("settings", {}))
    certificates = [_certificate_from_reference(c) for c in case["certificates"]]
    return mode, date.fromisoformat(case["today"]), settings, certificates


def _case_to_reference(case: SickLeaveCase) -> dict:
    return {
        "patient_id": case.patient_id,
        "start": case.start.isoformat(),
        "end": case.end.isoformat(),
        "days": case.days,
        "certificate_count": case.certificate_count,
        "certificate_ids": sorted(case.certificate_ids),
        "active_certificate_id": case.deciding.id,
        "degrees": list(case.degrees),
        "active_degree": case.active_degree,
        "diagnosis": case.diagnosis,
        "doctor_id": case.doctor_id,
        "unit_id": case.unit_id,
    }


def to_reference(cases: Iterable[SickLeaveCase], mode: str) -> dict:
    """Cases as the reference file's ``{"sjukfall": [...]}``, with that mode's fields."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    fields = _UNIT_FIELDS if mode == "unit" else _PATIENT_FIELDS
    return {"sjukfall": [{name: entry[name] for name in fields}
                         for entry in map(_case_to_reference, cases)]}


def run_reference_case(case: dict) -> dict:
    """Run one reference case through the engine and return its result in reference form."""
    mode, today, settings, certificates = from_reference(case)
    compute = unit_cases if mode == "unit" else patient_cases
    return to_reference(compute(certificates, today, settings), mode)
