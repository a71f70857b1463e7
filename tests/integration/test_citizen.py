"""Mina intyg through the Flask test client: the list, reading, archiving, sending, and that every
route taking a certificate id is a 404 (changing nothing) for anyone else's certificate."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo
from portal.models import ArchiveMark, Certificate, CertificateEvent, CertificateRelation, Send

CITIZENS = {c.key: c for c in demo.demo_citizens(NOW.date())}
ORDINARY = CITIZENS["ordinary"].personnummer


def csrf(client) -> str:
    html = client.get("/mina-intyg/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def citizen(demo, client):
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    return client


def own(session, pnr=ORDINARY, **where):
    q = select(Certificate).where(Certificate.patient_pnr == pnr, Certificate.revoked_at.is_(None))
    for k, v in where.items():
        q = q.where(getattr(Certificate, k) == v)
    return session.scalars(q.order_by(Certificate.signed_at.desc())).all()


def others(session):
    return session.scalars(select(Certificate).where(Certificate.patient_pnr != ORDINARY,
                                                     Certificate.type_code == "FK7804")).first()


def test_the_list_shows_the_citizens_own_visible_certificates_newest_first(citizen, session):
    html = citizen.get("/mina-intyg/").get_data(as_text=True)
    mine = own(session)
    visible = [c for c in mine if c.type_code not in ("DB", "DOI", "FK7472")]
    ids = re.findall(r'href="/mina-intyg/intyg/([^"]+)"', html)
    assert ids == [c.id for c in visible]  # newest first, all of them
    assert f"Visar {len(visible)} av {len(visible)} intyg" in html
    assert 'data-app-announce="Visar' in html
    other = others(session)
    assert other.id not in html


def test_revoked_certificates_are_never_listed_or_readable(citizen, session, demo):
    cert = own(session, type_code="FK7804")[0]
    with db.new_session(demo) as s:
        s.get(Certificate, cert.id).revoked_at = NOW
        s.commit()
    assert cert.id not in citizen.get("/mina-intyg/").get_data(as_text=True)
    assert citizen.get(f"/mina-intyg/intyg/{cert.id}").status_code == 404


def test_filters_several_values_at_once_and_sort(citizen, session):
    mine = [c for c in own(session) if c.type_code not in ("DB", "DOI", "FK7472")]
    wanted = [c for c in mine if c.type_code in ("FK7804", "AG1-14")]
    html = citizen.get("/mina-intyg/?typ=FK7804&typ=AG1-14&sortering=oldest").get_data(as_text=True)
    ids = re.findall(r'href="/mina-intyg/intyg/([^"]+)"', html)
    assert ids == [c.id for c in sorted(wanted, key=lambda c: (c.signed_at, c.id))]
    assert f"Visar {len(wanted)} av {len(mine)} intyg" in html
    # the chosen filters are shown as removable tags, and stay checked in the form
    assert 'value="FK7804" checked' in html and 'value="AG1-14" checked' in html
    assert "ta bort filter" in html


def test_filter_by_year_unit_and_sent(citizen, session):
    mine = [c for c in own(session) if c.type_code not in ("DB", "DOI", "FK7472")]
    year = mine[0].signed_at.year
    html = citizen.get(f"/mina-intyg/?ar={year}&enhet={mine[0].unit_id}&skickat=no").get_data(as_text=True)
    expected = [c for c in mine if c.signed_at.year == year and c.unit_id == mine[0].unit_id]
    assert len(re.findall(r'href="/mina-intyg/intyg/', html)) == len(expected)


def test_unknown_filter_values_are_ignored_not_an_error(citizen):
    response = citizen.get("/mina-intyg/?typ=NOPE&ar=1800&skickat=maybe&sortering=sideways&enhet=x")
    assert response.status_code == 200
    assert "Inga intyg matchar" not in response.get_data(as_text=True)


def test_no_matches_has_its_own_empty_state(citizen):
    html = citizen.get("/mina-intyg/?typ=FK7804&skickat=yes").get_data(as_text=True)
    assert "Inga intyg matchar filtret" in html and "Visar 0 av" in html


def test_a_citizen_without_certificates_sees_the_empty_state(demo, client):
    session_login(client, demo, "citizen", CITIZENS["new"].personnummer)
    html = client.get("/mina-intyg/").get_data(as_text=True)
    assert "Du har inga intyg här ännu" in html
    assert 'class="app-filter"' not in html


def test_htmx_gets_only_the_results_fragment_with_vary(citizen):
    full = citizen.get("/mina-intyg/?typ=FK7804")
    frag = citizen.get("/mina-intyg/?typ=FK7804", headers={"HX-Request": "true"})
    assert "<html" in full.get_data(as_text=True)
    body = frag.get_data(as_text=True)
    assert "<html" not in body and body.strip().startswith('<div id="results"')
    assert "HX-Request" in frag.headers["Vary"]
    assert frag.headers["Cache-Control"] == "no-store"


def test_badges_new_and_replaced(citizen, session):
    html = citizen.get("/mina-intyg/").get_data(as_text=True)
    recent = [c for c in own(session) if (NOW.date() - c.signed_at.date()).days < 14
              and c.type_code not in ("DB", "DOI", "FK7472")]
    assert html.count(">Nytt</strong>") == len(recent)
    replaced = session.scalars(select(CertificateRelation.to_id)
                               .join(Certificate, Certificate.id == CertificateRelation.to_id)
                               .where(Certificate.patient_pnr == ORDINARY, CertificateRelation.kind == "REPLACES")
                               ).all()
    assert html.count(">Ersatt</strong>") == len(replaced)


def test_reading_a_certificate(citizen, session):
    cert = own(session, type_code="FK7804")[0]
    response = citizen.get(f"/mina-intyg/intyg/{cert.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "<h1 class=\"app-heading-xl\">Läkarintyg för sjukpenning</h1>" in html
    assert cert.content["diagnoses"][0]["code"] in html
    assert "Skicka till Försäkringskassan" in html
    assert ORDINARY not in re.sub(r"<[^>]+>", "", html).replace("-", "")  # no personnummer shown on the page


def test_replaced_certificate_has_a_banner_linking_the_newer(demo, client, session):
    rel = session.scalars(select(CertificateRelation).where(CertificateRelation.kind == "REPLACES")).first()
    old = session.get(Certificate, rel.to_id)
    session_login(client, demo, "citizen", old.patient_pnr)
    html = client.get(f"/mina-intyg/intyg/{old.id}").get_data(as_text=True)
    assert "Detta intyg har ersatts av vården med ett nytt intyg" in html
    assert f'href="/mina-intyg/intyg/{rel.from_id}"' in html
    assert "Ersattes av vården med ett nytt intyg" in html  # the event
    assert "Skicka till" not in html  # a replaced certificate cannot be sent
    newer = client.get(f"/mina-intyg/intyg/{rel.from_id}").get_data(as_text=True)
    assert "Detta intyg ersätter ett intyg som inte längre är aktuellt" in newer


def test_archive_and_restore_are_recorded_and_reversible(citizen, session, demo):
    cert = own(session, type_code="FK7804")[0]
    token = csrf(citizen)
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/arkivera", data={"csrf_token": token})
    assert response.status_code == 303
    listing = citizen.get("/mina-intyg/").get_data(as_text=True)
    assert cert.id not in listing and "Intyget är arkiverat" in listing
    assert "Arkiverade intyg (1)" in listing
    assert cert.id in citizen.get("/mina-intyg/arkiverade").get_data(as_text=True)
    citizen.post(f"/mina-intyg/intyg/{cert.id}/aterstall", data={"csrf_token": token})
    assert cert.id in citizen.get("/mina-intyg/").get_data(as_text=True)
    with db.new_session(demo) as s:
        kinds = s.scalars(select(CertificateEvent.kind).where(CertificateEvent.certificate_id == cert.id)
                          .order_by(CertificateEvent.id)).all()
        assert kinds == ["ARCHIVED", "RESTORED"]
        assert s.get(ArchiveMark, cert.id) is None
    html = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert "Arkiverat" in html and "Återställt" in html


def test_archive_needs_csrf(citizen, session):
    cert = own(session, type_code="FK7804")[0]
    assert citizen.post(f"/mina-intyg/intyg/{cert.id}/arkivera").status_code == 400
    assert cert.id in citizen.get("/mina-intyg/").get_data(as_text=True)


def counts(app):
    with db.new_session(app) as s:
        return tuple(s.scalar(select(func.count()).select_from(model))
                     for model in (Send, ArchiveMark, CertificateEvent))


@pytest.mark.parametrize("method,path", [
    ("GET", "/mina-intyg/intyg/{id}"),
    ("GET", "/mina-intyg/intyg/{id}/pdf/full"),
    ("GET", "/mina-intyg/intyg/{id}/skicka"),
    ("POST", "/mina-intyg/intyg/{id}/skicka"),
    ("POST", "/mina-intyg/intyg/{id}/arkivera"),
    ("POST", "/mina-intyg/intyg/{id}/aterstall"),
])
def test_another_citizens_certificate_is_a_404_and_nothing_changes(citizen, session, demo, method, path):
    other = others(session)
    with db.new_session(demo) as s:  # archived, so restoring it would change something
        s.add(ArchiveMark(certificate_id=other.id, archived_at=NOW))
        s.commit()
    before = counts(demo)
    token = csrf(citizen)
    url = path.format(id=other.id)
    response = citizen.get(url) if method == "GET" else citizen.post(url, data={"csrf_token": token, "consent": "yes"})
    assert response.status_code == 404
    assert "Sidan hittades inte" in response.get_data(as_text=True)
    assert counts(demo) == before


def test_hidden_types_are_404_for_the_patient_too(demo, client, session):
    child_cert = session.scalars(select(Certificate).where(Certificate.type_code == "FK7472")).first()
    session_login(client, demo, "citizen", child_cert.patient_pnr)
    assert client.get(f"/mina-intyg/intyg/{child_cert.id}").status_code == 404


def test_no_personnummer_in_any_link(citizen):
    for path in ("/mina-intyg/", "/mina-intyg/arkiverade", "/mina-intyg/?typ=FK7804"):
        html = citizen.get(path).get_data(as_text=True)
        for href in re.findall(r'(?:href|action|hx-get)="([^"]+)"', html):
            assert ORDINARY not in href.replace("-", "")


def test_staff_cannot_reach_mina_intyg(demo, client, session):
    session_login(client, demo, "staff", "TSTNMT2321000156-L002", unit_id="TSTNMT2321000156-VE10", role="LAKARE")
    cert = own(session)[0]
    assert client.get(f"/mina-intyg/intyg/{cert.id}").status_code == 403


# --- sending ---------------------------------------------------------------------------------------

def sendable(session, code="FK7804"):
    for c in own(session, type_code=code):
        replaced = session.scalar(select(func.count()).select_from(CertificateRelation).join(
            Certificate, Certificate.id == CertificateRelation.from_id).where(
            CertificateRelation.to_id == c.id, CertificateRelation.kind == "REPLACES",
            Certificate.revoked_at.is_(None)))
        if not replaced:
            return c
    raise AssertionError("no sendable certificate")


def test_send_asks_for_consent_first(citizen, session, demo):
    cert = sendable(session)
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka").get_data(as_text=True)
    assert "Skicka intyget till Försäkringskassan" in page and "Jag vill att intyget skickas" in page
    before = counts(demo)
    refused = citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen)})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "Det finns ett problem" in html and 'href="#consent"' in html
    assert counts(demo) == before


def test_send_stores_one_outbox_row_and_shows_skickas(citizen, session, demo):
    cert = sendable(session)
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen), "consent": "yes"})
    assert response.status_code == 303
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "Tack! Intyget skickas nu till Försäkringskassan" in html and "Skickas…" in html
    with db.new_session(demo) as s:
        rows = s.scalars(select(Send).where(Send.certificate_id == cert.id)).all()
        assert [(r.recipient, r.state) for r in rows] == [("FK", "PENDING")]
    # sending twice is refused with a clear message and changes nothing
    again = citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen), "consent": "yes"})
    assert again.status_code == 409
    assert ("Intyget är redan skickat till Försäkringskassan, eller håller på att skickas"
            in again.get_data(as_text=True))
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(Send).where(Send.certificate_id == cert.id)) == 1


def test_ts_certificate_goes_to_transportstyrelsen(citizen, session, demo):
    cert = sendable(session, "TSTRK1007")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka").get_data(as_text=True)
    assert "Skicka intyget till Transportstyrelsen" in page
    citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen), "consent": "yes"})
    with db.new_session(demo) as s:
        assert s.scalars(select(Send.recipient).where(Send.certificate_id == cert.id)).all() == ["TS"]


def test_a_replaced_certificate_cannot_be_sent(demo, client, session):
    rel = session.scalars(select(CertificateRelation).where(CertificateRelation.kind == "REPLACES")).first()
    old = session.get(Certificate, rel.to_id)
    session_login(client, demo, "citizen", old.patient_pnr)
    before = counts(demo)
    response = client.post(f"/mina-intyg/intyg/{old.id}/skicka", data={"csrf_token": csrf(client), "consent": "yes"})
    assert response.status_code == 409
    assert "Intyget har ersatts av ett nyare intyg" in response.get_data(as_text=True)
    assert counts(demo) == before


def test_a_valideringspersons_certificate_is_never_sent(demo, client, session):
    pnr = CITIZENS["validation"].personnummer
    cert = session.scalars(select(Certificate).where(Certificate.patient_pnr == pnr,
                                                     Certificate.type_code == "FK7804")).first()
    session_login(client, demo, "citizen", pnr)
    before = counts(demo)
    response = client.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(client), "consent": "yes"})
    assert response.status_code == 409 and "kan inte skickas elektroniskt" in response.get_data(as_text=True)
    assert counts(demo) == before


def test_a_type_without_electronic_recipient_offers_no_send(citizen, session):
    cert = own(session, type_code="AG1-14")[0]
    html = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert "Skicka till" not in html
    response = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka")
    assert "kan inte skickas elektroniskt" in response.get_data(as_text=True)


def test_sending_fails_closed_when_the_person_service_is_down(citizen, session, demo):
    cert = sendable(session)
    demo.extensions["person_service"].mode = "fail"
    before = counts(demo)
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen), "consent": "yes"})
    assert response.status_code == 409
    assert "kan inte skickas just nu" in response.get_data(as_text=True)
    assert counts(demo) == before
