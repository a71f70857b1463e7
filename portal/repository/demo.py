"""Storing the large demo data set fast: generated patients inserted in batches.

The generator's output is the intake format, and the tests prove every generated certificate
passes the validator; here the rows go straight in with bulk inserts (about 1 million
certificates), in batches that each commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ..domain import certificate_types as ct
from ..domain import demo
from ..models import Certificate, CertificateRelation, Message, Person
from . import intake as intake_store

BATCH_CERTIFICATES = 20_000


def load_large(session: Session, registry: ct.Registry, *, today: date, seed: int, target: int,
               progress: Callable[[int], None] = lambda n: None) -> int:
    """Add generated patients until the store holds `target` certificates. Returns the count."""
    base = demo.small(today=today, seed=seed, registry=registry, patients=0)
    problems, _ = intake_store.load(session, base, registry)
    if problems:
        raise RuntimeError("demo base data refused: " + "; ".join(problems[:5]))
    have = session.scalar(select(func.count()).select_from(Certificate)) or 0
    used = set(session.scalars(select(Person.personnummer)))
    provider_of = {demo.hsa(u): demo.hsa(p) for u, _, p, _ in demo.UNITS}
    stream = demo.patients(today=today, seed=seed + have, registry=registry, used_pnr=used,
                           id_prefix=f"demoL{have:x}")
    batch = _Batch()
    reported = have
    while have < target:
        pd = next(stream)
        batch.add(pd, registry, provider_of)
        have += len(pd.certificates)
        if len(batch.certs) >= BATCH_CERTIFICATES:
            batch.flush(session)
            if have - reported >= 100_000:
                progress(have)
                reported = have
    batch.flush(session)
    return have


@dataclass
class _Batch:
    """Rows of generated patients waiting to be inserted."""

    persons: list[dict[str, Any]] = field(default_factory=list)
    certs: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, pd: demo.PatientData, registry: ct.Registry, provider_of: dict[str, str]) -> None:
        self.persons.append(pd.person)
        revoked = {r["certificate"]: r for r in pd.revocations}
        by_id = {}
        for c in pd.certificates:
            row = _certificate_row(c, registry[c["type"]], revoked.get(c["id"]), provider_of)
            self.certs.append(row)
            by_id[c["id"]] = row
        for r in pd.relations:
            self.relations.append({"from_id": r["from"], "to_id": r["to"], "kind": r["kind"],
                                   "created_at": by_id[r["from"]]["signed_at"]})
        for q in pd.questions:
            self.messages.append(_message_row(q, by_id[q["certificate"]]))

    def flush(self, session: Session) -> None:
        """Insert the waiting rows and commit (one batch)."""
        if self.persons:
            session.execute(insert(Person), self.persons)
        if self.certs:
            session.execute(insert(Certificate), self.certs)
        if self.relations:
            session.execute(insert(CertificateRelation), self.relations)
        if self.certs:
            touched: dict[str, set[str]] = {}
            for c in self.certs:
                touched.setdefault(c["unit_id"], set()).add(c["patient_pnr"])
            intake_store.bump_units(session, touched)
        if self.messages:
            firsts = [m for m in self.messages if not (m["in_reply_to"] or m["reminder_of"])]
            rest = [m for m in self.messages if m["in_reply_to"] or m["reminder_of"]]
            if firsts:
                session.execute(insert(Message), firsts)
            if rest:
                session.execute(insert(Message), rest)
        session.commit()
        self.persons, self.certs, self.relations, self.messages = [], [], [], []


def _certificate_row(c: dict, ctype: ct.CertificateType, revocation: dict | None,
                     provider_of: dict[str, str]) -> dict[str, Any]:
    span = ct.sick_leave_span(ctype, c["content"])
    return {"id": c["id"], "type_code": c["type"], "type_version": ctype.version,
            "patient_pnr": c["patient"], "staff_id": c["staff"], "unit_id": c["unit"],
            "provider_id": provider_of[c["unit"]], "signed_at": datetime.fromisoformat(c["signed"]),
            "content": c["content"], "sick_leave_start": span[0] if span else None,
            "sick_leave_end": span[1] if span else None, "main_diagnosis": ct.main_diagnosis(ctype, c["content"]),
            "engine_data": ct.engine_data(ctype, c["content"]),
            "revoked_at": datetime.fromisoformat(revocation["at"]) if revocation else None,
            "revoke_reason": revocation["reason"] if revocation else None}


def _message_row(q: dict, cert: dict[str, Any]) -> dict[str, Any]:
    last, handled = q.get("last_answer_date"), q.get("handled_at")
    return {"id": q["id"], "certificate_id": q["certificate"], "unit_id": cert["unit_id"],
            "patient_pnr": cert["patient_pnr"], "subject": q["subject"], "sender": q["sender"],
            "heading": q.get("heading"), "text": q["text"], "sent_at": datetime.fromisoformat(q["sent"]),
            "last_answer_date": date.fromisoformat(last) if last else None,
            "in_reply_to": q.get("in_reply_to"), "reminder_of": q.get("reminder_of"),
            "handled_at": datetime.fromisoformat(handled) if handled else None}
