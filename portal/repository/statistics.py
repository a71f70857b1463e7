"""Intygsstatistik's job and reads (tables stat_*; the facts are domain/statistics.py's).

`run(session, registry, key, now)` brings the statistics up to date:
- **case-months**: on the first run (or when asked, or when it cannot know what changed) every patient with a
  sick-leave certificate is computed; afterwards only the patients whose certificates changed since the last run:
  the job keeps each care unit's data version it has taken in, and reads the `unit_changes` records (which every
  intake writes, with the patients) between that and the current version; a change with unknown patients, a
  version whose record is gone, or a new statistics key means a full run. A patient's rows are replaced in the
  job's one transaction, so a report never sees half a patient.
- **certificates and FK questions per month**: recounted whole (a GROUP BY over the store, cheap next to the
  cases).
Valideringspersoner's certificates never count (seed 004). Only the job reads personnummer (to compute), and it
writes none: the patient becomes `statistics.patient_key`.

A report page reads only these tables (`case_counts`, `certificate_counts`, `question_counts`): no patient data.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..domain import certificate_types as ct
from ..domain import sick_leave
from ..domain import statistics as st
from ..models import (
    CareUnit,
    Certificate,
    Message,
    Person,
    Staff,
    StatCaseCube,
    StatCaseMonth,
    StatCategoryCube,
    StatCategoryNational,
    StatCategoryProvider,
    StatCertificateMonth,
    StatCountyCube,
    StatDoctor,
    StatDoctorAgeCube,
    StatDoctorCube,
    StatNationalCube,
    StatNationalShort,
    StatPositionCube,
    StatProviderCube,
    StatProviderShort,
    StatPublished,
    StatQuestionMonth,
    StatState,
    StatUnitCube,
    UnitChange,
)
from .rehab import _COLS, _records

BATCH = 1000


@dataclass
class RunResult:
    kind: str  # "full" | "incremental" | "none"
    patients: int
    case_months: int
    seconds: float


def _state(session: Session) -> dict[str, str]:
    return dict(session.execute(select(StatState.key, StatState.value)).all())


def _set_state(session: Session, values: dict[str, str]) -> None:
    session.execute(delete(StatState).where(StatState.key.in_(list(values))))
    session.execute(insert(StatState), [{"key": k, "value": v} for k, v in values.items()])


def key_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"statistics key\x00" + key).hexdigest()[:16]


def _unit_versions(session: Session) -> dict[str, int]:
    from ..models import CareUnit

    return {u: int(v) for u, v in session.execute(select(CareUnit.hsa_id, CareUnit.data_version)) if v}


def _changed_patients(session: Session, taken: dict[str, int], now: dict[str, int]) -> set[str] | None:
    """The patients whose certificates changed between the unit versions taken in and the current ones, or None when
    that cannot be known (a change without its patients, or a version whose record is gone: purged after a week).
    A unit's versions are handed out under its row's lock, so a version below the current one is committed."""
    out: set[str] = set()
    for unit_id, current in now.items():
        before = taken.get(unit_id, 0)
        if current <= before:
            continue
        rows = session.execute(select(UnitChange.version, UnitChange.patients).where(
            UnitChange.unit_id == unit_id, UnitChange.version > before, UnitChange.version <= current)).all()
        if len(rows) != current - before:
            return None
        for _version, patients in rows:
            if patients is None:
                return None
            out.update(json.loads(patients))
    return out


def _all_patients(session: Session, codes) -> list[str]:
    return sorted(set(session.scalars(select(Certificate.patient_pnr).where(Certificate.type_code.in_(codes)))))


def _validation_persons(session: Session, patients: list[str]) -> set[str]:
    return set(session.scalars(select(Person.personnummer).where(
        Person.personnummer.in_(patients), Person.validation_person.is_(True))))


def _compute(session: Session, registry: ct.Registry, key: bytes, patients: list[str], codes) -> int:
    """Replace these patients' case-months. Returns the rows written."""
    written = 0
    for i in range(0, len(patients), BATCH):
        chunk = patients[i:i + BATCH]
        rows = session.execute(select(*_COLS).where(Certificate.patient_pnr.in_(chunk),
                                                    Certificate.type_code.in_(codes))).all()
        data = _records(session, rows, registry)
        excluded = _validation_persons(session, chunk)
        by_patient: dict[str, list[sick_leave.CertificateRecord]] = {}
        for record in data.records:
            by_patient.setdefault(record.certificate.patient_id, []).append(record)
        values = []
        for pnr in chunk:
            if pnr in excluded:
                continue
            pkey = st.patient_key(key, pnr)
            for cm in st.case_months(pnr, sick_leave.counting(by_patient.get(pnr, ()))):
                values.append({"patient_key": pkey, **cm.__dict__})
        session.execute(delete(StatCaseMonth).where(
            StatCaseMonth.patient_key.in_([st.patient_key(key, p) for p in chunk])))
        if values:
            session.execute(insert(StatCaseMonth), values)
        written += len(values)
    return written


