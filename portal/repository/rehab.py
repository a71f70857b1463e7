"""Rehabstöd's queries: a unit's counting certificates as sick-leave engine input, FK questions,
and one patient's certificates within the care provider."""
from __future__ import annotations

import gc
import json
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from cachetools import LRUCache
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import one_of
from ..domain import certificate_types as ct
from ..domain import sick_leave
from ..models import CareUnit, Certificate, CertificateRelation, Message, Staff, UnitChange


def unit_scope(session: Session, unit_id: str) -> list[str]:
    """The unit and its sub-units (any depth)."""
    scope, frontier = [unit_id], [unit_id]
    while frontier:
        frontier = list(session.scalars(select(CareUnit.hsa_id).where(CareUnit.parent_id.in_(frontier))))
        scope += frontier
    return scope


def scope_versions(session: Session, unit_ids: list[str]) -> tuple[tuple[str, int], ...]:
    """The units' data versions (bumped by every intake that changes their certificates): with the
    scope itself, the key under which computed cases may be reused."""
    return tuple(sorted((u, v) for u, v in session.execute(select(CareUnit.hsa_id, CareUnit.data_version)
                                        .where(CareUnit.hsa_id.in_(unit_ids))).all()))


class ComputedCache:
    """A small in-process LRU for values derived from a unit's certificates (the engine's input and
    its cases), keyed on the units' data versions so that a change in the database, made by any
    process, is never served stale. Holds no names and nothing from the person service: who may
    see what is decided per request, after PU-tjänsten has answered."""

    def __init__(self, size: int = 16) -> None:
        self._cache: LRUCache = LRUCache(maxsize=size)
        self._lock = threading.Lock()
        self.hits = self.misses = self.updates = 0
        self.counts: Counter = Counter()  # ("input" | "cases", "whole" | "update"): how each value was made

    def get(self, key, compute):
        with self._lock:
            if key in self._cache:
                self.hits += 1
                return self._cache[key]
        value = compute()
        with self._lock:
            self.misses += 1
            self._cache[key] = value
        return value

    def peek(self, key):
        """The value under `key` (made recently used, and counted as a hit), or None."""
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                self.hits += 1
            return value

    def put(self, key, value, *, update: bool = False) -> None:
        with self._lock:
            self._cache[key] = value
            self.counts[(key[0], "update" if update else "whole")] += 1
            if update:
                self.updates += 1
            else:
                self.misses += 1
        if not update:
            _settle()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _settle() -> None:
    """Move what a whole computation left on the heap (a unit's tens of thousands of long-lived records and
    cases) out of the garbage collector's reach: otherwise every full collection walks them again, and the
    requests that happen to trigger one wait (measured on the 2 000-case unit: cached list p95 125 ms with,
    67 ms without those pauses). The young garbage is collected first; the frozen objects are acyclic and are
    still freed by reference counting when the cache drops them."""
    gc.collect(1)
    gc.freeze()


#: how long the record of which patients a data-version bump changed is kept (a process whose cached unit is older
#: than that recomputes it whole)
UNIT_CHANGES_KEEP = timedelta(days=7)


def purge_unit_changes(session: Session, now: datetime) -> int:
    """Delete unit_changes rows older than UNIT_CHANGES_KEEP; the count deleted."""
    result = session.execute(delete(UnitChange).where(UnitChange.created_at < now - UNIT_CHANGES_KEEP))
    return int(getattr(result, "rowcount", 0) or 0)


def changed_patients(session: Session, old: tuple[tuple[str, int], ...],
                     new: tuple[tuple[str, int], ...]) -> frozenset[str] | None:
    """The patients whose certificates changed on these units between two sets of data versions (from
    unit_changes), or None when that is not known (other units, a bump without patients, rows purged)."""
    before = dict(old)
    if set(before) != {u for u, _ in new}:
        return None
    changed: set[str] = set()
    for unit_id, version in new:
        if version == before[unit_id]:
            continue
        if version < before[unit_id]:
            return None
        rows = session.execute(select(UnitChange.patients).where(
            UnitChange.unit_id == unit_id, UnitChange.version > before[unit_id],
            UnitChange.version <= version)).all()
        if len(rows) != version - before[unit_id] or any(r.patients is None for r in rows):
            return None
        for r in rows:
            changed.update(json.loads(r.patients))
    return frozenset(changed)


@dataclass
class UnitData:
    records: list[sick_leave.CertificateRecord]
    doctor_names: dict[str, str]

    @property
    def patients(self) -> frozenset[str]:
        return frozenset(r.certificate.patient_id for r in self.records)

    def replacing(self, patients: frozenset[str], fresh: UnitData) -> UnitData:
        """This data with these patients' records replaced by `fresh`'s (which holds only theirs)."""
        return UnitData([r for r in self.records if r.certificate.patient_id not in patients] + fresh.records,
                        {**self.doctor_names, **fresh.doctor_names})


