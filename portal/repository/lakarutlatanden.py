"""The query behind Rehabstöd's läkarutlåtanden list: a unit's läkarutlåtanden, newest signed first."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.lakarutlatanden import Stored
from ..models import Certificate


def unit_lakarutlatanden(session: Session, *, unit_ids: Sequence[str], provider_id: str,
                         type_codes: Sequence[str], doctor_id: str | None = None) -> list[Stored]:
    """The läkarutlåtanden of these types on these units (one care provider), not revoked, newest signed
    first (index ix_certificates_unit_type_signed). With ``doctor_id``, only those that doctor signed
    (a doctor's list: the domain checks it again)."""
    query = (select(Certificate.id, Certificate.type_code, Certificate.patient_pnr, Certificate.signed_at,
                    Certificate.unit_id, Certificate.staff_id, Certificate.main_diagnosis)
             .where(Certificate.unit_id.in_(list(unit_ids)), Certificate.type_code.in_(list(type_codes)),
                    Certificate.provider_id == provider_id, Certificate.revoked_at.is_(None))
             .order_by(Certificate.signed_at.desc(), Certificate.id))
    if doctor_id is not None:
        query = query.where(Certificate.staff_id == doctor_id)
    return [Stored(id=r.id, type_code=r.type_code, patient_pnr=r.patient_pnr, signed_at=r.signed_at,
                   unit_id=r.unit_id, doctor_id=r.staff_id, diagnosis=r.main_diagnosis)
            for r in session.execute(query)]
