"""`portal serve-production`: the production topology on this machine (a throwaway PostgreSQL, two gunicorn
processes, one delivery worker, the recipient simulator), driven from outside as a process manager would: ready,
a citizen's send delivered once by the worker process and seen by every app process, a killed worker started
again, and SIGTERM stopping every process and removing the cluster."""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from portal.adapters.clock import SystemClock
from portal.pgcluster import free_port, pg_bin
from portal.topology import alive

ROOT = Path(__file__).resolve().parents[2]
SECRET = "topology-test-" + secrets.token_hex(8)


@pytest.fixture
def topology(tmp_path):
    if pg_bin() is None:
        if os.environ.get("PORTAL_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is not installed (sudo apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    port = free_port()
    state_file, log_file = tmp_path / "state.json", tmp_path / "out.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_ENV")}
    env.update(SECRET_KEY=SECRET, OUTBOX_WORKER_INTERVAL="0.5")
    with log_file.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "serve-production", "--processes", "2",
                                 "--workers", "1", "--threads", "2", "--port", str(port), "--state-file",
                                 str(state_file)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            assert proc.poll() is None, log_file.read_text()[-3000:]
            assert time.monotonic() < deadline, "not ready in 60 s:\n" + log_file.read_text()[-3000:]
            time.sleep(0.2)
        yield proc, json.loads(state_file.read_text()), log_file
    finally:
        if proc.poll() is None:  # the test failed before stopping it
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def login_citizen(database_url: str, pnr: str, name: str) -> requests.Session:
    """A login session row (every process shares the database) and Flask's signed cookie naming it."""
    from flask import Flask

    signer = Flask("topology-test")
    signer.secret_key = SECRET
    sid = secrets.token_urlsafe(32)
    now = SystemClock().now()
    engine = create_engine(database_url)
    with engine.begin() as c:
        c.execute(text("INSERT INTO auth_sessions (sid_hash, kind, subject, display_name, broker, created_at, "
                       "last_activity_at) VALUES (:h, 'citizen', :s, :n, 'bankid', :t, :t)"),
                  {"h": hashlib.sha256(sid.encode()).hexdigest(), "s": pnr, "n": name, "t": now})
    engine.dispose()
    http = requests.Session()
    cookie = signer.session_interface.get_signing_serializer(signer).dumps({"_user_id": sid})  # type: ignore
    http.cookies.set("session", cookie, domain="127.0.0.1", path="/")
    return http


def wait_for(what, seconds: float, message: str):
    deadline = time.monotonic() + seconds
    while True:
        found = what()
        if found:
            return found
        assert time.monotonic() < deadline, message
        time.sleep(0.25)


