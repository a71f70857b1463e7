"""Operations: liveness and readiness for a load balancer, and a delivery worker that stops gracefully
(it finishes the send it is posting and releases the rest of its claimed batch for the other workers)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select, text

from conftest import make_test_app
from portal import db
from portal.models import Send
from portal.worker import deliver_due

from .test_outbox import request, sendable


def test_healthz_says_the_process_is_alive(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_ready_when_the_database_answers_and_the_schema_is_current(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["migrations"] == "current" and body["revision"]


def test_readyz_is_not_ready_while_migrations_are_behind(app, client):
    with db.get_engine(app).begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "not ready", "database": "ok", "migrations": "behind",
                                       "revision": "0009", "head": head}
    finally:
        with db.get_engine(app).begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_readyz_is_not_ready_when_the_database_does_not_answer(tmp_path):
    from conftest import free_port

    app = make_test_app(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=1",
                        AUTO_MIGRATE=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not ready", "database": "unavailable"}


def test_pages_and_the_api_answer_503_with_retry_after_while_the_database_does_not_answer(tmp_path):
    """A PostgreSQL restart or fail-over: the user is told to try again soon (503), not that something broke."""
    from conftest import free_port

    app = make_test_app(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=1",
                        AUTO_MIGRATE=False)
    client = app.test_client()
    client.set_cookie("session", "x" * 40)  # a cookie that sends the request to the login-session store
    page = client.get("/mina-intyg/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Försök igen om en stund" in page.get_data(as_text=True)
    api = client.get("/api/v1/certificates/x", headers={"Authorization": "Bearer x"})
    assert api.status_code in (401, 503)  # the token is refused before any query, or the database is asked


class StopAfterFirst:
    """A recipient that takes one certificate, and meanwhile the worker is told to stop."""

    def __init__(self, stop: threading.Event):
        self.stop, self.posted = stop, []

    def deliver(self, recipient, key, payload):
        self.posted.append(key)
        self.stop.set()


def test_a_worker_told_to_stop_finishes_its_send_and_releases_the_rest_at_once(demo):
    app = demo
    ids = [request(app, cert) for cert in sendable(app, 3)]
    stop = threading.Event()
    recipient = StopAfterFirst(stop)
    app.extensions["recipient_transport"] = recipient
    try:
        counts = deliver_due(app, stop=stop)
    finally:
        app.extensions.pop("recipient_transport")
    assert counts["delivered"] == 1 and counts["released"] == 2 and len(recipient.posted) == 1
    now = app.extensions["clock"].now()
    with db.new_session(app) as s:
        rows = {r.id: r for r in s.scalars(select(Send).where(Send.id.in_(ids)))}
    released = [r for r in rows.values() if r.state == "PENDING"]
    assert len(released) == 2
    assert all(r.attempts == 0 and r.next_attempt_at == now for r in released)  # due at once, no attempt counted
    # another worker takes them at once (not after the 60 s lease)
    second = StopAfterFirst(threading.Event())
    app.extensions["recipient_transport"] = second
    try:
        assert deliver_due(app)["delivered"] == 2
    finally:
        app.extensions.pop("recipient_transport")
    assert sorted(second.posted + recipient.posted) == sorted(r.idempotency_key for r in rows.values())


def test_portal_worker_stops_gracefully_on_sigterm(tmp_path):
    env = dict(os.environ, PORTAL_ENV="development", DATABASE_URL=f"sqlite:///{tmp_path / 'w.sqlite'}",
               SECRET_KEY="x" * 40, OUTBOX_WORKER_INTERVAL="0.2", PYTHONUNBUFFERED="1",
               PDL_CHECKPOINT_FILE=str(tmp_path / "cp.log"))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "portal"), "worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        first = ""
        while "delivering every" not in first and time.monotonic() < deadline:
            first += proc.stdout.readline()
        assert "delivering every" in first
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "outbox worker: stopped" in out
