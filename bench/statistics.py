"""Intygsstatistik benchmark on the 1 million certificate database (PostgreSQL, bench/largedb.py).

    .venv/bin/python -m bench.statistics [--requests 30]

Prints the statistics job's time (a full run over every patient, then an incremental run after one new
certificate: what the daily job does), and each public report page's server time (median and p95 over
`--requests` requests, alternating the default period and a filtered one with the year-earlier comparison;
goal p95 ≤ 50 ms). Server time is measured around the WSGI call in-process (Flask's test client).
"""
from __future__ import annotations

import argparse
import statistics as stats
import time

from bench.largedb import NOW, ensure
from portal import db
from portal.domain import statistics as st
from portal.repository import statistics as store


def job(app) -> None:
    registry = app.extensions["certificate_types"]
    key = store.statistics_key(app.config)
    with db.new_session(app) as s:
        result = store.run(s, registry, key, NOW, full=True)
    print(f"full run: {result.patients} patients, {result.case_months} case-months, {result.seconds:.1f} s")
    with db.new_session(app) as s:
        result = store.run(s, registry, key, NOW)
    print(f"incremental run with nothing new: {result.kind}, {result.patients} patients, {result.seconds:.1f} s")
    new_day(app)
    with db.new_session(app) as s:
        result = store.run(s, registry, key, NOW)
    print(f"incremental run after a day's intake of {DAY} certificates: {result.kind}, {result.patients} patients, "
          f"{result.case_months} case-months, {result.seconds:.1f} s")


DAY = 3000  # certificates a day: about a million a year


def new_day(app) -> None:
    """A day's intake: new patients with an ongoing FK7804 each (through the intake, as the API does)."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from portal.domain import demo
    from portal.models import Certificate, Person
    from portal.repository import intake

    with db.new_session(app) as s:
        start = s.scalar(select(func.count()).select_from(Certificate))
        gen = demo.Generator(app.extensions["certificate_types"], NOW.date(), seed=start, id_prefix=f"day{start}")
        gen.used_pnr |= set(s.scalars(select(Person.personnummer)))
    persons, certs = [], []
    while len(certs) < DAY:
        person = gen.person()
        pd = demo.PatientData(person=person)
        gen.sick_leave_chain(pd, "VE10", NOW.date() - timedelta(days=10), ongoing=True, max_certs=1)
        persons.append(person)
        certs += [dict(c, unit=demo.hsa(c["unit"])) for c in pd.certificates if c["type"] == "FK7804"]
    with db.new_session(app) as s:
        problems, _ = intake.load(s, {"persons": persons, "certificates": certs}, app.extensions["certificate_types"])
    assert not problems, problems[:3]


def pages(app, requests: int) -> None:
    client = app.test_client()
    queries = ["", "?jamfor=1&grad=100&kapitel=F00-F99"]
    print(f"{'report':<22} {'median ms':>10} {'p95 ms':>8}")
    for report_id in (r.id for r in st.reports_for(st.NATION)):
        times = []
        for i in range(requests + 2):
            started = time.perf_counter()
            response = client.get(f"/statistik/nationell/{report_id}{queries[i % 2]}")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.status_code
            if i >= 2:  # two warm-up requests
                times.append(elapsed)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
        print(f"{report_id:<22} {stats.median(times):>10.1f} {p95:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--skip-job", action="store_true", help="Report pages only (the job has run before).")
    args = parser.parse_args()
    app = ensure()
    if not args.skip_job:
        job(app)
    pages(app, args.requests)


if __name__ == "__main__":
    main()