@dataclass(frozen=True)
class UnitInput:
    """A unit's engine input at a set of data versions, and which patients changed since the input it was
    brought up to date from (None: computed whole)."""

    versions: tuple[tuple[str, int], ...]
    data: UnitData
    changed: frozenset[str] | None = None


def unit_names(session: Session, unit_ids) -> dict[str, str]:
    """Care units' names by HSA-id."""
    ids = [u for u in set(unit_ids) if u]
    if not ids:
        return {}
    return dict(session.execute(select(CareUnit.hsa_id, CareUnit.name).where(CareUnit.hsa_id.in_(ids))).all())


def certificate_row(session: Session, certificate_id: str):
    """A certificate's id, unit, signing doctor and provider (for the access rules), or None."""
    return session.execute(select(Certificate.id, Certificate.unit_id, Certificate.staff_id, Certificate.provider_id)
                           .where(Certificate.id == certificate_id)).first()


def staff_names(session: Session, staff_ids) -> dict[str, str]:
    ids = sorted(i for i in staff_ids if i)
    names: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        names.update((s.hsa_id, f"{s.given_name} {s.family_name}") for s in session.execute(
            select(Staff.hsa_id, Staff.given_name, Staff.family_name).where(Staff.hsa_id.in_(ids[i:i + 1000]))))
    return names


def _to_engine(row) -> sick_leave.SickLeaveCertificate | None:
    """A stored certificate as the engine's input, from its compact engine data."""
    data = json.loads(row.engine_data) if row.engine_data else {}
    periods = tuple(sick_leave.Period(date.fromisoformat(s), date.fromisoformat(e), int(d))
                    for s, e, d in data.get("p", ()) if float(d).is_integer())
    if not periods:
        return None
    codes = data.get("d") or []
    return sick_leave.SickLeaveCertificate(
        id=row.id, patient_id=row.patient_pnr, signed=row.signed_at, periods=periods,
        diagnosis=codes[0] if codes else None, secondary_diagnoses=tuple(codes[1:]), doctor_id=row.staff_id,
        unit_id=row.unit_id, care_provider_id=row.provider_id, occupation=tuple(data.get("o") or ()))


def _records(session: Session, rows, registry: ct.Registry, relations_of=None) -> UnitData:
    """Rows to engine records. `relations_of`: a SELECT of the rows' ids (instead of a long id list)."""
    ids = [r.id for r in rows]
    replaced_by: dict[str, list[str]] = {}
    newer = Certificate.__table__.alias("newer")
    id_sets = [relations_of] if relations_of is not None else [ids[i:i + 2000] for i in range(0, len(ids), 2000)]
    for chunk in id_sets:
        for to_id, from_id in session.execute(
                select(CertificateRelation.to_id, CertificateRelation.from_id)
                .join(newer, newer.c.id == CertificateRelation.from_id)
                .where(CertificateRelation.to_id.in_(chunk), newer.c.revoked_at.is_(None))):
            replaced_by.setdefault(to_id, []).append(from_id)
    records = []
    for r in rows:
        cert = _to_engine(r)
        if cert is not None:
            records.append(sick_leave.CertificateRecord(cert, r.type_code, revoked=r.revoked_at is not None,
                                                        replaced_by=tuple(replaced_by.get(r.id, ()))))
    return UnitData(records, staff_names(session, {r.staff_id for r in rows}))


_COLS = (Certificate.id, Certificate.type_code, Certificate.patient_pnr, Certificate.signed_at, Certificate.staff_id,
         Certificate.unit_id, Certificate.provider_id, Certificate.revoked_at, Certificate.engine_data)


def _unit_patients(session: Session, codes, unit_ids: list[str], since: date, among: Iterable[str] | None = None):
    """The patients with a counting-type certificate on these units that ends on or after `since` and is not
    revoked (optionally only those `among` these)."""
    query = select(Certificate.patient_pnr).where(
        Certificate.unit_id.in_(unit_ids), Certificate.type_code.in_(codes), Certificate.revoked_at.is_(None),
        Certificate.sick_leave_end >= since)
    if among is None:
        return sorted(set(session.scalars(query)))
    wanted, found = sorted(set(among)), set()
    for i in range(0, len(wanted), 1000):
        found |= set(session.scalars(query.where(one_of(session, Certificate.patient_pnr, wanted[i:i + 1000]))))
    return sorted(found)


