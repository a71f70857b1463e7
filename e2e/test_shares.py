"""Sharing a certificate with the employer (issue 14) by keyboard alone, in Swedish and English, at 390 px and
1280 px: the citizen makes a link with a code in three steps (and is stopped without consent), copies it; the
employer opens it in a browser of their own without logging in, gives a wrong code and then the right one, sees
the copy without the diagnosis and downloads its PDF; the citizen sees the openings and withdraws the link, and
the employer's page then says so. A link without a code opens straight to the copy, and the pages of links that
no longer open (withdrawn, expired, ended, locked, unknown) are checked too. The axe check runs on every state.

Each test removes the shares it made (and their openings), so each starts from the demo data."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, or_, select

from accessibility import crawl, share_examples
from conftest import NOW, new_context
from portal import db
from portal.domain import copies, demo, sharing
from portal.models import Certificate, CertificateRelation, Share, ShareOpening

from .keyboard import activate, choose_radio, focused, tab_to, type_into

pytestmark = pytest.mark.e2e

ORDINARY = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
T = {
    "sv": {"share": "Dela med arbetsgivaren", "note_label": "Vem är länken till? (frivilligt)",
           "continue": "Fortsätt", "review": "Granska vad arbetsgivaren ser", "create": "Skapa länken",
           "problem": "Det finns ett problem", "consent_error": "Kryssa i rutan om du vill dela kopian",
           "created": "Länken är skapad", "detail": "Länk till arbetsgivaren", "copy_link": "Kopiera länken",
           "copied": "Länken är kopierad", "shared": "Intyg som har delats med dig", "code": "Kod",
           "show": "Visa intyget", "wrong": "Koden stämmer inte. Du kan försöka 4 gånger till.",
           "ag7804": "Läkarintyg om arbetsförmåga – arbetsgivaren", "no_diagnosis": "Diagnosen är utelämnad",
           "pdf": "Ladda ner kopian som PDF", "opened": "Öppnade sidan", "downloaded": "Laddade ner kopian som PDF",
           "withdraw": "Återkalla länken", "withdrawn_notice": "Länken är återkallad",
           "withdrawn": "Länken har återkallats", "expired": "Länken har gått ut",
           "ended": "Länken fungerar inte längre",
           "locked": "Länken är låst", "not_found": "Länken finns inte", "signed": "elektroniskt signerat",
           "not_opened": "Länken har inte öppnats än.", "newer": "Det finns ett nyare intyg"},
    "en": {"share": "Share with your employer", "note_label": "Who is the link for? (optional)",
           "continue": "Continue", "review": "Check what your employer will see", "create": "Create the link",
           "problem": "There is a problem", "consent_error": "Tick the box if you want to share the copy",
           "created": "The link has been created", "detail": None, "copy_link": "Copy the link",
           "copied": "The link has been copied", "shared": "A certificate shared with you", "code": "Code",
           "show": "Show the certificate", "wrong": "The code is not right. You can try 4 more times.",
           "ag7804": "Medical certificate of capacity for work – for the employer",
           "no_diagnosis": "The diagnosis has been left out",
           "pdf": "Download the copy as PDF", "opened": "Opened the page", "downloaded": "Downloaded the copy as PDF",
           "withdraw": "Withdraw the link", "withdrawn_notice": "The link has been withdrawn. It no longer works.",
           "withdrawn": "The link has been withdrawn", "expired": "The link has expired",
           "ended": "The link no longer works", "locked": "The link is locked", "not_found": "The link does not exist",
           "signed": "electronically signed", "not_opened": None, "newer": None},
}


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def width(request):
    return request.param


def _clean_shares(app) -> None:
    """Remove the crawl citizen's shares and the example shares (accessibility/share_examples.py), openings first."""
    examples = [sharing.token_hash(share_examples.token(spec.key)) for spec in share_examples.SPECS]
    with db.new_session(app) as s:
        mine = select(Certificate.id).where(Certificate.patient_pnr == ORDINARY)
        ids = select(Share.id).where(or_(Share.certificate_id.in_(mine), Share.token_hash.in_(examples)))
        s.execute(delete(ShareOpening).where(ShareOpening.share_id.in_(ids)))
        s.execute(delete(Share).where(Share.id.in_(ids.scalar_subquery())))
        s.commit()


