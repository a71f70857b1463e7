"""A load test of the production topology: citizens and rehab coordinators, many distinct users, a realistic mix.

    .venv/bin/python -m bench.load [--seconds 30] [--max-requests 30000] [--concurrency 24]
                                   [--processes 3] [--workers 2] [--threads 4]
    .venv/bin/python -m bench.load --url http://127.0.0.1:5000 --database-url postgresql+psycopg://...
                                   (attach to a running `portal serve-production`; SECRET_KEY as it has it)

Without --url it starts the topology itself (portal/topology.py: a throwaway PostgreSQL with the small demo data,
gunicorn, delivery workers, the recipient simulator in its own process) and stops it at the end. Loopback only;
bounded by --seconds (after --warmup) and --max-requests.

Users log in the way `conftest.session_login` does it: a login session row in the database (all processes share
it) and Flask's signed session cookie naming it, so no request goes to the test broker and its rate limit. Every
citizen of the demo data who has certificates is a user of their own, and each rehab coordinator (four, on their
units) has several login sessions. The clients are asyncio (aiohttp, `pip install -e '.[bench]'`), so this
process costs little of the two cores the server also needs; it reports its own CPU.

The mix (weights of actions; a send is two requests, the form and the post):
  citizens: the Mina intyg list (a fifth with a filter or sort), a certificate page (a link of the citizen's
  own list), its PDF, a send to the type's recipient (the form, then a real post with its CSRF token and
  consent); coordinators: the ongoing list with filters (half by htmx, the fragment), a patient view (a
  session-bound link of that session's list), the questions list (a third by subject).

Every answer is checked to be the user's own: a citizen's pages name only the citizen and link only their own
certificates, a PDF's file name is one of their certificates'; a coordinator's pages name the coordinator and
the unit and show only personnummer of patients with certificates on the unit (or its sub-units), and link only
the unit's questions. After the run: every send delivered exactly once (the simulator's `sim_deliveries`), a
PDL record for every patient each staff session was shown, and `portal pdl-verify`.

Prints requests/s overall, per kind p50/p95/p99 and page bytes, errors by kind and cause, the CPU each part
used (app processes, PostgreSQL, delivery workers, this client), and the checks.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import io
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from portal.adapters.clock import SystemClock  # noqa: E402
from portal.domain import demo  # noqa: E402

try:
    import aiohttp
except ImportError:  # pragma: no cover
    raise SystemExit("bench.load needs aiohttp: .venv/bin/pip install -e '.[bench]'") from None

#: The actions and their weights (a send is the form and the post: two requests).
MIX = {"citizen_list": 25, "citizen_read": 24, "citizen_pdf": 3, "citizen_send": 3,
       "staff_list": 20, "staff_patient": 15, "staff_questions": 8}
PDF_CACHE = ROOT / "instance" / "pdf-cache"  # the app's PDF_CACHE_DIR default (shared by every process)
KINDS = ("citizen_list", "citizen_read", "citizen_pdf", "citizen_send_form", "citizen_send",
         "staff_list", "staff_patient", "staff_questions")
#: The demo's rehab coordinators and the unit each works on.
COORDINATORS = [(s.hsa_id, f"{s.given} {s.family}", demo.hsa(s.rehab_units[0])) for s in demo.STAFF if s.rehab_units]
STAFF_LIST_FILTERS = ["", "", "kapitel=F00-F99", "langd=lt90", "grad=100", "kon=F", "alder_fran=30&alder_till=60",
                      "sortera=namn&ordning=desc", "arenden=1", "kapitel=M00-M99&langd=90-180", "sortera=langd",
                      "slut_fran={today}", "grad=50&grad=100&sortera=grad"]
CITIZEN_LIST_FILTERS = ["skickat=no", "typ=FK7804", "sortering=oldest", "ar={year}"]
QUESTION_SUBJECTS = ["KOMPLT", "AVSTMN", "KONTKT", "OVRIGT"]
PNR = re.compile(r"\b(\d{8})-(\d{4})\b")
CERT_LINK = re.compile(r'/mina-intyg/intyg/([^"/?#&]+)')
PATIENT_LINK = re.compile(r'href="(/rehabstod/patient/[^"/?#]+)"')
QUESTION_LINK = re.compile(r'href="/rehabstod/fragor/([^"/?#]+)"')
FORM = re.compile(r'<form[^>]*action="(/mina-intyg/intyg/[^"]+/skicka)"[^>]*>(.*?)</form>', re.S)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FILENAME = re.compile(r'filename="([^"]+)"')


# --- the users --------------------------------------------------------------------------------------

@dataclass
class Citizen:
    pnr: str
    name: str
    own: dict[str, tuple[str, str]]  # certificate id -> (type, signed date) of every certificate of theirs
    sid: str = ""
    cookie: str = ""
    seen: list[str] = field(default_factory=list)  # certificate ids linked from their list
    busy: bool = False


@dataclass
class Staff:
    hsa_id: str
    name: str
    unit_id: str
    unit_name: str
    patients: frozenset[str]  # personnummer of everyone with a certificate on the unit or its sub-units
    questions: frozenset[str]  # the unit's (and sub-units') question ids
    sid: str = ""
    cookie: str = ""
    patient_links: list[str] = field(default_factory=list)  # from this session's latest list
    busy: bool = False

    @property
    def sid_hash(self) -> str:
        return hashlib.sha256(self.sid.encode()).hexdigest()


@dataclass
class Population:
    citizens: list[Citizen]
    staff: list[Staff]
    sendable: list[tuple[str, str]]  # (citizen pnr, certificate id): may be sent, never sent yet


def population(database_url: str, staff_sessions: int) -> Population:
    """The users from the database: every citizen (not deceased) with certificates, and the coordinators."""
    from portal.domain.certificate_types import load_registry

    recipients = {t.code for t in load_registry([]) if t.recipient and t.citizen_visible}
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            people = {r.personnummer: f"{r.given_name} {r.family_name}" for r in c.execute(text(
                "SELECT personnummer, given_name, family_name FROM persons WHERE NOT deceased"))}
            own: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
            sendable = []
            sent = {r[0] for r in c.execute(text("SELECT DISTINCT certificate_id FROM sends"))}
            for r in c.execute(text("SELECT id, patient_pnr, type_code, signed_at, revoked_at FROM certificates")):
                own[r.patient_pnr][r.id] = (r.type_code, f"{r.signed_at:%Y-%m-%d}")
                if r.type_code in recipients and r.revoked_at is None and r.id not in sent and r.patient_pnr in people:
                    sendable.append((r.patient_pnr, r.id))
            units = {r.hsa_id: (r.name, r.parent_id) for r in c.execute(text(
                "SELECT hsa_id, name, parent_id FROM care_units"))}
            staff = []
            for hsa_id, name, unit in COORDINATORS:
                if unit not in units:
                    continue
                family = [u for u, (_, parent) in units.items() if u == unit or parent == unit]
                patients = frozenset(r[0] for r in c.execute(text(
                    "SELECT DISTINCT patient_pnr FROM certificates WHERE unit_id = ANY(:u)"), {"u": family}))
                questions = frozenset(r[0] for r in c.execute(text(
                    "SELECT id FROM messages WHERE unit_id = ANY(:u)"), {"u": family}))
                staff += [Staff(hsa_id, name, unit, units[unit][0], patients, questions)
                          for _ in range(staff_sessions)]
    finally:
        engine.dispose()
    citizens = [Citizen(pnr, name, own[pnr]) for pnr, name in people.items() if own.get(pnr)]
    random.shuffle(sendable)
    return Population(citizens, staff, sendable)


def log_in(database_url: str, secret_key: str, pop: Population) -> None:
    """A login session row per user and Flask's signed cookie naming it (conftest.session_login, out of process)."""
    from flask import Flask

    signer = Flask("bench-load")
    signer.secret_key = secret_key
    serializer = signer.session_interface.get_signing_serializer(signer)  # type: ignore[attr-defined]
    assert serializer is not None
    now = SystemClock().now()
    rows = []
    for user in [*pop.citizens, *pop.staff]:
        user.sid = secrets.token_urlsafe(32)
        user.cookie = serializer.dumps({"_user_id": user.sid, "_fresh": True})
        staff = isinstance(user, Staff)
        rows.append({"h": hashlib.sha256(user.sid.encode()).hexdigest(), "k": "staff" if staff else "citizen",
                     "s": user.hsa_id if isinstance(user, Staff) else user.pnr, "n": user.name,
                     "u": user.unit_id if isinstance(user, Staff) else None,
                     "r": "REHABKOORDINATOR" if staff else None, "b": "siths" if staff else "bankid", "t": now,
                     "c": now if staff else None})
    engine = create_engine(database_url)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO auth_sessions (sid_hash, kind, subject, display_name, unit_id, role, broker, "
                           "created_at, last_activity_at, rights_checked_at) "
                           "VALUES (:h, :k, :s, :n, :u, :r, :b, :t, :t, :c)"), rows)
    finally:
        engine.dispose()


