"""The Rehabstöd case cache never serves stale data: the unit's computed sick-leave cases are reused
between requests only while the unit's data version is unchanged, and PU-tjänsten is asked afresh
on every request."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import Person
from portal.repository import intake

COORDINATOR = demo_data.hsa("R001")
VE10 = demo_data.hsa("VE10")


def _login(client, app):
    session_login(client, app, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name="Koordinator")


def _new_patient(app, seed: int):
    """A new person with an ongoing FK7804 sick leave on VE10, as an intake document."""
    gen = demo_data.Generator(app.extensions["certificate_types"], NOW.date(), seed=seed, id_prefix=f"cache{seed}")
    with db.new_session(app) as s:
        gen.used_pnr |= set(s.scalars(__import__("sqlalchemy").select(Person.personnummer)))
    person = gen.person()
    pd = demo_data.PatientData(person=person)
    gen.sick_leave_chain(pd, "VE10", NOW.date() - timedelta(days=20), ongoing=True, max_certs=1)
    certs = [dict(c, unit=demo_data.hsa(c["unit"])) for c in pd.certificates if c["type"] == "FK7804"]
    return person, {"persons": [person], "certificates": certs}


def _load(app, doc):
    with db.new_session(app) as s:
        problems, _ = intake.load(s, doc, app.extensions["certificate_types"])
    assert problems == []


def _shown(client) -> str:
    return client.get("/rehabstod/sjukfall?personuppgifter=1").get_data(as_text=True).replace("-", "")


def test_a_certificate_loaded_after_a_view_appears_on_the_next_view(demo, client):
    _login(client, demo)
    person, doc = _new_patient(demo, 7)
    assert person["personnummer"] not in _shown(client)
    assert demo.extensions["rehab_cache"].misses >= 1
    _load(demo, doc)
    assert person["personnummer"] in _shown(client)


def test_a_revocation_loaded_after_a_view_removes_the_case(demo, client):
    _login(client, demo)
    person, doc = _new_patient(demo, 8)
    _load(demo, doc)
    assert person["personnummer"] in _shown(client)
    _load(demo, {"revocations": [{"certificate": c["id"], "at": (NOW - timedelta(hours=1)).isoformat(),
                                  "reason": "Fel patient"} for c in doc["certificates"]]})
    assert person["personnummer"] not in _shown(client)


def test_the_person_service_is_asked_on_every_view_even_when_cases_are_cached(demo, client):
    _login(client, demo)
    person, doc = _new_patient(demo, 9)
    _load(demo, doc)
    first = _shown(client)
    assert person["personnummer"] in first and person["family_name"] in first
    # the person becomes protected: nothing about the unit's certificates changed
    with db.new_session(demo) as s:
        s.execute(update(Person).where(Person.personnummer == person["personnummer"]).values(protected=True))
        s.commit()
    hits = demo.extensions["rehab_cache"].hits
    html = _shown(client)
    assert demo.extensions["rehab_cache"].hits > hits  # the cases came from the cache ...
    assert person["personnummer"] not in html  # ... and the coordinator no longer sees the patient


# --- kept up to date per patient, and shared through the database --------------------------------------

def _rows(client) -> list[str]:
    """The list's rows as the coordinator sees them (every page, personal data shown), in the page's order."""
    import re

    html = client.get("/rehabstod/sjukfall?personuppgifter=1&sida=1").get_data(as_text=True)
    pages = int(max(re.findall(r"sida=(\d+)", html), default="1", key=int))
    rows = []
    for n in range(1, pages + 1):
        page = client.get(f"/rehabstod/sjukfall?personuppgifter=1&sida={n}").get_data(as_text=True)
        rows += [re.sub(r"\s+", " ", re.sub(r"<[^>]+>|p=[^\"&]+", "", r)).strip().replace("-", "")
                 for r in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S)[1:]]
    return rows


def _on(rows: list[str], person: dict) -> bool:
    return any(person["personnummer"].replace("-", "") in r for r in rows)


def test_new_data_updates_only_the_changed_patients_and_gives_the_same_list_as_a_full_computation(demo, client):
    _login(client, demo)
    cache = demo.extensions["rehab_cache"]
    _rows(client)
    person, doc = _new_patient(demo, 11)
    other, other_doc = _new_patient(demo, 12)
    _load(demo, doc)
    _load(demo, other_doc)
    updates, misses = cache.updates, cache.misses
    incremental = _rows(client)
    assert cache.updates > updates and cache.misses == misses  # brought up to date, not recomputed whole
    assert cache.counts[("input", "update")] >= 1 and cache.counts[("cases", "update")] >= 1
    assert _on(incremental, person)
    assert _on(incremental, other)
    # a revocation of one of them, then a full computation to compare with
    _load(demo, {"revocations": [{"certificate": c["id"], "at": (NOW - timedelta(hours=1)).isoformat(),
                                  "reason": "Fel patient"} for c in other_doc["certificates"]]})
    incremental = _rows(client)
    assert not _on(incremental, other)
    cache.clear()
    assert _rows(client) == incremental


def test_a_change_without_known_patients_recomputes_the_unit_whole(demo, client):
    _login(client, demo)
    cache = demo.extensions["rehab_cache"]
    before = _rows(client)
    with db.new_session(demo) as s:
        intake.bump_units(s, [VE10])
        s.commit()
    misses = cache.misses
    assert _rows(client) == before
    assert cache.misses > misses


def test_a_change_made_through_one_process_is_seen_by_the_next_request_on_another(demo, client):
    """Two app instances on one database (as two gunicorn processes): each has its own case cache, both
    warm; a certificate stored through the first is on the second's next page."""
    from conftest import make_test_app

    other_app = make_test_app(demo.config["DATABASE_URL"], AUTO_MIGRATE=False)
    try:
        other = other_app.test_client()
        _login(client, demo)
        session_login(other, other_app, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name="K")
        person, doc = _new_patient(demo, 13)
        assert not _on(_rows(other), person)
        _load(demo, doc)  # through the first "process"
        assert _on(_rows(other), person)
        assert other_app.extensions["rehab_cache"].updates >= 1
    finally:
        db.get_engine(other_app).dispose()


def test_purge_sessions_deletes_week_old_change_records_and_a_cache_older_than_them_is_recomputed(demo, client):
    from datetime import datetime

    from sqlalchemy import func, select

    from portal.auth.commands import purge_sessions_command
    from portal.models import UnitChange

    _login(client, demo)
    cache = demo.extensions["rehab_cache"]
    before = _rows(client)
    person, doc = _new_patient(demo, 14)
    _load(demo, doc)
    with db.new_session(demo) as s:  # every change record so far is more than a week old
        s.execute(update(UnitChange).values(created_at=datetime(2020, 1, 1)))
        s.commit()
    result = demo.test_cli_runner().invoke(purge_sessions_command)
    assert result.exit_code == 0 and "old unit change record(s) deleted" in result.output
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(UnitChange)) == 0
    misses = cache.misses
    after = _rows(client)
    assert cache.misses > misses  # the record of what changed is gone: recomputed whole
    assert _on(after, person) and not _on(before, person)
