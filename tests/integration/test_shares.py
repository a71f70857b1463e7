"""Sharing a certificate with the employer (issue 14) through the Flask test client: making a link in three
steps, the employer opening it without a login (with and without a code), openings the citizen sees,
withdrawal, expiry, revocation, replacement, wrong-code lockout, rate limits, the token never in a log, the
copy never showing what the chosen variant hides (page and PDF), and another citizen getting 404 for all of it."""
from __future__ import annotations

import io
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import NOW, make_test_app, session_login
from portal import db
from portal.domain import copies, demo, sharing
from portal.models import Certificate, CertificateRelation, Share, ShareOpening

CITIZENS = {c.key: c for c in demo.demo_citizens(NOW.date())}
ORDINARY = CITIZENS["ordinary"].personnummer
OTHER = next(c.personnummer for c in CITIZENS.values() if c.personnummer != ORDINARY and c.key != "child")


def csrf(client, url="/mina-intyg/") -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def citizen(demo, client):
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    return client


@pytest.fixture
def employer(demo):
    """An anonymous browser (its own cookies)."""
    return demo.test_client()


def cert_of(app, code: str, pnr: str = ORDINARY) -> Certificate:
    with db.new_session(app) as s:
        replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
        return s.scalars(select(Certificate).where(
            Certificate.patient_pnr == pnr, Certificate.type_code == code, Certificate.revoked_at.is_(None),
            Certificate.id.not_in(replaced)).order_by(Certificate.signed_at.desc())).first()


def share(client, cert_id: str, variant: str, days: int = 30, note: str = "", code: bool = False) -> tuple[int, str]:
    """Make a link through the three steps; (share id, the detail page's HTML)."""
    token = csrf(client)
    fields = {"csrf_token": token, "variant": variant, "days": str(days), "note": note, "code": "yes" if code else ""}
    review = client.post(f"/mina-intyg/intyg/{cert_id}/dela", data={**fields, "step": "review"})
    assert review.status_code == 200, review.get_data(as_text=True)[:2000]
    created = client.post(f"/mina-intyg/intyg/{cert_id}/dela", data={**fields, "step": "create", "consent": "yes"})
    assert created.status_code == 303
    share_id = int(created.headers["Location"].rsplit("/", 1)[1])
    return share_id, client.get(created.headers["Location"]).get_data(as_text=True)


def link_of(detail_html: str) -> str:
    return re.search(r'id="share-link" type="text" value="http://localhost(/arbetsgivare/[A-Za-z0-9_-]{43})"',
                     detail_html).group(1)


def code_of(detail_html: str) -> str:
    return re.search(r'id="share-code">(\d{3}) (\d{3})<', detail_html).expand(r"\1\2")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_citizen_shares_and_the_employer_opens_the_copy_without_logging_in(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert f'href="/mina-intyg/intyg/{cert.id}/dela"' in page
    form = citizen.get(f"/mina-intyg/intyg/{cert.id}/dela").get_data(as_text=True)
    assert 'value="employer"' in form and 'value="employer_no_diagnosis"' in form and 'value="periods"' not in form
    share_id, detail = share(citizen, cert.id, "employer", days=7, note="Personalavdelningen")
    assert "Länken är skapad" in detail and "Personalavdelningen" in detail and "Inte öppnad" not in detail
    link = link_of(detail)
    assert cert.id not in link and ORDINARY not in link and ORDINARY[2:8] not in link
    opened = employer.get(link)
    assert opened.status_code == 200
    html = opened.get_data(as_text=True)
    assert "Läkarintyg om arbetsförmåga" in html and cert.id in html
    assert "Personalavdelningen" not in html  # the note is the citizen's own
    assert opened.headers["Cache-Control"] == "no-store"
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in opened.headers["X-Robots-Tag"]
    pdf = employer.get(link + "/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Referrer-Policy"] == "no-referrer" and pdf.headers["Cache-Control"] == "no-store"
    detail = citizen.get(f"/mina-intyg/delningar/{share_id}").get_data(as_text=True)
    assert "Öppnade sidan" in detail and "Laddade ner kopian som PDF" in detail
    listing = citizen.get("/mina-intyg/delningar").get_data(as_text=True)
    assert "Öppnad 2 gånger" in listing
    with db.new_session(demo) as s:
        row = s.get(Share, share_id)
        assert row.expires_at == NOW + timedelta(days=7)
        assert link.rsplit("/", 1)[1] not in row.token_sealed  # sealed, not stored as is
        assert s.scalar(select(func.count()).select_from(ShareOpening).where(ShareOpening.share_id == share_id)) == 2


def test_the_review_step_shows_exactly_the_employers_copy_and_nothing_is_made_without_consent(citizen, demo):
    cert = cert_of(demo, "AG7804")
    token = csrf(citizen)
    fields = {"csrf_token": token, "variant": "employer_no_diagnosis", "days": "30", "note": "", "code": ""}
    review = citizen.post(f"/mina-intyg/intyg/{cert.id}/dela", data={**fields, "step": "review"}).get_data(as_text=True)
    assert "Granska vad arbetsgivaren ser" in review and "Diagnosen är utelämnad" in review
    refused = citizen.post(f"/mina-intyg/intyg/{cert.id}/dela", data={**fields, "step": "create"})
    assert refused.status_code == 400
    assert "Kryssa i rutan om du vill dela kopian" in refused.get_data(as_text=True)
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(Share)) == 0