# --- the results ------------------------------------------------------------------------------------

@dataclass
class Result:
    at: float  # seconds since the run began (the request's start)
    kind: str
    latency: float
    error: str | None
    size: int
    wire: int


@dataclass
class Ledger:
    """What the clients saw: every request, the sends made, the patients each staff session was shown."""

    results: list[Result] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # certificate ids whose send post was answered 303
    shown: set[tuple[str, str]] = field(default_factory=set)  # (PDL session key, personnummer)
    leaks: list[str] = field(default_factory=list)  # answers holding another user's data
    pdfs: list[tuple[bytes, str]] = field(default_factory=list)  # a sample: (PDF, the certificate id asked for)
    refused_sends: int = 0
    started: float = 0.0

    def add(self, kind: str, started: float, latency: float, error: str | None, size: int = 0, wire: int = 0):
        self.results.append(Result(started - self.started, kind, latency, error, size, wire))


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Any
    ok: bool = False

    @property
    def page(self) -> str:
        return self.body.decode("utf-8", "replace")


# --- the clients ------------------------------------------------------------------------------------

class Load:
    """Closed-loop virtual users, each taking a free user of the kind its next action needs."""

    def __init__(self, base: str, pop: Population, ledger: Ledger, *, concurrency: int, seed: int = 1,
                 mix: dict[str, int] | None = None):
        self.base = base.rstrip("/")
        self.pop = pop
        self.ledger = ledger
        self.concurrency = concurrency
        self.random = random.Random(seed)
        self.today = SystemClock().today()
        mix = mix or MIX
        self.actions = [a for a in mix if mix[a] > 0]
        self.weights = [mix[a] for a in self.actions]

    async def run(self, seconds: float, warmup: float, max_requests: int,
                  stop: Callable[[], bool] | None = None, measuring: Callable[[], None] | None = None) -> float:
        """Run for warmup + seconds (warm-up results are dropped; `measuring` is called when the warm-up ends);
        returns the measured seconds."""
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
                                         auto_decompress=True) as http:
            self.http = http
            begin = time.perf_counter()
            self.ledger.started = begin
            self.deadline = begin + warmup + seconds
            self.max_requests = max_requests
            self.stop = stop

            async def mark() -> None:
                await asyncio.sleep(warmup)
                if measuring is not None:
                    measuring()

            await asyncio.gather(mark(), *(self._user() for _ in range(self.concurrency)))
            end = time.perf_counter()
        measured_from = warmup
        self.ledger.results = [r for r in self.ledger.results if r.at >= measured_from]
        return max(0.001, min(end - begin, warmup + seconds) - warmup)

    def _done(self) -> bool:
        return (time.perf_counter() >= self.deadline or len(self.ledger.results) >= self.max_requests
                or bool(self.stop and self.stop()))

    async def _user(self) -> None:
        while not self._done():
            action = self.random.choices(self.actions, self.weights)[0]
            users: list[Any] = self.pop.citizens if action.startswith("citizen") else self.pop.staff
            free = [u for u in users if not u.busy]
            if not free:
                await asyncio.sleep(0.01)
                continue
            user = self.random.choice(free)
            user.busy = True
            try:
                await getattr(self, action)(user)
            finally:
                user.busy = False

    async def _get(self, kind: str, user, path: str, *, htmx: bool = False, data: dict | None = None,
                   expect: int = 200) -> Answer:
        """One request as the user, recorded with its latency, size and error (if any). Raises nothing."""
        headers = {"Cookie": f"session={user.cookie}", "Accept-Language": "sv"}
        if htmx:
            headers["HX-Request"] = "true"
        if data is not None:
            headers["Origin"] = self.base
        started = time.perf_counter()
        try:
            method = self.http.post if data is not None else self.http.get
            async with method(self.base + path, headers=headers, data=data, allow_redirects=False) as response:
                body = await response.read()
                cookie = response.cookies.get("session")
                if cookie is not None and cookie.value:
                    user.cookie = cookie.value  # the CSRF token lives in the session cookie
                answer = Answer(response.status, body, response.headers)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            self.ledger.add(kind, started, time.perf_counter() - started, type(err).__name__)
            return Answer(0, b"", {})
        latency = time.perf_counter() - started
        error = None
        if answer.status != expect:
            error = f"HTTP {answer.status}"
            if answer.status in (301, 302, 303):
                error += " to " + answer.headers.get("Location", "?").split("?")[0]
        answer.ok = error is None
        wire = int(answer.headers.get("Content-Length") or len(body))
        self.ledger.add(kind, started, latency, error, len(body), wire)
        return answer

    def _mismatch(self, kind: str, user, what: str) -> None:
        who = user.pnr[:8] + "-…" if isinstance(user, Citizen) else f"{user.hsa_id}@{user.unit_id}"
        message = f"{kind}: {what} (user {who})"
        self.ledger.leaks.append(message)
        last = self.ledger.results[-1]
        if last.kind == kind and last.error is None:
            last.error = "another user's data"

    # citizens

    def _check_citizen(self, kind: str, user: Citizen, page: str, full_page: bool = True) -> None:
        if full_page and html.escape(user.name) not in page and user.name not in page:
            self._mismatch(kind, user, "the page does not name the citizen")
        foreign = {c for c in CERT_LINK.findall(page) if c not in user.own}
        if foreign:
            self._mismatch(kind, user, f"links to certificates not theirs: {sorted(foreign)[:3]}")

    async def citizen_list(self, user: Citizen) -> None:
        query = ""
        if self.random.random() < 0.2:
            query = "?" + self.random.choice(CITIZEN_LIST_FILTERS).format(year=self.today.year)
        answer = await self._get("citizen_list", user, "/mina-intyg/" + query)
        if answer.ok:
            page = answer.page
            self._check_citizen("citizen_list", user, page)
            if not query:
                user.seen = list(dict.fromkeys(CERT_LINK.findall(page)))

    async def citizen_read(self, user: Citizen) -> None:
        if not user.seen:
            return await self.citizen_list(user)
        cert = self.random.choice(user.seen)
        answer = await self._get("citizen_read", user, f"/mina-intyg/intyg/{cert}")
        if answer.ok:
            self._check_citizen("citizen_read", user, answer.page)

    async def citizen_pdf(self, user: Citizen) -> None:
        if not user.seen:
            return await self.citizen_list(user)
        cert = self.random.choice(user.seen)
        variant = "full"
        if user.own.get(cert, ("",))[0] in ("AG7804", "AG1-14") and self.random.random() < 0.5:
            variant = "employer"
        answer = await self._get("citizen_pdf", user, f"/mina-intyg/intyg/{cert}/pdf/{variant}")
        if not answer.ok:
            return
        name = FILENAME.search(answer.headers.get("Content-Disposition", ""))
        if not (answer.body.startswith(b"%PDF") and name is not None
                and any(name.group(1).startswith(f"{t}-{d}") for t, d in user.own.values())):
            self._mismatch("citizen_pdf", user, f"a PDF not of their certificates ({name.group(1) if name else '-'})")
        elif len(self.ledger.pdfs) < 25 and self.random.random() < 0.2:
            self.ledger.pdfs.append((answer.body, cert))

    async def citizen_send(self, user: Citizen) -> None:
        """The send form of one of their certificates that may be sent, then the post (CSRF token, consent)."""
        mine = next((i for i, (pnr, _) in enumerate(self.pop.sendable) if pnr == user.pnr), None)
        if mine is None:
            return await self.citizen_read(user)
        cert = self.pop.sendable.pop(mine)[1]
        answer = await self._get("citizen_send_form", user, f"/mina-intyg/intyg/{cert}/skicka")
        if not answer.ok:
            return
        page = answer.page
        self._check_citizen("citizen_send_form", user, page)
        form = FORM.search(page)
        token = CSRF.search(form.group(2)) if form else None
        if form is None or token is None:
            self.ledger.refused_sends += 1  # replaced, or a valideringsperson: the page says why, no form
            return
        answer = await self._get("citizen_send", user, html.unescape(form.group(1)),
                                 data={"csrf_token": html.unescape(token.group(1)), "consent": "yes"}, expect=303)
        if answer.ok:
            self.ledger.sent.append(cert)

    # coordinators

    def _check_staff(self, kind: str, user: Staff, page: str, full_page: bool) -> set[str]:
        if full_page and (html.escape(user.name) not in page or html.escape(user.unit_name) not in page):
            self._mismatch(kind, user, "the page does not name the coordinator and their unit")
        shown = {a + b for a, b in PNR.findall(page)}
        foreign = shown - user.patients
        if foreign:
            self._mismatch(kind, user, f"{len(foreign)} personnummer of patients not on the unit")
        questions = set(QUESTION_LINK.findall(page)) - user.questions
        if questions:
            self._mismatch(kind, user, f"links to questions of another unit: {sorted(questions)[:3]}")
        key = user.sid_hash
        self.ledger.shown.update((key, p) for p in shown & user.patients)
        return shown

    async def staff_list(self, user: Staff) -> None:
        query = self.random.choice(STAFF_LIST_FILTERS).format(today=self.today.isoformat())
        htmx = bool(query) and self.random.random() < 0.5
        answer = await self._get("staff_list", user, "/rehabstod/sjukfall" + ("?" + query if query else ""),
                                 htmx=htmx)
        if answer.ok:
            page = answer.page
            self._check_staff("staff_list", user, page, full_page=not htmx)
            links = PATIENT_LINK.findall(page)
            if links:
                user.patient_links = links

    async def staff_patient(self, user: Staff) -> None:
        if not user.patient_links:
            return await self.staff_list(user)
        answer = await self._get("staff_patient", user, html.unescape(self.random.choice(user.patient_links)))
        if answer.ok:
            shown = self._check_staff("staff_patient", user, answer.page, full_page=True)
            if not shown:
                self._mismatch("staff_patient", user, "the patient view shows no personnummer")

    async def staff_questions(self, user: Staff) -> None:
        query = "?amne=" + self.random.choice(QUESTION_SUBJECTS) if self.random.random() < 0.33 else ""
        answer = await self._get("staff_questions", user, "/rehabstod/fragor" + query)
        if answer.ok:
            self._check_staff("staff_questions", user, answer.page, full_page=True)


