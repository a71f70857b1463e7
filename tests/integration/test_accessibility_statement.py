"""The accessibility statement (issue 16) in DIGG's structure, kept true by accessibility/status.json, and its
feedback form: a report is stored with a receipt number, bad input is a 400 that stores nothing, CSRF and the
rate limit hold, nothing the reporter wrote reaches a log, old reports are purged."""
from __future__ import annotations

import html as html_lib
import json
import logging
import re
from datetime import timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import func, select

from conftest import NOW, ROOT, make_test_app
from portal import db
from portal.auth import limiter
from portal.domain import a11y_feedback, a11y_status, demo
from portal.models import AccessibilityFeedback
from portal.repository import a11y_feedback as feedback_store

STATUS_FILE = ROOT / "accessibility" / "status.json"
PNR = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
FORM = "/tillganglighet/synpunkter"

SECTIONS = {
    "sv": ("Tillgänglighet för Intygsportalen",
           ["Hur tillgänglig är webbplatsen?",
            "Vad kan du göra om du inte kan använda delar av webbplatsen?",
            "Rapportera brister i webbplatsens tillgänglighet",
            "Tillsyn",
            "Teknisk information om webbplatsens tillgänglighet",
            "Innehåll som inte är tillgängligt",
            "Hur vi testat webbplatsen"]),
    "en": ("Accessibility statement for Intygsportalen",
           ["How accessible is the website?",
            "What can you do if you cannot use parts of the website?",
            "Report accessibility problems",
            "Enforcement",
            "Technical information about the website's accessibility",
            "Content that is not accessible",
            "How we tested the website"]),
}
STATUS_WORDS = {"sv": {"full": "helt förenlig", "partial": "delvis förenlig"},
                "en": {"full": "fully compliant", "partial": "partially compliant"}}
TESTED_ON = {"sv": "Senaste bedömningen gjordes den", "en": "The latest assessment was made on"}
NO_FAILURES = {"sv": "Vi känner inte till några brister.", "en": "We know of no problems."}


def page_text(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def statement(client, lang: str) -> str:
    client.set_cookie("lang", lang)
    response = client.get("/tillganglighet")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def headings(html: str, level: int) -> list[str]:
    return [page_text(h) for h in re.findall(rf"<h{level}\b[^>]*>(.*?)</h{level}>", html, re.S)]


def csrf(client, url: str = FORM) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)


def stored(app) -> list[AccessibilityFeedback]:
    with db.new_session(app) as s:
        return list(s.scalars(select(AccessibilityFeedback).order_by(AccessibilityFeedback.id)))


def send(client, **fields):
    data = {"csrf_token": csrf(client), "problem": "", "page": "", "email": "", "phone": "", "format": ""} | fields
    return client.post(FORM, data=data)


# --- the statement -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_statement_has_every_section_of_diggs_structure_in_order(client, lang):
    html = statement(client, lang)
    title, sections = SECTIONS[lang]
    assert headings(html, 1) == [title]
    assert headings(html, 2) == sections
    assert 'href="https://www.digg.se/tdosanmalan"' in html  # the enforcement body's reporting page
    assert html.count(f'href="{FORM}"') >= 2  # another format, and reporting a problem: the form
    assert "EN 301 549" in html and "WCAG 2.1" in html


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_statement_names_the_organisation_behind_the_portal_when_configured(app, client, lang):
    """DIGG's structure opens with who stands behind the service: ORGANISATION_NAME, else "we who run it"."""
    we = {"sv": ("Vi som förvaltar Intygsportalen står bakom tjänsten.", "Vi som förvaltar Intygsportalen åtar oss"),
          "en": ("We who run Intygsportalen stand behind the service.", "We who run Intygsportalen are committed")}
    named = {"sv": ("Region Demo står bakom Intygsportalen.", "Region Demo åtar sig att göra tjänsten tillgänglig"),
             "en": ("Region Demo runs Intygsportalen.", "Region Demo is committed to making the service accessible")}
    text = page_text(statement(client, lang))
    assert all(sentence in text for sentence in we[lang]) and "Region Demo" not in text
    app.config["ORGANISATION_NAME"] = "Region Demo"
    text = page_text(statement(client, lang))
    assert all(sentence in text for sentence in named[lang]) and we[lang][0] not in text


