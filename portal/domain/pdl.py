"""The PDL audit log (Patientdatalagen): what a record holds, once-per-session dedupe, the keyed hash chain,
its signed checkpoints, and the check that finds tampering.

Pure: no Flask, no SQL, no files (the table is `repository.pdl`, the checkpoint file `pdl_checkpoints`, the
commands `pdl_cli`).

Every staff read, print and export of patient data writes one record per patient touched (domain.md,
"PDL audit log"). The same user + unit + patient + activity + resource is logged once per login session.

The log is append-only and tamper-evident:

- each record carries `prev_hash` (the previous record's hash, `GENESIS` for the first) and `hash`, a MAC
  over all its other fields and `prev_hash`. Changing a record breaks its own hash; removing or inserting
  one breaks the next record's `prev_hash`. `chain_version` says how `hash` was made: `V1_SHA256` (records
  written before issue 12: plain sha256, which anyone who can write the table can recompute) or `V2_HMAC`
  (HMAC-SHA256 with PDL_CHAIN_KEY, a key that is not in the database: a rewrite with recomputed hashes is
  impossible without it). Old records keep their format and are checked the old way; none may follow a
  keyed record.
- what a chain cannot show by itself is the removal of its newest records, or of all of them: that needs
  its head kept elsewhere. `Checkpoint`s are signed (HMAC-SHA256 with PDL_CHECKPOINT_KEY) statements "at
  this time record N had this hash and the log held this many records", appended to a file outside the
  database; `ChainCheck` compares the table with every one of them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Iterable, Sequence

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

# chain formats (the column chain_version)
V1_SHA256 = 1  # before issue 12: sha256 of the canonical text, no key
V2_HMAC = 2  # HMAC-SHA256 with PDL_CHAIN_KEY of the canonical text, which also holds "chain_version": 2
CURRENT = V2_HMAC

# The fields a record's hash covers, besides prev_hash (and, from V2_HMAC on, chain_version): every column
# except id, prev_hash, hash and chain_version. Listed, not derived from the table: adding a column must be
# a decision (old records were hashed without it), and a test fails until this list and the table agree.
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


def _text(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _payload(prev_hash: str, fields: dict) -> dict:
    payload = {name: _canonical(fields[name]) for name in HASHED_FIELDS}
    payload["prev_hash"] = prev_hash
    return payload


def record_hash(prev_hash: str, fields: dict) -> str:
    """The V1_SHA256 hash (records written before the key): sha256 (hex) of the canonical JSON of the record's
    HASHED_FIELDS and `prev_hash`: sorted keys, no spaces, UTF-8, times in ISO 8601 with microseconds. Other
    keys in `fields` (id, hash) are ignored; a missing one is a KeyError."""
    return hashlib.sha256(_text(_payload(prev_hash, fields))).hexdigest()


def keyed_hash(key: bytes, prev_hash: str, fields: dict) -> str:
    """The V2_HMAC hash: HMAC-SHA256 (hex) with the chain key of the canonical JSON of HASHED_FIELDS,
    `prev_hash` and "chain_version": 2 (so that no V1 text is ever a V2 text)."""
    if not key:
        raise ValueError("the PDL chain key is empty")
    payload = _payload(prev_hash, fields)
    payload["chain_version"] = V2_HMAC
    return hmac.new(key, _text(payload), hashlib.sha256).hexdigest()


def chain(entries: Iterable[PdlEntry], *, prev_hash: str, at: datetime, session_key: str,
          key: bytes | None) -> list[dict]:
    """The records to append after the record whose hash is `prev_hash`: dicts of HASHED_FIELDS plus
    chain_version, prev_hash and hash (no id: the database gives it, in this order). With the chain key they
    are V2_HMAC records; `key=None` makes the old unkeyed V1_SHA256 records (only tests do that)."""
    records = []
    for entry in entries:
        fields = {**asdict(entry), "at": at, "session_key": session_key}
        fields["chain_version"] = V1_SHA256 if key is None else V2_HMAC
        fields["prev_hash"] = prev_hash
        fields["hash"] = prev_hash = (record_hash(prev_hash, fields) if key is None
                                      else keyed_hash(key, prev_hash, fields))
        records.append(fields)
    return records


# --- checkpoints ---------------------------------------------------------------------------------------------

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint line that cannot be read, or whose signature does not match."""


