"""Logged-in sessions: kept server-side (auth_sessions), rotated at login, ended at logout, after
SESSION_IDLE_SECONDS (30 minutes) without activity, and SESSION_ABSOLUTE_SECONDS (12 hours) after the login
whatever the activity. The cookie (Flask's signed session) holds only the random session id.

An ended session's row is deleted, its ID token and name with it: by the request that finds it expired, at
every login (every expired row, and the browser's earlier session of either kind), at most once a minute
per process by any request (every expired row), and by `portal purge-sessions` for a scheduler.

A staff session's rights (an active commission on the chosen unit and the role there, from the HSA
directory) are checked again at the first request after STAFF_RIGHTS_RECHECK_SECONDS: without any unit
left the session ends ("Din behörighet har upphört"); without the chosen unit or with another role there
the unit is taken away and the user chooses again, told why.

Polling the status (`/session/status`) does not count as activity; every other request does.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, g, session
from flask_login import UserMixin, login_user, logout_user
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from .. import db
from ..adapters.hsa import lookup as hsa_lookup
from ..domain import access
from ..models import AuthSession, CareUnit

NOT_ACTIVITY = {"auth.session_status", "static"}
#: a load balancer's liveness and readiness checks, and the Prometheus scrape: no session at all
PROBES = {"main.health", "main.ready", "metrics"}
PURGE_EVERY = timedelta(seconds=60)  # request-time purges of expired rows, per process

# check_request's answers: why this request found its session ended, or changed
TIMED_OUT, EXPIRED, RIGHTS_ENDED, UNIT_CHANGED = "timed_out", "expired", "rights_ended", "unit_changed"
ENDED_KEY = "auth_ended"  # in the cookie session after an end: why (the next page says so)
UNIT_NOTICE_KEY = "auth_unit_changed"  # in the cookie session: the unit whose rights changed
KEPT_AT_END = ("oidc_pending",)  # a login in progress survives the end of the old session


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_IDLE_SECONDS"])


def absolute_limit() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_ABSOLUTE_SECONDS"])


def recheck_interval() -> timedelta:
    return timedelta(seconds=current_app.config["STAFF_RIGHTS_RECHECK_SECONDS"])


def now() -> datetime:
    return current_app.extensions["clock"].now()


@dataclass
class CitizenUser(UserMixin):
    sid: str
    personnummer: str
    name: str | None
    kind: str = "citizen"

    def get_id(self) -> str:
        return self.sid


@dataclass
class StaffUser(UserMixin):
    sid: str
    hsa_id: str
    name: str | None
    unit_id: str | None = None
    unit_name: str | None = None
    provider_id: str | None = None
    provider_name: str | None = None
    role: str | None = None
    kind: str = "staff"
    extra: dict = field(default_factory=dict)

    def get_id(self) -> str:
        return self.sid


def user_from_row(sid: str, row: AuthSession):
    if row.kind == "citizen":
        return CitizenUser(sid, row.subject, row.display_name)
    user = StaffUser(sid, row.subject, row.display_name, unit_id=row.unit_id, role=row.role)
    if row.unit_id:
        unit = db.session().get(CareUnit, row.unit_id)
        if unit is not None:
            user.unit_name, user.provider_id, user.provider_name = unit.name, unit.provider_id, unit.provider.name
    return user


def load_user(sid: str):
    row = g.get("auth_row")
    if row is None or row.sid_hash != _hash(sid):
        return None
    return user_from_row(sid, row)


# --- expiry and purging ---------------------------------------------------------------------------

def expiry_reason(row: AuthSession, t: datetime, idle: timedelta, absolute: timedelta) -> str | None:
    """Why the session has ended by itself at `t` (idle too long, or alive too long), or None."""
    if t - row.last_activity_at > idle:
        return TIMED_OUT
    if t - row.created_at >= absolute:
        return EXPIRED
    return None


def purge(s: Session, t: datetime, idle: timedelta, absolute: timedelta) -> int:
    """Delete every session expired at `t` (the same rule as expiry_reason). Returns how many; not committed."""
    result = s.execute(
        delete(AuthSession).where(or_(AuthSession.last_activity_at < t - idle, AuthSession.created_at <= t - absolute))
        .execution_options(synchronize_session=False))
    return db.rowcount(result)


def purge_expired(s: Session) -> int:
    """purge() at the app's clock and limits."""
    return purge(s, now(), idle_limit(), absolute_limit())


def _purge_now_and_then(s: Session, t: datetime) -> None:
    last = current_app.extensions.get("auth_sessions_purged_at")
    if last is not None and last <= t < last + PURGE_EVERY:
        return
    current_app.extensions["auth_sessions_purged_at"] = t
    purge(s, t, idle_limit(), absolute_limit())
    s.commit()  # even when nothing went: SQLite holds its write lock until the transaction ends


# --- login, unit, logout ----------------------------------------------------------------------------