def _patient_rows(session: Session, codes, unit_ids: list[str], provider_id: str, patients: list[str]) -> list[Any]:
    rows: list[Any] = []
    for i in range(0, len(patients), 1000):
        rows += session.execute(select(*_COLS).where(
            Certificate.provider_id == provider_id, one_of(session, Certificate.patient_pnr, patients[i:i + 1000]),
            Certificate.unit_id.in_(unit_ids), Certificate.type_code.in_(codes))).all()
    return rows


def unit_certificates(session: Session, registry: ct.Registry, *, unit_ids: list[str], provider_id: str,
                      since: date, patients: Iterable[str] | None = None) -> UnitData:
    """The sick-leave certificates on these units (one provider) of every patient who has one that ends
    on or after `since` (active or recently ended): the unit list's engine input, revoked and replaced
    ones flagged for `sick_leave.counting`. With `patients`: only those of them who qualify."""
    codes = registry.sick_leave_codes()
    # two steps, each on its own index (unit+type+end, then provider+patient): a planner cannot pick a
    # nested loop over a stale estimate of the first
    chosen = _unit_patients(session, codes, unit_ids, since, among=patients)
    rows = _patient_rows(session, codes, unit_ids, provider_id, chosen)
    if patients is not None:
        return _records(session, rows, registry)
    # replacements: every certificate of the unit that another one replaces (a superset, by index)
    on_unit = select(Certificate.id).where(Certificate.unit_id.in_(unit_ids), Certificate.type_code.in_(codes))
    return _records(session, rows, registry, relations_of=on_unit)


def unit_input(session: Session, registry: ct.Registry, cache: ComputedCache, *, unit_ids: list[str],
               provider_id: str, since: date) -> UnitInput:
    """The unit's engine input at the units' current data versions, from the cache when it is current; when the
    cache holds an older version, brought up to date by fetching only the patients that changed since (the
    unit_changes rows), else fetched whole. Every process keeps its own cache, and every one of them sees a
    change made through any other on its next request (the versions are read from the database each time)."""
    versions = scope_versions(session, unit_ids)
    key = ("input", tuple(sorted(unit_ids)), provider_id, since)
    cached: UnitInput | None = cache.peek(key)
    if cached is not None and cached.versions == versions:
        return cached
    changed = changed_patients(session, cached.versions, versions) if cached is not None else None
    if cached is not None and changed is not None:
        fresh = unit_certificates(session, registry, unit_ids=unit_ids, provider_id=provider_id, since=since,
                                  patients=changed)
        result = UnitInput(versions, cached.data.replacing(changed, fresh), changed)
        cache.put(key, result, update=True)
        return result
    result = UnitInput(versions, unit_certificates(session, registry, unit_ids=unit_ids, provider_id=provider_id,
                                                   since=since))
    cache.put(key, result)
    return result


def patient_certificates(session: Session, pnr: str, provider_id: str):
    """All of a patient's certificates within a care provider, newest first (rows, for the patient view)."""
    return session.execute(select(*_COLS).where(Certificate.patient_pnr == pnr, Certificate.provider_id == provider_id)
                           .order_by(Certificate.signed_at.desc())).all()


def patient_sick_leave(session: Session, registry: ct.Registry, pnr: str, provider_id: str) -> UnitData:
    codes = registry.sick_leave_codes()
    rows = session.execute(select(*_COLS).where(Certificate.patient_pnr == pnr, Certificate.provider_id == provider_id,
                                                Certificate.type_code.in_(codes))).all()
    return _records(session, rows, registry)


def fk_messages(session: Session, certificate_ids: Iterable[str], today: date,
                unit_ids: list[str] | None = None) -> list[dict]:
    """FK's messages of the last 90 days about these certificates, with whether each was answered.
    With `unit_ids` the query asks for the units' messages (indexed) instead of a long id list."""
    wanted = set(certificate_ids)
    since = datetime.combine(today - timedelta(days=90), datetime.min.time())
    cols = (Message.id, Message.certificate_id, Message.subject, Message.sender, Message.sent_at,
            Message.handled_at, Message.in_reply_to)
    if unit_ids is not None:
        rows = session.execute(select(*cols).where(Message.unit_id.in_(unit_ids), Message.sent_at >= since)).all()
    else:
        ids = sorted(wanted)
        rows = []
        for i in range(0, len(ids), 2000):
            rows += session.execute(select(*cols).where(Message.certificate_id.in_(ids[i:i + 2000]),
                                                        Message.sent_at >= since)).all()
    rows = [r for r in rows if r.certificate_id in wanted]
    answered = {r.in_reply_to for r in rows if r.sender == "CARE" and r.in_reply_to}
    return [dict(r._asdict(), answered=r.id in answered) for r in rows]