@pytest.fixture
def citizen_page(browser, live, lang, width):
    """A logged-in citizen (through the test broker) in a fresh browser that may use the clipboard; the shares
    are removed afterwards."""
    _clean_shares(live.app)
    context = new_context(browser, live.url, lang=lang, width=width, height=844 if width == 390 else 900)
    context.set_default_timeout(10_000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = context.new_page()
    crawl.login(page, "citizen")
    yield page
    context.close()
    _clean_shares(live.app)


@pytest.fixture
def employer_page(browser, live, lang, width):
    """An anonymous browser of its own (no login, its own cookies): the employer."""
    context = new_context(browser, live.url, lang=lang, width=width, height=844 if width == 390 else 900)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def no_violations(page) -> None:
    found = crawl.violations(page)
    assert found == [], crawl.describe(found)


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways"


def the_ag7804(app) -> Certificate:
    """The crawl citizen's newest AG7804 that is neither replaced nor revoked."""
    with db.new_session(app) as s:
        replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
        cert = s.scalars(select(Certificate).where(
            Certificate.patient_pnr == ORDINARY, Certificate.type_code == "AG7804", Certificate.revoked_at.is_(None),
            Certificate.id.not_in(replaced)).order_by(Certificate.signed_at.desc())).first()
        s.expunge(cert)
    return cert


def diagnosis_texts(app, cert: Certificate) -> list[str]:
    """What the copy without the diagnosis leaves out, as it would be printed (long enough not to occur by
    chance): the diagnosis codes and texts and the other answers of the diagnosis questions."""
    ctype = app.extensions["certificate_types"][cert.type_code]
    out = []
    for qid in copies.hidden_questions(ctype, copies.EMPLOYER_NO_DIAGNOSIS):
        value = cert.content.get(qid)
        if isinstance(value, str) and len(value) >= 8:
            out.append(value)
        elif isinstance(value, list):
            out += [str(v) for item in value if isinstance(item, dict)
                    for k, v in item.items() if k in ("code", "text", "description") and v]
    assert out, "the certificate has a diagnosis to leave out"
    return out


def page_text(page) -> str:
    return re.sub(r"\s+", " ", page.locator("body").inner_text())


def make_link(page, t, cert_id: str, *, variant: str, days: str | None, note: str, code: bool) -> None:
    """From the certificate's page to a new link's page, by keyboard: the form, the review, consent, create."""
    page.goto(f"/mina-intyg/intyg/{cert_id}")
    activate(page, t["share"])
    assert h1(page) == t["share"]
    choose_radio(page, variant, "variant")  # arrow keys within the group
    if days is not None:
        choose_radio(page, days, "days")
    if note:
        type_into(page, t["note_label"], note)
    if code:
        tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "code")
        page.keyboard.press("Space")
        assert page.locator("#code").is_checked()
    activate(page, t["continue"])
    assert h1(page) == t["review"]
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "consent")
    page.keyboard.press("Space")
    activate(page, t["create"])
    assert re.search(r"/mina-intyg/delningar/\d+$", page.url), page.url


def test_share_with_a_code_open_it_as_the_employer_and_withdraw_it(citizen_page, employer_page, live, lang, width):
    page, t, app = citizen_page, T[lang], live.app
    cert = the_ag7804(app)
    hidden = diagnosis_texts(app, cert)
    page.goto(f"/mina-intyg/intyg/{cert.id}")
    assert any(h in page_text(page) for h in hidden)  # the citizen's own page shows the diagnosis
    activate(page, t["share"])
    assert h1(page) == t["share"]
    no_violations(page)  # the form
    choose_radio(page, "employer_no_diagnosis", "variant")
    choose_radio(page, "7", "days")
    assert page.locator("#variant-employer_no_diagnosis").is_checked() and page.locator("#days").is_checked()
    type_into(page, t["note_label"], "Personalavdelningen")
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "code")
    page.keyboard.press("Space")
    activate(page, t["continue"])
    # the review: exactly the employer's copy, without the diagnosis
    assert h1(page) == t["review"]
    preview = re.sub(r"\s+", " ", page.locator(".app-preview").inner_text())
    assert cert.id in preview and t["no_diagnosis"] in preview
    assert not [h for h in hidden if h in preview]
    assert "Personalavdelningen" in page.locator("main").inner_text()
    no_violations(page)
    no_horizontal_scroll(page)
    # no consent: the error summary takes focus and nothing is made
    activate(page, t["create"])
    assert h1(page) == t["review"]
    assert focused(page)["text"].startswith(t["problem"])
    assert t["consent_error"] in page.locator(".app-error-summary").inner_text()
    no_violations(page)
    with db.new_session(app) as s:
        assert s.scalars(select(Share.id).where(Share.certificate_id == cert.id)).all() == []
    tab_to(page, lambda f: f["type"] == "checkbox" and f["name"] == "consent")
    page.keyboard.press("Space")
    activate(page, t["create"])
    # the link's page: the notice, the link and the code
    assert re.search(r"/mina-intyg/delningar/\d+$", page.url), page.url
    assert t["created"] in page.locator(".app-notification--success").inner_text()
    link = page.locator("#share-link").input_value()
    assert link.startswith(live.url + "/arbetsgivare/") and cert.id not in link and ORDINARY not in link
    code = re.sub(r"\D", "", page.locator("#share-code").inner_text())
    assert len(code) == sharing.CODE_LENGTH
    if t["not_opened"]:
        assert t["not_opened"] in page.locator("main").inner_text()
    no_violations(page)
    no_horizontal_scroll(page)
    # "Kopiera länken" copies it and says so
    activate(page, t["copy_link"], navigates=False)
    page.wait_for_function("() => document.getElementById('app-live').textContent.length > 0")
    assert page.locator("#app-live").inner_text() == t["copied"]
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    no_violations(page)

    # the employer, in a browser of their own, without logging in
    employer = employer_page
    employer.goto(link)
    assert h1(employer) == t["shared"]
    assert cert.id not in page_text(employer)
    no_violations(employer)  # the code form
    no_horizontal_scroll(employer)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    type_into(employer, t["code"], wrong)
    with employer.expect_response(lambda r: r.request.method == "POST") as posted:
        activate(employer, t["show"])
    # (a browser sends "Origin: null" with a form post from a page with "Referrer-Policy: no-referrer")
    assert posted.value.status == 400, f"the code form's post answered {posted.value.status}: {h1(employer)}"
    assert focused(employer)["text"].startswith(t["problem"])
    assert t["wrong"] in employer.locator(".app-error-summary").inner_text()
    assert cert.id not in page_text(employer)
    no_violations(employer)  # the wrong code
    type_into(employer, t["code"], f"{code[:3]} {code[3:]}")  # as read out over the phone
    activate(employer, t["show"])
    assert employer.url == link
    assert h1(employer) == t["ag7804"]
    text = page_text(employer)
    assert cert.id in text and t["no_diagnosis"] in text and "Personalavdelningen" not in text
    assert not [h for h in hidden if h in text], "the diagnosis is on the employer's page"
    no_violations(employer)  # the copy
    no_horizontal_scroll(employer)
    tab_to(employer, lambda f: f["text"] == t["pdf"])
    with employer.expect_download() as download:
        employer.keyboard.press("Enter")
    data = open(download.value.path(), "rb").read()
    assert data.startswith(b"%PDF")
    pdf_text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages))
    assert cert.id in pdf_text and t["signed"] in pdf_text.lower()
    assert not [h for h in hidden if h in pdf_text], "the diagnosis is in the employer's PDF"

    # the citizen sees the openings, and withdraws the link
    page.reload()
    openings = page.locator(".app-events").inner_text()
    assert openings.count(t["opened"]) == 1 and openings.count(t["downloaded"]) == 1
    no_violations(page)
    activate(page, t["withdraw"])
    assert t["withdrawn_notice"] in page.locator(".app-notification--success").inner_text()
    assert page.locator("#share-link").count() == 0
    no_violations(page)
    # the employer's page now says that the link was withdrawn, and nothing else
    response = employer.reload()
    assert response.status == 410
    assert h1(employer) == t["withdrawn"]
    assert cert.id not in page_text(employer) and t["ag7804"] not in page_text(employer)
    no_violations(employer)