@dataclass(frozen=True)
class Checkpoint:
    """The log's head at a moment: the newest record's id and hash and how many records there were (records
    with an id up to last_id). An empty log's checkpoint has last_id 0 and GENESIS."""

    last_id: int
    last_hash: str
    count: int
    at: datetime  # naive local time, like the records'

    def _fields(self) -> dict:
        return {"v": CHECKPOINT_VERSION, "last_id": self.last_id, "last_hash": self.last_hash, "count": self.count,
                "at": _canonical(self.at)}

    def line(self, key: bytes) -> str:
        """One line of the checkpoint file (JSON, no newline), signed with the checkpoint key."""
        if not key:
            raise ValueError("the PDL checkpoint key is empty")
        fields = self._fields()
        fields["mac"] = hmac.new(key, _text(fields), hashlib.sha256).hexdigest()
        return _text(fields).decode("utf-8")

    @classmethod
    def from_line(cls, line: str, key: bytes) -> Checkpoint:
        """The checkpoint a line holds (CheckpointError if it cannot be read or its signature does not match)."""
        try:
            fields = json.loads(line)
            mac = fields.pop("mac")
            found = cls(last_id=fields["last_id"], last_hash=fields["last_hash"], count=fields["count"],
                        at=datetime.fromisoformat(fields["at"]))
            readable = (fields.get("v") == CHECKPOINT_VERSION and isinstance(mac, str)
                        and type(found.last_id) is int and type(found.count) is int
                        and isinstance(found.last_hash, str) and found.at.tzinfo is None)
        except (ValueError, TypeError, KeyError, AttributeError):
            readable = False
        if not readable:
            raise CheckpointError("går inte att läsa")
        expected = hmac.new(key, _text(fields), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac) or found._fields() != fields:
            raise CheckpointError("signaturen stämmer inte – raden har ändrats eller är inte gjord med nyckeln")
        return found

    def describe(self) -> str:
        return f"kontrollpunkten från {when(self.at)}"


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def posts(n: int) -> str:
    """"1 post", "3 poster"."""
    return f"{n} post" if n == 1 else f"{n} poster"


# --- the check ---------------------------------------------------------------------------------------------


