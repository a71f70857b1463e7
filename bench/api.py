"""The certificate store's API under load: registering certificates on PostgreSQL with the 1 million
certificate database (bench/largedb.py), and the Rehabstöd list's first request after a new certificate.

    .venv/bin/python -m bench.api [--seconds 30] [--clients 8] [--workers 3]

1. Starts gunicorn (`--workers` processes) on the large database with the embedded test broker, and
   `--clients` concurrent clients (threads, one HTTP connection each) that register FK7804s for new
   patients on the demo units for `--seconds`, after a warm-up. Prints the sustained throughput and the
   latency seen by the clients (goal: ≥ 200 certificates/s from 8 clients, p95 ≤ 50 ms). The clients
   and the server share this machine's cores.
2. In-process (Flask's test client): on the benchmark unit with 2 000 ongoing cases (bench/rehab.py),
   a certificate is registered through the API and the coordinator's list is requested at once: the
   first request after new data (the case cache is keyed on the unit's data version, so it recomputes).
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import requests

from bench.largedb import NOW, OUT, PDL_KEYS, cluster, ensure
from bench.rehab import COORDINATOR, UNIT, ensure_unit
from conftest import free_port, session_login
from portal import db
from portal.domain import demo
from tests.api_support import bearer, registration, token

ROOT = Path(__file__).resolve().parent.parent
UNITS = [(u, p) for u, _, p, _ in demo.UNITS]


def ms(values: list[float]) -> tuple[float, float, float]:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(round(q * len(values))) - 1)] * 1000  # noqa: E731
    return statistics.median(values) * 1000, pick(0.95), pick(0.99)


def patients(run: str):
    """Valid personnummer nobody in the database has (born 1900–1929, Skatteverket's test serials)."""
    for day, serial in itertools.product(range(0, 30 * 365), range(980, 1000)):
        yield demo.make_pnr(date(1900, 1, 1) + timedelta(days=day), serial)


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, PORTAL_ENV="development", SECRET_KEY="bench",
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", API_RATE_LIMIT="1000000 per minute",
               OUTBOX_WORKER_EMBEDDED="0", TEST_BROKER_KEY_FILE=str(OUT / "testbroker-keys.json"), **PDL_KEYS)
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "--no-control-socket", "--workers",
                               str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                               "portal:create_app()"], cwd=ROOT, env=env, start_new_session=True)
    for _ in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start")


def load(base: str, clients: int, seconds: float, warmup: float) -> None:
    run = datetime.now().strftime("%H%M%S")
    pnrs = patients(run)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start = time.monotonic() + warmup
    stop = start + seconds
    signed = NOW - timedelta(hours=1)

    def client(n: int) -> None:
        http = requests.Session()
        access = bearer(token(http, "journal-demo", prefix=base))
        for i in itertools.count():
            with lock:
                pnr = next(pnrs)
            unit, provider = UNITS[i % len(UNITS)]
            body = registration(f"bench-api-{run}-{n}-{i}", signed, patient=pnr,
                                unit={"hsa_id": demo.hsa(unit), "name": unit},
                                provider={"hsa_id": demo.hsa(provider), "name": provider},
                                issuer={"hsa_id": demo.hsa("L002"), "given_name": "Erik", "family_name": "Lindqvist"})
            t0 = time.monotonic()
            response = http.post(f"{base}/api/v1/certificates", json=body, headers=access)
            t1 = time.monotonic()
            if t0 >= stop:
                return
            if t0 >= start:
                with lock:
                    latencies.append(t1 - t0)
                    if response.status_code != 201:
                        errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    med, p95, p99 = ms(latencies)
    print(f"registrations: {len(latencies)} in {seconds:.0f} s from {clients} clients = "
          f"{len(latencies) / seconds:.0f} certificates/s; latency median {med:.1f} ms, p95 {p95:.1f} ms, "
          f"p99 {p99:.1f} ms; errors {len(errors)}")
    if errors:
        print("  first error:", errors[0])


def rehab_after_new_certificate(requests_n: int) -> None:
    app = ensure(quiet=True)
    ensure_unit(app)
    api = app.test_client()
    access = bearer(token(api, "journal-demo"))
    with db.new_session(app) as s:
        from portal.models import CareUnit

        provider = s.get(CareUnit, UNIT).provider_id
    staff = app.test_client()
    session_login(staff, app, "staff", COORDINATOR, unit_id=UNIT, role="REHABKOORDINATOR", name="Bänk Koordinator")

    def page() -> float:
        t0 = time.perf_counter()
        assert staff.get("/rehabstod/sjukfall").status_code == 200
        return time.perf_counter() - t0

    for _ in range(3):
        page()
    warm = [page() for _ in range(requests_n)]
    pnrs = patients("rehab")
    run = datetime.now().strftime("%H%M%S")
    first, register = [], []
    for i in range(requests_n):
        body = registration(f"bench-rehab-{run}-{i}", NOW - timedelta(days=2), patient=next(pnrs),
                            unit={"hsa_id": UNIT, "name": "Bänkcentralen"}, provider={"hsa_id": provider, "name": "p"},
                            issuer={"hsa_id": demo.hsa("L002"), "given_name": "Erik", "family_name": "Lindqvist"})
        t0 = time.perf_counter()
        response = api.post("/api/v1/certificates", json=body, headers=access)
        register.append(time.perf_counter() - t0)
        assert response.status_code == 201, response.json
        first.append(page())
    for label, values in (("registration (in-process)", register), ("Rehabstöd list, cached (warm)", warm),
                          ("Rehabstöd list, first request after a new certificate on the unit", first)):
        med, p95, _ = ms(values)
        print(f"{label}: median {med:.0f} ms, p95 {p95:.0f} ms (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rehab-requests", type=int, default=20)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    app = ensure(quiet=True)
    db.get_engine(app).dispose()
    if not args.skip_load:
        port = free_port()
        server = start_server(cluster().url, port, args.workers)
        try:
            load(f"http://127.0.0.1:{port}", args.clients, args.seconds, args.warmup)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    rehab_after_new_certificate(args.rehab_requests)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