_CUBE_KEYS = ("month", "unit_id", "gender", "age_group", "chapter", "degree", "length_bucket", "provider_id")
_NATIONAL_KEYS = ("month", "gender", "age_group", "chapter", "degree", "length_bucket")
_CATEGORY_KEYS = ("month", "unit_id", "category", "age_group", "degree", "chapter", "provider_id")
_CATEGORY_NATIONAL_KEYS = ("month", "category", "age_group", "degree", "chapter")


def _rebuild_cube(session: Session) -> None:
    """The cubes from stat_case_months, whole (each one INSERT … SELECT … GROUP BY in the database): by unit and
    the filters' dimensions (and its national sum), by ICD-10 category (and its national sum), by county, and by
    the deciding doctor (after `_refresh_doctors`)."""
    from sqlalchemy import case

    keys = [getattr(StatCaseMonth, k) for k in _CUBE_KEYS]
    flags = [func.sum(case((getattr(StatCaseMonth, f), 1), else_=0)) for f in ("started", "arrived", "ended")]
    session.execute(delete(StatCaseCube))
    session.execute(insert(StatCaseCube).from_select(
        list(_CUBE_KEYS) + ["cases", "started", "arrived", "ended"],
        select(*keys, func.count(), *flags).group_by(*keys)))
    _sum_cube(session, StatCaseCube, StatNationalCube, _NATIONAL_KEYS)
    _sum_cube(session, StatCaseCube, StatProviderCube, _PROVIDER_KEYS)
    _sum_cube(session, StatNationalCube, StatNationalShort, _NATIONAL_KEYS[:-1])
    _sum_cube(session, StatProviderCube, StatProviderShort, _PROVIDER_KEYS[:-1])
    _sum_cube(session, StatCaseCube, StatUnitCube, _UNIT_KEYS)
    keys = [getattr(StatCaseMonth, k) for k in _CATEGORY_KEYS]
    session.execute(delete(StatCategoryCube))
    session.execute(insert(StatCategoryCube).from_select(
        list(_CATEGORY_KEYS) + ["cases"], select(*keys, func.count()).group_by(*keys)))
    keys = [getattr(StatCategoryCube, k) for k in _CATEGORY_NATIONAL_KEYS]
    session.execute(delete(StatCategoryNational))
    session.execute(insert(StatCategoryNational).from_select(
        list(_CATEGORY_NATIONAL_KEYS) + ["cases"], select(*keys, func.sum(StatCategoryCube.cases)).group_by(*keys)))
    _sum_cube(session, StatCategoryCube, StatCategoryProvider,
              ("month", "provider_id", "category", "age_group", "degree", "chapter"), ("cases",))
    _rebuild_directory_cubes(session)


