"""The PDL audit log (Patientdatalagen): what a record holds, once-per-session dedupe, and the hash chain.

Pure: no Flask, no SQL (the table is `repository.pdl`, the check command `pdl_cli`).

Every staff read, print and export of patient data writes one record per patient touched (domain.md,
"PDL audit log"). The same user + unit + patient + activity + resource is logged once per login session.

The log is append-only and tamper-evident: each record carries `prev_hash` (the previous record's hash,
`GENESIS` for the first) and `hash` = sha256 over all its other fields plus `prev_hash`. Changing a record
breaks its own hash; removing or inserting one breaks the next record's `prev_hash`. What a chain cannot
show by itself is the removal of the newest records (the tail): that needs the head hash kept elsewhere.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Iterable

from .access import PURPOSE_CARE

# activities
LASA = "Läsa"
SKRIVA = "Skriva"
UTSKRIFT = "Utskrift"
ACTIVITIES = (LASA, SKRIVA, UTSKRIFT)

# resource types
SJUKFALL = "Sjukfall"
INTYG = "Intyg"
LAKARUTLATANDE = "Läkarutlåtande"
RESOURCE_TYPES = (SJUKFALL, INTYG, LAKARUTLATANDE)

GENESIS = "0" * 64  # the prev_hash of the first record

# The fields a record's hash covers, besides prev_hash: every column except id, prev_hash and hash.
# Listed, not derived from the table: adding a column must be a decision (old records were hashed without
# it), and a test fails until this list and the table agree.
HASHED_FIELDS = (
    "at", "activity", "purpose",
    "user_hsa_id", "user_title", "user_unit_id", "user_unit_name", "user_provider_id", "user_provider_name",
    "patient_pnr", "resource_type", "data_unit_id", "session_key",
)

# the keys of the `user` dict that entries_for reads (PdlEntry's field names)
USER_FIELDS = ("user_hsa_id", "user_title", "user_unit_id", "user_unit_name", "user_provider_id",
               "user_provider_name")


@dataclass(frozen=True)
class PdlEntry:
    """What is to be logged about one patient touched (the time and the login session come at writing)."""

    activity: str
    resource_type: str
    patient_pnr: str
    data_unit_id: str  # the care unit that owns the data
    user_hsa_id: str
    user_title: str
    user_unit_id: str
    user_unit_name: str
    user_provider_id: str
    user_provider_name: str
    purpose: str = PURPOSE_CARE

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITIES:
            raise ValueError(f"unknown PDL activity {self.activity!r}")
        if self.resource_type not in RESOURCE_TYPES:
            raise ValueError(f"unknown PDL resource type {self.resource_type!r}")
        empty = [name for name, value in asdict(self).items() if not value]
        if empty:  # an audit record is complete or it is not written
            raise ValueError(f"PDL entry without {', '.join(empty)}")

    def dedupe_key(self) -> tuple[str, str, str, str, str, str]:
        """Logged once per login session: user, the user's unit, patient, activity, resource, and the unit
        that owns the data (a page showing two units' data about a patient logs both units)."""
        return (self.user_hsa_id, self.user_unit_id, self.patient_pnr, self.activity, self.resource_type,
                self.data_unit_id)


def entries_for(user: dict, patients: Iterable[tuple[str, str]], activity: str,
                resource_type: str) -> list[PdlEntry]:
    """One entry per patient and data unit, in the order first seen: `user` has the keys of USER_FIELDS
    (user_hsa_id, user_title, user_unit_id, user_unit_name, user_provider_id, user_provider_name; other keys
    are ignored); `patients` are (personnummer, data_unit_id) pairs."""
    who = {name: user[name] for name in USER_FIELDS}
    seen: dict[tuple[str, str], PdlEntry] = {}
    for pnr, data_unit_id in patients:
        if (pnr, data_unit_id) not in seen:
            seen[(pnr, data_unit_id)] = PdlEntry(activity=activity, resource_type=resource_type, patient_pnr=pnr,
                                                 data_unit_id=data_unit_id, **who)
    return list(seen.values())


def unique(entries: Iterable[PdlEntry]) -> list[PdlEntry]:
    """The entries with a repeated dedupe key dropped (the first is kept)."""
    seen: dict[tuple, PdlEntry] = {}
    for entry in entries:
        seen.setdefault(entry.dedupe_key(), entry)
    return list(seen.values())


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("PDL times are naive local times")
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_hash(prev_hash: str, fields: dict) -> str:
    """sha256 (hex) of the canonical JSON of the record's HASHED_FIELDS and `prev_hash`: sorted keys, no
    spaces, UTF-8, times in ISO 8601 with microseconds. Other keys in `fields` (id, hash) are ignored; a
    missing one is a KeyError."""
    payload = {name: _canonical(fields[name]) for name in HASHED_FIELDS}
    payload["prev_hash"] = prev_hash
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain(entries: Iterable[PdlEntry], *, prev_hash: str, at: datetime, session_key: str) -> list[dict]:
    """The records to append after the record whose hash is `prev_hash`: dicts of HASHED_FIELDS plus
    prev_hash and hash (no id: the database gives it, in this order)."""
    records = []
    for entry in entries:
        fields = {**asdict(entry), "at": at, "session_key": session_key}
        fields["prev_hash"] = prev_hash
        fields["hash"] = prev_hash = record_hash(prev_hash, fields)
        records.append(fields)
    return records


class ChainCheck:
    """Walks records one at a time (so a caller can stream a large table) and collects problems.

    Each problem is one line naming the record id and what is wrong, never a personnummer."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.count = 0
        self._prev_id: int | None = None
        self._prev_hash = GENESIS

    def add(self, record: dict) -> None:
        rid = record["id"]
        if self._prev_id is not None and rid <= self._prev_id:
            self.problems.append(f"post {rid}: id är inte större än föregående posts ({self._prev_id}) "
                                 "– posterna är i fel ordning")
        if record["prev_hash"] != self._prev_hash:
            if self._prev_id is None:
                self.problems.append(f"post {rid}: prev_hash är inte kedjans startvärde "
                                     "– en tidigare post har tagits bort")
            else:
                self.problems.append(f"post {rid}: prev_hash är inte hashen för post {self._prev_id} "
                                     "– en post har tagits bort eller lagts in")
        if record_hash(record["prev_hash"], record) != record["hash"]:
            self.problems.append(f"post {rid}: hashen stämmer inte med innehållet – posten har ändrats")
        self.count += 1
        self._prev_id, self._prev_hash = rid, record["hash"]


def verify(records: Iterable[dict]) -> list[str]:
    """Problems with a chain of records given in id order (dicts with id, HASHED_FIELDS, prev_hash, hash):
    a record whose hash does not match its fields (changed), a prev_hash that is not the previous record's
    hash (a record removed or inserted; the first must have GENESIS), ids not increasing. [] = intact."""
    check = ChainCheck()
    for record in records:
        check.add(record)
    return check.problems
