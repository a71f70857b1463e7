"""Certificate PDF timing: a cold render (cache miss: render + write) and a cache hit, for FK7804.

    .venv/bin/python -m bench.pdf_timing                 # SQLite in a temp folder with the small demo data
    .venv/bin/python -m bench.pdf_timing --large         # the 1-million-certificate PostgreSQL (bench/largedb.py)
    .venv/bin/python -m bench.pdf_timing --url URL       # any database that already holds certificates

Prints the first render in a fresh process (fonts loaded then), then the median over --runs (default 10)
different FK7804 certificates of: reading the certificate (CertificateView) from the database, a cold
PDF (cache miss) and a cached PDF (cache hit), each in Swedish, variant "full".
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from portal import create_app, db, pdf
from portal.adapters.clock import FixedClock
from portal.domain.certificates import CertificateView
from portal.models import Certificate

NOW = datetime(2026, 11, 23, 10, 0, 0)


def _app(url: str, cache_dir: Path):
    return create_app({"TESTING": True, "DATABASE_URL": url, "AUTO_MIGRATE": True, "SECRET_KEY": "bench",
                       "SESSION_COOKIE_SECURE": False, "CLOCK": FixedClock(NOW), "RATELIMIT_ENABLED": False,
                       "TEST_BROKER_ENABLED": True, "PUBLIC_BASE_URL": "http://127.0.0.1:1",
                       "PDF_CACHE_DIR": str(cache_dir)})


def _load_small_demo(app) -> None:
    from portal.domain import demo
    from portal.repository import intake

    registry = app.extensions["certificate_types"]
    with db.new_session(app) as s:
        problems, _ = intake.load(s, demo.small(today=NOW.date(), seed=20261123, registry=registry), registry)
    if problems:
        raise SystemExit(f"demo data did not load: {problems[:3]}")


def _view(session, certificate_id: str) -> CertificateView:
    """The certificate as the citizen blueprint reads it."""
    from portal.repository.certificates import one

    return one(session, certificate_id)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a database URL that already holds certificates")
    parser.add_argument("--large", action="store_true", help="the 1-million-certificate PostgreSQL of bench.largedb")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pdf-timing-") as tmp:
        tmp = Path(tmp)
        if args.large:
            from bench import largedb

            app = largedb.ensure(quiet=True)
            app.config["PDF_CACHE_DIR"] = str(tmp / "cache")
        elif args.url:
            app = _app(args.url, tmp / "cache")
        else:
            app = _app(f"sqlite:///{tmp / 'portal.sqlite'}", tmp / "cache")
            _load_small_demo(app)
        url = app.config["DATABASE_URL"].split("@")[-1]

        with db.new_session(app) as s:
            ids = list(s.scalars(select(Certificate.id).where(Certificate.type_code == "FK7804",
                                                               Certificate.revoked_at.is_(None))
                                 .order_by(Certificate.signed_at.desc()).limit(args.runs + 1)))
        if len(ids) < args.runs + 1:
            raise SystemExit(f"need {args.runs + 1} FK7804 certificates, found {len(ids)}")
        ctype = app.extensions["certificate_types"]["FK7804"]

        reads, colds, hits, sizes = [], [], [], []
        with app.test_request_context():
            with db.new_session(app) as s:
                warm = _view(s, ids[0])
            t0 = time.perf_counter()
            pdf.cached_pdf(app, ctype, warm, "full", "sv")
            first = time.perf_counter() - t0
            for certificate_id in ids[1:]:
                with db.new_session(app) as s:
                    t0 = time.perf_counter()
                    cert = _view(s, certificate_id)
                    reads.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                data = pdf.cached_pdf(app, ctype, cert, "full", "sv")
                colds.append(time.perf_counter() - t0)
                sizes.append(len(data))
                t0 = time.perf_counter()
                again = pdf.cached_pdf(app, ctype, cert, "full", "sv")
                hits.append(time.perf_counter() - t0)
                assert again == data

    print(f"database: {url}")
    print(f"FK7804 'full' PDF, sv, {args.runs} certificates; median size {statistics.median(sizes) / 1024:.0f} KB")
    print(f"  first render in a fresh process (fonts loaded): {_ms(first)}")
    print(f"  read the certificate from the database:         median {_ms(statistics.median(reads))}")
    print(f"  cold (cache miss: render + write):             median {_ms(statistics.median(colds))}"
          f"  (min {_ms(min(colds))}, max {_ms(max(colds))})")
    print(f"  cached (cache hit):                            median {_ms(statistics.median(hits))}"
          f"  (min {_ms(min(hits))}, max {_ms(max(hits))})")


if __name__ == "__main__":
    main()
