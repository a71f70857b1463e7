"""The share links' store (tables `shares` and `share_openings`): making a link, finding a citizen's links,
finding a link by its token, recording an opening or a wrong code, withdrawing.

The owner of a share is the patient of its certificate: every lookup for a citizen joins the certificate and
asks for that personnummer, so another citizen's share does not exist for them. A share is found from
outside only by its token (its SHA-256: the token itself is sealed, `sharing.seal`).

On SQLite a transaction that has read cannot write once another connection has written, so every write here
is a single statement in a transaction of its own (as in the outbox), the wrong-code count included: two
wrong codes at once count twice, never once.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ..domain import sharing
from ..models import Certificate, Share, ShareOpening


class TooManyShares(Exception):
    """The certificate already has sharing.MAX_ACTIVE live links."""


@dataclass
class ShareView:
    id: int
    certificate_id: str
    type_code: str
    signed_at: datetime
    variant: str
    note: str
    created_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    locked_at: datetime | None
    failed_codes: int
    has_code: bool
    state: str
    token_sealed: str
    code_sealed: str | None
    openings: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state == sharing.ACTIVE

    @property
    def ended_at(self) -> datetime | None:
        """When it stopped working, for a share that has."""
        if self.withdrawn_at is not None:
            return self.withdrawn_at
        if self.state == sharing.LOCKED:
            return self.locked_at
        if self.state == sharing.EXPIRED:
            return self.expires_at
        return None


_COLUMNS = (Share, Certificate.type_code, Certificate.signed_at, Certificate.revoked_at)


def _views(session: Session, rows, now: datetime) -> list[ShareView]:
    rows = list(rows)
    ids = [share.id for share, *_ in rows]
    openings: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    if ids:
        for share_id, at, kind in session.execute(
                select(ShareOpening.share_id, ShareOpening.opened_at, ShareOpening.kind)
                .where(ShareOpening.share_id.in_(ids)).order_by(ShareOpening.opened_at.desc(), ShareOpening.id.desc())):
            openings[share_id].append((at, kind))
    out = []
    for share, type_code, signed_at, revoked_at in rows:
        out.append(ShareView(
            id=share.id, certificate_id=share.certificate_id, type_code=type_code, signed_at=signed_at,
            variant=share.variant, note=share.note, created_at=share.created_at, expires_at=share.expires_at,
            withdrawn_at=share.withdrawn_at, locked_at=share.locked_at, failed_codes=share.failed_codes,
            has_code=share.code_sealed is not None,
            state=sharing.state(expires_at=share.expires_at, withdrawn_at=share.withdrawn_at,
                                locked_at=share.locked_at, certificate_revoked=revoked_at is not None, now=now),
            token_sealed=share.token_sealed, code_sealed=share.code_sealed, openings=openings.get(share.id, [])))
    return out


def _order(views: list[ShareView]) -> list[ShareView]:
    """Live links first, newest first within each."""
    return sorted(views, key=lambda v: (not v.active, -v.created_at.timestamp(), -v.id))


def create(session: Session, *, certificate_id: str, choice: sharing.Choice, now: datetime,
           secret: str) -> tuple[int, str, str | None]:
    """A new link: (share id, token, code or None). Raises TooManyShares when the certificate has enough."""
    live = session.scalar(select(func.count()).select_from(Share).where(
        Share.certificate_id == certificate_id, Share.withdrawn_at.is_(None), Share.locked_at.is_(None),
        Share.expires_at > now))
    if (live or 0) >= sharing.MAX_ACTIVE:
        session.rollback()
        raise TooManyShares(certificate_id)
    token = sharing.new_token()
    code = sharing.new_code() if choice.with_code else None
    share_id = session.execute(insert(Share).values(
        token_hash=sharing.token_hash(token), token_sealed=sharing.seal(secret, token),
        certificate_id=certificate_id, variant=choice.variant, note=choice.note,
        code_sealed=sharing.seal(secret, code) if code else None, created_at=now,
        expires_at=now + timedelta(days=choice.days), withdrawn_at=None, failed_codes=0, locked_at=None,
    ).returning(Share.id)).scalar_one()
    session.commit()
    return share_id, token, code


def for_patient(session: Session, pnr: str, now: datetime, certificate_id: str | None = None) -> list[ShareView]:
    """The citizen's shares (of one certificate, when named): live first, newest first."""
    query = select(*_COLUMNS).join(Certificate, Certificate.id == Share.certificate_id).where(
        Certificate.patient_pnr == pnr)
    if certificate_id is not None:
        query = query.where(Share.certificate_id == certificate_id)
    return _order(_views(session, session.execute(query), now))