def test_the_production_topology_serves_delivers_once_restarts_a_worker_and_stops_cleanly(topology):
    proc, state, log_file = topology
    url, pids = state["url"], state["pids"]
    assert len(pids["gunicorn_workers"]) == 2 and len(pids["delivery_workers"]) == 1
    assert all(alive(p) for p in [pids["gunicorn"], *pids["gunicorn_workers"], *pids["delivery_workers"],
                                  pids["simulator"], pids["postgres"]])
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["migrations"] == "current"

    # a delivery worker killed is started again by the supervisor (which says so)
    os.kill(pids["delivery_workers"][0], signal.SIGKILL)
    restarted = wait_for(lambda: re.search(r"delivery worker 1 \(pid \d+\) exited unexpectedly with signal SIGKILL.*"
                                           r"started again as pid (\d+)", log_file.read_text()), 15,
                         "the killed delivery worker was not started again")
    assert alive(int(restarted.group(1)))

    # a citizen sends a certificate to Försäkringskassan through the app processes
    engine = create_engine(state["database_url"])
    with engine.connect() as c:
        candidates = c.execute(text(
            "SELECT c.id, p.personnummer, p.given_name || ' ' || p.family_name FROM certificates c "
            "JOIN persons p ON p.personnummer = c.patient_pnr WHERE c.type_code = 'FK7804' AND c.revoked_at IS NULL "
            "AND NOT p.deceased AND NOT p.validation_person AND c.id NOT IN (SELECT certificate_id FROM sends) "
            "ORDER BY c.signed_at DESC LIMIT 20")).all()
    for cert, pnr, name in candidates:
        http = login_citizen(state["database_url"], pnr, name)
        form = http.get(f"{url}/mina-intyg/intyg/{cert}/skicka", timeout=10)
        assert form.status_code == 200 and html.escape(name) in form.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if token:
            break
    else:
        pytest.fail("no certificate of the demo data could be sent")
    sent = http.post(f"{url}/mina-intyg/intyg/{cert}/skicka", data={"csrf_token": token.group(1), "consent": "yes"},
                     headers={"Origin": url}, allow_redirects=False, timeout=10)
    assert sent.status_code == 303, sent.text[:500]

    # the restarted worker process delivers it, once
    def delivered():
        with engine.connect() as c:
            return c.execute(text("SELECT state FROM sends WHERE certificate_id = :id"), {"id": cert}).scalars().all() \
                == ["DELIVERED"]

    wait_for(delivered, 20, "the send was not delivered")
    with engine.connect() as c:
        received = c.execute(text("SELECT count(*) FROM sim_deliveries WHERE certificate_id = :id"),
                             {"id": cert}).scalar_one()
    engine.dispose()
    assert received == 1
    # every app process shows it sent: new connections, so both processes answer some of them
    banners = []
    for _ in range(12):
        page = http.get(f"{url}/mina-intyg/intyg/{cert}", headers={"Connection": "close"}, timeout=10)
        assert page.status_code == 200
        banners.append(re.findall(r'id="(sent|sending|failed)-title"', page.text))
    assert all(b == ["sent"] for b in banners), banners

    # SIGTERM: every process ends, the cluster and the run folder are removed
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log_file.read_text()[-3000:]
    everyone = [pids["gunicorn"], *pids["gunicorn_workers"], int(restarted.group(1)), pids["simulator"],
                pids["postgres"]]
    wait_for(lambda: not any(alive(p) for p in everyone), 10, f"left running: {[p for p in everyone if alive(p)]}")
    assert not Path(state["pg_dir"]).exists() and not Path(state["run_dir"]).exists()
    out = log_file.read_text()
    assert "delivery worker 1" in out and "stopped: exit 0" in out and "PostgreSQL stopped" in out


def test_print_config_shows_each_process_kind_and_hides_the_secrets(monkeypatch):
    from click.testing import CliRunner

    from portal.topology import serve_production_command

    for name in ("DATABASE_URL", "PORTAL_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "do-not-print-me")
    result = CliRunner().invoke(serve_production_command, ["--processes", "3", "--workers", "2", "--print-config"])
    if pg_bin() is None:
        assert result.exit_code != 0 and "PostgreSQL is not installed" in result.output
        return
    assert result.exit_code == 0, result.output
    assert "gunicorn, 3 processes" in result.output and "delivery workers:   2 x" in result.output
    assert "OUTBOX_WORKER_EMBEDDED=0" in result.output and "PORTAL_AUTO_MIGRATE=0" in result.output
    assert "SECRET_KEY=<hidden>" in result.output and "do-not-print-me" not in result.output


@pytest.mark.parametrize("env, message", [
    ({"PORTAL_ENV": "production"}, "production never runs on a throwaway database"),
    ({"DATABASE_URL": "sqlite:///x.sqlite"}, "DATABASE_URL must be PostgreSQL"),
])
def test_serve_production_refuses_what_cannot_be_production(monkeypatch, env, message):
    from click.testing import CliRunner

    from portal.topology import serve_production_command

    for name in ("DATABASE_URL", "PORTAL_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(serve_production_command, ["--print-config"])
    assert result.exit_code != 0 and message in result.output
