"""Intake: checking a document of providers, units, staff, commissions, persons, certificates,
relations, revocations and FK questions before anything is stored.

Pure: takes the document and what already exists (as plain dicts), returns the problems and the
normalised records to store. One problem per line, naming the entry and the field. The store
applies the records in one transaction only when there is no problem at all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from . import certificate_types as ct
from . import counties, persons

SECTIONS = ("providers", "units", "staff", "commissions", "persons", "certificates", "relations",
            "revocations", "care_sends", "questions")
RELATION_KINDS = {"REPLACES", "COMPLEMENTS"}
SUBJECTS = {"KOMPLT", "AVSTMN", "KONTKT", "OVRIGT", "PAMINN"}
SENDERS = {"FK", "CARE"}
CARE_RECIPIENTS = {"FK", "TS"}
PURPOSE_CARE = "Vård och behandling"
DIRECTORY = ("providers", "units", "staff")  # what the HSA directory owns
LOCAL_TIME = ZoneInfo("Europe/Stockholm")  # stored times are Swedish local time, without an offset
INVALID_PNR = "is not a valid personnummer (12 digits, valid date and check digit)"
GENDERS = ("F", "M")  # a staff member's gender, as HSA gives it
FIRST_BIRTH_YEAR = 1900  # a staff member's birth year: from this to the current year
COUNTY_CODES = f"a county code (länskod) as text, one of {', '.join(counties.CODES)}"
#: how deeply a document may nest (the deepest real one is about 8; the API refuses bodies deeper than its
#: API_MAX_DEPTH, 32 by default, before they become documents one level deeper)
MAX_DEPTH = 40
#: each section's id field, named in a problem line
_KEY_FIELDS = {"providers": "hsa_id", "units": "hsa_id", "staff": "hsa_id", "certificates": "id",
               "revocations": "certificate", "care_sends": "certificate", "questions": "id"}


def _one_of(value: Any, allowed: set[str]) -> bool:
    """A code out of a fixed set (a list or an object given instead is not, rather than unhashable)."""
    return isinstance(value, str) and value in allowed


class IntakeProblem(str):
    """One problem, as the line `portal load` prints ("certificates[0] (id): content.x: is required"), with
    its parts kept for other callers (the API turns them into JSON pointers): the section, the entry's
    index (`entry_index`: `index` is a method of str), the field names (a content path such as
    "content.diagnoses[0].code" is one field), the message, and whether it is a conflict with what is
    stored (the id exists with other data) rather than bad input, or a value no database can hold (``scan``)
    wherever it is."""

    section: str | None
    entry_index: int | None
    fields: tuple[str, ...]
    message: str
    conflict: bool
    unstorable: bool

    def __new__(cls, line: str, *, section: str | None = None, index: int | None = None,
                fields: tuple[str, ...] = (), message: str = "", conflict: bool = False,
                unstorable: bool = False) -> IntakeProblem:
        obj = super().__new__(cls, line)
        obj.section, obj.entry_index, obj.fields = section, index, fields
        obj.message, obj.conflict, obj.unstorable = message or line, conflict, unstorable
        return obj


@dataclass
class Existing:
    """What the database already holds, for the ids the document mentions (plain dicts by id)."""

    providers: dict[str, dict] = field(default_factory=dict)
    units: dict[str, dict] = field(default_factory=dict)
    staff: dict[str, dict] = field(default_factory=dict)
    commissions: dict[tuple, dict] = field(default_factory=dict)
    persons: dict[str, dict] = field(default_factory=dict)
    certificates: dict[str, dict] = field(default_factory=dict)
    relations: set[tuple] = field(default_factory=set)
    questions: dict[str, dict] = field(default_factory=dict)
    care_sends: dict[tuple, dict] = field(default_factory=dict)  # (certificate id, recipient) -> row


@dataclass
class Plan:
    """Normalised records to store, split into new, changed and unchanged."""

    new: dict[str, list[dict]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    changed: dict[str, list[dict]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    unchanged: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SECTIONS})

    def summary(self) -> str:
        parts = []
        for s in SECTIONS:
            n, c, u = len(self.new[s]), len(self.changed[s]), self.unchanged[s]
            if n or c or u:
                parts.append(f"{s}: {n} new, {c} updated, {u} unchanged")
        return "; ".join(parts) or "nothing to load"

    @property
    def changes(self) -> int:
        return sum(len(v) for v in self.new.values()) + sum(len(v) for v in self.changed.values())


class _Checker:
    def __init__(self, doc: dict, existing: Existing, registry: ct.Registry, *, update_directory: bool = True,
                 registered_by: str | None = None, today: date | None = None):
        self.doc, self.existing, self.registry = doc, existing, registry
        self.this_year = (today or datetime.now(LOCAL_TIME).date()).year  # the latest birth year
        # False (the API): providers, units and staff already stored are kept as the directory has them;
        # only unknown ones are created from the document
        self.update_directory = update_directory
        self.registered_by = registered_by  # the API client registering the document's certificates
        self.problems: list[IntakeProblem] = []
        self.plan = Plan()
        # what the document itself defines, by id
        self.providers: dict[str, dict] = {}
        self.units: dict[str, dict] = {}
        self.staff: dict[str, dict] = {}
        self.persons: dict[str, dict] = {}
        self.certificates: dict[str, dict] = {}
        self.questions: dict[str, dict] = {}
        # ids of every entry in the document (valid or not): a reference to an entry that was itself
        # refused is not reported again (its own problems are)
        self.in_doc = {
            name: {e.get(k) for e in _items(doc, name) if isinstance(e, dict) and isinstance(e.get(k), str)}
            for name, k in (("providers", "hsa_id"), ("units", "hsa_id"), ("staff", "hsa_id"),
                            ("certificates", "id"), ("questions", "id"))} if isinstance(doc, dict) else {}

    def unknown(self, section: str, index: int, key: Any, fieldname: str, what: str, ref_section: str,
                ref: Any) -> None:
        """Report a reference to something unknown, unless it is an entry of this document that was refused."""
        if not isinstance(ref, str):
            self.problem(section, index, key, fieldname, "must be text (an id)")
        elif ref not in self.in_doc.get(ref_section, ()):
            self.problem(section, index, key, fieldname, f"unknown {what} {ref!r}")

    # helpers
    def problem(self, section: str, index: int, key: Any, fieldname: str, message: str, *,
                conflict: bool = False, fields: tuple[str, ...] | None = None) -> None:
        who = f" ({key})" if key not in (None, "") else ""
        self.problems.append(IntakeProblem(f"{section}[{index}]{who}: {fieldname}: {message}", section=section,
                                           index=index, fields=fields or (fieldname,), message=message,
                                           conflict=conflict))

    def general(self, line: str, section: str | None = None, index: int | None = None) -> None:
        """A problem with a whole section or entry rather than one field."""
        self.problems.append(IntakeProblem(line, section=section, index=index, message=line.split(": ", 1)[-1]))

    def text(self, section, i, key, entry, name, *, required=True, max_length=200) -> str | None:
        value = entry.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(section, i, key, name, "is required")
            return None
        if not isinstance(value, str):
            self.problem(section, i, key, name, "must be text")
            return None
        if len(value) > max_length:
            self.problem(section, i, key, name, f"is longer than {max_length} characters")
            return None
        return value.strip()

    def a_date(self, section, i, key, entry, name, *, required=True) -> date | None:
        value = entry.get(name)
        if value is None:
            if required:
                self.problem(section, i, key, name, "is required")
            return None
        d = ct.parse_date(value)
        if d is None:
            self.problem(section, i, key, name, f"must be a date YYYY-MM-DD, got {value!r}")
        return d

    def a_datetime(self, section, i, key, entry, name, *, required=True) -> datetime | None:
        value = entry.get(name)
        if value is None:
            if required:
                self.problem(section, i, key, name, "is required")
            return None
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.problem(section, i, key, name, f"must be a date and time YYYY-MM-DDTHH:MM:SS, got {value!r}")
            return None
        if parsed.tzinfo is not None:  # an offset is honoured: stored as Swedish local time
            parsed = parsed.astimezone(LOCAL_TIME)
        return parsed.replace(tzinfo=None)

    def a_bool(self, section, i, key, entry, name) -> bool:
        value = entry.get(name, False)
        if not isinstance(value, bool):
            self.problem(section, i, key, name, "must be true or false")
            return False
        return value

    def a_code(self, section, i, key, entry, name, allowed: tuple[str, ...], what: str) -> str | None:
        """An optional code out of a fixed list (as text: "17", not 17); `what` describes the codes."""
        value = entry.get(name)
        if value is None:
            return None
        if not _one_of(value, set(allowed)):
            self.problem(section, i, key, name, f"must be {what}, got {value!r}")
            return None
        return value

    def a_birth_year(self, section, i, key, entry, name) -> int | None:
        """An optional year of birth: a whole number (not true/false, not 1980.0 or "1980")."""
        value = entry.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not (
                FIRST_BIRTH_YEAR <= value <= self.this_year):
            self.problem(section, i, key, name,
                         f"must be a year from {FIRST_BIRTH_YEAR} to {self.this_year} (a number), got {value!r}")
            return None
        return value

    def entries(self, section: str) -> list[tuple[int, dict]]:
        raw = self.doc.get(section, [])
        if not isinstance(raw, list):
            self.general(f"{section}: must be a list", section)
            return []
        out = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict):
                self.general(f"{section}[{i}]: must be an object", section, i)
            else:
                out.append((i, entry))
        return out

    def unknown_keys(self, section, i, key, entry, allowed: set[str]) -> None:
        for name in sorted(set(entry) - allowed):
            self.problem(section, i, key, name, "is not a known field")

    def duplicate(self, section, i, key, seen: dict, fieldname: str = "id") -> bool:
        if key in seen:
            self.problem(section, i, key, fieldname, "appears twice in the document")
            return True
        return False

    def record(self, section: str, key: Any, rec: dict, existing: dict | None, *, immutable: bool = False,
               i: int = 0) -> None:
        if existing is None:
            self.plan.new[section].append(rec)
        elif all(existing.get(k) == v for k, v in rec.items()) or (
                section in DIRECTORY and not self.update_directory):
            self.plan.unchanged[section] += 1
        elif immutable:
            derived = {"sick_leave_start", "sick_leave_end", "main_diagnosis", "engine_data", "provider_id"}
            diff = sorted(k for k, v in rec.items() if existing.get(k) != v and k not in derived) or sorted(
                k for k, v in rec.items() if existing.get(k) != v)
            self.problem(section, i, key, ", ".join(diff), "differs from what is already stored, and it cannot change",
                         conflict=True, fields=tuple(diff))
        else:
            self.plan.changed[section].append(rec)

    def unit_provider(self, unit_id: str) -> str | None:
        u = self.units.get(unit_id) or self.existing.units.get(unit_id)
        return u["provider_id"] if u else None

    # sections
    def check_providers(self):
        for i, e in self.entries("providers"):
            key = e.get("hsa_id")
            self.unknown_keys("providers", i, key, e, {"hsa_id", "name"})
            hsa = self.text("providers", i, key, e, "hsa_id", max_length=64)
            name = self.text("providers", i, key, e, "name")
            if hsa and not self.duplicate("providers", i, hsa, self.providers, "hsa_id") and name:
                rec = {"hsa_id": hsa, "name": name}
                self.providers[hsa] = rec
                self.record("providers", hsa, rec, self.existing.providers.get(hsa))

    def check_units(self):
        raw = self.entries("units")
        for _, e in raw:  # first pass: ids, so sub-units may come before their parent
            if isinstance(e.get("hsa_id"), str) and e.get("provider") and e["hsa_id"] not in self.units:
                self.units[e["hsa_id"]] = {"provider_id": e["provider"], "_pending": True}
        seen: dict = {}
        for i, e in raw:
            key = e.get("hsa_id")
            self.unknown_keys("units", i, key, e, {"hsa_id", "name", "provider", "parent", "address", "postal_code",
                                                  "city", "phone", "county"})
            hsa = self.text("units", i, key, e, "hsa_id", max_length=64)
            name = self.text("units", i, key, e, "name")
            provider = self.text("units", i, key, e, "provider", max_length=64)
            if hsa and self.duplicate("units", i, hsa, seen, "hsa_id"):
                continue
            if provider and provider not in self.providers and provider not in self.existing.providers:
                self.unknown("units", i, key, "provider", "care provider", "providers", provider)
                provider = None
            parent = self.unit_parent(i, key, e.get("parent"), hsa, provider)
            extra = {k: self.text("units", i, key, e, k, required=False, max_length=n)
                     for k, n in (("address", 200), ("postal_code", 10), ("city", 100), ("phone", 40))}
            extra["county"] = self.a_code("units", i, key, e, "county", counties.CODES, COUNTY_CODES)
            stored = self.existing.units.get(hsa) if hsa else None
            if stored and provider and not self.update_directory and stored["provider_id"] != provider:
                self.problem("units", i, key, "provider", f"the unit belongs to another care provider "
                             f"({stored['provider_id']})")
                provider = None
            if hsa and name and provider:
                rec = {"hsa_id": hsa, "name": name, "provider_id": provider, "parent_id": parent, **extra}
                seen[hsa] = rec
                self.units[hsa] = rec
                self.record("units", hsa, rec, self.existing.units.get(hsa))
            elif hsa:
                self.units.pop(hsa, None)

    def unit_parent(self, i: int, key: Any, parent: Any, hsa: str | None, provider: str | None) -> str | None:
        """A unit's parent: None when it has none, or when it is not one it can have (reported)."""
        if parent is None:
            return None
        if not isinstance(parent, str):
            self.problem("units", i, key, "parent", "must be text (a unit's HSA-id)")
        elif parent == hsa:
            self.problem("units", i, key, "parent", "a unit cannot be its own parent")
        elif parent not in self.units and parent not in self.existing.units:
            self.unknown("units", i, key, "parent", "care unit", "units", parent)
        elif provider and self.unit_provider(parent) != provider:
            self.problem("units", i, key, "parent", f"{parent!r} belongs to another care provider")
        else:
            return parent
        return None

    def check_staff(self):
        for i, e in self.entries("staff"):
            key = e.get("hsa_id")
            self.unknown_keys("staff", i, key, e, {"hsa_id", "given_name", "family_name", "title", "professions",
                                                  "position_codes", "system_roles", "gender", "birth_year"})
            hsa = self.text("staff", i, key, e, "hsa_id", max_length=64)
            given = self.text("staff", i, key, e, "given_name", max_length=100)
            family = self.text("staff", i, key, e, "family_name", max_length=100)
            title = self.text("staff", i, key, e, "title", required=False, max_length=100)
            gender = self.a_code("staff", i, key, e, "gender", GENDERS, "F or M")
            birth_year = self.a_birth_year("staff", i, key, e, "birth_year")
            lists = {}
            for name in ("professions", "system_roles"):
                value = e.get(name, [])
                if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                    self.problem("staff", i, key, name, "must be a list of texts")
                    value = []
                lists[name] = value
            codes = e.get("position_codes", [])
            clean_codes = []
            if not isinstance(codes, list):
                self.problem("staff", i, key, "position_codes", "must be a list")
                codes = []
            for j, c in enumerate(codes):
                if (not isinstance(c, dict) or not isinstance(c.get("code"), str)
                        or set(c) - {"code", "group_prescription_code"}):
                    self.problem("staff", i, key, f"position_codes[{j}]", "must be {code, group_prescription_code}")
                else:
                    clean_codes.append({"code": c["code"], "group_prescription_code": c.get("group_prescription_code")})
            if hsa and not self.duplicate("staff", i, hsa, self.staff, "hsa_id") and given and family:
                rec = {"hsa_id": hsa, "given_name": given, "family_name": family, "title": title,
                       "professions": lists["professions"], "position_codes": clean_codes,
                       "system_roles": lists["system_roles"], "gender": gender, "birth_year": birth_year}
                self.staff[hsa] = rec
                self.record("staff", hsa, rec, self.existing.staff.get(hsa))

    def check_commissions(self):
        seen: dict = {}
        for i, e in self.entries("commissions"):
            key = f"{e.get('staff')} @ {e.get('unit')}"
            self.unknown_keys("commissions", i, key, e, {"staff", "unit", "purpose", "valid_from", "valid_to"})
            staff = self.text("commissions", i, key, e, "staff", max_length=64)
            unit = self.text("commissions", i, key, e, "unit", max_length=64)
            purpose = self.text("commissions", i, key, e, "purpose", max_length=100)
            vf = self.a_date("commissions", i, key, e, "valid_from", required=False)
            vt = self.a_date("commissions", i, key, e, "valid_to", required=False)
            if staff and staff not in self.staff and staff not in self.existing.staff:
                self.unknown("commissions", i, key, "staff", "staff member", "staff", staff)
                staff = None
            if unit and unit not in self.units and unit not in self.existing.units:
                self.unknown("commissions", i, key, "unit", "care unit", "units", unit)
                unit = None
            if vf and vt and vt < vf:
                self.problem("commissions", i, key, "valid_to", f"{vt} is before valid_from {vf}")
                vt = None
            if staff and unit and purpose:
                k = (staff, unit, purpose)
                if k in seen:
                    self.problem("commissions", i, key, "staff, unit, purpose", "appears twice in the document")
                    continue
                rec = {"staff_id": staff, "unit_id": unit, "purpose": purpose, "valid_from": vf, "valid_to": vt}
                seen[k] = rec
                self.record("commissions", key, rec, self.existing.commissions.get(k))

    def check_persons(self):
        for i, e in self.entries("persons"):
            key = None  # never echo a personnummer into output that may end up in logs
            self.unknown_keys("persons", i, key, e, {"personnummer", "given_name", "family_name", "protected",
                                                    "deceased", "validation_person"})
            pnr = persons.normalize(e.get("personnummer"))
            if pnr is None:
                self.problem("persons", i, key, "personnummer", INVALID_PNR)
            given = self.text("persons", i, key, e, "given_name", max_length=100)
            family = self.text("persons", i, key, e, "family_name", max_length=100)
            flags = {k: self.a_bool("persons", i, key, e, k) for k in ("protected", "deceased", "validation_person")}
            if pnr and pnr in self.persons:
                self.problem("persons", i, key, "personnummer", "appears twice in the document")
                continue
            if pnr and given and family:
                rec = {"personnummer": pnr, "given_name": given, "family_name": family, **flags}
                self.persons[pnr] = rec
                self.record("persons", None, rec, self.existing.persons.get(pnr))

    def check_certificates(self):
        for i, e in self.entries("certificates"):
            key = e.get("id")
            before = len(self.problems)
            self.unknown_keys("certificates", i, key, e, {"id", "type", "version", "patient", "staff", "unit",
                                                         "signed", "content"})
            cid = self.text("certificates", i, key, e, "id", max_length=64)
            if cid and self.duplicate("certificates", i, cid, self.certificates):
                continue
            ctype = self.certificate_type(i, key, e)
            pnr = persons.normalize(e.get("patient"))
            if pnr is None:
                self.problem("certificates", i, key, "patient", INVALID_PNR)
            staff = self.text("certificates", i, key, e, "staff", max_length=64)
            if staff and staff not in self.staff and staff not in self.existing.staff:
                self.unknown("certificates", i, key, "staff", "staff member", "staff", staff)
                staff = None
            unit = self.text("certificates", i, key, e, "unit", max_length=64)
            provider = self.unit_provider(unit) if unit else None
            if unit and provider is None:
                self.unknown("certificates", i, key, "unit", "care unit", "units", unit)
            signed = self.a_datetime("certificates", i, key, e, "signed")
            content = e.get("content")
            if ctype:
                for p in ct.validate(ctype, content, signed.date() if signed else None):
                    self.problem("certificates", i, key, p.path, p.message)
            if len(self.problems) > before or not (cid and ctype and pnr and staff and provider and signed
                                                   and isinstance(content, dict)):
                continue
            span = ct.sick_leave_span(ctype, content)
            rec = {"id": cid, "type_code": ctype.code, "type_version": ctype.version, "patient_pnr": pnr,
                   "staff_id": staff, "unit_id": unit, "provider_id": provider, "signed_at": signed,
                   "content": content, "sick_leave_start": span[0] if span else None,
                   "sick_leave_end": span[1] if span else None, "main_diagnosis": ct.main_diagnosis(ctype, content),
                   "engine_data": ct.engine_data(ctype, content)}
            stored = self.existing.certificates.get(cid)
            if self.registered_by is not None:
                rec["registered_by"] = self.registered_by
                if stored is not None and stored.get("registered_by") != self.registered_by:
                    self.problem("certificates", i, key, "id", "a certificate with this id is already stored, "
                                 "registered by another system", conflict=True)
                    continue
            self.certificates[cid] = rec
            self.record("certificates", cid, rec, self.existing.certificates.get(cid), immutable=True, i=i)

    def certificate_type(self, i: int, key: Any, e: dict) -> ct.CertificateType | None:
        """The certificate's type and version: None if unknown (reported)."""
        code = self.text("certificates", i, key, e, "type", max_length=20)
        ctype = self.registry.get(code) if code else None
        if code and ctype is None:
            self.problem("certificates", i, key, "type",
                         f"unknown certificate type {code!r} (known: {', '.join(self.registry.codes())})")
        version = e.get("version", ctype.version if ctype else None)
        if ctype and str(version) != ctype.version:
            self.problem("certificates", i, key, "version", f"{code} has version {ctype.version}, got {version!r}")
        return ctype

    def cert(self, cid: Any) -> dict | None:
        return self.certificates.get(cid) or self.existing.certificates.get(cid) if isinstance(cid, str) else None

    def check_relations(self):
        seen = set()
        for i, e in self.entries("relations"):
            key = f"{e.get('from')} {e.get('kind')} {e.get('to')}"
            self.unknown_keys("relations", i, key, e, {"from", "to", "kind"})
            kind = e.get("kind")
            if not _one_of(kind, RELATION_KINDS):
                self.problem("relations", i, key, "kind", f"must be REPLACES or COMPLEMENTS, got {kind!r}")
            new, old = self.cert(e.get("from")), self.cert(e.get("to"))
            if new is None:
                self.unknown("relations", i, key, "from", "certificate", "certificates", e.get("from"))
            if old is None:
                self.unknown("relations", i, key, "to", "certificate", "certificates", e.get("to"))
            if not (new and old and _one_of(kind, RELATION_KINDS)):
                continue
            if new["id"] == old["id"]:
                self.problem("relations", i, key, "to", "a certificate cannot relate to itself")
            elif new["patient_pnr"] != old["patient_pnr"]:
                self.problem("relations", i, key, "to", "the two certificates are for different patients")
            elif new["signed_at"] < old["signed_at"]:
                self.problem("relations", i, key, "from",
                             "the newer certificate must be signed after the one it replaces or complements")
            else:
                k = (new["id"], old["id"], kind)
                if k in seen:
                    self.problem("relations", i, key, "from, to, kind", "appears twice in the document")
                    continue
                seen.add(k)
                if k in self.existing.relations:
                    self.plan.unchanged["relations"] += 1
                else:
                    self.plan.new["relations"].append({"from_id": new["id"], "to_id": old["id"], "kind": kind,
                                                       "created_at": new["signed_at"]})
        if self.registered_by is not None:  # the API: a certificate comes with its relation, or with none
            self.check_stored_relations(seen)

    def check_stored_relations(self, in_doc: set[tuple]) -> None:
        """A registration sent again must name the same relation as the stored certificate has."""
        for i, e in self.entries("certificates"):
            cid = e.get("id")
            if not isinstance(cid, str) or cid not in self.existing.certificates or cid not in self.certificates:
                continue
            stored = {r for r in self.existing.relations if r[0] == cid}
            if stored != {r for r in in_doc if r[0] == cid}:
                self.problem("certificates", i, cid, "relation", "differs from what is already stored, and it "
                             "cannot change", conflict=True)

    def check_revocations(self):
        seen = set()
        for i, e in self.entries("revocations"):
            key = e.get("certificate")
            self.unknown_keys("revocations", i, key, e, {"certificate", "at", "reason"})
            cert = self.cert(key)
            if cert is None:
                self.unknown("revocations", i, key, "certificate", "certificate", "certificates", key)
            at = self.a_datetime("revocations", i, key, e, "at")
            reason = self.text("revocations", i, key, e, "reason", max_length=500)
            if not (cert and at and reason):
                continue
            if at < cert["signed_at"]:
                self.problem("revocations", i, key, "at", "a certificate cannot be revoked before it was signed")
                continue
            if key in seen:
                self.problem("revocations", i, key, "certificate", "is revoked twice in the document")
                continue
            seen.add(key)
            rec = {"id": key, "revoked_at": at, "revoke_reason": reason}
            stored = self.existing.certificates.get(cert["id"])  # cert["id"] == key
            if stored and stored.get("revoked_at"):
                if stored["revoked_at"] == at and stored["revoke_reason"] == reason:
                    self.plan.unchanged["revocations"] += 1
                else:
                    self.problem("revocations", i, key, "at", "the certificate is already revoked, at another time or "
                                 "for another reason", conflict=True)
            else:
                self.plan.new["revocations"].append(rec)

    def check_care_sends(self):
        """Care sent a certificate to its recipient (with the patient's consent), outside the portal."""
        seen = set()
        for i, e in self.entries("care_sends"):
            key = e.get("certificate")
            self.unknown_keys("care_sends", i, key, e, {"certificate", "recipient", "at"})
            cert = self.cert(key)
            if cert is None:
                self.unknown("care_sends", i, key, "certificate", "certificate", "certificates", key)
            to = e.get("recipient")
            if not _one_of(to, CARE_RECIPIENTS):
                self.problem("care_sends", i, key, "recipient", f"must be FK or TS, got {to!r}")
                to = None
            at = self.a_datetime("care_sends", i, key, e, "at")
            if not (cert and to and at):
                continue
            ctype = self.registry.get(cert["type_code"])
            own = ctype.recipient if ctype else None
            if own != to:
                self.problem("care_sends", i, key, "recipient", f"{cert['type_code']} is sent electronically to "
                             f"{own}, not {to}" if own else f"{cert['type_code']} has no electronic recipient")
                continue
            if at < cert["signed_at"]:
                self.problem("care_sends", i, key, "at", "a certificate cannot be sent before it was signed")
                continue
            revoked = cert.get("revoked_at")
            if revoked is not None and at >= revoked:
                self.problem("care_sends", i, key, "at", "the certificate was revoked before that")
                continue
            if (key, to) in seen:
                self.problem("care_sends", i, key, "certificate, recipient", "appears twice in the document")
                continue
            seen.add((key, to))
            stored = self.existing.care_sends.get((key, to))
            if stored is None:
                self.plan.new["care_sends"].append({"certificate_id": key, "recipient": to, "sent_at": at})
            elif stored["sent_at"] == at:
                self.plan.unchanged["care_sends"] += 1
            else:
                self.problem("care_sends", i, key, "at", f"care already sent the certificate to {to} at another time",
                             conflict=True)

    def check_questions(self):
        raw = self.entries("questions")
        ids = {e["id"] for _, e in raw if isinstance(e.get("id"), str)}
        # the certificate each question of the document is about, by id (for replies and reminders)
        about = {e["id"]: e.get("certificate") for _, e in raw if isinstance(e.get("id"), str)}
        for i, e in raw:
            key = e.get("id")
            self.unknown_keys("questions", i, key, e, {"id", "certificate", "subject", "sender", "heading", "text",
                                                      "sent", "in_reply_to", "reminder_of", "last_answer_date",
                                                      "handled_at"})
            qid = self.text("questions", i, key, e, "id", max_length=64)
            if qid and self.duplicate("questions", i, qid, self.questions):
                continue
            cert = self.cert(e.get("certificate"))
            if cert is None:
                self.unknown("questions", i, key, "certificate", "certificate", "certificates", e.get("certificate"))
            subject = e.get("subject")
            if not _one_of(subject, SUBJECTS):
                self.problem("questions", i, key, "subject",
                             f"must be one of {', '.join(sorted(SUBJECTS))}, got {subject!r}")
            sender = e.get("sender")
            if not _one_of(sender, SENDERS):
                self.problem("questions", i, key, "sender", f"must be FK or CARE, got {sender!r}")
            heading = self.text("questions", i, key, e, "heading", required=False)
            text = self.text("questions", i, key, e, "text", max_length=10000)
            sent = self.a_datetime("questions", i, key, e, "sent")
            last = self.a_date("questions", i, key, e, "last_answer_date", required=False)
            handled = self.a_datetime("questions", i, key, e, "handled_at", required=False)
            refs = {name: self.question_ref(i, key, e, name, ids, about) for name in ("in_reply_to", "reminder_of")}
            if subject == "PAMINN" and e.get("reminder_of") is None:  # (a bad one is reported as such)
                self.problem("questions", i, key, "reminder_of",
                             "a reminder (PAMINN) must name the question it reminds of")
            if subject != "PAMINN" and refs["reminder_of"]:
                self.problem("questions", i, key, "subject", "only a reminder (PAMINN) can have reminder_of")
            if cert and sent and sent < cert["signed_at"]:
                self.problem("questions", i, key, "sent", "is before the certificate was signed")
                continue
            ctype = self.registry.get(cert["type_code"]) if cert else None
            if ctype is not None and ctype.recipient != "FK":
                self.problem("questions", i, key, "certificate", f"{ctype.code} is not a certificate "
                             "Försäkringskassan receives: it has no questions")
                continue
            if not (qid and cert and _one_of(subject, SUBJECTS) and _one_of(sender, SENDERS) and text and sent):
                continue
            rec = {"id": qid, "certificate_id": cert["id"], "unit_id": cert["unit_id"],
                   "patient_pnr": cert["patient_pnr"], "subject": subject, "sender": sender, "heading": heading,
                   "text": text, "sent_at": sent, "last_answer_date": last, "in_reply_to": refs["in_reply_to"],
                   "reminder_of": refs["reminder_of"]}
            self.questions[qid] = rec
            stored = self.existing.questions.get(qid)
            # handled_at is set on first load only: later the portal owns it
            self.record("questions", qid, rec, stored, immutable=True, i=i)
            if stored is None:
                rec["handled_at"] = handled

    def question_ref(self, i: int, key: Any, e: dict, name: str, ids: set[str], about: dict[str, Any]) -> str | None:
        """The question that in_reply_to or reminder_of names: None if none, or unknown, the question
        itself or about another certificate (reported: a reply or reminder belongs to its certificate's
        conversation, and would show on that certificate's unit and patient)."""
        ref = e.get(name)
        if ref is None:
            return None
        if not isinstance(ref, str):
            self.problem("questions", i, key, name, "must be text (a question id)")
            return None
        if ref not in ids and ref not in self.existing.questions:
            self.problem("questions", i, key, name, f"unknown question {ref!r}")
            return None
        if ref == e.get("id"):
            self.problem("questions", i, key, name, "a question cannot refer to itself")
            return None
        certificate = about[ref] if ref in ids else self.existing.questions[ref]["certificate_id"]
        if isinstance(e.get("certificate"), str) and certificate != e["certificate"]:
            self.problem("questions", i, key, name, f"question {ref!r} is about another certificate")
            return None
        return ref

    def run(self) -> tuple[list[IntakeProblem], Plan]:
        if not isinstance(self.doc, dict):
            return [IntakeProblem("the document must be a JSON object")], self.plan
        unstorable = scan(self.doc)
        if unstorable:  # the entries are not checked: their problem lines would echo what cannot be shown
            return unstorable, self.plan
        for name in sorted(set(self.doc) - set(SECTIONS) - {"$schema", "about"}):
            self.general(f"{name}: unknown section (known: {', '.join(SECTIONS)})", name)
        for step in (self.check_providers, self.check_units, self.check_staff, self.check_commissions,
                     self.check_persons, self.check_certificates, self.check_relations, self.check_revocations,
                     self.check_care_sends, self.check_questions):
            step()
        return self.problems, self.plan