@pytest.mark.parametrize("fields,message", [
    ({"variant": "", "days": "30"}, "Välj vilken kopia arbetsgivaren ska se"),
    ({"variant": "full", "days": "30"}, "Välj vilken kopia arbetsgivaren ska se"),
    ({"variant": "periods", "days": "30"}, "Välj vilken kopia arbetsgivaren ska se"),
    ({"variant": "employer", "days": "365"}, "Välj hur länge länken ska fungera"),
    ({"variant": "employer", "days": "-7"}, "Välj hur länge länken ska fungera"),
    ({"variant": "employer", "days": "30", "note": "x" * 101}, "Anteckningen får vara högst 100 tecken"),
    ({"variant": "employer", "days": "30", "note": "a\u202eb"}, "Anteckningen innehåller tecken"),
    ({"variant": "employer", "days": "30", "code": "maybe"}, "Välj om länken ska skyddas med en kod"),
])
def test_bad_input_gets_a_clear_400_and_changes_nothing(citizen, demo, fields, message):
    cert = cert_of(demo, "AG7804")
    for step in ("review", "create"):
        response = citizen.post(f"/mina-intyg/intyg/{cert.id}/dela",
                                data={"csrf_token": csrf(citizen), "step": step, "consent": "yes", **fields})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert message in html and "Det finns ett problem" in html
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(Share)) == 0


def test_the_form_posts_need_the_csrf_token(citizen, demo):
    cert = cert_of(demo, "AG7804")
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/dela", data={
        "step": "create", "consent": "yes", "variant": "employer", "days": "30"})
    assert response.status_code == 400
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(Share)) == 0


def test_types_without_an_employer_copy_cannot_be_shared(citizen, demo):
    cert = cert_of(demo, "TSTRK1007")
    assert citizen.get(f"/mina-intyg/intyg/{cert.id}/dela").status_code == 404
    assert "Dela med arbetsgivaren" not in citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)


def _hidden_texts(app, cert, variant) -> list[str]:
    """Answers the variant leaves out, as they would be printed (texts long enough not to occur by chance)."""
    ctype = app.extensions["certificate_types"][cert.type_code]
    out = []
    for qid in copies.hidden_questions(ctype, variant):
        value = cert.content.get(qid)
        if isinstance(value, str) and len(value) >= 8:
            out.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    out += [str(v) for k, v in item.items() if k in ("code", "text", "description") and v]
    return out


@pytest.mark.parametrize("code,variant", [("AG7804", "employer_no_diagnosis"), ("AG1-14", "employer_no_diagnosis"),
                                          ("FK7804", "periods")])
