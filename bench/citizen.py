"""Mina intyg benchmark: a citizen with 200 certificates in a database of 1 million (PostgreSQL).

    .venv/bin/python -m bench.citizen [--requests 200]

Prints the list page's server time (median and p95 over the requests; goal p95 ≤ 30 ms) and the
FK7804 PDF's time cold (rendered, cache empty; goal ≤ 600 ms) and cached (goal ≤ 20 ms). Server time
is measured around the WSGI call in-process (Flask's test client), so it holds everything the server
does — routing, session, queries, rendering — and no network. The database is bench/largedb.py's.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta

from bench.largedb import NOW, ensure
from conftest import session_login
from portal import db
from portal.domain import demo
from portal.repository import intake

BENCH_PNR = demo.make_pnr(date(1930, 6, 6), 997)  # older than anyone the generator makes


def ensure_citizen(app, n: int = 200) -> None:
    """A citizen with n certificates (FK7804 chains and others), loaded through the normal intake."""
    registry = app.extensions["certificate_types"]
    gen = demo.Generator(registry, NOW.date(), seed=43, id_prefix="bench200b")
    person = {"personnummer": BENCH_PNR, "given_name": "Bänk", "family_name": "Tvåhundrasson", "protected": False,
              "deceased": False, "validation_person": False}
    pd = demo.PatientData(person=person)
    rng = random.Random(7)
    codes = ["FK7804"] * 6 + ["AG7804", "AG1-14", "TSTRK1007", "FK7210", "FK7800"]
    while len(pd.certificates) < n:
        code = rng.choice(codes)
        day = NOW.date() - timedelta(days=rng.randint(1, 3 * 365))
        ctx = demo.Context(signed=day, diagnoses=[gen.diagnosis()],
                           periods=[{"start": day.isoformat(), "end": (day + timedelta(days=13)).isoformat(),
                                     "degree": 100}])
        cert = gen.certificate(pd, code, "VE10", day, ctx)
        cert["unit"] = demo.hsa("VE10")
    doc = {"persons": [person], "certificates": pd.certificates}
    with db.new_session(app) as s:
        problems, plan = intake.load(s, doc, registry)
    if problems:
        raise SystemExit(problems[:5])


def timed(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * len(values))) - 1)]
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    app = ensure(quiet=True)
    ensure_citizen(app)
    cache = tempfile.mkdtemp(prefix="bench-pdf-")
    app.config["PDF_CACHE_DIR"] = cache
    client = app.test_client()
    session_login(client, app, "citizen", BENCH_PNR, name="Bänk Tvåhundrasson")
    for _ in range(10):  # warm up: templates, connection pool
        timed(client, "/mina-intyg/")
    html = client.get("/mina-intyg/").get_data(as_text=True)
    assert "Visar 200 av 200 intyg" in html, "the citizen should have 200 certificates"
    # (the list shows 25 a page; the query, the filters and the counts cover all 200)
    list_times = [timed(client, "/mina-intyg/") for _ in range(args.requests)]
    filtered = [timed(client, "/mina-intyg/?typ=FK7804&sortering=oldest") for _ in range(args.requests)]
    print(f"list page, 200 certificates:        {ms(list_times)}")
    print(f"list page, filtered and sorted:     {ms(filtered)}")

    from sqlalchemy import select

    from portal.models import Certificate

    with db.new_session(app) as s:
        ids = s.scalars(select(Certificate.id).where(Certificate.patient_pnr == BENCH_PNR,
                                                     Certificate.type_code == "FK7804").limit(12)).all()
    timed(client, f"/mina-intyg/intyg/{ids[0]}/pdf/full")  # first render in the process loads the fonts
    cold, cached = [], []
    for cid in ids[1:]:
        cold.append(timed(client, f"/mina-intyg/intyg/{cid}/pdf/full"))
        cached.append(timed(client, f"/mina-intyg/intyg/{cid}/pdf/full"))
    print(f"FK7804 PDF, cold (render):          {ms(cold)}")
    print(f"FK7804 PDF, cached:                 {ms(cached)}")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
