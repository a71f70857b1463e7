"""Logs and metrics for operations (issue 13): one JSON log line per record with the request id the response
returns, no personnummer in any line, and Prometheus metrics at /metrics (request latency by route, the outbox's
depth and age, delivery outcomes, person-service errors) for loopback or a token only, without a session.

prometheus_client's registry lives as long as the process, so every metrics test reads the values before and
after what it does."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from conftest import ROOT, free_port, make_test_app
from portal import db, observability
from portal.adapters.person_service import PersonServiceUnavailable
from portal.adapters.recipients import DeliveryFailed
from portal.config import ConfigError, from_env, log_format
from portal.models import Certificate
from portal.worker import deliver_due

from .test_outbox import request, sendable

PNR = "19850314-9828"
PNR_FORMS = (PNR, "198503149828", "850314-9828", "8503149828", "19850314%2D9828")
ELSEWHERE = {"REMOTE_ADDR": "10.1.2.3"}
TOKEN = "metrics-token-" + "x" * 32


# --- helpers -------------------------------------------------------------------------------------------------

class Logs:
    """What the portal's log handler writes while a test runs, configured as LOG_FORMAT=json configures it."""

    def __init__(self):
        self.stream = io.StringIO()
        self.raw = ""

    def read(self) -> list[dict]:
        self.raw = self.stream.getvalue()
        return [json.loads(line) for line in self.raw.splitlines() if line.strip()]  # every line is one object


@pytest.fixture
def json_logs(app):
    logs = Logs()
    observability.configure_logging("json", stream=logs.stream)
    yield logs
    observability.configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])


def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- logs ----------------------------------------------------------------------------------------------------

def test_every_request_has_one_json_access_line_with_the_route_and_the_request_id_it_returns(client, json_logs):
    response = client.get("/intygstyper/FK7804?sida=2")
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = json_logs.read()
    access = [line for line in lines if line["logger"] == "portal.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == request_id and line["level"] == "INFO"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/intygstyper/<code>", 200)
    assert line["bytes"] > 0 and line["duration_ms"] >= 0
    assert line["message"].startswith("GET /intygstyper/<code> 200 ")
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert "FK7804" not in json_logs.raw and "sida" not in json_logs.raw  # the route, not the path or the query


def test_a_personnummer_in_the_path_or_the_query_reaches_no_log_line(client, json_logs):
    response = client.get(f"/mina-intyg/intyg/{PNR}/nope/{PNR}?fritext={PNR}&pnr=198503149828")
    client.get(f"/nope/{PNR}")
    lines = json_logs.read()
    assert len(lines) >= 3  # the error page's line, and an access line per request
    assert not any(form in json_logs.raw for form in PNR_FORMS), json_logs.raw
    assert "1985****-****" in json_logs.raw  # the error line names the path, masked
    own = [line for line in lines if line.get("request_id") == response.headers["X-Request-ID"]]
    assert sorted(line["logger"] for line in own) == ["portal.access", "portal.errors"]
    assert all(line["route"] == "unmatched" for line in lines if line["logger"] == "portal.access")


def test_a_record_logged_during_a_request_carries_its_request_id_and_a_masked_traceback(app, json_logs):
    def fails():
        try:
            raise ValueError(f"no answer for {PNR}")
        except ValueError:
            logging.getLogger("portal.test").exception("lookup failed for %s", "198503149828")
        return "handled"

    app.add_url_rule("/test-observability-fails", "test_observability_fails", fails)
    response = app.test_client().get("/test-observability-fails")
    assert response.status_code == 200
    lines = json_logs.read()
    logged = next(line for line in lines if line["logger"] == "portal.test")
    assert logged["level"] == "ERROR" and logged["request_id"] == response.headers["X-Request-ID"]
    assert logged["message"] == "lookup failed for 1985****-****"
    assert "ValueError: no answer for 1985****-****" in logged["exc_info"]
    assert not any(form in json_logs.raw for form in PNR_FORMS)


def test_a_well_formed_incoming_request_id_is_kept_and_a_malformed_one_replaced(client, json_logs):
    for incoming in ("lb-7f3a.2_x", "A" * 64):
        response = client.get("/healthz", headers={"X-Request-ID": incoming})
        assert response.headers["X-Request-ID"] == incoming
    for incoming in ("", "A" * 65, "has space", "semi;colon", '"quoted"', "<b>", "åäö", "a/b", PNR, "198503149828"):
        response = client.get("/healthz", headers={"X-Request-ID": incoming})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), incoming
    lines = [line for line in json_logs.read() if line["logger"] == "portal.access"]
    assert [line["request_id"] for line in lines[:2]] == ["lb-7f3a.2_x", "A" * 64]
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in lines[2:])


