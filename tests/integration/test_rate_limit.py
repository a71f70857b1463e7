"""The login rate limit counts per real client address (behind PROXY_COUNT trusted proxies, through werkzeug's
ProxyFix) in the database, so that one address cannot lock everyone out and every app process counts
together: two app instances on the same database, and separate processes, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy import select

from conftest import NOW, ROOT, LiveServer, PortalBrowser, free_port, make_test_app
from portal import db
from portal.auth import limiter
from portal.domain import demo

ORDINARY = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
CALLBACK = "/inloggning/bankid/callback?code=x&state=y"  # no login in progress: a quick 400, no broker needed


@pytest.fixture(autouse=True)
def limiter_off_afterwards():
    """The limiter object is one per process: the apps of other tests run without it."""
    yield
    limiter.enabled = False


def limited_app(url: str, **overrides):
    config = {"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", "PROXY_COUNT": 1}
    return make_test_app(url, **(config | overrides))


def hit(client, address: str | None = None, *, forwarded: str | None = None, remote: str = "127.0.0.1") -> str:
    """One callback request: "ok" (let through: the callback refuses it, 400) or "429"."""
    headers = {"X-Forwarded-For": forwarded or address} if (forwarded or address) else {}
    status = client.get(CALLBACK, headers=headers, environ_base={"REMOTE_ADDR": remote}).status_code
    return "429" if status == 429 else "ok"


def counters(app) -> dict[str, int]:
    from portal.models import RateLimit

    with db.new_session(app) as s:
        return {k: n for k, n in s.execute(select(RateLimit.key, RateLimit.hits))}


def test_one_address_is_limited_while_another_still_logs_in(tmp_path):
    port = free_port()
    app = limited_app(f"sqlite:///{tmp_path / 'rl.sqlite'}", AUTO_MIGRATE=True,
                      PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    with LiveServer(app, port):
        noisy = PortalBrowser(f"http://127.0.0.1:{port}")
        noisy.http.headers["X-Forwarded-For"] = "203.0.113.5"  # as the proxy in front adds it
        statuses = [noisy.get("/inloggning/bankid", allow_redirects=False).status_code for _ in range(4)]
        assert statuses == [303, 303, 303, 429]
        page = noisy.get("/inloggning/bankid")
        assert page.status_code == 429 and "För många försök" in page.text
        other = PortalBrowser(f"http://127.0.0.1:{port}")
        other.http.headers["X-Forwarded-For"] = "198.51.100.7"
        assert other.login("bankid", ORDINARY).url.endswith("/mina-intyg/")  # the proxy's address is not locked
    keys = counters(app)
    assert keys["LIMITER/203.0.113.5/auth.login/3/1/minute"] == 5
    assert keys["LIMITER/198.51.100.7/auth.login/3/1/minute"] == 1
    assert not any("/127.0.0.1/" in k for k in keys)  # never the proxy's own address


def test_without_a_configured_proxy_x_forwarded_for_is_not_believed(tmp_path):
    app = limited_app(f"sqlite:///{tmp_path / 'rl.sqlite'}", AUTO_MIGRATE=True, PROXY_COUNT=0)
    client = app.test_client()
    statuses = [hit(client, f"192.0.2.{n}", remote="203.0.113.20") for n in range(4)]
    assert statuses == ["ok", "ok", "ok", "429"]  # a client that invents addresses is still one address
    assert list(counters(app)) == ["LIMITER/203.0.113.20/auth.callback/3/1/minute"]


def test_only_the_address_the_trusted_proxy_saw_counts(tmp_path):
    """X-Forwarded-For: what the client sent, then what our one proxy saw. Only the last is believed."""
    app = limited_app(f"sqlite:///{tmp_path / 'rl.sqlite'}", AUTO_MIGRATE=True)
    client = app.test_client()
    statuses = [hit(client, forwarded=f"10.0.0.{n}, 203.0.113.30") for n in range(4)]
    assert statuses == ["ok", "ok", "ok", "429"]
    assert hit(client, forwarded="203.0.113.30, 203.0.113.31") == "ok"  # another client behind the proxy


def test_two_app_instances_on_one_database_count_together(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first, second = limited_app(url, AUTO_MIGRATE=True), limited_app(url, AUTO_MIGRATE=False)
    elsewhere = limited_app(f"sqlite:///{tmp_path / 'other.sqlite'}", AUTO_MIGRATE=True)
    a, b = first.test_client(), second.test_client()
    assert [hit(a, "203.0.113.40"), hit(b, "203.0.113.40"), hit(a, "203.0.113.40")] == ["ok", "ok", "ok"]
    assert hit(b, "203.0.113.40") == "429" and hit(a, "203.0.113.40") == "429"
    # an app on another database keeps its own counters (it is the database that is shared)
    assert hit(elsewhere.test_client(), "203.0.113.40") == "ok"
    assert counters(second) == {"LIMITER/203.0.113.40/auth.callback/3/1/minute": 5}


PROCESS = """
import json, sys, time
from conftest import make_test_app
url, address, hits, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
app = make_test_app(url, AUTO_MIGRATE=False, RATELIMIT_ENABLED=True, PROXY_COUNT=1, LOGIN_RATE_LIMIT="12 per minute")
client = app.test_client()
time.sleep(max(0.0, start_at - time.time()))  # start together with the other process
print(json.dumps([client.get("/inloggning/bankid/callback?code=x&state=y",
                             headers={"X-Forwarded-For": address}).status_code for _ in range(hits)]))