def test_the_status_file_says_what_its_known_failures_say():
    status = a11y_status.load(STATUS_FILE)
    assert status.stated_status == a11y_status.derive_status(status.known_failures), (
        "accessibility/status.json: 'status' must be 'full' with no known failures, else 'partial'")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_statement_shows_the_derived_status_the_failures_and_the_test_date(client, lang):
    status = a11y_status.load(STATUS_FILE)
    html = statement(client, lang)
    assert re.findall(r'data-status="(\w+)"', html) == [status.status]
    text = page_text(html)
    assert STATUS_WORDS[lang][status.status] in text
    for failure in status.known_failures:
        assert f'data-criterion="{failure.criterion}"' in html
        assert failure.title[lang] in text
    if not status.known_failures:
        assert NO_FAILURES[lang] in text
    for check in status.manual_only:
        assert ", ".join(check.criteria) in text and check.note[lang] in text
    assert f'data-tested-on="{status.tested_on.isoformat()}"' in html
    assert f"{TESTED_ON[lang]} {format_date(status.tested_on, 'd MMMM y', locale=lang)}" in text


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_a_known_failure_makes_the_statement_partial_and_is_shown_with_its_criterion(app, client, lang, tmp_path):
    data = json.loads(STATUS_FILE.read_text(encoding="utf-8"))
    data |= {"status": "partial", "tested_on": "2026-11-02", "known_failures": [{
        "criterion": "1.4.10", "title_sv": "Delningslänken rullar i sidled",
        "title_en": "The share link scrolls sideways",
        "where_sv": "På sidan för en delad länk.", "where_en": "On a share link's page.",
        "plan_sv": "Vi rättar det i januari.", "plan_en": "We fix it in January."}]}
    path = tmp_path / "status.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    app.config["A11Y_STATUS_FILE"] = str(path)
    html = statement(client, lang)
    text = page_text(html)
    assert re.findall(r'data-status="(\w+)"', html) == ["partial"]
    assert STATUS_WORDS[lang]["partial"] in text and STATUS_WORDS[lang]["full"] not in text
    assert 'data-criterion="1.4.10"' in html
    title = "Delningslänken rullar i sidled" if lang == "sv" else "The share link scrolls sideways"
    assert re.search(re.escape(title) + r".{0,40}1\.4\.10", text)
    assert ("Vi rättar det i januari." if lang == "sv" else "We fix it in January.") in text
    assert NO_FAILURES[lang] not in text
    assert ("2 november 2026" if lang == "sv" else "2 November 2026") in text


def test_the_page_shows_the_derived_status_even_when_the_file_says_otherwise(app, client, tmp_path):
    data = json.loads(STATUS_FILE.read_text(encoding="utf-8")) | {"status": "partial", "known_failures": []}
    path = tmp_path / "status.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    app.config["A11Y_STATUS_FILE"] = str(path)
    assert re.findall(r'data-status="(\w+)"', statement(client, "sv")) == ["full"]


# --- the feedback form ------------------------------------------------------------------------------------------

def test_the_form_is_a_plain_post_with_csrf_and_labelled_fields(client):
    html = client.get(FORM).get_data(as_text=True)
    form = re.search(r'<form method="post" action="/tillganglighet/synpunkter".*?</form>', html, re.S).group(0)
    assert 'name="csrf_token"' in form
    for field in ("problem", "page", "email", "phone", "format"):
        assert f'<label class="app-label" for="{field}">' in form or (
            field == "format" and '<label class="app-radios__label" for="format">' in form), field
    assert 'autocomplete="email"' in form and 'autocomplete="tel"' in form
    assert "(frivilligt)" in form


def test_a_valid_report_is_stored_and_answered_with_its_receipt(app, client):
    response = send(client, problem="Knappen Skicka går inte att nå med tangentbordet.\r\nJag använder NVDA.",
                    page="/mina-intyg/", email="anna@example.se", format="large_print")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/tillganglighet/synpunkter/kvitto/TG-2026-\d{6}", location)
    [row] = stored(app)
    assert row.reference == location.rsplit("/", 1)[1]
    assert row.problem == "Knappen Skicka går inte att nå med tangentbordet.\nJag använder NVDA."
    assert (row.page, row.contact_email, row.contact_phone, row.format_wanted, row.language) == (
        "/mina-intyg/", "anna@example.se", None, "large_print", "sv")
    assert row.received_at == NOW
    receipt = client.get(location)
    assert receipt.status_code == 200 and receipt.headers["Cache-Control"] == "no-store"
    text = page_text(receipt.get_data(as_text=True))
    assert row.reference in text
    assert "Vi har tagit emot din rapport" in text and "Vi svarar dig inom två veckor." in text
    assert "NVDA" not in text and "anna@example.se" not in text  # the receipt repeats nothing personal