_PROVIDER_KEYS = ("month", "provider_id", "gender", "age_group", "chapter", "degree", "length_bucket")
_UNIT_KEYS = ("month", "unit_id", "chapter", "age_group", "degree", "provider_id")


def _sum_cube(session: Session, source: Any, target: Any, keys: tuple[str, ...],
              measures: tuple[str, ...] = ("cases", "started", "arrived", "ended")) -> None:
    """`target`, whole, as `source` summed over the dimensions it lacks."""
    columns = [getattr(source, k) for k in keys]
    session.execute(delete(target))
    session.execute(insert(target).from_select(
        list(keys) + list(measures),
        select(*columns, *[func.sum(getattr(source, m)) for m in measures]).group_by(*columns)))


def _rebuild_directory_cubes(session: Session) -> None:
    """The cubes that also depend on the directory (a unit's county, a doctor's position, gender and age): by
    county, and by doctor."""
    from sqlalchemy import case

    county = func.coalesce(CareUnit.county, "")
    keys = [StatCaseMonth.month, county, StatCaseMonth.chapter, StatCaseMonth.age_group, StatCaseMonth.degree]
    session.execute(delete(StatCountyCube))
    session.execute(insert(StatCountyCube).from_select(
        ["month", "county", "chapter", "age_group", "degree", "cases"],
        select(*keys, func.count()).select_from(StatCaseMonth)
        .outerjoin(CareUnit, CareUnit.hsa_id == StatCaseMonth.unit_id).group_by(*keys)))
    age = func.extract("year", StatCaseMonth.month) - StatDoctor.birth_year
    doctor_age = case(*[(age <= high, aid) for aid, _sv, _en, _low, high in st.DOCTOR_AGES if high is not None],
                      else_=st.DOCTOR_AGES[-1][0])
    doctor_age = case((StatDoctor.birth_year.is_(None), ""), else_=doctor_age)
    keys = [StatCaseMonth.month, StatCaseMonth.unit_id, func.coalesce(StatDoctor.position, "OKAND"),
            func.coalesce(StatDoctor.gender, ""), doctor_age, StatCaseMonth.chapter, StatCaseMonth.age_group,
            StatCaseMonth.degree, StatCaseMonth.provider_id]
    session.execute(delete(StatDoctorCube))
    session.execute(insert(StatDoctorCube).from_select(
        ["month", "unit_id", "position", "doctor_gender", "doctor_age", "chapter", "age_group", "degree",
         "provider_id", "cases"],
        select(*keys, func.count()).select_from(StatCaseMonth)
        .outerjoin(StatDoctor, StatDoctor.doctor_id == StatCaseMonth.doctor_id).group_by(*keys)))
    _sum_cube(session, StatDoctorCube, StatPositionCube,
              ("month", "provider_id", "position", "chapter", "age_group", "degree"), ("cases",))
    _sum_cube(session, StatDoctorCube, StatDoctorAgeCube,
              ("month", "provider_id", "doctor_gender", "doctor_age", "chapter", "age_group", "degree"), ("cases",))


def _refresh_doctors(session: Session) -> str:
    """stat_doctors from the HSA directory's staff (position group, gender, birth year), and a fingerprint of the
    directory facts the cubes use (the doctors' and the units' counties): when it changes, those cubes are rebuilt
    even if no certificate changed."""
    rows = []
    for hsa_id, codes, gender, birth_year in session.execute(
            select(Staff.hsa_id, Staff.position_codes, Staff.gender, Staff.birth_year).order_by(Staff.hsa_id)):
        position = st.doctor_position(str(c.get("code")) for c in (codes or []) if isinstance(c, dict))
        rows.append({"doctor_id": hsa_id, "position": position,
                     "gender": gender if gender in st.GENDERS else None, "birth_year": birth_year})
    session.execute(delete(StatDoctor))
    if rows:
        session.execute(insert(StatDoctor), rows)
    counties = session.execute(select(CareUnit.hsa_id, CareUnit.county).order_by(CareUnit.hsa_id)).all()
    facts = json.dumps([rows, [list(r) for r in counties]], sort_keys=True, default=str)
    return hashlib.sha256(facts.encode("utf-8")).hexdigest()[:16]