# --- CPU of each part -------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime: children it has waited for
    return used / TICK


def cpu_snapshot(topology) -> dict[str, float]:
    """Seconds of CPU so far: the app (gunicorn's master and workers), PostgreSQL (postmaster and backends),
    the delivery workers, the recipient simulator, this client."""
    from portal.topology import children_of

    state = topology.state()["pids"]
    out = {"app": 0.0, "postgres": 0.0, "delivery workers": 0.0, "recipient simulator": 0.0}
    if state["gunicorn"]:
        out["app"] = _cpu(state["gunicorn"], True) + sum(_cpu(p) for p in children_of(state["gunicorn"]))
    if state["postgres"]:
        out["postgres"] = _cpu(state["postgres"], True) + sum(_cpu(p) for p in children_of(state["postgres"]))
    out["delivery workers"] = sum(_cpu(p) for p in state["delivery_workers"] if p)
    if state["simulator"]:
        out["recipient simulator"] = _cpu(state["simulator"], True) + sum(
            _cpu(p) for p in children_of(state["simulator"]))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["load client (this)"] = usage.ru_utime + usage.ru_stime
    out["whole machine"] = machine_busy()
    return out


def machine_busy() -> float:
    """Seconds of CPU the whole machine has been busy (every process, also other people's)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Seconds of CPU each part used between the snapshots (and everything else on the machine)."""
    used = {k: after[k] - before.get(k, 0) for k in after}
    used["other processes on the machine"] = max(0.0, used.pop("whole machine") - sum(used.values()))
    return used


