"""Storing the large demo data set fast: generated patients inserted in batches.

The generator's output is the intake format, and the tests prove every generated certificate
passes the validator; here the rows go straight in with bulk inserts (about 1 million
certificates), in batches that each commit.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Callable

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
    persons, certs, relations, messages = [], [], [], []
    reported = have

    def flush() -> None:
        nonlocal persons, certs, relations, messages
        if persons:
            session.execute(insert(Person), persons)
        if certs:
            session.execute(insert(Certificate), certs)
        if relations:
            session.execute(insert(CertificateRelation), relations)
        if certs:
            from .intake import bump_units

            bump_units(session, {c["unit_id"] for c in certs})
        if messages:
            firsts = [m for m in messages if not (m["in_reply_to"] or m["reminder_of"])]
            rest = [m for m in messages if m["in_reply_to"] or m["reminder_of"]]
            if firsts:
                session.execute(insert(Message), firsts)
            if rest:
                session.execute(insert(Message), rest)
        session.commit()
        persons, certs, relations, messages = [], [], [], []

    while have < target:
        pd = next(stream)
        persons.append(pd.person)
        revoked = {r["certificate"]: r for r in pd.revocations}
        by_id = {}
        for c in pd.certificates:
            ctype = registry[c["type"]]
            span = ct.sick_leave_span(ctype, c["content"])
            rev = revoked.get(c["id"])
            row = {"id": c["id"], "type_code": c["type"], "type_version": ctype.version,
                   "patient_pnr": c["patient"], "staff_id": c["staff"], "unit_id": c["unit"],
                   "provider_id": provider_of[c["unit"]], "signed_at": datetime.fromisoformat(c["signed"]),
                   "content": c["content"], "sick_leave_start": span[0] if span else None,
                   "sick_leave_end": span[1] if span else None, "main_diagnosis": ct.main_diagnosis(ctype, c["content"]),
                   "engine_data": ct.engine_data(ctype, c["content"]),
                   "revoked_at": datetime.fromisoformat(rev["at"]) if rev else None,
                   "revoke_reason": rev["reason"] if rev else None}
            certs.append(row)
            by_id[c["id"]] = row
        for r in pd.relations:
            relations.append({"from_id": r["from"], "to_id": r["to"], "kind": r["kind"],
                              "created_at": by_id[r["from"]]["signed_at"]})
        for q in pd.questions:
            cert = by_id[q["certificate"]]
            messages.append({"id": q["id"], "certificate_id": q["certificate"], "unit_id": cert["unit_id"],
                             "patient_pnr": cert["patient_pnr"], "subject": q["subject"], "sender": q["sender"],
                             "heading": q.get("heading"), "text": q["text"],
                             "sent_at": datetime.fromisoformat(q["sent"]),
                             "last_answer_date": date.fromisoformat(q["last_answer_date"]) if q.get("last_answer_date") else None,
                             "in_reply_to": q.get("in_reply_to"), "reminder_of": q.get("reminder_of"),
                             "handled_at": datetime.fromisoformat(q["handled_at"]) if q.get("handled_at") else None})
        have += len(pd.certificates)
        if len(certs) >= BATCH_CERTIFICATES:
            flush()
            if have - reported >= 100_000:
                progress(have)
                reported = have
    flush()
    return have