class ChainCheck:
    """Walks the records in id order one at a time (so a caller can stream a large table), and compares them
    with the checkpoints; collects problems (one line each, naming the record id and the kind of tampering,
    never a personnummer) and notes (what was checked how). Call `finish()` after the last record.

    Kinds of tampering found: a changed record (its hash does not match its content), a record rewritten with
    a hash made without the key, an inserted record (not part of the chain: the next record follows the one
    before it), removed records (a record whose prev_hash is the hash of no record before it; or a record
    or a count a checkpoint vouches for that is not there), and a cut-off log (the newest records, or all,
    removed: a checkpoint vouches for records beyond the last).

    A record is judged when the next one has been read (the next one tells an inserted record from a changed
    one)."""

    def __init__(self, key: bytes | None = None, checkpoints: Iterable[Checkpoint] | None = None) -> None:
        self.key = key
        self.problems: list[str] = []  # by record id, once finished
        self._found: list[tuple[float, int, str]] = []
        self.notes: list[str] = []
        self.count = 0
        self.legacy = 0  # how many V1_SHA256 records, and the first's and the last's ids
        self._legacy_ids: tuple[int, int] | None = None
        self.checkpoints: list[Checkpoint] = sorted(checkpoints or (), key=lambda c: (c.last_id, c.at))
        self._next_checkpoint = 0
        self._last_id: int | None = None  # the last record read
        self._good: tuple[int | None, str] = (None, GENESIS)  # the last record that is part of the chain
        self._good_tampered = False  # …and whether it was reported
        self._first_keyed: int | None = None
        self._pending: dict | None = None
        self._finished = False

    # the walk

    def add(self, record: dict) -> None:
        if self._finished:
            raise RuntimeError("the check is finished")
        rid = record["id"]
        if self._pending is not None:
            self._judge(self._pending, record)
        if self._last_id is not None and rid <= self._last_id:
            self._report(rid, 0, f"post {rid}: id är inte större än föregående posts ({self._last_id}) "
                                 "– posterna är i fel ordning")
        self._checkpoints_before(rid)
        self.count += 1
        self._last_id = rid
        self._checkpoints_at(record)
        self._pending = record

    def finish(self) -> ChainCheck:
        if not self._finished:
            if self._pending is not None:
                self._judge(self._pending, None)
            self._checkpoints_beyond()
            self._finished = True
            self.problems = [text for _at, _order, text in sorted(self._found, key=lambda f: (f[0], f[1]))]
            self._write_notes()
        return self

    def _report(self, at: float, order: int, problem: str) -> None:
        """A problem about record `at` (math.inf: the log's end); `order` sorts those about one record."""
        self._found.append((at, order, problem))

    # one record

    def _hash_ok(self, record: dict, version: int) -> bool:
        if version == V1_SHA256:
            return record_hash(record["prev_hash"], record) == record["hash"]
        if self.key is None:
            return False
        return hmac.compare_digest(keyed_hash(self.key, record["prev_hash"], record), str(record["hash"]))

    def _format_problem(self, record: dict, version: Any) -> str | None:
        """What is wrong with the record's format, before its hash is looked at (None: nothing)."""
        rid = record["id"]
        if version not in (V1_SHA256, V2_HMAC):
            return f"post {rid}: okänt kedjeformat {version!r} – posten har ändrats"
        if version == V1_SHA256 and self._first_keyed is not None:
            return (f"post {rid}: i det gamla formatet utan nyckel efter den nyckelade posten {self._first_keyed} "
                    "– posten har skrivits om")
        if version == V2_HMAC and self.key is None:
            return f"post {rid}: nyckelad post men ingen nyckel att kontrollera den med"
        return None

    def _judge(self, record: dict, following: dict | None) -> None:
        rid, version = record["id"], record.get("chain_version", V1_SHA256)
        good_id, good_hash = self._good
        linked = record["prev_hash"] == good_hash
        problem = self._format_problem(record, version)
        genuine = problem is None and self._hash_ok(record, version)
        # the next record follows the one before this: this one is not part of the chain (an old-format
        # record's hash proves nothing, anyone can make one; a keyed one's proves it was written here)
        skipped = following is not None and not linked and following["prev_hash"] == good_hash
        if genuine and not (skipped and version == V1_SHA256):
            self._genuine(record, version, linked)
        elif skipped:
            assert following is not None
            after = "kedjans start" if good_id is None else f"post {good_id}"
            self._report(rid, 0, f"post {rid}: hör inte till kedjan (post {following['id']} följer på {after}) "
                                 "– posten har lagts in")
        elif problem is not None:
            self._tampered(record, problem)
        else:
            self._bad_hash(record, version, linked, following)

    def _bad_hash(self, record: dict, version: int, linked: bool, following: dict | None) -> None:
        rid = record["id"]
        unkeyed = {record_hash(record["prev_hash"], record),
                   hashlib.sha256(_text({**_payload(record["prev_hash"], record), "chain_version": V2_HMAC})
                                  ).hexdigest()}
        if version == V2_HMAC and record["hash"] in unkeyed:
            self._tampered(record, f"post {rid}: hashen är beräknad utan nyckeln – posten har skrivits om")
        elif following is None and linked:
            self._tampered(record, f"post {rid}: hashen stämmer inte med innehållet – posten har ändrats "
                                   "(eller lagts till utan nyckeln)")
        else:
            self._tampered(record, f"post {rid}: hashen stämmer inte med innehållet – posten har ändrats")

    def _tampered(self, record: dict, problem: str) -> None:
        """A record that is reported: later records are linked to it as it is stored (a rewritten tail is
        reported record by record, not as a broken link after each)."""
        self._report(record["id"], 0, problem)
        self._advance(record, tampered=True)

    def _genuine(self, record: dict, version: int, linked: bool) -> None:
        rid = record["id"]
        good_id, _good_hash = self._good
        if not linked and not self._good_tampered:
            if good_id is None:
                self._report(rid, 0, f"post {rid}: prev_hash är inte kedjans startvärde "
                                     "– en tidigare post har tagits bort")
            elif version == V2_HMAC:
                self._report(rid, 0, f"post {rid}: prev_hash är inte hashen för post {good_id} "
                                     f"– poster mellan post {good_id} och post {rid} har tagits bort")
            else:
                self._report(rid, 0, f"post {rid}: prev_hash är inte hashen för post {good_id} "
                                     "– en post har tagits bort eller lagts in")
        if version == V2_HMAC and self._first_keyed is None:
            self._first_keyed = rid
        self._advance(record, tampered=False)

    def _advance(self, record: dict, *, tampered: bool) -> None:
        if record.get("chain_version", V1_SHA256) == V1_SHA256 and self._first_keyed is None:
            self.legacy += 1
            first = self._legacy_ids[0] if self._legacy_ids is not None else record["id"]
            self._legacy_ids = (first, record["id"])
        self._good = (record["id"], record["hash"])
        self._good_tampered = tampered

    # checkpoints

    def _checkpoints_before(self, rid: int) -> None:
        """Checkpoints for a record before this one that is not in the table."""
        while self._next_checkpoint < len(self.checkpoints) and self.checkpoints[self._next_checkpoint].last_id < rid:
            cp = self.checkpoints[self._next_checkpoint]
            self._next_checkpoint += 1
            if cp.last_id == 0 and cp.last_hash == GENESIS:  # the empty log's checkpoint
                self._compare_count(cp)
            else:
                self._report(cp.last_id, 1, f"post {cp.last_id} saknas: {cp.describe()} intygar den "
                                            "– posten har tagits bort")

    def _checkpoints_at(self, record: dict) -> None:
        while (self._next_checkpoint < len(self.checkpoints)
               and self.checkpoints[self._next_checkpoint].last_id == record["id"]):
            cp = self.checkpoints[self._next_checkpoint]
            self._next_checkpoint += 1
            if cp.last_hash != record["hash"]:
                self._report(cp.last_id, 1, f"post {cp.last_id}: hashen är inte den som {cp.describe()} "
                                            "intygar – posten har ändrats eller skrivits om")
            self._compare_count(cp)

    def _compare_count(self, cp: Checkpoint) -> None:
        if self.count == cp.count:
            return
        what = "tagits bort" if self.count < cp.count else "lagts in"
        self._report(cp.last_id, 2, f"{posts(self.count)} till och med post {cp.last_id}, men {cp.describe()} "
                                    f"intygar {cp.count} – {posts(abs(cp.count - self.count))} har {what}")

    def _checkpoints_beyond(self) -> None:
        """Checkpoints for records after the last one: the newest records, or all, have been removed."""
        beyond = self.checkpoints[self._next_checkpoint:]
        self._next_checkpoint = len(self.checkpoints)
        for cp in beyond:
            if cp.last_id == 0 and cp.last_hash == GENESIS:
                self._compare_count(cp)
        beyond = [cp for cp in beyond if cp.last_id > 0]
        if not beyond:
            return
        newest = max(beyond, key=lambda c: (c.last_id, c.count))
        if self._last_id is None:
            self._report(math.inf, 0, f"alla poster har tagits bort: loggen är tom, men {newest.describe()} "
                                      f"intygar {posts(newest.count)} till och med post {newest.last_id}")
        else:
            self._report(math.inf, 0, f"de senaste posterna har tagits bort: {newest.describe()} intygar "
                                      f"{posts(newest.count)} till och med post {newest.last_id}, men loggen "
                                      f"slutar med post {self._last_id} ({posts(self.count)})")

    def _write_notes(self) -> None:
        if self._legacy_ids is not None:
            first, last = self._legacy_ids
            self.notes.append(f"{posts(self.legacy)} i det gamla formatet (sha256 utan nyckel, skrivna före "
                              f"nyckeln), post {first}–{last}: kontrollerade på det gamla sättet")
        if not self.checkpoints:
            return
        newest = max(self.checkpoints, key=lambda c: (c.last_id, c.at))
        after = self.count - newest.count if self._last_id is not None else 0
        self.notes.append(f"senaste kontrollpunkt: post {newest.last_id} ({posts(newest.count)}), "
                          f"{when(newest.at)}; {posts(max(after, 0))} efter den")


def verify(records: Iterable[dict], key: bytes | None = None, checkpoints: Sequence[Checkpoint] = ()) -> list[str]:
    """Problems with a chain of records given in id order (dicts with id, HASHED_FIELDS, chain_version,
    prev_hash, hash) and the checkpoints given; [] = intact (see ChainCheck)."""
    check = ChainCheck(key, checkpoints)
    for record in records:
        check.add(record)
    return check.finish().problems
