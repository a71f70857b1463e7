"""Reading certificates for the portals: rows → CertificateView (plain data the domain rules take)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from ..domain.certificates import CertificateView, EventView, SendView
from ..models import (ArchiveMark, CareUnit, Certificate, CertificateEvent, CertificateRelation, Send)


def _views(session: Session, rows: list[Certificate]) -> list[CertificateView]:
    if not rows:
        return []
    ids = [c.id for c in rows]
    revoked = {c.id for c in rows if c.revoked_at is not None}
    replaced_by: dict[str, tuple[str, datetime]] = {}
    replaces: dict[str, str] = {}
    rels = session.execute(
        select(CertificateRelation, Certificate.revoked_at, Certificate.signed_at)
        .join(Certificate, Certificate.id == CertificateRelation.from_id)
        .where(CertificateRelation.kind == "REPLACES")
        .where((CertificateRelation.to_id.in_(ids)) | (CertificateRelation.from_id.in_(ids)))).all()
    for rel, new_revoked, new_signed in rels:
        if new_revoked is None and rel.to_id in ids:
            current = replaced_by.get(rel.to_id)
            if current is None or new_signed > current[1]:
                replaced_by[rel.to_id] = (rel.from_id, new_signed)
        if rel.from_id in ids:
            replaces[rel.from_id] = rel.to_id
    sends: dict[str, list[SendView]] = defaultdict(list)
    for s in session.scalars(select(Send).where(Send.certificate_id.in_(ids), Send.kind == "CERTIFICATE")
                             .order_by(Send.requested_at)):
        sends[s.certificate_id].append(SendView(s.recipient, s.state, s.requested_at, s.delivered_at, s.failed_at))
    archived = set(session.scalars(select(ArchiveMark.certificate_id).where(ArchiveMark.certificate_id.in_(ids))))
    events: dict[str, list[EventView]] = defaultdict(list)
    for e in session.scalars(select(CertificateEvent).where(CertificateEvent.certificate_id.in_(ids))):
        events[e.certificate_id].append(EventView(e.kind, e.at))
    out = []
    for c in rows:
        unit = c.unit
        rb = replaced_by.get(c.id)
        out.append(CertificateView(
            id=c.id, type_code=c.type_code, type_version=c.type_version, patient_pnr=c.patient_pnr,
            signed_at=c.signed_at, content=c.content, unit_id=c.unit_id, unit_name=unit.name,
            provider_name=unit.provider.name, staff_name=c.staff.name, unit_address=unit.address,
            unit_postal_code=unit.postal_code, unit_city=unit.city, unit_phone=unit.phone,
            revoked_at=c.revoked_at, replaced_by=rb[0] if rb else None, replaced_at=rb[1] if rb else None,
            replaces=replaces.get(c.id) if replaces.get(c.id) not in revoked else replaces.get(c.id),
            sends=tuple(sends.get(c.id, ())), archived=c.id in archived, events=tuple(events.get(c.id, ()))))
    return out


def _load():
    return (joinedload(Certificate.unit).joinedload(CareUnit.provider), joinedload(Certificate.staff))


def for_patient(session: Session, pnr: str) -> list[CertificateView]:
    """All of a patient's certificates (revoked included: the domain decides what is shown)."""
    rows = session.scalars(select(Certificate).where(Certificate.patient_pnr == pnr)
                           .options(*_load()).order_by(Certificate.signed_at.desc())).unique().all()
    return _views(session, list(rows))


def one(session: Session, certificate_id: str) -> CertificateView | None:
    row = session.scalars(select(Certificate).where(Certificate.id == certificate_id).options(*_load())).first()
    return _views(session, [row])[0] if row else None


def many(session: Session, ids: Iterable[str]) -> list[CertificateView]:
    rows = session.scalars(select(Certificate).where(Certificate.id.in_(list(ids))).options(*_load())).unique().all()
    return _views(session, list(rows))


def archive(session: Session, certificate_id: str, actor: str, now: datetime) -> bool:
    """Mark as archived (and record the event). False if it already was."""
    if session.get(ArchiveMark, certificate_id) is not None:
        return False
    session.add(ArchiveMark(certificate_id=certificate_id, archived_at=now))
    session.add(CertificateEvent(certificate_id=certificate_id, kind="ARCHIVED", at=now, actor=actor))
    session.commit()
    return True


def restore(session: Session, certificate_id: str, actor: str, now: datetime) -> bool:
    """Remove the archive mark (and record the event). False if it was not archived."""
    result = session.execute(delete(ArchiveMark).where(ArchiveMark.certificate_id == certificate_id))
    if result.rowcount == 0:
        session.rollback()
        return False
    session.add(CertificateEvent(certificate_id=certificate_id, kind="RESTORED", at=now, actor=actor))
    session.commit()
    return True