def _month(value: datetime) -> date:
    return value.date().replace(day=1)


def _recount(session: Session) -> None:
    """Certificates per month, unit and type (with how many got a komplettering request), and FK's questions per
    month, unit and subject, recounted whole."""
    excluded = select(Person.personnummer).where(Person.validation_person.is_(True))
    asked = set(session.scalars(select(Message.certificate_id).where(Message.sender == "FK",
                                                                     Message.subject == "KOMPLT")))
    certificates: Counter = Counter()
    kompletterade: Counter = Counter()
    for cid, signed, unit, provider, code in session.execute(
            select(Certificate.id, Certificate.signed_at, Certificate.unit_id, Certificate.provider_id,
                   Certificate.type_code)
            .where(Certificate.revoked_at.is_(None), Certificate.patient_pnr.not_in(excluded))
            .execution_options(yield_per=5000)):
        k = (_month(signed), unit, code, provider)
        certificates[k] += 1
        if cid in asked:
            kompletterade[k] += 1
    questions: Counter = Counter()
    for sent, unit, subject, provider in session.execute(
            select(Message.sent_at, Message.unit_id, Message.subject, Certificate.provider_id)
            .join(Certificate, Certificate.id == Message.certificate_id)
            .where(Message.sender == "FK", Message.patient_pnr.not_in(excluded))):
        questions[(_month(sent), unit, subject, provider)] += 1
    session.execute(delete(StatCertificateMonth))
    session.execute(delete(StatQuestionMonth))
    if certificates:
        session.execute(insert(StatCertificateMonth), [
            {"month": m, "unit_id": u, "type_code": c, "provider_id": p, "certificates": n,
             "with_komplettering": kompletterade.get((m, u, c, p), 0)} for (m, u, c, p), n in certificates.items()])
    if questions:
        session.execute(insert(StatQuestionMonth), [
            {"month": m, "unit_id": u, "subject": s, "provider_id": p, "questions": n}
            for (m, u, s, p), n in questions.items()])


def run(session: Session, registry: ct.Registry, key: bytes, now: datetime, *, full: bool = False) -> RunResult:
    """Bring the statistics up to date (see the module's docstring); commits."""
    import time

    started = time.perf_counter()
    codes = sorted(registry.sick_leave_codes())
    state = _state(session)
    versions = _unit_versions(session)  # read first: what changes after this waits for the next run
    taken = json.loads(state["versions"]) if state.get("versions") else None
    changed: set[str] | None = None
    if not full and taken is not None and state.get("key") == key_fingerprint(key):
        changed = _changed_patients(session, taken, versions)
    if changed is None:
        kind = "full"
        session.execute(delete(StatCaseMonth))
        patients = _all_patients(session, codes)
    else:
        kind = "incremental" if changed else "none"
        patients = sorted(changed)
    rows = _compute(session, registry, key, patients, codes)
    directory = _refresh_doctors(session)
    if kind != "none" or session.scalar(select(func.count()).select_from(StatCaseCube)) == 0:
        _rebuild_cube(session)
    elif state.get("directory") != directory:
        _rebuild_directory_cubes(session)
    _recount(session)
    session.execute(delete(StatPublished))  # new counts: the published tables are made again as they are asked for
    _set_state(session, {"versions": json.dumps(versions, sort_keys=True), "key": key_fingerprint(key),
                         "last_run": now.isoformat(), "last_kind": kind, "directory": directory})
    session.commit()
    return RunResult(kind, len(patients), rows, time.perf_counter() - started)


def due(session: Session) -> bool:
    """Whether a run would take in something: never run, or a unit's data changed since (a cheap read)."""
    taken = _state(session).get("versions")
    return taken is None or json.loads(taken) != _unit_versions(session)