def cpu_line(before: dict[str, float], after: dict[str, float], wall: float) -> tuple[str, dict[str, int]]:
    percent = {k: round(100 * v / wall) for k, v in cpu_used(before, after).items()}
    return ", ".join(f"{k} {v} %" for k, v in percent.items()), percent


def cpu_per_request(used: dict[str, float], requests: int) -> str:
    """The server's CPU per request (independent of what else the machine is doing) and the rate two free
    cores would allow at that cost."""
    server = used["app"] + used["postgres"] + used["delivery workers"] + used["recipient simulator"]
    if not requests or server <= 0:
        return "no requests"
    ceiling = (os.cpu_count() or 1) / (server / requests)
    return (f"server CPU per request: app {1000 * used['app'] / requests:.1f} ms, PostgreSQL "
            f"{1000 * used['postgres'] / requests:.1f} ms, all server processes {1000 * server / requests:.1f} ms "
            f"-> at most {ceiling:.0f} requests/s if the server had all {os.cpu_count()} cores (client and others "
            f"excluded)")


# --- the report -------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def report(results: list[Result], seconds: float, out=print) -> dict:
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    summary: dict[str, Any] = {"seconds": round(seconds, 1), "requests": len(results),
                               "requests_per_second": round(len(results) / seconds, 1), "kinds": {}}
    out(f"{'kind':<19}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'page bytes':>12}{'wire bytes':>12}")
    for kind in [*KINDS, "all"]:
        rows = results if kind == "all" else by_kind.get(kind, [])
        if not rows:
            continue
        ok = [r.latency * 1000 for r in rows]
        errors = sum(1 for r in rows if r.error)
        sizes = [r.size for r in rows if not r.error and r.size]
        wires = [r.wire for r in rows if not r.error and r.wire]
        figures = {"requests": len(rows), "per_second": round(len(rows) / seconds, 1),
                   "p50_ms": round(percentile(ok, 0.5), 1), "p95_ms": round(percentile(ok, 0.95), 1),
                   "p99_ms": round(percentile(ok, 0.99), 1), "errors": errors,
                   "page_bytes": int(sum(sizes) / len(sizes)) if sizes else 0,
                   "wire_bytes": int(sum(wires) / len(wires)) if wires else 0}
        summary["kinds"][kind] = figures
        out(f"{kind:<19}{len(rows):>9}{figures['per_second']:>8}{figures['p50_ms']:>9}{figures['p95_ms']:>9}"
            f"{figures['p99_ms']:>9}{errors:>8}{figures['page_bytes']:>12}{figures['wire_bytes']:>12}")
    causes = Counter((r.kind, r.error) for r in results if r.error)
    summary["errors"] = {f"{k}: {e}": n for (k, e), n in causes.most_common()}
    if causes:
        out("errors by kind and cause:")
        for (kind, error), n in causes.most_common():
            out(f"  {kind}: {error}: {n}")
    else:
        out("errors: none")
    return summary