def test_the_copy_never_shows_what_the_chosen_variant_hides_on_the_page_or_in_the_pdf(citizen, employer, demo,
                                                                                        code, variant):
    from pypdf import PdfReader

    cert = cert_of(demo, code)
    if cert is None:
        pytest.skip(f"the demo citizen has no {code}")
    hidden = _hidden_texts(demo, cert, variant)
    assert hidden, "the certificate has diagnosis content to hide"
    full_page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert any(h in text_of(full_page) for h in hidden)  # the citizen's own page shows it
    _id, detail = share(citizen, cert.id, variant)
    link = link_of(detail)
    page = text_of(employer.get(link).get_data(as_text=True))
    pdf = employer.get(link + "/pdf")
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    pdf_text = re.sub(r"\s+", " ", pdf_text)
    for h in hidden:
        assert h not in page, h
        assert h not in pdf_text, h
    if variant == "employer_no_diagnosis":
        assert "Diagnosen är utelämnad" in page and "Diagnosen är utelämnad" in pdf_text
    else:
        assert "Kopian visar bara sjukskrivningsperioderna" in page


def test_a_code_protected_link_asks_for_the_code_and_locks_after_five_wrong(citizen, demo):
    cert = cert_of(demo, "AG7804")
    share_id, detail = share(citizen, cert.id, "employer", code=True)
    link, code = link_of(detail), code_of(detail)
    first = demo.test_client()
    asked = first.get(link)
    assert asked.status_code == 200 and 'name="code"' in asked.get_data(as_text=True)
    assert cert.id not in asked.get_data(as_text=True)
    assert first.get(link + "/pdf").status_code == 303  # no PDF before the code
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    for left in (4, 3, 2, 1):
        response = first.post(link, data={"csrf_token": csrf(first, link), "code": wrong})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert f"Koden stämmer inte. Du kan försöka {left} gånger till." in html and cert.id not in html
    locked = first.post(link, data={"csrf_token": csrf(first, link), "code": wrong})
    assert locked.status_code == 403 and "Länken är låst" in locked.get_data(as_text=True)
    # locked for everyone, the right code included
    second = demo.test_client()
    assert second.get(link).status_code == 403
    page = citizen.get(f"/mina-intyg/delningar/{share_id}").get_data(as_text=True)
    assert "Låst" in page and "efter 5 felaktiga koder" in page
    with db.new_session(demo) as s:
        assert s.get(Share, share_id).locked_at == NOW
        assert s.scalar(select(func.count()).select_from(ShareOpening)) == 0


def test_the_right_code_opens_the_page_and_the_pdf_in_that_browser_only(citizen, demo):
    cert = cert_of(demo, "AG7804")
    _id, detail = share(citizen, cert.id, "employer_no_diagnosis", code=True)
    link, code = link_of(detail), code_of(detail)
    browser = demo.test_client()
    empty = browser.post(link, data={"csrf_token": csrf(browser, link), "code": ""})
    assert empty.status_code == 400 and "Skriv koden du har fått" in empty.get_data(as_text=True)
    right = browser.post(link, data={"csrf_token": csrf(browser, link), "code": f"{code[:3]} {code[3:]}"})
    assert right.status_code == 303
    assert cert.id in browser.get(link).get_data(as_text=True)
    assert browser.get(link + "/pdf").data.startswith(b"%PDF")
    other_browser = demo.test_client()
    assert cert.id not in other_browser.get(link).get_data(as_text=True)