#: how a JSON reader writes the numbers that are not finite (1e999 is read as Infinity)
_JSON_WORDS = {"nan": "NaN", "inf": "Infinity (or a number too large)", "-inf": "-Infinity (or a number too large)"}


def _unstorable_text(value: str) -> str | None:
    """Why a text cannot be stored (PostgreSQL holds no NUL; a lone surrogate is not Unicode text), or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return f"contains {ascii(err.object[err.start])[1:-1]}, half of a surrogate pair, which is not text"
    return None


def _shown(name: str) -> str:
    """A field name for a problem line: as it is, unless it cannot be stored (then escaped)."""
    return name if _unstorable_text(name) is None else ascii(name)[1:-1]


def _where(parts: list) -> tuple[str | None, int | None, str]:
    """A value's place, as a path of keys and indexes from the document, in problem-line terms: the
    section, the entry's index and the field ("content.diagnoses[0].code") when inside a section's entry."""
    def join(rest: list) -> str:
        out = ""
        for p in rest:
            out += f"[{p}]" if isinstance(p, int) else (f".{_shown(p)}" if out else _shown(p))
        return out

    if len(parts) >= 2 and parts[0] in SECTIONS and isinstance(parts[1], int):
        return parts[0], parts[1], join(parts[2:])
    return (_shown(parts[0]) if parts else None), None, join(parts[1:])


def _scan_problem(doc: dict, parts: list, message: str) -> IntakeProblem:
    section, index, fieldname = _where(parts)
    if index is None:
        line = ": ".join(x for x in (section, fieldname, message) if x)
        return IntakeProblem(line, section=section, fields=(fieldname,) if fieldname else (), message=message,
                             unstorable=True)
    key = None
    entry = doc[section][index]
    if section in _KEY_FIELDS and isinstance(entry, dict):
        key = entry.get(_KEY_FIELDS[section])
    who = f" ({key})" if isinstance(key, str) and key and _unstorable_text(key) is None else ""
    line = f"{section}[{index}]{who}: {fieldname}: {message}" if fieldname else f"{section}[{index}]{who}: {message}"
    return IntakeProblem(line, section=section, index=index, fields=(fieldname,) if fieldname else (),
                         message=message, unstorable=True)


def scan(doc: Any) -> list[IntakeProblem]:
    """What no database can hold, anywhere in a document (keys too), before its entries are checked: a
    number that is not finite (JSON has none, but Python's reader takes NaN, Infinity and 1e999), text
    with a NUL character or half a surrogate pair, and nesting deeper than MAX_DEPTH (reported once)."""
    problems: list[IntakeProblem] = []
    stack: list[tuple[Any, list]] = [(doc, [])]
    while stack:
        node, parts = stack.pop()
        if len(parts) >= MAX_DEPTH:  # the document itself is level 1
            return [_scan_problem(doc, parts[:MAX_DEPTH - 1],
                                  f"is nested more than {MAX_DEPTH} levels deep")]
        if isinstance(node, float) and not math.isfinite(node):
            problems.append(_scan_problem(doc, parts, f"must be a finite number, got {_JSON_WORDS[repr(node)]}"))
        elif isinstance(node, str) and (why := _unstorable_text(node)):
            problems.append(_scan_problem(doc, parts, why))
        elif isinstance(node, dict):
            for name, value in reversed(list(node.items())):
                if isinstance(name, str) and (why := _unstorable_text(name)):
                    problems.append(_scan_problem(doc, parts + [name], f"the field's name {why}"))
                stack.append((value, parts + [name]))
        elif isinstance(node, list):
            stack += [(value, parts + [i]) for i, value in reversed(list(enumerate(node)))]
    return problems


def check(doc: Any, existing: Existing, registry: ct.Registry, *, update_directory: bool = True,
          registered_by: str | None = None, today: date | None = None) -> tuple[list[IntakeProblem], Plan]:
    """Check a whole document. Returns (problems, plan); store the plan only if problems is empty.

    `update_directory=False` keeps stored providers, units and staff as they are (the API: the HSA
    directory owns them); `registered_by` names the API client that registers the certificates; `today`
    (default: today in Sweden) bounds the staff's birth years."""
    return _Checker(doc, existing, registry, update_directory=update_directory, registered_by=registered_by,
                    today=today).run()


def _items(doc: dict, section: str) -> list:
    value = doc.get(section)
    return value if isinstance(value, list) else []


#: the ids each section's entries mention: (the section they are ids of, the field)
_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "providers": (("providers", "hsa_id"),),
    "units": (("units", "hsa_id"), ("units", "parent"), ("providers", "provider")),
    "staff": (("staff", "hsa_id"),),
    "commissions": (("staff", "staff"), ("units", "unit")),
    "certificates": (("certificates", "id"), ("staff", "staff"), ("units", "unit")),
    "relations": (("certificates", "from"), ("certificates", "to")),
    "revocations": (("certificates", "certificate"),),
    "care_sends": (("certificates", "certificate"),),
    "questions": (("questions", "id"), ("certificates", "certificate"), ("questions", "in_reply_to"),
                  ("questions", "reminder_of")),
}


def referenced_ids(doc: Any) -> dict[str, set]:
    """The ids a document mentions, so the store can fetch just those rows."""
    out: dict[str, set] = {s: set() for s in ("providers", "units", "staff", "persons", "certificates", "questions")}
    if not isinstance(doc, dict):
        return out
    for section, references in _REFERENCES.items():
        for e in _items(doc, section):
            if not isinstance(e, dict):
                continue
            for target, name in references:  # (an id no database can hold is in none: never asked for)
                if isinstance(e.get(name), str) and _unstorable_text(e[name]) is None:
                    out[target].add(e[name])
    for e in _items(doc, "persons"):
        if isinstance(e, dict) and (p := persons.normalize(e.get("personnummer"))):
            out["persons"].add(p)
    return out
