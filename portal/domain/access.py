"""Who may do what: staff roles per care unit (auth.md), citizens' age rule.

Pure: takes plain data (the HSA directory's answer), returns plain data. Every page asks here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from . import persons

PURPOSE_CARE = "Vård och behandling"
LAKARE = "LAKARE"
REHABKOORDINATOR = "REHABKOORDINATOR"
ROLE_TITLES = {LAKARE: "Läkare", REHABKOORDINATOR: "Rehabkoordinator"}

# befattningskod alone, or with one of the group prescription codes, that make a doctor
DOCTOR_POSITION_CODES: dict[str, frozenset[str] | None] = {
    "204010": None,
    "203090": frozenset({"9300005", "9400003"}),
    "204090": frozenset({"9100009", "9200007"}),
}


@dataclass(frozen=True)
class CommissionInfo:
    unit_id: str
    unit_name: str
    provider_id: str
    provider_name: str
    purpose: str
    valid_from: date | None
    valid_to: date | None

    def active_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class StaffInfo:
    hsa_id: str
    name: str
    title: str | None
    professions: tuple[str, ...]
    position_codes: tuple[tuple[str, str | None], ...]
    system_roles: tuple[str, ...]
    commissions: tuple[CommissionInfo, ...]


@dataclass(frozen=True)
class UnitChoice:
    unit_id: str
    unit_name: str
    provider_id: str
    provider_name: str
    role: str


def is_doctor(staff: StaffInfo) -> bool:
    if "Läkare" in staff.professions:
        return True
    for code, group in staff.position_codes:
        if code in DOCTOR_POSITION_CODES:
            needed = DOCTOR_POSITION_CODES[code]
            if needed is None or group in needed:
                return True
    return False


def role_on_unit(staff: StaffInfo, unit_id: str) -> str | None:
    """REHABKOORDINATOR with system role INTYG;Rehab-<unit>; else LAKARE if a doctor; else no access."""
    if f"INTYG;Rehab-{unit_id}" in staff.system_roles:
        return REHABKOORDINATOR
    if is_doctor(staff):
        return LAKARE
    return None


def units_offered(staff: StaffInfo, today: date) -> list[UnitChoice]:
    """The units the user may log in on: an active "Vård och behandling" commission and a role there."""
    seen: dict[str, UnitChoice] = {}
    for c in staff.commissions:
        if c.purpose != PURPOSE_CARE or not c.active_on(today) or c.unit_id in seen:
            continue
        role = role_on_unit(staff, c.unit_id)
        if role:
            seen[c.unit_id] = UnitChoice(c.unit_id, c.unit_name, c.provider_id, c.provider_name, role)
    return sorted(seen.values(), key=lambda u: (u.provider_name, u.unit_name))


def refusal_reason(staff: StaffInfo | None, today: date) -> str | None:
    """Why a staff member may not use Rehabstöd at all (None when some unit is offered)."""
    if staff is None:
        return "unknown_user"
    if units_offered(staff, today):
        return None
    active = [c for c in staff.commissions if c.purpose == PURPOSE_CARE and c.active_on(today)]
    return "no_role" if active else "no_commission"


def citizen_refusal(pnr: str | None, today: date) -> str | None:
    """Why a citizen may not log in to Mina intyg (None when they may)."""
    if pnr is None:
        return "invalid_personnummer"
    if persons.age(pnr, today) < persons.MIN_CITIZEN_AGE:
        return "under_16"
    return None


# --- Intygsstatistik (seed 000 "Behörighet till Intygsstatistik") -------------------------------------------

PURPOSE_STATISTICS = "Statistik"
STATISTICS_ROLE_PREFIX = "INTYG;Statistik-"
ROLE_STATISTICS = "STATISTIK"  # a login session for the staff statistics only (no Rehabstöd unit)
UNIT_SCOPE, PROVIDER_SCOPE, REGION_SCOPE = "enhet", "vardgivare", "region"


@dataclass(frozen=True)
class StatisticsScope:
    """Whose statistics a staff member may see: a care unit (an active commission with purpose "Statistik" on it;
    its sub-units count with it) or a whole care provider (hsaSystemRole INTYG;Statistik-<provider HSA-id>)."""

    kind: str  # UNIT_SCOPE | PROVIDER_SCOPE | REGION_SCOPE
    id: str
    name: str
    provider_id: str
    provider_name: str


def statistics_scopes(staff: StaffInfo | None, today: date,
                      provider_names: dict[str, str] | None = None) -> list[StatisticsScope]:
    """The units and care providers this staff member may see statistics for: providers first, then units."""
    if staff is None:
        return []
    names = dict(provider_names or {})
    names.update({c.provider_id: c.provider_name for c in staff.commissions})
    providers = {}
    for role in staff.system_roles:
        if role.startswith(STATISTICS_ROLE_PREFIX) and len(role) > len(STATISTICS_ROLE_PREFIX):
            pid = role[len(STATISTICS_ROLE_PREFIX):]
            if pid in names:  # a role naming a provider the directory does not know gives nothing
                providers[pid] = StatisticsScope(PROVIDER_SCOPE, pid, names[pid], pid, names[pid])
    units = {}
    for c in staff.commissions:
        if c.purpose == PURPOSE_STATISTICS and c.active_on(today) and c.unit_id not in units:
            units[c.unit_id] = StatisticsScope(UNIT_SCOPE, c.unit_id, c.unit_name, c.provider_id, c.provider_name)
    return sorted(providers.values(), key=lambda p: p.name) + sorted(units.values(),
                                                                     key=lambda u: (u.provider_name, u.name))


def region_scopes(scopes: list[StatisticsScope], with_listing: set[str]) -> list[StatisticsScope]:
    """Regionsstatistik: for each care provider the user may see whole and that has uploaded a listing of its care
    units (seed 000), the region's listed units as a scope of their own."""
    return [StatisticsScope(REGION_SCOPE, s.id, s.name, s.provider_id, s.provider_name)
            for s in scopes if s.kind == PROVIDER_SCOPE and s.id in with_listing]


def statistics_refusal(staff: StaffInfo | None, today: date,
                       provider_names: dict[str, str] | None = None) -> str | None:
    """Why a staff member may not see the staff statistics (None when some scope is theirs)."""
    if staff is None:
        return "unknown_user"
    return None if statistics_scopes(staff, today, provider_names) else "no_statistics_commission"