# --- the checks after a run -------------------------------------------------------------------------

def check_sends(database_url: str, sent: list[str], wait: float = 60, out=print) -> list[str]:
    """Every certificate the clients sent is delivered, exactly once at the recipient (the simulator's table),
    and no certificate reached the recipient twice. Waits up to `wait` s for the workers to catch up."""
    problems: list[str] = []
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + wait
        while True:
            with engine.connect() as c:
                pending = c.execute(text("SELECT count(*) FROM sends WHERE state = 'PENDING'")).scalar_one()
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
        with engine.connect() as c:
            states = Counter(c.execute(text("SELECT state FROM sends WHERE kind = 'CERTIFICATE'")).scalars())
            live = {r.certificate_id: r.state for r in c.execute(text(
                "SELECT certificate_id, state FROM sends WHERE kind = 'CERTIFICATE' AND state <> 'FAILED'"))}
            received = Counter(c.execute(text(
                "SELECT certificate_id FROM sim_deliveries WHERE certificate_id IS NOT NULL")).scalars())
            keys = c.execute(text("SELECT count(*), count(DISTINCT idempotency_key) FROM sim_deliveries")).one()
    finally:
        engine.dispose()
    if pending:
        problems.append(f"{pending} sends still pending after {wait:.0f} s")
    missing = [cert for cert in sent if received.get(cert, 0) == 0]
    twice = {cert: n for cert, n in received.items() if n > 1}
    not_delivered = [cert for cert in sent if live.get(cert) != "DELIVERED"]
    if missing:
        problems.append(f"{len(missing)} sent certificates never reached the recipient, e.g. {missing[:3]}")
    if twice:
        problems.append(f"{len(twice)} certificates reached the recipient more than once: {list(twice.items())[:3]}")
    if not_delivered:
        problems.append(f"{len(not_delivered)} sends not DELIVERED, e.g. {not_delivered[:3]}")
    if keys[0] != keys[1]:
        problems.append("the simulator holds an idempotency key twice")
    out(f"sends: {len(sent)} posted by the clients; outbox {dict(states)}; recipient holds {sum(received.values())} "
        f"certificates ({len(received)} distinct); each sent one exactly once: "
        f"{'yes' if not (missing or twice or not_delivered) else 'NO'}")
    return problems


