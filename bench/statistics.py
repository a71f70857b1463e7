"""Intygsstatistik benchmark on the 1 million certificate database (PostgreSQL, bench/largedb.py).

    .venv/bin/python -m bench.statistics [--requests 30]

Prints the statistics job's time (a full run over every patient, then an incremental run after one new
certificate: what the daily job does), and each report page's server time (median and p95 over `--requests`
requests, alternating the default period and a filtered one with the year-earlier comparison; goal p95 ≤ 50 ms;
and "cold": the very first view with no published table kept, which the job's publishing ahead spares readers):
every national report, then every report of a care provider (the demo's region, T002's system role), of a care unit
(VE10, T001's commission) and of the region's listed units (a listing of the provider's units is stored if there is
none). Server time is measured around the WSGI call in-process (Flask's test client, logged in directly for the
staff pages).
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


def _staff_client(app, local_id: str):
    """A test client logged in as a demo staff member with the statistics role (a login session row, as the
    login makes)."""
    import secrets

    from portal.auth import sessions
    from portal.domain import demo
    from portal.models import AuthSession

    client = app.test_client()
    sid = secrets.token_urlsafe(32)
    now = app.extensions["clock"].now()
    with db.new_session(app) as s:
        s.add(AuthSession(sid_hash=sessions._hash(sid), kind="staff", subject=demo.hsa(local_id), display_name=local_id,
                          unit_id=None, role="STATISTIK", broker="siths", id_token=None, created_at=now,
                          last_activity_at=now))
        s.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = sid
        sess["_fresh"] = True
    return client


def _ensure_listing(app) -> None:
    """A region listing of the demo region's units (as an upload stores it), when there is none."""
    from datetime import datetime

    from sqlalchemy import select

    from portal.domain import demo
    from portal.models import CareUnit, RegionFile, RegionListing

    vg1 = demo.hsa("VG1")
    with db.new_session(app) as s:
        if s.get(RegionFile, vg1) is not None:
            return
        s.add(RegionFile(provider_id=vg1, file_name="bench.xlsx", uploaded_at=datetime(2026, 11, 1),
                         uploaded_by=demo.hsa("T002")))
        s.flush()
        units = s.execute(select(CareUnit.hsa_id, CareUnit.name).where(CareUnit.provider_id == vg1,
                                                                        CareUnit.parent_id.is_(None))).all()
        for i, (unit, name) in enumerate(units):
            s.add(RegionListing(provider_id=vg1, unit_id=unit, unit_name=name, listed=8000 + 1000 * i))
        s.commit()


def _cold(client, url: str) -> float:
    """The first request of the report's default view with no published table kept (as after a job run without
    `portal statistics`' publishing ahead)."""
    from portal.models import StatPublished

    app = client.application
    with db.new_session(app) as s:
        s.query(StatPublished).delete()
        s.commit()
    started = time.perf_counter()
    assert client.get(url).status_code == 200
    return (time.perf_counter() - started) * 1000


def _time(client, url: str, requests: int) -> tuple[float, float]:
    queries = ["", "?jamfor=1&grad=100&kapitel=F00-F99"]
    times = []
    for i in range(requests + 2):
        started = time.perf_counter()
        response = client.get(f"{url}{queries[i % 2]}")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        if i >= 2:  # two warm-up requests
            times.append(elapsed)
    times.sort()
    return stats.median(times), times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]


def pages(app, requests: int) -> None:
    from portal.domain import demo

    _ensure_listing(app)
    provider, unit = _staff_client(app, "T002"), _staff_client(app, "T001")
    scopes = [("nationell", app.test_client(), "/statistik/nationell"),
              ("vardgivare", provider, f"/statistik/verksamhet/vardgivare/{demo.hsa('VG1')}"),
              ("enhet", unit, f"/statistik/verksamhet/enhet/{demo.hsa('VE10')}"),
              ("region", provider, f"/statistik/verksamhet/region/{demo.hsa('VG1')}")]
    print(f"{'scope':<11} {'report':<22} {'median ms':>10} {'p95 ms':>8} {'cold ms':>8}")
    worst = 0.0
    for kind, client, base in scopes:
        for report_id in (r.id for r in st.reports_for(kind)):
            cold = _cold(client, f"{base}/{report_id}")
            median, p95 = _time(client, f"{base}/{report_id}", requests)
            worst = max(worst, p95)
            print(f"{kind:<11} {report_id:<22} {median:>10.1f} {p95:>8.1f} {cold:>8.1f}")
    print(f"slowest p95: {worst:.1f} ms (goal ≤ 50 ms); cold: the first view with nothing published ahead")


def main() -> None:
    import logging

    logging.getLogger("portal.access").setLevel(logging.WARNING)  # a line per request would drown the figures
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