def last_run(session: Session) -> datetime | None:
    value = _state(session).get("last_run")
    return datetime.fromisoformat(value) if value else None


# --- reads -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Whose figures: the nation (no ids), a care provider, or care units (a unit and its sub-units)."""

    provider_id: str | None = None
    unit_ids: tuple[str, ...] = ()


def _scoped(query, model, scope: Scope):
    if scope.unit_ids:
        query = query.where(model.unit_id.in_(scope.unit_ids))
    if scope.provider_id:
        query = query.where(model.provider_id == scope.provider_id)
    return query


_CASE_CUBES = (StatNationalShort, StatNationalCube, StatProviderShort, StatProviderCube, StatUnitCube,
               StatCaseCube)  # smallest first


def _cube(scope: Scope, by: str = "all", where: dict[str, Iterable] | None = None) -> Any:
    """The smallest cube with every column the read needs: the split `by`, the limits in `where`, and the scope's
    (unit_id, provider_id); by ICD-10 category, county or doctor their own (the category one summed over the units
    for the nation)."""
    national = not scope.unit_ids and not scope.provider_id
    whole_provider = bool(scope.provider_id) and not scope.unit_ids
    if by == "category":
        return StatCategoryNational if national else StatCategoryProvider if whole_provider else StatCategoryCube
    if by == "county":
        return StatCountyCube
    if by in ("position", "doctor"):
        if whole_provider:
            return StatPositionCube if by == "position" else StatDoctorAgeCube
        return StatDoctorCube
    needed = set(where or ()) | ({by} if by != "all" else set())
    needed |= {"unit_id"} if scope.unit_ids else set()
    needed |= {"provider_id"} if scope.provider_id else set()
    return next(c for c in _CASE_CUBES if all(hasattr(c, n) for n in needed))


def case_counts(session: Session, scope: Scope, first: date, last: date, by: str,
                where: dict[str, Iterable] | None = None, flag: str | None = None) -> dict[tuple[date, str], int]:
    """{(month, value of `by`): cases} for the months first..last (month starts). `by` is a dimension of a cube
    ("gender", "age_group", "chapter", "degree", "length_bucket", "unit_id", "provider_id", "category", "county",
    "position"), "group" (the diagnosis group, from the chapters), "doctor" ("F:30-39": the deciding doctor's gender
    and age group) or "all"; `where` limits dimensions to values; `flag` counts only the cases that started, arrived
    or ended that month."""
    if by == "group":
        out: dict[tuple[date, str], int] = {}
        for (month, chapter), n in case_counts(session, scope, first, last, "chapter", where, flag).items():
            key = (month, st.chapter_group(chapter))
            out[key] = out.get(key, 0) + n
        return out
    cube = _cube(scope, by, where)
    if by == "doctor":
        columns = [cube.doctor_gender, cube.doctor_age]
    else:
        columns = [getattr(cube, by)] if by != "all" else []
    measure = getattr(cube, flag) if flag else cube.cases
    query = select(cube.month, *columns, func.sum(measure)).where(cube.month >= first, cube.month <= last)
    query = _scoped(query, cube, scope)
    for name, values in (where or {}).items():
        query = query.where(getattr(cube, name).in_(list(values)))
    query = query.group_by(cube.month, *columns)
    out = {}
    for row in session.execute(query):
        if row[-1]:
            value = ":".join(str(v) for v in row[1:-1]) if columns else "all"
            if by == "doctor" and "" in row[1:-1]:
                value = ":"  # gender or age unknown: one column
            key = (row[0], value)
            out[key] = out.get(key, 0) + int(row[-1])
    return out


