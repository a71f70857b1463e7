"""Regionsstatistik: a region's (a care provider's) listing file and its units' listed patients (tables
`region_files`, `region_listings`). The file is read and checked in domain/region_listing.py; the report that
reads the listings is in repository/statistics.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import db
from ..domain.region_listing import Row
from ..models import CareUnit, RegionFile, RegionListing, Staff

#: ids per IN (...) list: well under SQLite's and PostgreSQL's limits on bound parameters
CHUNK = 500


@dataclass(frozen=True)
class Listed:
    """One unit of the current file: the directory's name when it knows the unit, and the name in the file."""

    unit_id: str
    name: str
    name_in_file: str
    listed: int


@dataclass(frozen=True)
class Current:
    """A region's current file: which file, when, by whom (the directory's name, else the HSA-id), its units."""

    file_name: str
    uploaded_at: datetime
    uploaded_by: str
    uploaded_by_name: str
    units: list[Listed]

    @property
    def total_listed(self) -> int:
        return sum(u.listed for u in self.units)


def replace(session: Session, provider_id: str, file_name: str, rows: Sequence[Row], by: str, now: datetime) -> None:
    """Make `rows` the provider's listing, in one transaction: the file row, then all of its units, or nothing.

    The file row is updated in place when there is one, so a second upload for the same region waits for the
    first (its row lock) and then replaces it; two first uploads at once make one of them fail on the key, and
    it is tried once more, when the other's file is there to replace."""
    for attempt in (1, 2):
        try:
            _replace(session, provider_id, file_name, rows, by, now)
            session.commit()
            return
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise


def _replace(session: Session, provider_id: str, file_name: str, rows: Sequence[Row], by: str,
             now: datetime) -> None:
    values = {"file_name": file_name, "uploaded_at": now, "uploaded_by": by}
    updated = db.rowcount(session.execute(update(RegionFile).where(RegionFile.provider_id == provider_id)
                                          .values(**values)))
    if not updated:
        session.add(RegionFile(provider_id=provider_id, **values))
        session.flush()
    session.execute(delete(RegionListing).where(RegionListing.provider_id == provider_id))
    if rows:
        session.execute(insert(RegionListing), [
            {"provider_id": provider_id, "unit_id": r.unit_id, "unit_name": r.unit_name, "listed": r.listed}
            for r in rows])


def current(session: Session, provider_id: str) -> Current | None:
    """The provider's current file and its units (by name), or None when it has uploaded none."""
    file = session.get(RegionFile, provider_id)
    if file is None:
        return None
    staff = session.get(Staff, file.uploaded_by)
    rows = session.execute(
        select(RegionListing.unit_id, func.coalesce(CareUnit.name, RegionListing.unit_name),
               RegionListing.unit_name, RegionListing.listed)
        .outerjoin(CareUnit, CareUnit.hsa_id == RegionListing.unit_id)
        .where(RegionListing.provider_id == provider_id)).all()
    units = sorted((Listed(*row) for row in rows), key=lambda u: (u.name.casefold(), u.unit_id))
    return Current(file.file_name, file.uploaded_at, file.uploaded_by, staff.name if staff else file.uploaded_by,
                   units)


def known_units(session: Session, ids: Iterable[str]) -> set[str]:
    """The ids among `ids` that are care units in the directory."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        found.update(session.scalars(select(CareUnit.hsa_id).where(CareUnit.hsa_id.in_(wanted[i:i + CHUNK]))))
    return found


def provider_units(session: Session, provider_id: str) -> list[tuple[str, str]]:
    """The provider's own care units (sub-units too), as (HSA-id, name) by name: the example file's rows."""
    rows = session.execute(select(CareUnit.hsa_id, CareUnit.name).where(CareUnit.provider_id == provider_id)
                           .order_by(CareUnit.name, CareUnit.hsa_id)).all()
    return [(unit_id, name) for unit_id, name in rows]