def test_a_withdrawn_link_stops_at_once_and_says_so_and_nothing_else(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    share_id, detail = share(citizen, cert.id, "employer")
    link = link_of(detail)
    assert employer.get(link).status_code == 200
    done = citizen.post(f"/mina-intyg/delningar/{share_id}/aterkalla", data={"csrf_token": csrf(citizen)})
    assert done.status_code == 303
    assert "Länken är återkallad" in citizen.get(done.headers["Location"]).get_data(as_text=True)
    for url in (link, link + "/pdf"):
        gone = employer.get(url)
        assert gone.status_code == 410
        html = gone.get_data(as_text=True)
        assert "Länken har återkallats" in html
        assert cert.id not in html and ORDINARY not in html and "Läkarintyg" not in html
    assert 'id="share-link"' not in citizen.get(f"/mina-intyg/delningar/{share_id}").get_data(as_text=True)


def test_an_expired_link_says_so(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    share_id, detail = share(citizen, cert.id, "employer", days=7)
    link = link_of(detail)
    clock = demo.extensions["clock"]
    clock.advance(days=7, seconds=-1)
    try:
        assert employer.get(link).status_code == 200
        clock.advance(seconds=1)
        gone = employer.get(link)
        assert gone.status_code == 410 and "Länken har gått ut" in gone.get_data(as_text=True)
        assert cert.id not in gone.get_data(as_text=True)
        session_login(citizen, demo, "citizen", ORDINARY, name="Tolva Demosson")  # a week later: a new login
        assert "Har gått ut" in citizen.get(f"/mina-intyg/delningar/{share_id}").get_data(as_text=True)
    finally:
        clock.set(NOW)


def test_a_revoked_certificates_links_stop_working(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    _id, detail = share(citizen, cert.id, "employer")
    link = link_of(detail)
    with db.new_session(demo) as s:
        s.get(Certificate, cert.id).revoked_at = NOW
        s.commit()
    for url in (link, link + "/pdf"):
        gone = employer.get(url)
        assert gone.status_code == 410 and "Länken fungerar inte längre" in gone.get_data(as_text=True)
        assert cert.id not in gone.get_data(as_text=True)


def test_a_replaced_certificates_link_says_a_newer_one_exists_without_showing_it(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    _id, detail = share(citizen, cert.id, "employer")
    link = link_of(detail)
    with db.new_session(demo) as s:
        newer = s.scalars(select(Certificate).where(Certificate.patient_pnr == ORDINARY, Certificate.id != cert.id,
                                                    Certificate.type_code == "AG7804")).first()
        if newer is None:
            pytest.skip("the demo citizen has one AG7804 only")
        s.add(CertificateRelation(from_id=newer.id, to_id=cert.id, kind="REPLACES", created_at=NOW))
        s.commit()
        newer_id = newer.id
    html = employer.get(link).get_data(as_text=True)
    assert "Det finns ett nyare intyg" in html and cert.id in html
    assert newer_id not in html
    # and a replaced certificate is not shared again
    again = citizen.get(f"/mina-intyg/intyg/{cert.id}/dela").get_data(as_text=True)
    assert "Intyget kan inte delas" in again


def test_unknown_and_malformed_tokens_are_a_plain_404(employer):
    for token in ("x", "A" * 43, "A" * 42 + "!", "A" * 44):
        response = employer.get(f"/arbetsgivare/{token}")
        assert response.status_code == 404
        assert "Länken finns inte" in response.get_data(as_text=True)
    assert employer.get("/arbetsgivare/../../mina-intyg").status_code == 404
    assert employer.get("/arbetsgivare/%00").status_code == 404


def test_another_citizen_can_neither_see_nor_withdraw_a_share(citizen, demo):
    cert = cert_of(demo, "AG7804")
    share_id, _detail = share(citizen, cert.id, "employer")
    other = demo.test_client()
    session_login(other, demo, "citizen", OTHER, name="Annan")
    token = csrf(other)
    assert other.get(f"/mina-intyg/delningar/{share_id}").status_code == 404
    assert other.post(f"/mina-intyg/delningar/{share_id}/aterkalla", data={"csrf_token": token}).status_code == 404
    assert other.get(f"/mina-intyg/intyg/{cert.id}/dela").status_code == 404
    made = other.post(f"/mina-intyg/intyg/{cert.id}/dela", data={
        "csrf_token": token, "step": "create", "consent": "yes", "variant": "employer", "days": "30"})
    assert made.status_code == 404
    assert f"/mina-intyg/delningar/{share_id}" not in other.get("/mina-intyg/delningar").get_data(as_text=True)
    with db.new_session(demo) as s:
        assert s.get(Share, share_id).withdrawn_at is None
        assert s.scalar(select(func.count()).select_from(Share)) == 1


def test_at_most_ten_live_links_per_certificate(citizen, demo):
    cert = cert_of(demo, "AG7804")
    for _ in range(sharing.MAX_ACTIVE):
        share(citizen, cert.id, "employer")
    response = citizen.post(f"/mina-intyg/intyg/{cert.id}/dela", data={
        "csrf_token": csrf(citizen), "step": "create", "consent": "yes", "variant": "employer", "days": "30"})
    assert response.status_code == 409
    assert "redan 10 aktiva länkar" in response.get_data(as_text=True)


def test_the_token_never_reaches_a_log(citizen, demo, caplog):
    cert = cert_of(demo, "AG7804")
    _id, detail = share(citizen, cert.id, "employer", code=True)
    link = link_of(detail)
    token = link.rsplit("/", 1)[1]
    caplog.set_level(logging.DEBUG)
    browser = demo.test_client()
    browser.get(link)
    browser.post(link, data={"code": "000000"})  # no CSRF token: an error page, logged
    browser.get(f"/sprak/en?next={link}")
    browser.get(link + "/pdf")
    browser.get(f"/arbetsgivare/{token[:-1]}Z")  # unknown: 404, logged
    assert caplog.records
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token[:20] not in record.getMessage()


def test_opening_attempts_are_rate_limited_per_link_and_per_address(tmp_path):
    from conftest import load_demo

    app = make_test_app(f"sqlite:///{tmp_path / 'limits.sqlite'}", AUTO_MIGRATE=True, RATELIMIT_ENABLED=True,
                        SHARE_RATE_LIMIT_LINK="3 per hour", SHARE_RATE_LIMIT_ADDRESS="5 per hour")
    load_demo(app)
    client = app.test_client()
    session_login(client, app, "citizen", ORDINARY, name="Tolva")
    cert = cert_of(app, "AG7804")
    _id, detail = share(client, cert.id, "employer")
    link = link_of(detail)
    a = app.test_client()
    statuses = [a.get(link, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # the link's limit, whatever the address
    b = app.test_client()
    assert b.get(link, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 429
    limited = b.get(link, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert "För många försök" in limited.get_data(as_text=True) and int(limited.headers["Retry-After"]) > 0
    # an address that guesses tokens is stopped before any lookup
    c = app.test_client()
    guesses = [c.get(f"/arbetsgivare/{'B' * 42}{i}", environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code
               for i in range(6)]
    assert guesses == [404] * 5 + [429]


def test_purge_deletes_links_ninety_days_after_they_stopped_working(citizen, demo):
    from portal.auth.commands import purge_sessions_command

    cert = cert_of(demo, "AG7804")
    old_id, detail = share(citizen, cert.id, "employer", days=7)
    demo.test_client().get(link_of(detail))  # an opening
    live_id, _ = share(citizen, cert.id, "employer", days=90)
    clock = demo.extensions["clock"]
    try:
        clock.advance(days=7 + sharing.KEEP_ENDED_DAYS, seconds=1)  # the 90-day link still works; the other ended
        with demo.app_context():
            result = demo.test_cli_runner().invoke(purge_sessions_command)
        assert "1 share link(s) deleted" in result.output, result.output
    finally:
        clock.set(NOW)
    with db.new_session(demo) as s:
        assert s.get(Share, old_id) is None and s.get(Share, live_id) is not None
        assert s.scalar(select(func.count()).select_from(ShareOpening)) == 0


def test_the_start_page_tells_the_citizen_their_link_was_opened_this_week(citizen, employer, demo):
    cert = cert_of(demo, "AG7804")
    share_id, detail = share(citizen, cert.id, "employer")
    assert "Dina delade länkar har öppnats" not in citizen.get("/mina-intyg/").get_data(as_text=True)
    link = link_of(detail)
    employer.get(link)
    employer.get(link + "/pdf")
    start = text_of(citizen.get("/mina-intyg/").get_data(as_text=True))
    assert "Dina delade länkar har öppnats" in start
    assert "öppnad 2 gånger den senaste veckan" in start
    assert f'href="/mina-intyg/delningar/{share_id}"' in citizen.get("/mina-intyg/").get_data(as_text=True)
    clock = demo.extensions["clock"]
    try:
        clock.advance(days=sharing.RECENT_OPENINGS_DAYS, seconds=1)
        session_login(citizen, demo, "citizen", ORDINARY, name="Tolva Demosson")
        assert "Dina delade länkar har öppnats" not in citizen.get("/mina-intyg/").get_data(as_text=True)
    finally:
        clock.set(NOW)