def cases_in_period(session: Session, units: dict[str, str], first: date, last: date,
                    where: dict[str, Iterable] | None = None) -> dict[str, int]:
    """{listed unit: the sick-leave cases on it during the months first..last}: `units` maps each care unit (and
    sub-unit) to the listed unit it counts for. A case counts once for the period on a unit: the cases there in
    the first month, and those that started there, or came there from another unit, in a later month (a case that
    leaves and comes back counts again)."""
    cube = StatUnitCube
    out = {unit: 0 for unit in set(units.values())}
    ids = sorted(units)
    query = select(cube.unit_id, cube.month, func.sum(cube.cases), func.sum(cube.started),
                   func.sum(cube.arrived)).where(cube.month >= first, cube.month <= last, cube.unit_id.in_(ids))
    for name, values in (where or {}).items():
        query = query.where(getattr(cube, name).in_(list(values)))
    for unit_id, month, cases, started, arrived in session.execute(query.group_by(cube.unit_id, cube.month)):
        out[units[unit_id]] += int(cases or 0) if month == first else int(started or 0) + int(arrived or 0)
    return out


def flow_counts(session: Session, scope: Scope, first: date, last: date,
                where: dict[str, Iterable] | None = None) -> dict[tuple[date, str], int]:
    """{(month, "started" | "arrived" | "ended"): cases}, in one read."""
    cube = _cube(scope, "all", where)
    query = select(cube.month, func.sum(cube.started), func.sum(cube.arrived),
                   func.sum(cube.ended)).where(cube.month >= first, cube.month <= last)
    query = _scoped(query, cube, scope)
    for name, values in (where or {}).items():
        query = query.where(getattr(cube, name).in_(list(values)))
    out: dict[tuple[date, str], int] = {}
    for month, started, arrived, ended in session.execute(query.group_by(cube.month)):
        out.update({(month, "started"): int(started or 0), (month, "arrived"): int(arrived or 0),
                    (month, "ended"): int(ended or 0)})
    return out


def certificate_counts(session: Session, scope: Scope, first: date,
                       last: date) -> dict[tuple[date, str], tuple[int, int]]:
    """{(month, type): (certificates, with a komplettering request)}."""
    query = _scoped(select(StatCertificateMonth.month, StatCertificateMonth.type_code,
                           func.sum(StatCertificateMonth.certificates),
                           func.sum(StatCertificateMonth.with_komplettering))
                    .where(StatCertificateMonth.month >= first, StatCertificateMonth.month <= last),
                    StatCertificateMonth, scope).group_by(StatCertificateMonth.month, StatCertificateMonth.type_code)
    return {(m, t): (int(n), int(k)) for m, t, n, k in session.execute(query)}


def question_counts(session: Session, scope: Scope, first: date, last: date) -> dict[tuple[date, str], int]:
    """{(month, subject): FK questions}."""
    query = _scoped(select(StatQuestionMonth.month, StatQuestionMonth.subject, func.sum(StatQuestionMonth.questions))
                    .where(StatQuestionMonth.month >= first, StatQuestionMonth.month <= last),
                    StatQuestionMonth, scope).group_by(StatQuestionMonth.month, StatQuestionMonth.subject)
    return {(m, s): int(n) for m, s, n in session.execute(query)}


def statistics_key(config) -> bytes:
    """STATISTICS_KEY, or one derived from SECRET_KEY (a new key means a full run: the pseudonyms change)."""
    explicit = config.get("STATISTICS_KEY")
    if explicit:
        return str(explicit).encode("utf-8")
    return hashlib.sha256(b"intygsportalen statistics\x00" + str(config["SECRET_KEY"]).encode("utf-8")).digest()




def unit_and_subunits(session: Session, unit_id: str) -> list[str]:
    """A care unit and its sub-units (mottagningar): a unit's statistics cover them."""
    from ..models import CareUnit

    return [unit_id] + sorted(session.scalars(select(CareUnit.hsa_id).where(CareUnit.parent_id == unit_id)))


