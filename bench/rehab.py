"""Rehabstöd benchmark: a unit with 2 000 ongoing sick-leave cases in a database of 1 million
certificates (PostgreSQL, bench/largedb.py).

    .venv/bin/python -m bench.rehab [--requests 100]

Prints the ongoing list's server time (median and p95; goal p95 ≤ 250 ms) and, in the same run, the
time just to fetch from the database what the list needs (the unit's certificates, the FK questions,
the person service's answers; goal: the page ≤ 3 × that), and the page's time when the unit's
computed cases are not cached (a process that has not seen the unit; the first view after new data is
brought up to date per patient: bench/api.py measures it). Server time is measured around the WSGI
call in-process (Flask's test client): routing, session, queries, the sick-leave engine, masking,
PDL, rendering; no network.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, timedelta

from bench.largedb import NOW, ensure
from conftest import session_login
from portal import db
from portal.domain import demo
from portal.repository import intake

UNIT = demo.hsa("BENCH-VE")
COORDINATOR = demo.hsa("BENCH-R")
CASES = 2000


def ensure_unit(app) -> None:
    """A unit of its own with 2 000 patients on ongoing sick leave (about 3 certificates each)."""
    registry = app.extensions["certificate_types"]
    gen = demo.Generator(registry, NOW.date(), seed=99, id_prefix="benchR")
    rng = random.Random(5)
    doc = {"units": [{"hsa_id": UNIT, "name": "Bänkcentralen", "provider": demo.hsa("VG1")}],
           "staff": [{"hsa_id": COORDINATOR, "given_name": "Bänk", "family_name": "Koordinator",
                      "title": "Rehabkoordinator", "professions": [], "position_codes": [],
                      "system_roles": [f"INTYG;Rehab-{UNIT}"]}],
           "commissions": [{"staff": COORDINATOR, "unit": UNIT, "purpose": "Vård och behandling",
                            "valid_from": "2020-01-01", "valid_to": None}],
           "persons": [], "certificates": []}
    for i in range(CASES):
        born = date(1930, 1, 1) + timedelta(days=i // 20)  # older than anyone the generator makes
        pnr = demo.make_pnr(born, 980 + i % 20)
        person = {"personnummer": pnr, "given_name": rng.choice(demo.GIVEN_F + demo.GIVEN_M),
                  "family_name": rng.choice(demo.FAMILY), "protected": i % 97 == 0, "deceased": False,
                  "validation_person": False}
        gen.used_pnr.add(pnr)
        pd = demo.PatientData(person=person)
        start = NOW.date() - timedelta(days=rng.randint(5, 500))
        gen.sick_leave_chain(pd, "VE10", start, ongoing=True, max_certs=4)
        for c in pd.certificates:
            c["unit"] = UNIT
        doc["persons"].append(person)
        doc["certificates"] += [c for c in pd.certificates if c["type"] == "FK7804"]
    with db.new_session(app) as s:
        problems, plan = intake.load(s, doc, registry)
        if plan.changes:
            from sqlalchemy import text

            s.execute(text("ANALYZE certificates"))
            s.commit()
    if problems:
        raise SystemExit(problems[:5])


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ms(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1000, values[min(len(values) - 1, int(round(0.95 * len(values))) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    app = ensure(quiet=True)
    ensure_unit(app)
    client = app.test_client()
    session_login(client, app, "staff", COORDINATOR, unit_id=UNIT, role="REHABKOORDINATOR", name="Bänk Koordinator")

    def page():
        response = client.get("/rehabstod/sjukfall")
        assert response.status_code == 200, response.status_code

    html = client.get("/rehabstod/sjukfall").get_data(as_text=True)
    import re

    print("cases on the unit:", re.search(r"Visar (\d+) av (\d+) sjukfall", html).group(2))
    for _ in range(5):
        page()
    page_times = [timed(page) for _ in range(args.requests)]

    from portal.repository import rehab as store

    def fetch():
        with app.test_request_context():
            s = db.session()
            scope = store.unit_scope(s, UNIT)
            data = store.unit_certificates(s, app.extensions["certificate_types"], unit_ids=scope,
                                           provider_id=demo.hsa("VG1"), since=NOW.date())
            pnrs = {r.certificate.patient_id for r in data.records}
            app.extensions["person_service"].lookup(pnrs)
            store.fk_messages(s, [r.certificate.id for r in data.records], NOW.date(), unit_ids=scope)

    fetch_times = [timed(fetch) for _ in range(max(20, args.requests // 5))]

    cache = app.extensions["rehab_cache"]

    def cold_page():
        cache.clear()
        page()

    cold_times = [timed(cold_page) for _ in range(max(20, args.requests // 5))]
    pm, pp = ms(page_times)
    fm, fp = ms(fetch_times)
    print(f"ongoing list page (100 rows of {CASES} cases): median {pm:.0f} ms, p95 {pp:.0f} ms (n={len(page_times)})")
    print(f"database fetch the list needs:            median {fm:.0f} ms, p95 {fp:.0f} ms (n={len(fetch_times)})")
    print(f"page / fetch (medians): {pm / fm:.1f}")
    cm, cp = ms(cold_times)
    print(f"list page with the case cache emptied first (a process that has not seen the unit): median {cm:.0f} ms, "
          f"p95 {cp:.0f} ms (n={len(cold_times)})")


if __name__ == "__main__":
    main()