@pytest.mark.parametrize("lang", ["en"])
@pytest.mark.parametrize("width", [390], ids=["phone"])
def test_a_link_without_a_code_opens_straight_to_the_copy(citizen_page, employer_page, live, lang, width):
    page, t, app = citizen_page, T[lang], live.app
    cert = the_ag7804(app)
    make_link(page, t, cert.id, variant="employer", days=None, note="", code=False)
    assert page.locator("#share-code").count() == 0
    link = page.locator("#share-link").input_value()
    employer = employer_page
    employer.goto(link)
    assert h1(employer) == t["ag7804"]
    text = page_text(employer)
    assert cert.id in text and t["no_diagnosis"] not in text
    assert employer.locator("input[name=code]").count() == 0
    no_violations(employer)
    no_horizontal_scroll(employer)
    page.reload()
    assert page.locator(".app-events").inner_text().count(t["opened"]) == 1
    with db.new_session(app) as s:
        share = s.scalars(select(Share).where(Share.certificate_id == cert.id)).one()
        assert share.code_sealed is None and share.variant == "employer"
        assert share.expires_at == NOW + timedelta(days=sharing.DEFAULT_DAYS)


@pytest.mark.parametrize("width", [390], ids=["phone"])
def test_links_that_no_longer_open_say_why_and_nothing_else(employer_page, live, lang, width):
    """Withdrawn, expired, ended (its certificate revoked) and locked links, and one that never existed; and a
    replaced certificate's copy, which opens and says that a newer certificate exists."""
    page, t, app = employer_page, T[lang], live.app
    _clean_shares(app)
    try:
        made = share_examples.ensure(app, ORDINARY)
        expected = {"withdrawn": (410, t["withdrawn"]), "expired": (410, t["expired"]),
                    "revoked": (410, t["ended"]), "locked": (403, t["locked"])}
        for key, (status, title) in expected.items():
            response = page.goto(f"/arbetsgivare/{made[key].token}")
            assert response.status == status, key
            assert h1(page) == title, key
            text = page_text(page)
            assert made[key].certificate_id not in text, key
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")  # the token goes nowhere else
            no_violations(page)
        response = page.goto(f"/arbetsgivare/{share_examples.token('never made')}")
        assert response.status == 404 and h1(page) == t["not_found"]
        no_violations(page)
        response = page.goto(f"/arbetsgivare/{made['replaced'].token}")
        assert response.ok and made["replaced"].certificate_id in page_text(page)
        if t["newer"]:
            assert t["newer"] in page_text(page)
        no_violations(page)
    finally:
        _clean_shares(app)
