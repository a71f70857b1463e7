"""Shared test fixtures: the app on SQLite and PostgreSQL, a live server, and Chromium.

Every test that takes `app` or `client` runs twice: on SQLite and on a throwaway PostgreSQL
cluster that this test run starts and stops itself (skipped only if PostgreSQL is not installed
and PORTAL_REQUIRE_POSTGRES is unset; `make test` sets it, so CI fails rather than skips).
"""
from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from portal import create_app, db
from portal.adapters.clock import FixedClock
from portal.models import Base
from tests.pgcluster import ThrowawayPostgres, free_port, pg_bin

ROOT = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 23, 10, 0, 0)


# --- running in parallel (pytest-xdist) --------------------------------------------------------

#: Under `pytest -n N` the longest tests go first, so the run does not end on one worker finishing a long test
#: while the others wait: the browser checks (accessibility/, then e2e/), then the rest, each in its usual order.
_FIRST_UNDER_XDIST = ("accessibility/", "e2e/")


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # a plain run keeps the usual order
        return

    def rank(item) -> int:
        path = Path(item.path)
        path_text = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else ""
        return next((i for i, prefix in enumerate(_FIRST_UNDER_XDIST) if path_text.startswith(prefix)),
                    len(_FIRST_UNDER_XDIST))

    items.sort(key=rank)  # stable: each group keeps pytest's order