def check_pdl(database_url: str, shown: set[tuple[str, str]], out=print) -> list[str]:
    """Every (staff login session, patient) an answer showed has a PDL record."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            logged = {(r[0], r[1]) for r in c.execute(text(
                "SELECT DISTINCT session_key, patient_pnr FROM pdl_records"))}
            records = c.execute(text("SELECT count(*) FROM pdl_records")).scalar_one()
    finally:
        engine.dispose()
    lost = shown - logged
    out(f"PDL: {len(shown)} (session, patient) pairs shown to staff; {records} records in the log; "
        f"without a record: {len(lost)}")
    return [f"{len(lost)} patients shown without a PDL record"] if lost else []


def check_pdfs(pdfs: list[tuple[bytes, str]], out=print) -> list[str]:
    """The sampled PDFs name the certificate asked for (every PDF names its certificate id)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return []
    wrong = 0
    for body, cert in pdfs:
        textual = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(body)).pages)
        if cert not in textual.replace("\n", ""):
            wrong += 1
    out(f"PDFs: {len(pdfs)} sampled, {wrong} not naming the certificate asked for")
    return [f"{wrong} PDFs of another certificate"] if wrong else []


def pdl_verify(env: dict[str, str], out=print) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "portal.cli", "pdl-verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    first = (result.stdout.strip().splitlines() or [result.stderr.strip()[-300:]])[0]
    out(f"portal pdl-verify: exit {result.returncode}: {first}")
    return [] if result.returncode == 0 else [f"pdl-verify failed: {result.stdout[-500:]}"]