"""


def test_separate_processes_count_together(db_url):
    """Two processes (as gunicorn's workers) hit the same limit at the same time: 12 get through, not 24."""
    address = f"203.0.113.{50 if db_url.startswith('sqlite') else 51}"
    app = limited_app(db_url, LOGIN_RATE_LIMIT="12 per minute")  # migrates the database if need be
    start_at = f"{time.time() + 3:.3f}"
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, db_url, address, "10", start_at], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    let_through = sum(status != 429 for status in results[0] + results[1])
    assert let_through == 12, results
    assert hit(app.test_client(), address) == "429"  # and this process counts with them
    db.get_engine(app).dispose()


# --- the storage itself --------------------------------------------------------------------------

class FakeTime:
    def __init__(self, at: float):
        self.now = at

    def time(self) -> float:
        return self.now


@pytest.fixture
def store(app, monkeypatch):
    from portal.auth import rate_store

    clock = FakeTime(datetime(2026, 11, 23, 9, 0).timestamp())
    monkeypatch.setattr(rate_store, "time", clock)
    storage = rate_store.DatabaseStorage(engine=db.get_engine(app))
    storage.clock = clock  # type: ignore[attr-defined]
    return storage


def test_a_window_starts_at_the_first_hit_and_a_new_one_after_it_ends(store):
    assert [store.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert store.get("k") == 3 and store.get_expiry("k") == store.clock.now + 60
    store.clock.now += 59
    assert store.incr("k", 60) == 4
    store.clock.now += 1
    assert store.get("k") == 0
    assert store.incr("k", 60, amount=2) == 2 and store.get_expiry("k") == store.clock.now + 60


def test_clear_reset_check_and_long_keys(store):
    long = "LIMITER/" + "a" * 1000
    assert store.incr(long, 60) == 1 and store.incr(long, 60) == 2
    assert store.get(long) == 2 and store.get(long + "b") == 0
    store.incr("k", 60)
    store.clear("k")
    assert store.get("k") == 0 and store.get(long) == 2
    assert store.check() is True
    assert store.reset() == 1 and store.get(long) == 0


def test_ended_counters_are_deleted_as_the_store_goes(app, store):
    store.incr("old", 60)
    store.clock.now += 120
    store.incr("new", 60)  # more than a minute after the last clean-up
    assert set(counters(app)) == {"new"}
