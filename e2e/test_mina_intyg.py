"""Mina intyg by keyboard alone, at 390 px and 1280 px, in Swedish and English: filter and sort,
open a certificate, download every PDF variant, send to FK and TS and see it delivered, archive and
restore. The axe check runs on every state, htmx-swapped ones included."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select

from accessibility import crawl
from conftest import NOW, new_context
from portal import db
from portal.domain import demo
from portal.models import ArchiveMark, Certificate, CertificateEvent, CertificateRelation, Send, SimDelivery

from .keyboard import activate, focused, tab_to

pytestmark = pytest.mark.e2e

ORDINARY = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
T = {
    "sv": {"mina": "Mina intyg", "filter": "Filtrera och sortera", "sort": "Sortera", "showing": "Visar",
           "of": "av", "fk7804": "Läkarintyg för sjukpenning", "send_fk": "Skicka till Försäkringskassan",
           "send_ts": "Skicka till Transportstyrelsen", "consent": "Jag vill att intyget skickas till",
           "send": "Skicka intyget", "problem": "Det finns ett problem", "sending": "Skickas…", "sent": "Skickat",
           "archive": "Arkivera intyget", "restore": "Återställ intyget", "archived": "Arkiverade intyg",
           "back": "Tillbaka till Mina intyg", "full": "Ladda ner intyget som PDF", "signed": "elektroniskt signerat",
           "employer": "Ladda ner kopia till arbetsgivaren (PDF)",
           "employer_no_diagnosis": "Ladda ner kopia till arbetsgivaren utan diagnos (PDF)",
           "periods": "Ladda ner kopia med bara sjukskrivningsperioderna (PDF)",
           "nomatch": "Inga intyg matchar filtret"},
    "en": {"mina": "My certificates", "filter": "Filter and sort", "sort": "Sort", "showing": "Showing", "of": "of",
           "fk7804": "Medical certificate for sickness benefit",
           "send_fk": "Send to Försäkringskassan (Social Insurance Agency)",
           "send_ts": "Send to Transportstyrelsen (Transport Agency)",
           "consent": "I want the certificate to be sent to",
           "send": "Send the certificate", "problem": "There is a problem", "sending": "Sending…", "sent": "Sent",
           "archive": "Archive the certificate", "restore": "Restore the certificate",
           "archived": "Archived certificates", "back": "Back to My certificates",
           "full": "Download the certificate as PDF", "signed": "electronically signed",
           "employer": "Download a copy for the employer (PDF)",
           "employer_no_diagnosis": "Download a copy for the employer without the diagnosis (PDF)",
           "periods": "Download a copy with only the sick-leave periods (PDF)",
           "nomatch": "No certificates match the filter"},
}


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def width(request):
    return request.param


@pytest.fixture
def citizen_page(browser, live, lang, width):
    """A logged-in citizen (through the test broker) in a fresh browser; their sends and archive marks
    are cleared afterwards so each test starts from the demo data."""
    context = new_context(browser, live.url, lang=lang, width=width, height=844 if width == 390 else 900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    crawl.login(page, "citizen")
    yield page
    context.close()
    app = live.app
    with db.new_session(app) as s:
        mine = select(Certificate.id).where(Certificate.patient_pnr == ORDINARY)
        s.execute(delete(Send).where(Send.certificate_id.in_(mine)))
        s.execute(delete(ArchiveMark).where(ArchiveMark.certificate_id.in_(mine)))
        s.execute(delete(CertificateEvent).where(CertificateEvent.certificate_id.in_(mine)))
        s.execute(delete(SimDelivery))
        s.commit()


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def count_text(page) -> str:
    return page.locator(".app-results__count").inner_text()


def test_filter_and_sort_the_list_by_keyboard(citizen_page, lang):
    page, t = citizen_page, T[lang]
    page.goto("/mina-intyg/")
    assert h1(page) == t["mina"]
    total = int(re.search(r"(\d+)\D*$", count_text(page)).group(1))
    no_violations(page)
    tab_to(page, lambda f: f["tag"] == "summary")  # "Filtrera och sortera"
    page.keyboard.press("Enter")
    # tick the FK7804 type: htmx swaps the results and the live region announces the count
    tab_to(page, lambda f: f["type"] == "checkbox" and f["value"] == "FK7804")
    with page.expect_response(lambda r: "typ=FK7804" in r.url):
        page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
    live = page.locator("#app-live").inner_text()
    assert live.startswith(t["showing"]) and live.endswith(f"{total} " + ("intyg" if lang == "sv" else "certificates"))
    assert "typ=FK7804" in page.url  # the filter state is in the URL
    titles = page.locator(".app-cert-list__title").all_inner_texts()
    assert titles and set(titles) == {t["fk7804"]}
    assert page.locator("input[value=FK7804]").is_checked()
    no_violations(page)  # the htmx-swapped state
    # sort oldest first with the select
    tab_to(page, lambda f: f["tag"] == "select", backwards=True)
    dates_before = page.locator(".app-cert-list__meta").all_inner_texts()
    with page.expect_response(lambda r: "sortering=oldest" in r.url):
        page.keyboard.press("ArrowDown")
    page.wait_for_function("() => location.search.includes('sortering=oldest')")
    assert page.locator(".app-cert-list__meta").all_inner_texts() == list(reversed(dates_before))
    # a filter with no match: its own empty state
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "skickat" and f["value"] == "yes")
    with page.expect_response(lambda r: "skickat=yes" in r.url):
        page.keyboard.press("Space")
    page.locator(".app-empty").wait_for()
    assert t["nomatch"] in page.locator("#results").inner_text()
    no_violations(page)
    # the same URL works without htmx (a bookmark): the full page shows the same state
    page.goto(page.url)
    assert t["nomatch"] in page.locator("#results").inner_text()


def open_certificate(page, lang, code="FK7804"):
    page.goto(f"/mina-intyg/?typ={code}")
    title = T[lang]["fk7804"] if code == "FK7804" else None
    first = page.locator(".app-cert-list__title a").first
    name = first.inner_text()
    assert title is None or name == title
    tab_to(page, lambda f: f["tag"] == "a" and f["text"] == name)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert h1(page) == name


def test_open_a_certificate_and_download_every_pdf_variant(citizen_page, lang, live):
    page, t = citizen_page, T[lang]
    # FK7804: the full certificate and the copy with only periods
    open_certificate(page, lang, "FK7804")
    no_violations(page)
    cert_id = page.url.rsplit("/", 1)[1]
    for variant in ("full", "periods"):
        tab_to(page, lambda f, label=t[variant]: f["text"] == label)
        with page.expect_download() as dl:
            page.keyboard.press("Enter")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(open(dl.value.path(), "rb").read())).pages)
        assert cert_id in text and t["signed"] in text.lower()
        page.keyboard.press("Home")
    # AG7804: the employer copies, with and without the diagnosis
    page.goto("/mina-intyg/?typ=AG7804")
    page.locator(".app-cert-list__title a").first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    with db.new_session(live.app) as s:
        ag = s.get(Certificate, page.url.rsplit("/", 1)[1])
        code = ag.content["diagnoses"][0]["code"] if ag.content.get("diagnoses") else None
    for variant in ("employer", "employer_no_diagnosis"):
        tab_to(page, lambda f, label=t[variant]: f["text"] == label)
        with page.expect_download() as dl:
            page.keyboard.press("Enter")
        text = "".join(p.extract_text() for p in PdfReader(dl.value.path()).pages)
        if code and variant == "employer_no_diagnosis":
            assert code not in text
        elif code:
            assert code in text


@pytest.mark.parametrize("code,recipient", [("FK7804", "FK"), ("TSTRK1007", "TS")])
def test_send_to_the_recipient_and_see_it_delivered(citizen_page, lang, live, code, recipient):
    from portal import worker

    page, t = citizen_page, T[lang]
    with db.new_session(live.app) as s:
        replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
        cert = s.scalars(select(Certificate).where(Certificate.patient_pnr == ORDINARY, Certificate.type_code == code,
                                                   Certificate.revoked_at.is_(None), Certificate.id.not_in(replaced))
                         .order_by(Certificate.signed_at.desc())).first()
    page.goto(f"/mina-intyg/intyg/{cert.id}")
    activate(page, t["send_fk" if recipient == "FK" else "send_ts"])
    no_violations(page)  # the confirmation step
    # without consent: the error summary takes focus and links to the checkbox
    activate(page, t["send"])
    assert focused(page)["text"].startswith(t["problem"])
    no_violations(page)
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "consent")
    page.keyboard.press("Space")
    activate(page, t["send"])
    assert t["sending"] in page.locator("main").inner_text()
    no_violations(page)
    result = worker.deliver_due(live.app)
    assert result["delivered"] >= 1
    page.reload()
    assert t["sent"] in page.locator(".app-notification--success").inner_text()
    with db.new_session(live.app) as s:
        received = s.scalars(select(SimDelivery.certificate_id).where(SimDelivery.recipient == recipient)).all()
    assert received.count(cert.id) == 1  # the recipient has it exactly once
    no_violations(page)


def test_archive_and_restore_by_keyboard(citizen_page, lang):
    page, t = citizen_page, T[lang]
    open_certificate(page, lang, "FK7804")
    cert_id = page.url.rsplit("/", 1)[1]
    activate(page, t["archive"])
    assert h1(page) == t["mina"]
    assert page.locator(f"a[href='/mina-intyg/intyg/{cert_id}']").count() == 0
    no_violations(page)  # with the "archived" banner
    activate(page, page.locator(".app-archive-link a").inner_text())
    assert h1(page) == t["archived"]
    no_violations(page)
    page.locator(f"a[href='/mina-intyg/intyg/{cert_id}']").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    activate(page, t["restore"])
    assert h1(page) == t["archived"]
    page.goto("/mina-intyg/")
    assert page.locator(f"a[href='/mina-intyg/intyg/{cert_id}']").count() == 1