def checks(database_url: str, ledger: Ledger, env: dict[str, str] | None, out=print, wait: float = 60) -> list[str]:
    problems = [f"{len(ledger.leaks)} answers held another user's data, e.g. {ledger.leaks[:3]}"
                ] if ledger.leaks else []
    out(f"isolation: {len(ledger.leaks)} answers with another user's data")
    problems += check_sends(database_url, ledger.sent, wait=wait, out=out)
    problems += check_pdl(database_url, ledger.shown, out=out)
    problems += check_pdfs(ledger.pdfs, out=out)
    if env is not None:
        problems += pdl_verify(env, out=out)
    return problems


# --- running it -------------------------------------------------------------------------------------

def start_topology(args, extra_env: dict[str, str] | None = None):
    from portal.topology import Plan, Topology

    OUT.mkdir(parents=True, exist_ok=True)
    log = (OUT / "production.log").open("w", encoding="utf-8")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(extra_env or {})
    port = args.port or _free_port()
    topology = Topology(Plan(processes=args.processes, workers=args.workers, threads=args.threads, port=port,
                             log=log, env=env),
                        say=lambda m: print(f"  [{datetime.now():%H:%M:%S}] {m}", flush=True))
    topology.start()
    supervisor = threading.Thread(target=topology.supervise, name="supervisor", daemon=True)
    supervisor.start()
    return topology


def _free_port() -> int:
    from portal.pgcluster import free_port

    return free_port()