def scope_units(session: Session, scope: Scope) -> list[tuple[str, str]]:
    """The scope's care units (id, name), in name order: a provider's units, or a unit and its sub-units."""
    from ..models import CareUnit

    query = select(CareUnit.hsa_id, CareUnit.name)
    if scope.unit_ids:
        query = query.where(CareUnit.hsa_id.in_(scope.unit_ids))
    elif scope.provider_id:
        query = query.where(CareUnit.provider_id == scope.provider_id)
    else:
        return []
    return sorted(((u, n) for u, n in session.execute(query)), key=lambda r: (r[1], r[0]))


def regions_with_listing(session: Session) -> set[str]:
    """The care providers that have uploaded a region listing (Regionsstatistik)."""
    from ..models import RegionFile

    return set(session.scalars(select(RegionFile.provider_id)))


def region_listing(session: Session, provider_id: str) -> list[tuple[str, str, int]]:
    """A region's listed units: (HSA-id, name: the directory's, else the file's, listed patients), by name."""
    from ..models import RegionListing

    rows = session.execute(select(RegionListing.unit_id, func.coalesce(CareUnit.name, RegionListing.unit_name),
                                  RegionListing.listed)
                           .outerjoin(CareUnit, CareUnit.hsa_id == RegionListing.unit_id)
                           .where(RegionListing.provider_id == provider_id)).all()
    return sorted(((u, n, int(c)) for u, n, c in rows), key=lambda r: (r[1], r[0]))


# --- published tables, shared by every process ------------------------------------------------------------------

def _table_key(table: Any, marked_apart: bool) -> str:
    canonical = json.dumps([list(table.rows), list(table.columns), [list(r) for r in table.counts], table.row_totals,
                            table.column_totals, table.grand_total, {k: list(v) for k, v in table.groups.items()},
                            sorted([list(k), sorted(list(m) for m in v)] for k, v in table.sums.items()),
                            marked_apart], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def suppressed(session: Session, table: Any, *, marked_apart: bool = False) -> Any:
    """`suppression.suppress(table)`, kept in stat_published under the hash of the table: the suppression of a big
    table with many small counts takes a few hundred milliseconds, and is the same for every reader until the job
    runs again. A table computed by two processes at once is stored once (the other's insert is let go)."""
    from sqlalchemy.exc import IntegrityError

    from ..domain import suppression as sp

    key = _table_key(table, marked_apart)
    stored = session.scalar(select(StatPublished.result).where(StatPublished.key == key))
    if stored is not None:
        data = json.loads(stored)
        values = {(r, c): (sp.SUPPRESSED if v is None else v) for r, c, v in data["values"]}
        return sp.PublishedTable(values=values, marked_apart=marked_apart,
                                 _below=frozenset((r, c) for r, c in data["below"]))
    result = sp.suppress(table, marked_apart=marked_apart)
    below = sorted(ref for ref in result.suppressed if marked_apart and result.is_below_threshold(*ref))
    data = {"values": [[r, c, None if v is sp.SUPPRESSED else v] for (r, c), v in result.values.items()],
            "below": [list(ref) for ref in below]}
    with Session(bind=session.get_bind()) as writer:  # its own short transaction: a page only reads
        writer.add(StatPublished(key=key, result=json.dumps(data, separators=(",", ":"))))
        try:
            writer.commit()
        except IntegrityError:
            writer.rollback()
    return result


def published_page(session: Session, key: str) -> str | None:
    """A report as rendered before under `key` (portal/statistics `_page_key`), or None; kept in stat_published
    beside the tables until the job runs again, for every process."""
    return session.scalar(select(StatPublished.result).where(StatPublished.key == key))


def publish_page(session: Session, key: str, html: str) -> None:
    """Keep a rendered report under `key` (its own short transaction: a page only reads; a report rendered by two
    processes at once is kept once)."""
    from sqlalchemy.exc import IntegrityError

    with Session(bind=session.get_bind()) as writer:
        writer.add(StatPublished(key=key, result=html))
        try:
            writer.commit()
        except IntegrityError:
            writer.rollback()