def test_a_report_without_contact_details_is_taken_and_the_receipt_says_we_cannot_answer(app, client):
    response = send(client, problem="Diagrammet har för svag kontrast.")
    assert response.status_code == 303
    text = page_text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Du lämnade inga kontaktuppgifter, så vi kan inte svara dig." in text
    assert "Vi svarar dig inom två veckor." not in text
    [row] = stored(app)
    assert (row.page, row.contact_email, row.contact_phone, row.format_wanted, row.language) == (
        None, None, None, None, "sv")


def test_a_report_in_english_is_stored_with_its_language(app, client):
    client.set_cookie("lang", "en")
    response = send(client, problem="The chart has too little contrast.", phone="+46 70 123 45 67")
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 200
    [row] = stored(app)
    assert (row.language, row.contact_phone) == ("en", "+46 70 123 45 67")


def test_receipt_numbers_are_unique_and_count_up(app, client):
    first = send(client, problem="Ett").headers["Location"].rsplit("/", 1)[1]
    second = send(client, problem="Två").headers["Location"].rsplit("/", 1)[1]
    assert first != second and int(second[-6:]) == int(first[-6:]) + 1


def test_the_receipt_is_shown_only_to_the_browser_that_sent_the_report(app, client):
    location = send(client, problem="Något saknas").headers["Location"]
    assert app.test_client().get(location).status_code == 404
    assert client.get("/tillganglighet/synpunkter/kvitto/TG-2026-999999").status_code == 404
    assert client.get("/tillganglighet/synpunkter/kvitto/nonsense").status_code == 404


def test_a_full_address_of_the_portal_itself_is_stored_as_its_path(app, client):
    assert send(client, problem="x", page="http://localhost/mina-intyg/?typ=FK7804#a").status_code == 303
    assert stored(app)[0].page == "/mina-intyg/?typ=FK7804"


def test_exactly_the_longest_text_is_taken_line_breaks_counted_once(app, client):
    text = ("a" * 99 + "\r\n") * 20  # 2 000 characters with the line breaks as one each
    assert send(client, problem=text.strip() + "b").status_code == 303
    assert len(stored(app)[0].problem) == a11y_feedback.TEXT_MAX


