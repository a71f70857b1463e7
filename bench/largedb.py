"""The large demo database on PostgreSQL for the benchmarks: 1 million certificates.

    .venv/bin/python -m bench.largedb [--certificates N]     make it (or reuse it) and print time and size

The cluster lives in bench/out/pg (not committed) on port 55432 and is kept between runs; other
bench scripts call `ensure()` to start it (a database kept from before gets the demo directory as it is now:
the units' counties, the doctors' gender and birth year). Stop it with `.venv/bin/python -m bench.largedb --stop`.
"""
from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text

from portal import create_app, db
from portal.adapters.clock import FixedClock
from tests.pgcluster import ThrowawayPostgres

OUT = Path(__file__).resolve().parent / "out"
PORT = 55432
NOW = datetime(2026, 11, 23, 10, 0, 0)
SEED = 20261123
# the benchmark database's PDL keys (fixed, so its chain verifies across runs; never used anywhere else)
PDL_KEYS = {"PDL_CHAIN_KEY": "bench-pdl-chain-key-0123456789abcdef", "PDL_CHECKPOINT_KEY":
            "bench-pdl-checkpoint-key-0123456789abcdef", "PDL_CHECKPOINT_FILE": str(OUT / "pdl-checkpoints.jsonl")}


def cluster() -> ThrowawayPostgres:
    return ThrowawayPostgres(OUT / "pg", port=PORT, keep=True,
                             settings="-c fsync=off -c synchronous_commit=off -c shared_buffers=512MB "
                                      "-c work_mem=32MB -c maintenance_work_mem=512MB -c max_wal_size=4GB")


def running(pg: ThrowawayPostgres) -> bool:
    """Whether the cluster's postmaster is alive (a pid file left by a machine restart does not count)."""
    pid_file = pg.dir / "data" / "postmaster.pid"
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return False
    return True


def app_for(url: str):
    return create_app({"TESTING": True, "DATABASE_URL": url, "AUTO_MIGRATE": True, "SECRET_KEY": "bench",
                       "SESSION_COOKIE_SECURE": False, "CLOCK": FixedClock(NOW), "RATELIMIT_ENABLED": False,
                       "TEST_BROKER_ENABLED": True, "PUBLIC_BASE_URL": "http://127.0.0.1:1", **PDL_KEYS})


def ensure(target: int = 1_000_000, quiet: bool = False):
    """Start the cluster, fill it to `target` certificates if needed; return the app."""
    pg = cluster()
    if not running(pg):
        pg.start()
    app = app_for(pg.url)
    from portal.repository import demo as demo_store

    with db.new_session(app) as s:
        have = s.scalar(select(func.count()).select_from(__import__("portal.models").models.Certificate))
        if have < target:
            started = time.perf_counter()
            count = demo_store.load_large(s, app.extensions["certificate_types"], today=NOW.date(), seed=SEED,
                                          target=target, progress=lambda n: quiet or print(f"  {n} certificates"))
            s.execute(text("ANALYZE"))
            s.commit()
            if not quiet:
                print(f"loaded {count} certificates in {time.perf_counter() - started:.0f} s")
        else:
            refresh_directory(s, app.extensions["certificate_types"], quiet=quiet)
    return app


def refresh_directory(session, registry, *, quiet: bool = False) -> None:
    """The demo's providers, units, staff and commissions as the generator makes them now (the units' counties, the
    doctors' gender and birth year), in a database built before it made them: no certificate is touched, and a
    database that has them changes nothing."""
    from portal.domain import demo, intake
    from portal.repository import intake as intake_store

    base = demo.small(today=NOW.date(), seed=SEED, registry=registry, patients=0)
    sections = (*intake.DIRECTORY, "commissions")
    problems, plan = intake_store.load(session, {name: base[name] for name in sections}, registry)
    if problems:
        raise RuntimeError("demo directory refused: " + "; ".join(problems[:5]))
    if plan.changes and not quiet:
        print(f"directory brought up to date: {plan.summary()}")


def report(app) -> None:
    from portal.models import Certificate, Message, Person

    with db.new_session(app) as s:
        n = s.scalar(select(func.count()).select_from(Certificate))
        persons = s.scalar(select(func.count()).select_from(Person))
        messages = s.scalar(select(func.count()).select_from(Message))
        size = s.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    print(f"certificates: {n}, persons: {persons}, FK messages: {messages}, database size: {size}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certificates", type=int, default=1_000_000)
    parser.add_argument("--stop", action="store_true")
    args = parser.parse_args()
    if args.stop:
        cluster().stop()
        return
    started = time.perf_counter()
    app = ensure(args.certificates)
    print(f"ready in {time.perf_counter() - started:.0f} s")
    report(app)


if __name__ == "__main__":
    main()
