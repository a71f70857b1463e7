"""What the API reads back: who registered a certificate, and its status for that system."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import CareSend, Certificate, CertificateRelation, Send

NOT_STORED = object()


def registered_by(session: Session, certificate_id: str) -> object:
    """The client that registered the certificate (None for `portal load`), or NOT_STORED."""
    row = session.execute(select(Certificate.registered_by).where(Certificate.id == certificate_id)).first()
    return NOT_STORED if row is None else row[0]


def status(session: Session, certificate_id: str) -> dict | None:
    """The certificate's status: revoked (when, why), delivered to whom and when (by care or by the
    citizen through the portal), and the certificates that replace it."""
    cert = session.execute(select(Certificate.id, Certificate.type_code, Certificate.type_version,
                                  Certificate.signed_at, Certificate.revoked_at, Certificate.revoke_reason)
                           .where(Certificate.id == certificate_id)).first()
    if cert is None:
        return None
    sent = [{"recipient": r.recipient, "at": r.sent_at.isoformat(), "by": "CARE"}
            for r in session.execute(select(CareSend.recipient, CareSend.sent_at)
                                     .where(CareSend.certificate_id == certificate_id))]
    sent += [{"recipient": r.recipient, "at": r.delivered_at.isoformat(), "by": "CITIZEN"}
             for r in session.execute(select(Send.recipient, Send.delivered_at).where(
                 Send.certificate_id == certificate_id, Send.kind == "CERTIFICATE", Send.state == "DELIVERED"))
             if r.delivered_at is not None]
    replaced_by = list(session.scalars(select(CertificateRelation.from_id).where(
        CertificateRelation.to_id == certificate_id, CertificateRelation.kind == "REPLACES")
        .order_by(CertificateRelation.created_at)))
    return {
        "id": cert.id, "type": cert.type_code, "version": cert.type_version, "signed": cert.signed_at.isoformat(),
        "revoked": {"at": cert.revoked_at.isoformat(), "reason": cert.revoke_reason} if cert.revoked_at else None,
        "sent": sorted(sent, key=lambda s: s["at"]), "replaced_by": replaced_by,
    }
