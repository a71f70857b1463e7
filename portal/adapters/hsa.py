"""The HSA directory adapter. The embedded default reads the local tables (loaded with demo data);
a production adapter would ask the national directory with the same interface.

Asked at login, at the unit choice, and again for every staff session at its first request after
STAFF_RIGHTS_RECHECK_SECONDS (portal/auth/sessions.py): a commission removed or ended, or a system role taken
away, in the directory reaches a logged-in user within that interval."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..domain.access import CommissionInfo, StaffInfo
from ..models import CareUnit, Commission, Staff


class LocalHsaDirectory:
    def __init__(self, session_factory):
        self._session_factory = session_factory

    def staff(self, hsa_id: str) -> StaffInfo | None:
        with self._session_factory() as s:
            return lookup(s, hsa_id)


def lookup(session: Session, hsa_id: str) -> StaffInfo | None:
    staff = session.get(Staff, hsa_id)
    if staff is None:
        return None
    rows = session.scalars(select(Commission).where(Commission.staff_id == hsa_id)
                           .options(joinedload(Commission.unit).joinedload(CareUnit.provider))).all()
    return StaffInfo(
        hsa_id=staff.hsa_id, name=staff.name, title=staff.title,
        professions=tuple(staff.professions or ()),
        position_codes=tuple((p["code"], p.get("group_prescription_code")) for p in staff.position_codes or ()),
        system_roles=tuple(staff.system_roles or ()),
        commissions=tuple(CommissionInfo(c.unit_id, c.unit.name, c.unit.provider_id, c.unit.provider.name, c.purpose,
                                         c.valid_from, c.valid_to) for c in rows),
    )


def provider_names(session: Session) -> dict[str, str]:
    """Every care provider's name by HSA-id (a statistics system role names a provider)."""
    from ..models import CareProvider

    return dict(session.execute(select(CareProvider.hsa_id, CareProvider.name)).all())