def start(kind: str, subject: str, name: str | None, broker: str, id_token: str | None):
    """A fresh session after a successful login: the old session (and its CSRF token) is discarded, and so is
    the browser's earlier session row, of either kind (a citizen logging in where staff were, or the other
    way round), with every expired row."""
    s = db.session()
    earlier = session.get("_user_id")
    if isinstance(earlier, str):
        s.execute(delete(AuthSession).where(AuthSession.sid_hash == _hash(earlier))
                  .execution_options(synchronize_session=False))
    purge_expired(s)
    session.clear()
    sid = secrets.token_urlsafe(32)
    t = now()
    row = AuthSession(sid_hash=_hash(sid), kind=kind, subject=subject, display_name=name, broker=broker,
                      id_token=id_token, created_at=t, last_activity_at=t,
                      rights_checked_at=t if kind == "staff" else None)
    s.add(row)
    s.commit()
    g.auth_row = row
    user = user_from_row(sid, row)
    login_user(user)
    session.permanent = True
    return user


def current_row() -> AuthSession | None:
    return g.get("auth_row")


def set_unit(unit_id: str, role: str) -> None:
    """The unit chosen among those the HSA directory offers now: the rights were checked just now."""
    row = current_row()
    assert row is not None  # called for a logged-in user only
    row.unit_id, row.role, row.rights_checked_at = unit_id, role, now()
    db.session().commit()


def set_role(role: str) -> None:
    """A role without a unit (the staff statistics' STATISTIK): the rights were checked just now."""
    row = current_row()
    assert row is not None  # called for a logged-in user only
    row.unit_id, row.role, row.rights_checked_at = None, role, now()
    db.session().commit()


def end() -> AuthSession | None:
    """End the current session everywhere (server row and cookie). Returns the ended row."""
    row = current_row()
    if row is not None:
        s = db.session()
        s.execute(delete(AuthSession).where(AuthSession.sid_hash == row.sid_hash)
                  .execution_options(synchronize_session=False))
        s.commit()
    g.auth_row = None
    logout_user()
    session.clear()
    return row


def seconds_left(row: AuthSession) -> int:
    return max(0, int((row.last_activity_at + idle_limit() - now()).total_seconds()))


# --- every request --------------------------------------------------------------------------------

def _ended(s: Session, row: AuthSession | None, reason: str) -> str:
    """Delete the row, forget the cookie session (but a login in progress), remember why."""
    if row is not None:
        s.delete(row)
        s.commit()
    kept = {k: session[k] for k in KEPT_AT_END if k in session}
    session.clear()
    session.update(kept)
    session[ENDED_KEY] = reason
    return reason


def _recheck_staff(s: Session, row: AuthSession, t: datetime) -> str | None:
    """Check the staff member's rights in the HSA directory again when the last check is old enough."""
    last = row.rights_checked_at or row.created_at
    if last <= t < last + recheck_interval():
        return None
    info = hsa_lookup(s, row.subject)
    if row.role == access.ROLE_STATISTICS:  # a statistics login: its rights are the statistics scopes
        from ..adapters.hsa import provider_names

        if not access.statistics_scopes(info, t.date(), provider_names(s)):
            return RIGHTS_ENDED
        row.rights_checked_at = t
        s.commit()
        return None
    units = access.units_offered(info, t.date()) if info else []
    if not units:
        return RIGHTS_ENDED
    row.rights_checked_at = t
    outcome = None
    if row.unit_id and not any(u.unit_id == row.unit_id and u.role == row.role for u in units):
        unit = s.get(CareUnit, row.unit_id)
        session[UNIT_NOTICE_KEY] = unit.name if unit is not None else row.unit_id
        row.unit_id = row.role = None
        outcome = UNIT_CHANGED
    s.commit()
    return outcome


def check_request(endpoint: str | None) -> str | None:
    """Run before every request: load the session, end it if it has expired or the staff member's rights
    are gone, record activity, purge expired rows now and then.

    Returns TIMED_OUT, EXPIRED or RIGHTS_ENDED when this request found the session ended (the row is gone),
    UNIT_CHANGED when the staff member must choose a unit again, else None."""
    g.auth_row = None
    api = (endpoint or "").startswith("api.") and endpoint != "api.reference"
    if endpoint == "static" or endpoint in PROBES or api:
        return None  # the API ignores cookies: systems authenticate with access tokens
    s = db.session()
    t = now()
    sid = session.get("_user_id")
    outcome = None
    if isinstance(sid, str):
        outcome = _check_own(s, sid, t, endpoint)
    _purge_now_and_then(s, t)
    return outcome


def _check_own(s: Session, sid: str, t: datetime, endpoint: str | None) -> str | None:
    row = s.get(AuthSession, _hash(sid))
    if row is None:
        return _ended(s, None, TIMED_OUT)
    reason = expiry_reason(row, t, idle_limit(), absolute_limit())
    if reason is None and row.kind == "staff":
        reason = _recheck_staff(s, row, t)
    if reason in (TIMED_OUT, EXPIRED, RIGHTS_ENDED):
        return _ended(s, row, reason)
    g.auth_row = row
    if endpoint not in NOT_ACTIVITY and (t - row.last_activity_at).total_seconds() >= 1:
        row.last_activity_at = t
        s.commit()
    return reason
