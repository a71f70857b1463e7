"""Logged-in sessions: kept server-side (auth_sessions), rotated at login, ended at logout and after
30 minutes without activity. The cookie (Flask's signed session) holds only the random session id.

Polling the status (`/session/status`) does not count as activity; every other request does.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, g, session
from flask_login import UserMixin, login_user, logout_user
from sqlalchemy import delete

from .. import db
from ..models import AuthSession, CareUnit

NOT_ACTIVITY = {"auth.session_status", "static"}


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(seconds=current_app.config["SESSION_IDLE_SECONDS"])


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


def start(kind: str, subject: str, name: str | None, broker: str, id_token: str | None):
    """A fresh session after a successful login: the old session (and its CSRF token) is discarded."""
    session.clear()
    sid = secrets.token_urlsafe(32)
    t = now()
    row = AuthSession(sid_hash=_hash(sid), kind=kind, subject=subject, display_name=name, broker=broker,
                      id_token=id_token, created_at=t, last_activity_at=t)
    s = db.session()
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
    row = current_row()
    assert row is not None  # called for a logged-in user only
    row.unit_id, row.role = unit_id, role
    db.session().commit()


def end() -> AuthSession | None:
    """End the current session everywhere (server row and cookie). Returns the ended row."""
    row = current_row()
    if row is not None:
        s = db.session()
        s.execute(delete(AuthSession).where(AuthSession.sid_hash == row.sid_hash))
        s.commit()
    g.auth_row = None
    logout_user()
    session.clear()
    return row


def seconds_left(row: AuthSession) -> int:
    return max(0, int((row.last_activity_at + idle_limit() - now()).total_seconds()))


def check_request(endpoint: str | None) -> str | None:
    """Run before every request: load the session, end it if idle too long, record activity.

    Returns "timed_out" when this request found the session expired."""
    g.auth_row = None
    sid = session.get("_user_id")
    if not sid or endpoint == "static" or (endpoint or "").startswith("api.") and endpoint != "api.reference":
        return None  # the API ignores cookies: systems authenticate with access tokens
    s = db.session()
    row = s.get(AuthSession, _hash(sid))
    t = now()
    if row is None or t - row.last_activity_at > idle_limit():
        if row is not None:
            s.delete(row)
            s.commit()
        session.clear()
        return "timed_out"
    g.auth_row = row
    if endpoint not in NOT_ACTIVITY and (t - row.last_activity_at).total_seconds() >= 1:
        row.last_activity_at = t
        s.commit()
    return None