def _run_folder(config) -> Path | None:
    """Under pytest-xdist, a folder this run's workers share (the run's base temp folder), else None."""
    if not hasattr(config, "workerinput"):
        return None
    try:
        return config._tmp_path_factory.getbasetemp().parent  # a worker's is <the run's>/popen-gwN
    except AttributeError:  # pytest's internals moved: one folder per run in the temp folder
        import tempfile

        folder = Path(tempfile.gettempdir()) / f"portal-tests-{config.workerinput['testrunuid']}"
        folder.mkdir(exist_ok=True)
        return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test marked `alone` (it measures timing: Lighthouse's performance score) runs while no other worker of this
    run runs a test: it takes the run's test lock exclusively, every other test shares it. A turnstile lock taken
    first keeps the other workers from starting new tests while an `alone` test waits for theirs to end."""
    folder = _run_folder(item.config)
    if folder is None:
        yield
        return
    import fcntl

    with open(folder / "turnstile.lock", "a") as turnstile, open(folder / "tests.lock", "a") as tests:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if item.get_closest_marker("alone"):
            fcntl.flock(tests, fcntl.LOCK_EX)  # the turnstile stays held until this test ends
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(tests, fcntl.LOCK_SH)
        yield  # both locks are released when the files close


# --- PostgreSQL ------------------------------------------------------------------------------


#: Room the throwaway cluster needs in RAM (its databases are a few MB each; WAL is recycled at each checkpoint).
_RAM_DISK_NEEDED = 2 * 1024**3


def _cluster_directory() -> Path | None:
    """A fresh folder for the test cluster on /dev/shm (a RAM disk) when it has room, else None (the system temp
    folder). The suite creates and drops a database per demo test and truncates every table per test: on a disk
    each of those creates and unlinks files, which cost ~0.3 s a test here, in RAM ~0.04 s. Set
    PORTAL_TEST_PG_ON_DISK=1 to keep it on disk."""
    import tempfile

    shm = Path("/dev/shm")
    if os.environ.get("PORTAL_TEST_PG_ON_DISK") or not shm.is_dir() or not os.access(shm, os.W_OK):
        return None
    try:
        if shutil.disk_usage(shm).free < _RAM_DISK_NEEDED:
            return None
        return Path(tempfile.mkdtemp(prefix="portal-pg-", dir=shm))
    except OSError:
        return None


@pytest.fixture(scope="session")
def postgresql_url():
    """A cluster of this test process's own: under pytest-xdist every worker starts (and stops) its own, on its
    own free port and folder, so workers never share a database."""
    if pg_bin() is None:
        if os.environ.get("PORTAL_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is not installed (sudo apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    pg = ThrowawayPostgres(_cluster_directory())
    try:
        yield pg.start()
    finally:
        pg.stop()  # also when start() failed half-way: stops what runs, removes the folder


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'portal.sqlite'}"


_migrated: set[str] = set()


def _clean(engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f"DELETE FROM {t}"))


def _checkpoint_file(url: str) -> Path:
    """Each test database's PDL checkpoint file (an append-only file outside the database)."""
    import hashlib
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"portal-test-checkpoints-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".log")


def make_test_app(url: str, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": url,
        "AUTO_MIGRATE": url not in _migrated,
        "SECRET_KEY": "test-secret-key",
        "SESSION_COOKIE_SECURE": False,
        "PORTAL_ENV": "test",
        "CLOCK": FixedClock(NOW),
        "RATELIMIT_ENABLED": False,
        "TEST_BROKER_ENABLED": True,
        "RECIPIENT_SIMULATOR_ENABLED": True,
        "PUBLIC_BASE_URL": "http://localhost",
        "PDL_CHAIN_KEY": "test-pdl-chain-key",
        "PDL_CHECKPOINT_KEY": "test-pdl-checkpoint-key",
        "PDL_CHECKPOINT_FILE": str(_checkpoint_file(url)),
    }
    config.update(overrides)
    app = create_app(config)
    _migrated.add(url)
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


class DemoCopies:
    """The small demo data set, loaded once per database kind into a template, and a fresh copy of it for
    every test that asks for `demo` (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL):
    loading the set takes about a second, a copy a few milliseconds, and no test sees another's changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.templates: dict[str, str] = {}
        self.count = 0

    def template(self, base_url: str) -> str:
        if base_url not in self.templates:
            if base_url.startswith("sqlite"):
                url = f"sqlite:///{self.folder / 'demo-template.sqlite'}"
            else:
                self._admin(base_url, "CREATE DATABASE demo_template")
                url = base_url.rsplit("/", 1)[0] + "/demo_template"
            app = make_test_app(url, AUTO_MIGRATE=True)
            load_demo(app)
            db.get_engine(app).dispose()
            self.templates[base_url] = url
        return self.templates[base_url]

    def copy(self, base_url: str) -> str:
        template = self.template(base_url)
        self.count += 1
        if base_url.startswith("sqlite"):
            target = self.folder / f"demo-{self.count}.sqlite"
            shutil.copyfile(template.removeprefix("sqlite:///"), target)
            return f"sqlite:///{target}"
        name = f"demo_{self.count}"
        self._admin(base_url, f"CREATE DATABASE {name} TEMPLATE demo_template")
        return base_url.rsplit("/", 1)[0] + f"/{name}"

    def drop(self, base_url: str, url: str) -> None:
        if base_url.startswith("sqlite"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            self._admin(base_url, f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    @staticmethod
    def _admin(base_url: str, statement: str) -> None:
        from sqlalchemy import create_engine

        engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def demo_copies(tmp_path_factory) -> DemoCopies:
    return DemoCopies(tmp_path_factory.mktemp("demo-copies"))


@pytest.fixture
def app(request, db_url):
    if "demo" in request.fixturenames:  # a fresh copy of the demo data set (see DemoCopies)
        copies: DemoCopies = request.getfixturevalue("demo_copies")
        url = copies.copy(db_url)
        app = make_test_app(url, AUTO_MIGRATE=False)
        yield app
        db.get_engine(app).dispose()
        copies.drop(db_url, url)
        return
    app = make_test_app(db_url)
    _clean(db.get_engine(app))
    yield app
    db.get_engine(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def clock(app) -> FixedClock:
    return app.extensions["clock"]


@pytest.fixture
def session(app):
    with db.new_session(app) as s:
        yield s


# --- a live server and Chromium ---------------------------------------------------------------

class LiveServer:
    """The app served on 127.0.0.1 in a thread. Give the app PUBLIC_BASE_URL=f"http://127.0.0.1:{port}"
    (the OIDC client talks to the embedded broker through it) and the same port here."""

    def __init__(self, app, port: int | None = None):
        from werkzeug.serving import make_server

        self.app = app
        if port is None:
            base = app.config["PUBLIC_BASE_URL"]
            port = int(base.rsplit(":", 1)[1]) if base.count(":") == 2 else 0
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


def load_demo(app) -> None:
    from portal.domain import demo
    from portal.repository import intake

    registry = app.extensions["certificate_types"]
    with db.new_session(app) as s:
        problems, _ = intake.load(s, demo.small(today=NOW.date(), seed=20261123, registry=registry), registry)
    assert problems == [], problems[:5]
    from portal.repository import statistics

    with db.new_session(app) as s:  # as `portal demo-data` does: Intygsstatistik's tables filled
        statistics.run(s, registry, statistics.statistics_key(app.config), NOW)


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory, demo_copies, sqlite_url):
    """The portal on its own SQLite file with the small demo data set, for e2e and accessibility: a copy of the
    SQLite demo template (DemoCopies), so a test process loads the set once for both."""
    path = tmp_path_factory.mktemp("demo") / "portal.sqlite"
    shutil.copyfile(demo_copies.template(sqlite_url).removeprefix("sqlite:///"), path)
    return make_test_app(f"sqlite:///{path}", AUTO_MIGRATE=False, PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}")


@pytest.fixture(scope="session")
def live_server(demo_app):
    with LiveServer(demo_app) as server:
        yield server


CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium-home")
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
               TMPDIR=str(home))
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
        yield b
        b.close()


def new_context(browser, base_url: str, *, lang: str = "sv", width: int = 1280, height: int = 900,
                javascript: bool = True):
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height},
                                  java_script_enabled=javascript, locale="sv-SE" if lang == "sv" else "en-GB")
    host = base_url.split("//", 1)[1].split(":")[0]
    context.add_cookies([{"name": "lang", "value": lang, "domain": host, "path": "/"}])
    return context


@pytest.fixture(params=["sv", "en"])
def lang(request) -> str:
    return request.param


@pytest.fixture
def page(browser, live_server, lang):
    context = new_context(browser, live_server.url, lang=lang)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def live(live_server):
    """The shared live server, with its clock and the test broker's faults reset after the test."""
    app = live_server.app
    yield live_server
    app.extensions["clock"].set(NOW)
    broker = app.extensions.get("testbroker")
    if broker is not None:
        broker.faults.clear()
    app.extensions["person_service"].mode = "ok"
    if "recipient_sim" in app.extensions:
        app.extensions["recipient_sim"].reset()


class PortalBrowser:
    """A user agent made of requests: follows redirects, fills in the test broker's login form."""

    def __init__(self, base_url: str, lang: str = "sv"):
        import requests

        self.base = base_url
        self.http = requests.Session()
        self.http.cookies.set("lang", lang, domain="127.0.0.1", path="/")

    def get(self, path: str, **kw):
        return self.http.get(path if path.startswith("http") else self.base + path, **kw)

    def post(self, path: str, data: dict | None = None, **kw):
        return self.http.post(path if path.startswith("http") else self.base + path, data=data, **kw)

    @staticmethod
    def form(html: str, action_contains: str = "") -> tuple[str, dict]:
        """The first form (whose action contains the text): its action and its hidden fields."""
        import html as html_lib
        import re

        for m in re.finditer(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', html, re.S):
            action = html_lib.unescape(m.group(1))
            if action_contains in action:
                fields = {html_lib.unescape(n): html_lib.unescape(v) for n, v in
                          re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', m.group(2))}
                return action, fields
        raise AssertionError(f"no form with action containing {action_contains!r}")

    def csrf(self, html: str) -> str:
        import re

        return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)

    def start_login(self, broker: str):
        """Start a login and stop at the broker's login page."""
        page = self.get(f"/inloggning/{broker}")
        assert "/testbroker/" in page.url, page.url
        return page

    def choose(self, page, identity: str | None = None, other: str | None = None, action: str = "login",
               follow: bool = True):
        action_url, fields = self.form(page.text, "/authorize")
        fields.update(identity="other" if other is not None else identity, action=action)
        if other is not None:
            fields["other_value"] = other
        return self.post(action_url if action_url.startswith("http") else self.base + action_url, fields,
                         allow_redirects=follow)

    def login(self, broker: str, identity: str | None = None, other: str | None = None):
        return self.choose(self.start_login(broker), identity, other)

    def logged_in(self) -> bool:
        return self.get("/session/status").json()["logged_in"]


def session_login(client, app, kind: str, subject: str, *, unit_id: str | None = None, role: str | None = None,
                  name: str | None = None) -> None:
    """Log a test client in directly (the login flow itself is tested in tests/integration/test_login.py)."""
    import secrets

    from portal.auth import sessions
    from portal.models import AuthSession

    sid = secrets.token_urlsafe(32)
    now = app.extensions["clock"].now()
    with db.new_session(app) as s:
        s.add(AuthSession(sid_hash=sessions._hash(sid), kind=kind, subject=subject, display_name=name, unit_id=unit_id,
                          role=role, broker="bankid" if kind == "citizen" else "siths", id_token=None, created_at=now,
                          last_activity_at=now))
        s.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = sid
        sess["_fresh"] = True


@pytest.fixture
def demo(app):
    """The app fixture (SQLite and PostgreSQL) on a fresh copy of the small demo data set."""
    return app