def test_log_format_is_json_in_production_and_text_elsewhere_and_nothing_else(db_url, monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert log_format("production") == "json" and log_format("development") == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert log_format("development") == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT must be json or text"):
        from_env()
    app = make_test_app(db_url, LOG_FORMAT="json")
    try:
        ours = [h for h in logging.getLogger().handlers if getattr(h, "portal_handler", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, observability.JsonFormatter)
    finally:
        observability.configure_logging("text")
        db.get_engine(app).dispose()


# --- metrics -------------------------------------------------------------------------------------------------

def test_metrics_shows_the_request_latency_by_route_method_and_status_class(client):
    before = scrape(client)
    client.get("/intygstyper/FK7804")
    client.get("/intygstyper/AG7804")
    client.get(f"/nope/{PNR}")
    after = scrape(client)
    ok = {"route": "/intygstyper/<code>", "method": "GET", "status_class": "2xx"}
    assert grew(before, after, "portal_http_request_duration_seconds_count", **ok) == 2
    assert grew(before, after, "portal_http_request_duration_seconds_bucket", le="+Inf", **ok) == 2
    assert grew(before, after, "portal_http_request_duration_seconds_count", route="unmatched", method="GET",
                status_class="4xx") == 1
    assert not any(PNR in str(key) or "FK7804" in str(key) for key in after)


def test_the_outbox_gauges_show_a_pending_send_and_how_long_it_has_waited(demo, client):
    before = scrape(client)
    assert value(before, "portal_database_up") == 1
    request(demo, sendable(demo)[0])
    demo.extensions["clock"].advance(seconds=90)
    after = scrape(client)
    assert grew(before, after, "portal_outbox_pending", recipient="FK") == 1
    age = value(after, "portal_outbox_oldest_pending_age_seconds", recipient="FK")
    assert age == 90 if value(before, "portal_outbox_pending", recipient="FK") == 0 else age >= 90
    assert ("portal_outbox_pending", frozenset({("recipient", "TS")})) in after  # every recipient, 0 included
    demo.extensions["recipient_transport"] = Recipient()
    try:
        deliver_due(demo)
    finally:
        demo.extensions.pop("recipient_transport")
    assert value(scrape(client), "portal_outbox_pending", recipient="FK") == value(before, "portal_outbox_pending",
                                                                                  recipient="FK")


class Recipient:
    """A recipient that takes every delivery, or fails each with `failure`."""

    def __init__(self, failure: DeliveryFailed | None = None):
        self.failure = failure

    def deliver(self, recipient, key, payload):
        if self.failure is not None:
            raise self.failure


def _pass(app, recipient: Recipient) -> dict[str, int]:
    app.extensions["recipient_transport"] = recipient
    try:
        return deliver_due(app)
    finally:
        app.extensions.pop("recipient_transport")


def test_the_delivery_outcomes_are_counted_by_recipient_after_each_worker_pass(demo, client):
    demo.extensions["outbox_random"] = lambda: 0.5
    clock = demo.extensions["clock"]
    first, second, third, fourth = sendable(demo, 4)
    before = scrape(client)

    request(demo, first)
    assert _pass(demo, Recipient())["delivered"] == 1
    request(demo, second)
    assert _pass(demo, Recipient(DeliveryFailed("FK answered 503", maybe_received=True)))["retried"] == 1
    request(demo, third)
    assert _pass(demo, Recipient(DeliveryFailed("FK answered 400", permanent=True)))["failed"] == 1
    request(demo, fourth)
    with db.new_session(demo) as s:
        s.execute(update(Certificate).where(Certificate.id == fourth.id).values(revoked_at=clock.now()))
        s.commit()
    assert _pass(demo, Recipient())["failed"] == 1  # revoked since the request: refused, not posted
    clock.advance(seconds=int(demo.config.get("SEND_GIVE_UP_AFTER", 86400)) + 60)
    assert _pass(demo, Recipient(DeliveryFailed("FK answered 503")))["failed"] == 1  # the second, given up

    after = scrape(client)
    for outcome in ("delivered", "retry", "rejected", "refused", "gave_up"):
        assert grew(before, after, "portal_delivery_outcomes_total", recipient="FK", outcome=outcome) == 1, outcome


def test_person_service_errors_are_counted_by_reason(app, client):
    persons = app.extensions["person_service"]
    before = scrape(client)
    persons.mode = "fail"
    with pytest.raises(PersonServiceUnavailable):
        persons.lookup([PNR])
    persons.mode, persons.timeout, persons.slow_seconds = "slow", 0.01, 1.0
    with pytest.raises(PersonServiceUnavailable):
        persons.lookup([PNR])
    persons.mode = "ok"
    persons.lookup([PNR])
    after = scrape(client)
    assert grew(before, after, "portal_person_service_errors_total", reason="unavailable") == 1
    assert grew(before, after, "portal_person_service_errors_total", reason="timeout") == 1


def test_metrics_answers_loopback_or_the_token_and_is_a_404_for_everyone_else(app, client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base=ELSEWHERE).status_code == 404
    # a reverse proxy on the same machine connects from loopback on behalf of anyone
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": f"Bearer {TOKEN}"}
                      ).status_code == 404  # no token configured: no token accepted
    app.config["METRICS_TOKEN"] = TOKEN
    for wrong in ("", f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN):
        assert client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": wrong}).status_code == 404
    response = client.get("/metrics", environ_base=ELSEWHERE, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and b"portal_http_request_duration_seconds" in response.data
    assert response.headers["Cache-Control"] == "no-store"


def test_metrics_sets_no_cookie_and_starts_no_session(app, client):
    for environ in ({}, ELSEWHERE):
        response = client.get("/metrics", environ_base=environ)
        assert "Set-Cookie" not in response.headers
        assert response.headers["X-Request-ID"]
    assert client.get_cookie("session") is None
    assert "metrics" in __import__("portal.auth.sessions", fromlist=["PROBES"]).PROBES


# --- the processes -------------------------------------------------------------------------------------------

def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = dict(os.environ, PORTAL_ENV="development", DATABASE_URL=url, SECRET_KEY="x" * 40, LOG_FORMAT="json",
               PDL_CHECKPOINT_FILE=str(tmp_path / "cp.log"), OUTBOX_WORKER_EMBEDDED="0", PORTAL_AUTO_MIGRATE="0",
               PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _wait_for(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process ended"
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def test_under_gunicorn_every_line_is_json_and_metrics_add_up_every_process(tmp_path):
    """Two gunicorn workers that are each replaced after 5 requests: /metrics counts every request once, whichever
    process (living or dead) answered it; gunicorn's own lines and its access lines are JSON on stderr."""
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    db.get_engine(make_test_app(url, AUTO_MIGRATE=True)).dispose()  # migrated once, before the processes
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--no-control-socket", "--workers", "2", "--max-requests",
         "5", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "portal:create_app()"],
        cwd=ROOT, env=_env(tmp_path, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/readyz", proc)
        ids: list[str] = []
        lock = threading.Lock()

        def get(n: int) -> None:
            for _ in range(n):
                answer = requests.get(f"{base}/healthz", timeout=30)
                with lock:
                    ids.append(answer.headers["X-Request-ID"])

        threads = [threading.Thread(target=get, args=(6,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        hidden = requests.get(f"{base}/nope/{PNR}?fritext={PNR}", headers={"X-Request-ID": "lb-42"}, timeout=30)
        assert hidden.status_code == 404 and hidden.headers["X-Request-ID"] == "lb-42"
        samples = {(s.name, frozenset(s.labels.items())): s.value for family in
                   text_string_to_metric_families(requests.get(f"{base}/metrics", timeout=30).text)
                   for s in family.samples}
        assert value(samples, "portal_http_request_duration_seconds_count", route="/healthz", method="GET",
                     status_class="2xx") == 18
        assert value(samples, "portal_outbox_pending", recipient="FK") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert out == ""  # the access lines too are on stderr
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is one JSON object
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "gunicorn.access" and line["route"] == "/healthz"]
    assert sorted(line["request_id"] for line in access) == sorted(ids)
    assert all(line["status"] == 200 and line["bytes"] > 0 and line["method"] == "GET" for line in access)
    assert not any(line["logger"] == "portal.access" for line in lines)  # one access line per request, not two
    assert [line["route"] for line in lines if line.get("request_id") == "lb-42" and "route" in line] == ["unmatched"]
    assert not any(form in err for form in PNR_FORMS)


def test_the_delivery_worker_serves_its_own_metrics_on_loopback(tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "portal"), "worker", "--metrics-port", str(port)],
                            env=dict(_env(tmp_path, f"sqlite:///{tmp_path / 'w.sqlite'}"), PORTAL_AUTO_MIGRATE="1",
                                     OUTBOX_WORKER_INTERVAL="0.2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/metrics", proc)
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "# TYPE portal_delivery_outcomes_total counter" in text
    assert "# TYPE portal_person_service_errors_total counter" in text and "process_resident_memory_bytes" in text
    assert proc.returncode == 0 and "outbox worker: stopped" in out
    assert any(json.loads(line)["message"].startswith("delivery worker metrics on http://127.0.0.1:")
               for line in err.splitlines() if line.startswith("{"))