BAD = {
    "no text": ({"problem": "   "}, "problem", "Beskriv problemet"),
    "too long": ({"problem": "x" * (a11y_feedback.TEXT_MAX + 1)}, "problem", "högst 2"),
    "control characters": ({"problem": "fel\x00här"}, "problem", "tecken som inte kan sparas"),
    "another site": ({"page": "https://evil.example/mina-intyg/"}, "page", "Skriv sidans adress"),
    "scheme-relative": ({"page": "//evil.example/"}, "page", "Skriv sidans adress"),
    "javascript": ({"page": "javascript:alert(1)"}, "page", "Skriv sidans adress"),
    "personnummer in the path": ({"page": f"/rehab/patient/{PNR}"}, "page", "personnummer"),
    "personnummer with hyphen in the query": ({"page": f"/x?q={PNR[:8]}-{PNR[8:]}"}, "page", "personnummer"),
    "personnummer percent-encoded": ({"page": f"/x?q={PNR[:8]}%2D{PNR[8:]}"}, "page", "personnummer"),
    "a search text": ({"page": "/rehabstod/pagaende?fritext=Anna"}, "page", "personnummer"),
    "bad e-mail": ({"email": "anna at example"}, "email", "namn@exempel.se"),
    "bad phone": ({"phone": "ring mig"}, "phone", "telefonnumret"),
    "unknown format": ({"format": "smoke-signals"}, "format", "Välj ett av formaten"),
    "a format but no way to reach": ({"format": "braille"}, "email", "så att vi kan skicka innehållet"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_400_with_an_error_summary_and_nothing_is_stored(app, client, case):
    fields, field, words = BAD[case]
    response = send(client, **({"problem": "Länken syns inte"} | fields))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    summary = re.search(r'<div class="app-error-summary".*?</div>', html, re.S).group(0)
    assert f'href="#{field}"' in summary and words in page_text(summary)
    assert f'id="{field}-error"' in html  # the field's own message, tied to it
    assert "<title>Fel:" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert PNR not in html and PNR[:8] not in html  # a personnummer is not even shown back
    assert stored(app) == []


def test_a_post_without_the_csrf_token_is_refused(app, client):
    response = client.post(FORM, data={"problem": "Knappen syns inte"})
    assert response.status_code == 400
    assert stored(app) == []


@pytest.mark.parametrize("sida,shown", [("/mina-intyg/", "/mina-intyg/"), ("https://evil.example/", ""),
                                        ("//evil.example/", ""), (f"/rehab/patient/{PNR}", ""),
                                        ("/arbetsgivare/" + "a" * 43, "")])
def test_the_page_is_filled_in_from_sida_only_when_it_is_a_local_path_with_nothing_personal(client, sida, shown):
    html = client.get(FORM, query_string={"sida": sida}).get_data(as_text=True)
    form = re.search(r"<form method=\"post\" action=\"/tillganglighet/synpunkter\".*?</form>", html, re.S).group(0)
    assert re.search(r'<input[^>]*id="page"[^>]*value="([^"]*)"', form, re.S).group(1) == shown
    assert "evil.example" not in form and PNR not in form and "a" * 43 not in form


def test_nothing_the_reporter_wrote_reaches_a_log_line(app, client, caplog):
    caplog.set_level(logging.INFO)
    secret = "Min-hemliga-beskrivning-4711"
    response = send(client, problem=secret, email="hemlig@example.se", phone="070-123 45 67",
                    page="/hemlig-sida/", format="audio")
    assert response.status_code == 303
    send(client, problem=secret + "x" * a11y_feedback.TEXT_MAX, email="hemlig@example.se")  # refused, too
    messages = [r.getMessage() for r in caplog.records]
    reference = stored(app)[0].reference
    assert any(reference in m for m in messages)  # what was stored is traceable by its number
    for m in messages:
        assert secret not in m and "hemlig@example.se" not in m and "123 45 67" not in m and "hemlig-sida" not in m


def test_reports_older_than_two_years_are_purged(app, client):
    from portal.auth.commands import purge_sessions_command

    send(client, problem="Gammal")
    send(client, problem="Nästan två år")
    with db.new_session(app) as s:
        for problem, age in (("Gammal", a11y_feedback.KEEP_DAYS + 1), ("Nästan två år", a11y_feedback.KEEP_DAYS - 1)):
            row = s.scalars(select(AccessibilityFeedback).where(AccessibilityFeedback.problem == problem)).one()
            row.received_at = NOW - timedelta(days=age)
        s.commit()
    result = app.test_cli_runner().invoke(purge_sessions_command)
    assert result.exit_code == 0 and "1 accessibility report(s) deleted" in result.output
    assert [r.problem for r in stored(app)] == ["Nästan två år"]
    with db.new_session(app) as s:
        assert feedback_store.purge(s, NOW) == 0


# --- the rate limit ---------------------------------------------------------------------------------------------

@pytest.fixture
def limiter_off_afterwards():
    """The limiter object is one per process: the apps of other tests run without it."""
    yield
    limiter.enabled = False


def test_reports_are_rate_limited_per_address(tmp_path, limiter_off_afterwards):
    app = make_test_app(f"sqlite:///{tmp_path / 'rl.sqlite'}", AUTO_MIGRATE=True, RATELIMIT_ENABLED=True,
                        FEEDBACK_RATE_LIMIT="3 per minute")
    noisy, other = app.test_client(), app.test_client()

    def post(client, address):
        token = csrf(client)
        return client.post(FORM, data={"csrf_token": token, "problem": "Knappen syns inte"},
                           environ_base={"REMOTE_ADDR": address}).status_code

    assert [post(noisy, "203.0.113.60") for _ in range(4)] == [303, 303, 303, 429]
    assert noisy.get(FORM, environ_base={"REMOTE_ADDR": "203.0.113.60"}).status_code == 200  # reading: not limited
    assert post(other, "203.0.113.61") == 303  # another address still reports
    with db.new_session(app) as s:
        assert s.scalar(select(func.count()).select_from(AccessibilityFeedback)) == 4
