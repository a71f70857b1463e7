"""Storing an intake document: fetch what exists, check (domain.intake), apply in one transaction."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain import certificate_types as ct
from ..domain import intake
from ..models import (
    CareProvider,
    CareSend,
    CareUnit,
    Certificate,
    CertificateRelation,
    Commission,
    Message,
    Person,
    Staff,
    UnitChange,
)
from .questions import store_messages

CHUNK = 500
#: handled_by of a request for komplettering that a complementing certificate handled
COMPLEMENTED = "KOMPLETTERING"


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _row(obj, columns: Iterable[str]) -> dict[str, Any]:
    return {c: getattr(obj, c) for c in columns}


def _fetch(session: Session, model, key: str, columns: tuple[str, ...], ids: Iterable) -> list[dict[str, Any]]:
    """Rows of `model` whose `key` is one of `ids`, as plain dicts of `columns` (Core selects, no ORM objects)."""
    out: list[dict[str, Any]] = []
    cols = [getattr(model, c) for c in columns]
    for chunk in _chunks(ids):
        out += [dict(row._mapping) for row in session.execute(select(*cols).where(getattr(model, key).in_(chunk)))]
    return out


CERTIFICATE_COLUMNS = ("id", "type_code", "type_version", "patient_pnr", "staff_id", "unit_id", "provider_id",
                       "signed_at", "content", "sick_leave_start", "sick_leave_end", "main_diagnosis", "engine_data",
                       "revoked_at", "revoke_reason", "registered_by")


def existing_for(session: Session, doc: Any) -> intake.Existing:
    """What the database holds of the ids the document mentions (only the tables its sections need)."""
    ids = intake.referenced_ids(doc)
    has = (lambda section: bool(doc.get(section))) if isinstance(doc, dict) else (lambda section: False)
    ex = intake.Existing()
    _existing_directory(session, ids, ex, with_commissions=has("commissions"))
    for r in _fetch(session, Person, "personnummer", ("personnummer", "given_name", "family_name", "protected",
                                                      "deceased", "validation_person"), ids["persons"]):
        ex.persons[r["personnummer"]] = r
    for r in _fetch(session, Certificate, "id", CERTIFICATE_COLUMNS, ids["certificates"]):
        ex.certificates[r["id"]] = r
    if has("relations") or has("certificates"):
        for r in _fetch(session, CertificateRelation, "from_id", ("from_id", "to_id", "kind"), ids["certificates"]):
            ex.relations.add((r["from_id"], r["to_id"], r["kind"]))
    if has("care_sends"):
        for r in _fetch(session, CareSend, "certificate_id", ("certificate_id", "recipient", "sent_at"),
                        ids["certificates"]):
            ex.care_sends[(r["certificate_id"], r["recipient"])] = r
    for r in _fetch(session, Message, "id", ("id", "certificate_id", "unit_id", "patient_pnr", "subject", "sender",
                                             "heading", "text", "sent_at", "last_answer_date", "in_reply_to",
                                             "reminder_of"), ids["questions"]):
        ex.questions[r["id"]] = r
    return ex


def _existing_directory(session: Session, ids: dict[str, set], ex: intake.Existing, *,
                        with_commissions: bool) -> None:
    """The providers, units and staff the document mentions (and the staff's commissions)."""
    for r in _fetch(session, CareProvider, "hsa_id", ("hsa_id", "name"), ids["providers"]):
        ex.providers[r["hsa_id"]] = r
    for r in _fetch(session, CareUnit, "hsa_id", ("hsa_id", "name", "provider_id", "parent_id", "address",
                                                  "postal_code", "city", "phone", "county"), ids["units"]):
        ex.units[r["hsa_id"]] = r
    for r in _fetch(session, Staff, "hsa_id", ("hsa_id", "given_name", "family_name", "title", "professions",
                                               "position_codes", "system_roles", "gender", "birth_year"), ids["staff"]):
        ex.staff[r["hsa_id"]] = r
    if with_commissions:
        for r in _fetch(session, Commission, "staff_id", ("staff_id", "unit_id", "purpose", "valid_from", "valid_to"),
                        ids["staff"]):
            ex.commissions[(r["staff_id"], r["unit_id"], r["purpose"])] = r


def _units_in_order(rows: list[dict]) -> list[dict]:
    """Parents before their sub-units."""
    pending, done, ordered = list(rows), set(), []
    ids = {r["hsa_id"] for r in rows}
    while pending:
        rest = []
        for r in pending:
            if r["parent_id"] is None or r["parent_id"] not in ids or r["parent_id"] in done:
                ordered.append(r)
                done.add(r["hsa_id"])
            else:
                rest.append(r)
        if len(rest) == len(pending):  # a cycle: let the database refuse it
            ordered += rest
            break
        pending = rest
    return ordered


def apply(session: Session, plan: intake.Plan) -> None:
    """Write a checked plan. The caller owns the transaction."""
    _apply_simple_sections(session, plan)
    for chunk in _chunks(plan.new["commissions"]):
        session.execute(insert(Commission.__table__), chunk)
    for rec in plan.changed["commissions"]:
        session.execute(update(Commission).where(
            tuple_(Commission.staff_id, Commission.unit_id, Commission.purpose)
            == (rec["staff_id"], rec["unit_id"], rec["purpose"])).values(valid_from=rec["valid_from"],
                                                                          valid_to=rec["valid_to"]))
    for chunk in _chunks(plan.new["certificates"]):
        session.execute(insert(Certificate.__table__), chunk)
    session.flush()
    for chunk in _chunks(plan.new["relations"]):
        session.execute(insert(CertificateRelation.__table__), chunk)
    for rec in plan.new["revocations"]:
        session.execute(update(Certificate).where(Certificate.id == rec["id"]).values(
            revoked_at=rec["revoked_at"], revoke_reason=rec["revoke_reason"]))
    for chunk in _chunks(plan.new["care_sends"]):
        session.execute(insert(CareSend.__table__), chunk)
    # questions before the ones that refer to them
    questions = sorted(plan.new["questions"],
                       key=lambda q: (q["in_reply_to"] is not None or q["reminder_of"] is not None, q["sent_at"]))
    store_messages(session, questions)  # the one place FK's messages are stored (a hook for notices)
    session.flush()
    complements = [r for r in plan.new["relations"] if r["kind"] == "COMPLEMENTS"]
    if complements:
        handle_complemented(session, complements, [r for r in plan.new["certificates"]])
    _bump_touched_units(session, plan)


def _apply_simple_sections(session: Session, plan: intake.Plan) -> None:
    """Providers, units (parents first), staff and persons: new rows inserted, changed ones updated."""
    simple = [("providers", CareProvider, "hsa_id"), ("units", CareUnit, "hsa_id"), ("staff", Staff, "hsa_id"),
              ("persons", Person, "personnummer")]
    for section, model, key in simple:
        new = plan.new[section]
        if section == "units":
            new = _units_in_order(new)
        for chunk in _chunks(new):
            session.execute(insert(model.__table__), chunk)
        for rec in plan.changed[section]:
            session.execute(update(model).where(getattr(model, key) == rec[key]).values(**rec))
        session.flush()


def _bump_touched_units(session: Session, plan: intake.Plan) -> None:
    """The units whose certificate data the plan changed (new certificates', and revoked or related ones'),
    with the patients it changed on each."""
    touched: dict[str, set[str]] = {}
    for c in plan.new["certificates"]:
        touched.setdefault(c["unit_id"], set()).add(c["patient_pnr"])
    related = [r["id"] for r in plan.new["revocations"]] + [r["to_id"] for r in plan.new["relations"]]
    for chunk in _chunks(set(related) - {c["id"] for c in plan.new["certificates"]}):
        for unit_id, pnr in session.execute(select(Certificate.unit_id, Certificate.patient_pnr)
                                            .where(Certificate.id.in_(chunk))):
            touched.setdefault(unit_id, set()).add(pnr)
    bump_units(session, touched)


def bump_units(session: Session, unit_ids: Iterable[str], patients: Mapping[str, Iterable[str]] | None = None,
               now: datetime | None = None) -> None:
    """Mark these units' certificate data as changed (the Rehabstöd case cache is keyed on it), and record which
    patients changed on each (`patients`, by unit; a mapping's keys are the units). Without patients a cached
    unit is recomputed whole."""
    if isinstance(unit_ids, Mapping) and patients is None:
        patients = unit_ids
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    for chunk in _chunks(sorted(set(unit_ids))):
        bumped = session.execute(update(CareUnit).where(CareUnit.hsa_id.in_(chunk))
                                 .values(data_version=CareUnit.data_version + 1)
                                 .returning(CareUnit.hsa_id, CareUnit.data_version)).all()
        if bumped:
            session.execute(insert(UnitChange), [
                {"unit_id": unit_id, "version": version, "created_at": now,
                 "patients": json.dumps(sorted(patients[unit_id])) if patients is not None and unit_id in patients
                 else None}
                for unit_id, version in bumped])


def handle_complemented(session: Session, relations: list[dict], new_certificates: list[dict]) -> None:
    """A complementing certificate has arrived: FK's open requests for komplettering of the certificate
    it complements (and their reminders) are handled, at the time the new certificate was signed."""
    signed = {c["id"]: c["signed_at"] for c in new_certificates}
    for rel in relations:
        at = signed.get(rel["from_id"]) or session.scalar(
            select(Certificate.signed_at).where(Certificate.id == rel["from_id"]))
        requests = list(session.scalars(select(Message.id).where(
            Message.certificate_id == rel["to_id"], Message.subject == "KOMPLT", Message.sender == "FK",
            Message.handled_at.is_(None), Message.sent_at <= at)))
        if not requests:
            continue
        session.execute(update(Message).where(
            (Message.id.in_(requests)) | (Message.reminder_of.in_(requests)), Message.handled_at.is_(None))
            .values(handled_at=at, handled_by=COMPLEMENTED))
    session.flush()


ATTEMPTS = 3


def load(session: Session, doc: Any, registry: ct.Registry, *, update_directory: bool = True,
         registered_by: str | None = None, today: date | None = None) -> tuple[list[intake.IntakeProblem], intake.Plan]:
    """Check and, if there is no problem, store the document (one transaction). Returns (problems, plan).

    `portal load` and the API both come here (see intake.check for the keyword arguments). Two
    writers storing the same new rows at once (two identical registrations racing): the loser's insert
    violates a unique key; it then checks again against what the winner stored, which makes it a replay
    (nothing to change) or a conflict, never a second copy."""
    for attempt in range(1, ATTEMPTS + 1):
        problems, plan = intake.check(doc, existing_for(session, doc), registry, update_directory=update_directory,
                                      registered_by=registered_by, today=today)
        if problems:
            session.rollback()
            return problems, plan
        try:
            apply(session, plan)
            session.commit()
        except IntegrityError:
            session.rollback()
            if attempt == ATTEMPTS:
                raise
            continue
        except Exception:
            session.rollback()
            raise
        return [], plan
    raise AssertionError("unreachable")  # pragma: no cover
