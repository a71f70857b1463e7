"""Mina intyg for a certificate that care sent to its recipient outside the portal (a `care_sends` row): the
page says so in a banner and an event and offers no send, the send page refuses (nothing in the outbox), the
list badges and filters it as sent, and the PDF warns against sending the printout too."""
from __future__ import annotations

import html as html_lib
import io
import re
from datetime import datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from conftest import NOW, session_login
from portal import pdf
from portal.domain import demo as demo_data
from portal.models import CareSend, Certificate, CertificateRelation, Send
from portal.repository import certificates as store

ORDINARY = {c.key: c for c in demo_data.demo_citizens(NOW.date())}["ordinary"].personnummer
CARE_SENT = datetime(2026, 11, 3, 14, 30)


@pytest.fixture
def citizen(demo, client):
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    return client


def csrf(client) -> str:
    page = client.get("/mina-intyg/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def unsent(session, code: str) -> Certificate:
    """The citizen's newest certificate of a type that is signed before CARE_SENT, not revoked, not replaced,
    and not sent by anyone yet."""
    replaced = (select(CertificateRelation.to_id).join(Certificate, Certificate.id == CertificateRelation.from_id)
                .where(CertificateRelation.kind == "REPLACES", Certificate.revoked_at.is_(None)))
    return session.scalars(
        select(Certificate).where(Certificate.patient_pnr == ORDINARY, Certificate.type_code == code,
                                  Certificate.revoked_at.is_(None), Certificate.signed_at < CARE_SENT,
                                  Certificate.id.not_in(replaced),
                                  Certificate.id.not_in(select(Send.certificate_id)),
                                  Certificate.id.not_in(select(CareSend.certificate_id)))
        .order_by(Certificate.signed_at.desc())).first()


def care_send(session, code: str = "FK7804", recipient: str = "FK") -> Certificate:
    """Record, as the store's API does, that care sent one of the citizen's certificates on 3 November 2026."""
    cert = unsent(session, code)
    assert cert is not None, f"the demo citizen has no unsent {code} signed before {CARE_SENT}"
    session.add(CareSend(certificate_id=cert.id, recipient=recipient, sent_at=CARE_SENT))
    session.commit()
    return cert


def text(fragment: str) -> str:
    """What a reader gets from some markup: the text, whitespace runs made single spaces."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def sent_banner(page: str) -> str:
    match = re.search(r'<div class="app-notification app-notification--success" role="region" '
                      r'aria-labelledby="sent-title">(.*?)</div>\s*</div>', page, re.DOTALL)
    assert match, "no sent banner"
    return text(match.group(1))


def events(page: str) -> list[str]:
    match = re.search(r'<ul class="app-events">(.*?)</ul>', page, re.DOTALL)
    return [text(li) for li in re.findall(r"<li>(.*?)</li>", match.group(1), re.DOTALL)] if match else []


def sends_of(session, certificate_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Send).where(Send.certificate_id == certificate_id))


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


# --- the certificate page ----------------------------------------------------------------------------

def test_the_page_shows_that_care_sent_it_and_offers_no_send(citizen, session):
    cert = care_send(session)
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    banner = sent_banner(page)
    assert banner.startswith("Skickat Skickat till Försäkringskassan av vården, 3 november 2026.")
    assert "Du behöver inte skicka intyget själv." in banner
    assert "3 november 2026 Skickat till Försäkringskassan av vården" in events(page)
    assert f"/mina-intyg/intyg/{cert.id}/skicka" not in page and "Skicka till" not in page
    assert ">Skickat</strong>" in page  # the badge


def test_the_page_in_english(citizen, session):
    cert = care_send(session)
    citizen.set_cookie("lang", "en")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert '<html lang="en"' in page
    banner = sent_banner(page)
    assert banner.startswith("Sent Sent to Försäkringskassan (Social Insurance Agency) by healthcare, 3 November 2026.")
    assert "You do not need to send the certificate yourself." in banner
    assert "3 November 2026 Sent to Försäkringskassan (Social Insurance Agency) by healthcare" in events(page)
    assert f"/mina-intyg/intyg/{cert.id}/skicka" not in page and "Send to" not in page


def test_a_ts_certificate_care_sent_to_transportstyrelsen(citizen, session):
    cert = care_send(session, "TSTRK1007", "TS")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert "Skickat till Transportstyrelsen av vården, 3 november 2026." in sent_banner(page)
    assert "3 november 2026 Skickat till Transportstyrelsen av vården" in events(page)
    assert f"/mina-intyg/intyg/{cert.id}/skicka" not in page


def test_a_certificate_not_sent_still_offers_the_send(citizen, session):
    cert = unsent(session, "FK7804")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert f'href="/mina-intyg/intyg/{cert.id}/skicka"' in page and "av vården" not in page


# --- the send page -----------------------------------------------------------------------------------

REFUSAL_SV = ("Vården har redan skickat intyget till Försäkringskassan den 3 november 2026. "
              "Det behöver inte skickas igen.")


def test_the_send_page_says_care_already_sent_it(citizen, session):
    cert = care_send(session)
    response = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Intyget kan inte skickas" in page and REFUSAL_SV in text(page)
    assert 'name="consent"' not in page  # no consent form to send it with


def test_the_send_page_in_english(citizen, session):
    cert = care_send(session)
    citizen.set_cookie("lang", "en")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka").get_data(as_text=True)
    assert ("Healthcare has already sent the certificate to Försäkringskassan (Social Insurance Agency) on "
            "3 November 2026. It does not need to be sent again.") in text(page)


def test_posting_a_send_is_refused_with_409_and_nothing_goes_in_the_outbox(citizen, session):
    cert = care_send(session)
    before = session.scalar(select(func.count()).select_from(Send))
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(citizen), "consent": "yes"})
    assert response.status_code == 409
    assert REFUSAL_SV in text(response.get_data(as_text=True))
    assert sends_of(session, cert.id) == 0
    assert session.scalar(select(func.count()).select_from(Send)) == before


# --- the list ----------------------------------------------------------------------------------------

def list_items(page: str) -> dict[str, str]:
    """The list's items by certificate id, as text."""
    item = r'<li class="app-cert-list__item">.*?href="/mina-intyg/intyg/([^"]+)".*?</li>'
    return {m.group(1): text(m.group(0)) for m in re.finditer(item, page, re.DOTALL)}


def test_the_list_badges_it_sent_and_the_sent_filter_counts_it(citizen, session):
    cert = care_send(session)
    items = list_items(citizen.get("/mina-intyg/?typ=FK7804").get_data(as_text=True))
    assert "Skickat" in items[cert.id].split()
    assert all("Skickat" not in item.split() for cid, item in items.items() if cid != cert.id)
    assert list(list_items(citizen.get("/mina-intyg/?typ=FK7804&skickat=yes").get_data(as_text=True))) == [cert.id]
    not_sent = list_items(citizen.get("/mina-intyg/?typ=FK7804&skickat=no").get_data(as_text=True))
    assert cert.id not in not_sent and set(not_sent) == set(items) - {cert.id}


# --- the PDF -----------------------------------------------------------------------------------------

PDF_SV = ("Intyget är redan skickat elektroniskt till Försäkringskassan av vården den 3 november 2026. "
          "Skicka inte den här utskriften till Försäkringskassan.")


def test_the_pdf_says_care_sent_it_and_is_not_served_stale_from_the_cache(citizen, session, demo, tmp_path):
    demo.config["PDF_CACHE_DIR"] = str(tmp_path)
    cert = unsent(session, "FK7804")
    ctype = demo.extensions["certificate_types"]["FK7804"]
    url = f"/mina-intyg/intyg/{cert.id}/pdf/full"
    key_before = pdf.cache_key(ctype, store.one(session, cert.id), "full", "sv")
    before = pdf_text(citizen.get(url).get_data())
    assert "redan skickat" not in before

    care_send(session)
    key_after = pdf.cache_key(ctype, store.one(session, cert.id), "full", "sv")
    assert key_after != key_before
    after = pdf_text(citizen.get(url).get_data())
    assert PDF_SV in after
    assert after.index(PDF_SV) < after.index("Intygsuppgifter")  # at the top, before the certificate
    assert len(list(tmp_path.rglob("*.pdf"))) == 2  # one file per key


def test_the_pdf_in_english(citizen, session, demo, tmp_path):
    demo.config["PDF_CACHE_DIR"] = str(tmp_path)
    cert = care_send(session)
    citizen.set_cookie("lang", "en")
    text_en = pdf_text(citizen.get(f"/mina-intyg/intyg/{cert.id}/pdf/full").get_data())
    assert ("The certificate has already been sent electronically to Försäkringskassan (Social Insurance Agency) by "
            "healthcare on 3 November 2026. Do not send this printout to Försäkringskassan (Social Insurance "
            "Agency).") in text_en
