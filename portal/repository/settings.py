"""A staff member's Rehabstöd settings (table `user_settings`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..domain import sick_leave
from ..models import UserSettings

DEFAULT_MAX_DAYS_BETWEEN = 5
DEFAULT_MAX_DAYS_SINCE_END = 0


@dataclass(frozen=True)
class StoredSettings:
    max_days_between: int = DEFAULT_MAX_DAYS_BETWEEN
    max_days_since_end: int = DEFAULT_MAX_DAYS_SINCE_END
    default_unit: str | None = None


def stored(session: Session, hsa_id: str) -> StoredSettings:
    row = session.get(UserSettings, hsa_id)
    if row is None:
        return StoredSettings()
    return StoredSettings(row.max_days_between_certificates, row.max_days_since_end, row.default_unit_id)


def sick_leave_settings(session: Session, hsa_id: str) -> sick_leave.Settings:
    """The settings the sick-leave engine takes (defaults for a user who never saved any)."""
    row = session.get(UserSettings, hsa_id)
    if row is None:
        return sick_leave.Settings()
    return sick_leave.Settings(row.max_days_between_certificates, row.max_days_since_end)


def save(session: Session, hsa_id: str, *, max_days_between: int, max_days_since_end: int,
         default_unit: str | None) -> None:
    row = session.get(UserSettings, hsa_id)
    if row is None:
        row = UserSettings(staff_id=hsa_id)
        session.add(row)
    row.max_days_between_certificates = max_days_between
    row.max_days_since_end = max_days_since_end
    row.default_unit_id = default_unit
    session.commit()


# --- the unit's own settings (table `unit_settings`, issue 17) ---------------------------------------

def unit_notice_address(session: Session, unit_id: str | None) -> str | None:
    """The address the unit is told at when Försäkringskassan writes (None: none)."""
    from . import notices

    return notices.notice_address(session, unit_id) if unit_id else None


def save_unit_notice_address(session: Session, unit_id: str, address: str | None, *, by: str, now: datetime) -> None:
    """Set or (None) remove it; commits."""
    from . import notices

    notices.save_notice_address(session, unit_id, address, by=by, now=now)