def arguments(argv=None, seconds: float = 30, description: str = __doc__):
    p = argparse.ArgumentParser(description=(description or "").split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=seconds, help="measured seconds (after the warm-up)")
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--max-requests", type=int, default=30000)
    p.add_argument("--concurrency", type=int, default=24, help="virtual users at once (closed loop)")
    p.add_argument("--staff-sessions", type=int, default=6, help="login sessions per coordinator")
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--url", help="attach to a running topology instead of starting one")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--json", type=Path, help="write the figures here too")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mix", default="", help="weights to change, e.g. citizen_pdf=0,staff_list=30 (default: "
                   + ",".join(f"{k}={v}" for k, v in MIX.items()) + ")")
    args = p.parse_args(argv)
    args.mix_weights = dict(MIX)
    for item in filter(None, args.mix.split(",")):
        name, _, weight = item.partition("=")
        if name not in MIX or not weight.isdigit():
            p.error(f"--mix: unknown action or weight in {item!r}; actions: {', '.join(MIX)}")
        args.mix_weights[name] = int(weight)
    return args


def pdf_files() -> int:
    return sum(1 for _ in PDF_CACHE.glob("*/*.pdf")) if PDF_CACHE.exists() else 0


def main(argv=None) -> int:
    args = arguments(argv)
    if args.seconds > 600 or args.max_requests > 500_000:
        raise SystemExit("bounded: at most 600 s and 500 000 requests")
    topology = None
    try:
        if args.url:
            if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
                raise SystemExit("loopback only: --url must be http://127.x.x.x:PORT or localhost")
            if not args.database_url or not os.environ.get("SECRET_KEY"):
                raise SystemExit("--url needs --database-url (or DATABASE_URL) and SECRET_KEY as the server has them")
            base, database_url, secret, env = args.url, args.database_url, os.environ["SECRET_KEY"], None
        else:
            print(f"starting the production topology: {args.processes} app processes x {args.threads} threads, "
                  f"{args.workers} delivery workers (output in bench/out/production.log)")
            topology = start_topology(args)
            base, database_url = topology.plan.url, str(topology.database_url)
            env = topology.environment()
            secret = env["SECRET_KEY"]
        pop = population(database_url, args.staff_sessions)
        log_in(database_url, secret, pop)
        print(f"users: {len(pop.citizens)} citizens, {len(pop.staff)} coordinator sessions "
              f"({len(COORDINATORS)} coordinators); {len(pop.sendable)} certificates that may be sent")
        ledger = Ledger()
        snapshots: list[dict[str, float]] = []
        load = Load(base, pop, ledger, concurrency=args.concurrency, seed=args.seed, mix=args.mix_weights)
        pdfs_before = pdf_files()
        print(f"load: {args.concurrency} virtual users, {args.warmup:g} s warm-up + {args.seconds:g} s, "
              f"at most {args.max_requests} requests, against {base}")
        measured = asyncio.run(load.run(args.seconds, args.warmup, args.max_requests,
                                        measuring=lambda: topology and snapshots.append(cpu_snapshot(topology))))
        before = snapshots[0] if snapshots else None
        after = cpu_snapshot(topology) if topology else None
        print()
        summary = report(ledger.results, measured)
        rendered = pdf_files() - pdfs_before
        print(f"PDF cache ({PDF_CACHE.relative_to(ROOT)}): {pdfs_before} files before, {rendered} PDFs rendered "
              "during the run (misses); the rest were served from the cache")
        summary["pdfs_rendered"] = rendered
        if before and after:
            line, summary["cpu_percent"] = cpu_line(before, after, measured)
            print(f"CPU while measured ({os.cpu_count()} cores = {100 * (os.cpu_count() or 1)} %): " + line)
            print(cpu_per_request(cpu_used(before, after), len(ledger.results)))
        print()
        problems = checks(database_url, ledger, env)
        summary["problems"] = problems
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        print("\nall checks passed" if not problems else "\nCHECKS FAILED:\n  " + "\n  ".join(problems))
        return 0 if not problems else 1
    finally:
        if topology is not None:
            topology.stop()


if __name__ == "__main__":
    sys.exit(main())
