"""Reading certificates for the portals: rows → CertificateView (plain data the domain rules take).

Core selects of the columns needed (no ORM entities): a citizen's list of hundreds of certificates
is a handful of indexed queries and no per-row object overhead.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .. import db
from ..domain.certificates import CertificateView, EventView, SendView
from ..models import (
    ArchiveMark,
    CareProvider,
    CareSend,
    CareUnit,
    Certificate,
    CertificateEvent,
    CertificateRelation,
    Send,
    Staff,
)
from . import outbox

_COLUMNS = (Certificate.id, Certificate.type_code, Certificate.type_version, Certificate.patient_pnr,
            Certificate.signed_at, Certificate.unit_id, Certificate.revoked_at, Certificate.sick_leave_start,
            Certificate.sick_leave_end, CareUnit.name.label("unit_name"), CareUnit.address, CareUnit.postal_code,
            CareUnit.city, CareUnit.phone, CareProvider.name.label("provider_name"), Staff.given_name,
            Staff.family_name)


def _build_select(with_content: bool):
    cols = _COLUMNS + ((Certificate.content,) if with_content else ())
    return (select(*cols).join(CareUnit, CareUnit.hsa_id == Certificate.unit_id)
            .join(CareProvider, CareProvider.hsa_id == CareUnit.provider_id)
            .join(Staff, Staff.hsa_id == Certificate.staff_id))


# built once: a statement is immutable (each .where() makes a new one), and building one per request cost more
# than running it
_SELECTS = {True: _build_select(True), False: _build_select(False)}
_NEWER = Certificate.__table__.alias("newer")
_RELATIONS = (select(CertificateRelation.from_id, CertificateRelation.to_id, _NEWER.c.revoked_at, _NEWER.c.signed_at)
              .join(_NEWER, _NEWER.c.id == CertificateRelation.from_id).where(CertificateRelation.kind == "REPLACES"))


def _select(with_content: bool):
    return _SELECTS[with_content]


def _views(session: Session, rows, *, id_query, with_events: bool) -> list[CertificateView]:
    """Rows to views; `id_query` selects the same certificates' ids for the related queries."""
    if not rows:
        return []
    id_set = {r.id for r in rows}
    revoked = {r.id for r in rows if r.revoked_at is not None}
    replaced_by: dict[str, tuple[str, datetime]] = {}
    replaces: dict[str, str] = {}
    base = _RELATIONS
    # two indexed lookups (an OR of the two would scan the whole relations table)
    rels = list(session.execute(base.where(CertificateRelation.to_id.in_(id_query))).all())
    rels += session.execute(base.where(CertificateRelation.from_id.in_(id_query))).all()
    for from_id, to_id, new_revoked, new_signed in rels:
        if new_revoked is None and to_id in id_set:
            current = replaced_by.get(to_id)
            if current is None or new_signed > current[1]:
                replaced_by[to_id] = (from_id, new_signed)
        if from_id in id_set:
            replaces[from_id] = to_id
    sends: dict[str, list[SendView]] = defaultdict(list)
    for s in session.execute(select(*outbox.SEND_VIEW_COLUMNS)
                             .where(Send.certificate_id.in_(id_query), Send.kind == "CERTIFICATE")
                             .order_by(Send.requested_at, Send.id)):
        sends[s.certificate_id].append(outbox.send_view(s))
    # what care sent outside the portal counts as a delivered send (one indexed lookup)
    for c in session.execute(select(CareSend.certificate_id, CareSend.recipient, CareSend.sent_at)
                             .where(CareSend.certificate_id.in_(id_query)).order_by(CareSend.sent_at)):
        sends[c.certificate_id].append(SendView.by_care(c.recipient, c.sent_at))
    archived = set(session.scalars(select(ArchiveMark.certificate_id).where(ArchiveMark.certificate_id.in_(id_query))))
    events: dict[str, list[EventView]] = defaultdict(list)
    if with_events:
        for e in session.execute(select(CertificateEvent.certificate_id, CertificateEvent.kind, CertificateEvent.at)
                                 .where(CertificateEvent.certificate_id.in_(id_query))):
            events[e.certificate_id].append(EventView(e.kind, e.at))
    out = []
    for r in rows:
        rb = replaced_by.get(r.id)
        out.append(CertificateView(
            id=r.id, type_code=r.type_code, type_version=r.type_version, patient_pnr=r.patient_pnr,
            signed_at=r.signed_at, content=getattr(r, "content", None) or {}, unit_id=r.unit_id,
            unit_name=r.unit_name, provider_name=r.provider_name, staff_name=f"{r.given_name} {r.family_name}",
            unit_address=r.address, unit_postal_code=r.postal_code, unit_city=r.city, unit_phone=r.phone,
            revoked_at=r.revoked_at, replaced_by=rb[0] if rb else None, replaced_at=rb[1] if rb else None,
            replaces=replaces.get(r.id) if replaces.get(r.id) not in revoked else replaces.get(r.id),
            sends=tuple(sends.get(r.id, ())), archived=r.id in archived, events=tuple(events.get(r.id, ())),
            sick_leave_start=r.sick_leave_start, sick_leave_end=r.sick_leave_end))
    return out


def for_patient(session: Session, pnr: str, *, with_content: bool = True) -> list[CertificateView]:
    """All of a patient's certificates, newest first (revoked included: the domain decides what is shown).
    Lists leave the content out (with_content=False) and fetch it for the page they show."""
    rows = session.execute(_select(with_content).where(Certificate.patient_pnr == pnr)
                           .order_by(Certificate.signed_at.desc(), Certificate.id.desc())).all()
    id_query = select(Certificate.id).where(Certificate.patient_pnr == pnr)
    return _views(session, rows, id_query=id_query, with_events=with_content)


def one(session: Session, certificate_id: str) -> CertificateView | None:
    rows = session.execute(_select(True).where(Certificate.id == certificate_id)).all()
    views = _views(session, rows, id_query=select(Certificate.id).where(Certificate.id == certificate_id),
                   with_events=True)
    return views[0] if views else None


def many(session: Session, ids: Iterable[str]) -> list[CertificateView]:
    ids = list(ids)
    rows = session.execute(_select(True).where(Certificate.id.in_(ids))).all()
    return _views(session, rows, id_query=select(Certificate.id).where(Certificate.id.in_(ids)), with_events=True)


def contents(session: Session, ids: Iterable[str]) -> dict[str, dict]:
    """The content of some certificates (for the page of a list)."""
    ids = list(ids)
    if not ids:
        return {}
    return dict(session.execute(select(Certificate.id, Certificate.content).where(Certificate.id.in_(ids))).all())


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
    if db.rowcount(result) == 0:
        session.rollback()
        return False
    session.add(CertificateEvent(certificate_id=certificate_id, kind="RESTORED", at=now, actor=actor))
    session.commit()
    return True