def one_for_patient(session: Session, share_id: int, pnr: str, now: datetime) -> ShareView | None:
    """The share if it is this citizen's (its certificate's patient), else None."""
    rows = session.execute(select(*_COLUMNS).join(Certificate, Certificate.id == Share.certificate_id).where(
        Share.id == share_id, Certificate.patient_pnr == pnr))
    found = _views(session, rows, now)
    return found[0] if found else None


def by_token(session: Session, token: str, now: datetime) -> ShareView | None:
    """The share a link's token names, whatever its state; None for anything else."""
    if not sharing.looks_like_token(token):
        return None
    rows = session.execute(select(*_COLUMNS).join(Certificate, Certificate.id == Share.certificate_id).where(
        Share.token_hash == sharing.token_hash(token)))
    found = _views(session, rows, now)
    return found[0] if found else None


def record_opening(session: Session, share_id: int, kind: str, now: datetime) -> None:
    session.execute(insert(ShareOpening).values(share_id=share_id, opened_at=now, kind=kind))
    session.commit()


def record_wrong_code(session: Session, share_id: int, now: datetime) -> int:
    """Count a wrong code; lock the link at the CODE_ATTEMPTS'th. Returns the attempts left (0: locked)."""
    failed = session.execute(update(Share).where(Share.id == share_id).values(
        failed_codes=Share.failed_codes + 1,
        locked_at=func.coalesce(Share.locked_at, _lock_when(now))).returning(Share.failed_codes)).scalar_one()
    session.commit()
    return max(0, sharing.CODE_ATTEMPTS - failed)


def _lock_when(now: datetime):
    """`now` when this wrong code is the last allowed (the count before it is CODE_ATTEMPTS - 1), else NULL."""
    from sqlalchemy import case, null

    return case((Share.failed_codes + 1 >= sharing.CODE_ATTEMPTS, now), else_=null())


def withdraw(session: Session, share_id: int, now: datetime) -> bool:
    """Withdraw at once; False if it already was."""
    from .. import db

    done = db.rowcount(session.execute(update(Share).where(Share.id == share_id, Share.withdrawn_at.is_(None))
                                       .values(withdrawn_at=now)))
    session.commit()
    return done > 0


def purge(session: Session, now: datetime) -> int:
    """Delete the links that stopped working (expired, withdrawn or locked) more than sharing.KEEP_ENDED_DAYS ago,
    with their openings; the citizen's history of a link goes with it. Returns the links deleted."""
    from sqlalchemy import delete, or_

    from .. import db

    before = now - timedelta(days=sharing.KEEP_ENDED_DAYS)
    old = select(Share.id).where(or_(Share.expires_at < before, Share.withdrawn_at < before, Share.locked_at < before))
    session.execute(delete(ShareOpening).where(ShareOpening.share_id.in_(old)))
    done = db.rowcount(session.execute(delete(Share).where(Share.id.in_(old))))
    session.commit()
    return done


@dataclass
class RecentOpenings:
    share_id: int
    type_code: str
    signed_at: datetime
    count: int
    last: datetime


def recent_openings(session: Session, pnr: str, since: datetime) -> list[RecentOpenings]:
    """The citizen's links opened since then: how many times and when last, most recently opened first (the
    start page tells the citizen so)."""
    rows = session.execute(
        select(Share.id, Certificate.type_code, Certificate.signed_at, func.count(ShareOpening.id),
               func.max(ShareOpening.opened_at))
        .join(Share, Share.id == ShareOpening.share_id)
        .join(Certificate, Certificate.id == Share.certificate_id)
        .where(Certificate.patient_pnr == pnr, ShareOpening.opened_at >= since)
        .group_by(Share.id, Certificate.type_code, Certificate.signed_at))
    found = [RecentOpenings(*row) for row in rows]
    return sorted(found, key=lambda r: (r.last, r.share_id), reverse=True)
