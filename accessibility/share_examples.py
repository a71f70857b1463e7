"""Share links (issue 14) for the accessibility crawl and the e2e tests (test support, not the app).

The crawl needs a share of each state to reach the citizen's page for a link (citizen.share_detail) and the
employer's page (employer.view) by URL. `ensure` makes them in the app's database, each with a fixed token
(shaped like a real one), so that making them again puts the same ones back in their state (same ids) instead
of adding more:

- the crawl citizen's (their newest AG7804, AG1-14 and FK7804): active with a code (and openings), active
  without a code, active with the periods-only copy, active with a link that can no longer be shown (sealed
  with another secret), withdrawn, expired, locked after wrong codes;
- another patient's: a replaced certificate's share (the employer's page says a newer one exists) and a
  revoked certificate's (the link has ended).

The shares are made with repository.shares.create and then put in their state with direct updates. The crawl
visits the states that answer 200; the others (410 and 403 pages) are axe-checked in e2e/test_shares.py.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from portal import db
from portal.domain import copies, sharing
from portal.models import Certificate, CertificateRelation, Share, ShareOpening
from portal.repository import shares as store

NOTE = "Tillgänglighetskontroll"


@dataclass(frozen=True)
class Spec:
    key: str
    type_code: str  # "replaced" / "revoked": another patient's replaced or revoked certificate of a shareable type
    variant: str
    with_code: bool
    state: str  # sharing.ACTIVE / WITHDRAWN / EXPIRED / LOCKED / ENDED, or "UNSHOWABLE" (active, link not shown)
    citizen: bool = True  # the crawl citizen's (their page for the link is crawled)


SPECS = (
    Spec("active-code", "AG7804", copies.EMPLOYER_NO_DIAGNOSIS, True, sharing.ACTIVE),
    Spec("active", "AG7804", copies.EMPLOYER, False, sharing.ACTIVE),
    Spec("active-periods", "FK7804", copies.PERIODS, False, sharing.ACTIVE),
    Spec("unshowable", "AG1-14", copies.EMPLOYER_NO_DIAGNOSIS, False, "UNSHOWABLE"),
    Spec("withdrawn", "AG1-14", copies.EMPLOYER, False, sharing.WITHDRAWN),
    Spec("expired", "FK7804", copies.PERIODS, False, sharing.EXPIRED),
    Spec("locked", "AG7804", copies.EMPLOYER, True, sharing.LOCKED),
    Spec("replaced", "replaced", copies.PERIODS, False, sharing.ACTIVE, citizen=False),
    Spec("revoked", "revoked", copies.EMPLOYER, False, sharing.ENDED, citizen=False),
)


@dataclass(frozen=True)
class Example:
    key: str
    share_id: int
    token: str
    certificate_id: str
    state: str
    citizen: bool


def token(key: str) -> str:
    """A fixed token (43 URL-safe characters, like a real one) for one example share."""
    digest = hashlib.sha256(f"a11y-share:{key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _certificates(session, pnr: str) -> dict[str, str]:
    """The certificate each kind of example is made on: the crawl citizen's newest of a type (neither
    replaced nor revoked), and another patient's replaced and revoked certificates of shareable types."""
    replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
    out: dict[str, str] = {}
    for code in ("AG7804", "AG1-14", "FK7804"):
        found = session.scalar(select(Certificate.id).where(
            Certificate.patient_pnr == pnr, Certificate.type_code == code, Certificate.revoked_at.is_(None),
            Certificate.id.not_in(replaced)).order_by(Certificate.signed_at.desc(), Certificate.id))
        if found:
            out[code] = found
    found = session.scalar(select(Certificate.id).where(
        Certificate.id.in_(replaced), Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None))
        .order_by(Certificate.id))
    if found:
        out["replaced"] = found
    found = session.scalar(select(Certificate.id).where(
        Certificate.revoked_at.is_not(None), Certificate.type_code == "AG7804").order_by(Certificate.id))
    if found:
        out["revoked"] = found
    return out


def _state_values(spec: Spec, now) -> dict:
    created = now - timedelta(days=2)
    values = {"created_at": created, "expires_at": created + timedelta(days=30), "withdrawn_at": None,
              "locked_at": None, "failed_codes": 0, "note": NOTE if spec.key != "active" else ""}
    if spec.state == sharing.WITHDRAWN:
        values["withdrawn_at"] = now - timedelta(hours=3)
    elif spec.state == sharing.EXPIRED:
        values.update(created_at=now - timedelta(days=40), expires_at=now - timedelta(days=10))
    elif spec.state == sharing.LOCKED:
        values.update(failed_codes=sharing.CODE_ATTEMPTS, locked_at=now - timedelta(hours=5))
    return values


def ensure(app, pnr: str) -> dict[str, Example]:
    """Make (or make again) the example shares in the app's database; {key: Example}. Kinds whose
    certificate the data does not have (an empty database) are left out."""
    now = app.extensions["clock"].now()
    secret = app.config["SECRET_KEY"]
    out: dict[str, Example] = {}
    with db.new_session(app) as s:
        certs = _certificates(s, pnr)
        for spec in SPECS:
            t = token(spec.key)
            cert_id = certs.get(spec.type_code)
            old = s.scalars(select(Share).where(Share.token_hash == sharing.token_hash(t))).all()
            keep = old[0] if len(old) == 1 and old[0].certificate_id == cert_id and old[0].variant == spec.variant \
                and (old[0].code_sealed is not None) == spec.with_code else None
            ids = [o.id for o in old]
            if ids:  # made before: its openings go, and it too unless it can be put back in its state
                s.execute(delete(ShareOpening).where(ShareOpening.share_id.in_(ids)))
                if keep is None:
                    s.execute(delete(Share).where(Share.id.in_(ids)))
                s.commit()
            if cert_id is None:
                continue
            if keep is not None:
                share_id = keep.id
            else:
                choice = sharing.Choice(spec.variant, 30, NOTE, spec.with_code)
                share_id, _random_token, _code = store.create(s, certificate_id=cert_id, choice=choice, now=now,
                                                              secret=secret)
            values = _state_values(spec, now)
            values.update(token_hash=sharing.token_hash(t),
                          token_sealed=sharing.seal(secret if spec.state != "UNSHOWABLE" else "another secret", t))
            s.execute(update(Share).where(Share.id == share_id).values(**values))
            if spec.key == "active-code":  # openings for the citizen's page to list
                s.add_all([ShareOpening(share_id=share_id, opened_at=now - timedelta(days=1, hours=2), kind="PAGE"),
                           ShareOpening(share_id=share_id, opened_at=now - timedelta(days=1), kind="PDF")])
            s.commit()
            out[spec.key] = Example(spec.key, share_id, t, cert_id,
                                    sharing.ACTIVE if spec.state == "UNSHOWABLE" else spec.state, spec.citizen)
    return out


def citizen_shareable(app, pnr: str) -> list[str]:
    """The crawl citizen's certificates the share form is crawled for: the newest AG7804, AG1-14 and FK7804."""
    with db.new_session(app) as s:
        certs = _certificates(s, pnr)
    return [certs[code] for code in ("AG7804", "AG1-14", "FK7804") if code in certs]
