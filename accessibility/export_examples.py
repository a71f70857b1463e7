"""Background export progress pages for the accessibility crawl (test support, not the app).

A job is seen only in the login session that asked for it (portal/rehab/exports.py), and the crawl logs in
afresh for each language and user. So the examples are made up front, one per state (pending, done,
failed) for each crawl user, with fixed tokens, and each time the crawl has logged in (`crawl.AFTER_LOGIN`)
they are handed to that login session. Their table names no patient."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from portal import db, export
from portal.models import AuthSession, ExportJob
from portal.repository import export_jobs as jobs

STATES = (jobs.PENDING, jobs.DONE, jobs.FAILED)
UNBOUND = "crawl-not-logged-in-yet"


def token(who: str, state: str) -> str:
    """A fixed token (shaped like a real one) for a crawl user's example job in a state."""
    digest = hashlib.sha256(f"a11y-export:{who}:{state}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _table(now: datetime) -> str:
    from portal.rehab.exports import table_to_json

    return table_to_json(export.Table(title="Pågående sjukfall", unit_name="Vårdcentralen", printed_at=now,
                                      printed_by="Tillgänglighetskontroll", count_text="Visar 0 av 0 sjukfall",
                                      columns=[export.Column("alder", "Ålder", export.NUMBER)], rows=[]))


def a11y_examples(app, users: dict[str, tuple[str, str]]) -> list[tuple[dict, str]]:
    """The progress page in each state for each crawl user ({who: (hsa_id, unit_id)}): (url values, who)."""
    now = app.extensions["clock"].now()
    out: list[tuple[dict, str]] = []
    with db.new_session(app) as s:
        for who, (hsa_id, unit_id) in users.items():
            for i, state in enumerate(STATES):
                t = token(who, state)
                s.execute(delete(ExportJob).where(ExportJob.token_hash == jobs.token_hash(t)))
                done = state == jobs.DONE
                s.add(ExportJob(token_hash=jobs.token_hash(t), state=state,
                                list_name="sjukfall" if i % 2 == 0 else "lakarutlatanden",
                                file_format="pdf" if i % 2 == 0 else "xlsx", language="sv",
                                filename="sjukfall-2026-11-23.pdf", query="personuppgifter=0", row_count=2345,
                                table_json=None if state != jobs.PENDING else _table(now),
                                content=b"%PDF-1.7 crawl" * 100 if done else None,
                                content_size=1400 if done else None, staff_id=hsa_id, unit_id=unit_id,
                                session_key=UNBOUND, created_at=now, expires_at=now + timedelta(hours=1),
                                attempts=1 if state != jobs.PENDING else 0,
                                # the pending one is held by a builder, so that no test's builder makes it
                                lease_until=now + timedelta(days=1) if state == jobs.PENDING else None,
                                finished_at=None if state == jobs.PENDING else now,
                                failure="error: crawl" if state == jobs.FAILED else None))
                out.append(({"token": t}, who))
        s.commit()
    return out


def give_to_login(app, page, who: str) -> None:
    """Hand the crawl user's example jobs to the login session the browser has now (its session cookie)."""
    from portal.auth import sessions

    if not page.url.startswith(app.config["PUBLIC_BASE_URL"].rstrip("/") + "/"):
        return  # logged in to another app's server (the crawl is run for more than one app)
    name = app.config.get("SESSION_COOKIE_NAME", "session")
    cookie = next((c["value"] for c in page.context.cookies() if c["name"] == name), None)
    if cookie is None:
        return
    sid = app.session_interface.get_signing_serializer(app).loads(cookie).get("_user_id")
    if not sid:
        return
    sid_hash = sessions._hash(sid)
    now = app.extensions["clock"].now()
    with db.new_session(app) as s:
        unit = s.scalar(select(AuthSession.unit_id).where(AuthSession.sid_hash == sid_hash))
        values: dict = {"session_key": sid_hash, "expires_at": now + timedelta(hours=1)}
        if unit:
            values["unit_id"] = unit
        s.execute(update(ExportJob).where(ExportJob.token_hash.in_([jobs.token_hash(token(who, st)) for st in STATES]))
                  .values(**values))
        s.commit()
