"""Help for citizens, the contact page and the privacy page (portal/help): public pages in Swedish and English, an
unknown topic is a 404, the footer and the Mina intyg pages link them where the question arises, the numbers they
state come from the code, and the privacy page names exactly the cookies the portal sets in a real login."""
from __future__ import annotations

import html as html_lib
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from conftest import NOW, PortalBrowser, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.domain import sharing
from portal.help import LANG_COOKIE_DAYS, TOPICS
from portal.models import CareSend, Certificate, CertificateRelation, Send

ORDINARY = {c.key: c for c in demo_data.demo_citizens(NOW.date())}["ordinary"].personnummer

#: every page and its h1 in Swedish and English
PAGES = {
    "/hjalp": ("Hjälp med Mina intyg", "Help with My certificates"),
    "/hjalp/skicka": ("Så skickar du ett intyg", "How to send a certificate"),
    "/hjalp/skickat": ("Vad betyder ”Skickat”?", "What does “Sent” mean?"),
    "/hjalp/arbetsgivare": ("Så ger du arbetsgivaren en kopia", "How to give your employer a copy"),
    "/hjalp/saknas": ("Varför saknas ett intyg?", "Why is a certificate missing?"),
    "/hjalp/vem-ser": ("Vem kan se mina intyg?", "Who can see my certificates?"),
    "/kontakt": ("Kontakt", "Contact"),
    "/personuppgifter": ("Personuppgifter och kakor", "Personal data and cookies"),
}
BACK = {"sv": "Till hjälpsidorna", "en": "Back to the help pages"}


@pytest.fixture
def public(demo_app):
    """An anonymous browser on the demo data (the pages read no data: no fresh database needed)."""
    return demo_app.test_client()


def h1s(page: str) -> list[str]:
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", h)).strip()
            for h in re.findall(r"<h1[^>]*>(.*?)</h1>", page, re.S)]


def main(page: str) -> str:
    """The page without its footer (which links the help pages from every page)."""
    return page[:page.index('<footer class="app-footer">')]


def links(page: str) -> dict[str, str]:
    """href -> link text, for every link of the page."""
    return {html_lib.unescape(href): html_lib.unescape(re.sub(r"<[^>]+>", "", text)).strip()
            for href, text in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', page, re.S)}


def test_every_topic_is_a_page_here():
    assert {f"/hjalp/{t.slug}" for t in TOPICS} == {p for p in PAGES if p.startswith("/hjalp/")}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_page_renders_without_login_with_one_h1_in_the_readers_language(public, lang):
    public.set_cookie("lang", lang)
    for path, titles in PAGES.items():
        response = public.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert f'<html lang="{lang}"' in page, path
        assert h1s(page) == [titles[0 if lang == "sv" else 1]], path
        assert f"<title>{html_lib.escape(titles[0 if lang == 'sv' else 1], quote=False)} – Intygsportalen</title>" \
            in page, path
        if path != "/hjalp":
            assert links(main(page)).get("/hjalp") == BACK[lang], path
        # no inline script or style (strict CSP), and nothing personal to keep out of caches for a visitor
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) and " style=" not in page, path
        assert response.headers["Cache-Control"] == "no-cache", path


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_help_start_page_links_every_topic_contact_and_privacy(public, lang):
    public.set_cookie("lang", lang)
    found = links(main(public.get("/hjalp").get_data(as_text=True)))
    for path in PAGES:
        if path != "/hjalp":
            assert path in found, path
    for t in TOPICS:
        assert found[f"/hjalp/{t.slug}"] == PAGES[f"/hjalp/{t.slug}"][0 if lang == "sv" else 1]


@pytest.mark.parametrize("path", ["/hjalp/okand", "/hjalp/SKICKA", "/hjalp/skicka/mer", "/hjalp/%20"])
def test_an_unknown_topic_is_a_404(public, path):
    response = public.get(path)
    assert response.status_code == 404
    assert "Sidan hittades inte" in response.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_footer_links_help_contact_and_privacy_next_to_the_accessibility_statement(public, lang):
    public.set_cookie("lang", lang)
    page = public.get("/").get_data(as_text=True)
    footer = page[page.index('<footer class="app-footer">'):]
    expected = {"sv": ["Hjälp", "Kontakt", "Personuppgifter och kakor", "Tillgänglighetsredogörelse"],
                "en": ["Help", "Contact", "Personal data and cookies", "Accessibility statement"]}[lang]
    found = list(links(footer).items())
    wanted = list(zip(["/hjalp", "/kontakt", "/personuppgifter", "/tillganglighet"], expected, strict=True))
    assert [f for f in found if f in wanted] == wanted


def test_the_pages_state_the_portals_own_numbers(public, monkeypatch):
    """The durations, deadlines and lifetimes come from the code and configuration, not from the text."""
    employer = public.get("/hjalp/arbetsgivare").get_data(as_text=True)
    assert "7, 30 eller 90 dagar" in employer and f"med {sharing.CODE_LENGTH} siffror" in employer
    monkeypatch.setitem(public.application.config, "SESSION_IDLE_SECONDS", 20 * 60)
    monkeypatch.setitem(public.application.config, "SESSION_ABSOLUTE_SECONDS", 8 * 3600)
    privacy = public.get("/personuppgifter").get_data(as_text=True)
    assert "efter 20 minuter utan aktivitet, och senast 8 timmar efter" in privacy
    assert f"{sharing.KEEP_ENDED_DAYS} dagar efter att den slutade fungera" in privacy
    # the types under each recipient are the type definitions' own
    send = public.get("/hjalp/skicka").get_data(as_text=True)
    fk = send[send.index("Till Försäkringskassan</h3>"):send.index("Till Transportstyrelsen</h3>")]
    assert "Läkarintyg för sjukpenning" in fk and "Intyg om graviditet" in fk
    assert "Dödsbevis" not in send and "Intyg om tillfällig föräldrapenning" not in send.split("<h2")[1]
    unsendable = send[send.index("Kan inte skickas elektroniskt</h3>"):]
    assert "Läkarintyg om arbetsförmåga – arbetsgivaren" in unsendable.split("</ul>")[0]


def test_the_demo_contact_data_is_said_to_be_made_up(public):
    page = public.get("/kontakt").get_data(as_text=True)
    assert "0771-00 00 00" in page
    assert "Påhittade kontaktuppgifter" in page and "det finns ingen support som svarar" in page
    assert page.index("Påhittade kontaktuppgifter") < page.index("0771-00 00 00")  # read before the number


def test_a_logged_in_citizen_reads_the_help_without_it_being_cached(demo, client):
    assert client.get("/hjalp/skicka").headers["Cache-Control"] == "no-cache"
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    response = client.get("/hjalp/skicka")
    assert response.status_code == 200
    assert "Tolva Demosson" in response.get_data(as_text=True)  # the header shows who is logged in
    assert response.headers["Cache-Control"] == "no-store"


# --- the links from where the question arises -------------------------------------------------------------

def mine(session, code: str, *, unsent: bool = True) -> Certificate:
    """The demo citizen's newest certificate of a type: not revoked, not replaced, and (by default) not sent."""
    replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
    q = select(Certificate).where(Certificate.patient_pnr == ORDINARY, Certificate.type_code == code,
                                  Certificate.revoked_at.is_(None), Certificate.id.not_in(replaced))
    if unsent:
        q = q.where(Certificate.id.not_in(select(Send.certificate_id)),
                    Certificate.id.not_in(select(CareSend.certificate_id)))
    cert = session.scalars(q.order_by(Certificate.signed_at.desc())).first()
    assert cert is not None, f"the demo citizen has no such {code}"
    return cert


def help_links(page: str) -> list[str]:
    return [href for href in re.findall(r'href="(/hjalp[^"]*)"', page)]


@pytest.fixture
def citizen(demo, client):
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    return client


def test_the_list_links_missing_certificates_who_sees_them_and_what_sent_means(citizen):
    page = main(citizen.get("/mina-intyg/").get_data(as_text=True))
    assert help_links(page) == ["/hjalp/saknas", "/hjalp/vem-ser", "/hjalp/skickat"]
    assert links(page)["/hjalp/saknas"] == "Saknar du ett intyg?"
    assert links(page)["/hjalp/vem-ser"] == "Vem kan se mina intyg?"
    assert links(page)["/hjalp/skickat"] == "Vad betyder ”Skickat”?"
    # the htmx fragment of the results carries no second copy
    fragment = citizen.get("/mina-intyg/?typ=FK7804", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert help_links(fragment) == []


def test_the_send_page_links_how_sending_works_also_when_it_refuses(citizen, demo):
    with db.new_session(demo) as s:
        cert = mine(s, "FK7804")
        sent_by_care = mine(s, "TSTRK1007").id
        s.add(CareSend(certificate_id=sent_by_care, recipient="TS", sent_at=datetime(2026, 11, 3, 9, 0)))
        s.commit()
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}/skicka").get_data(as_text=True)
    assert '<form method="post"' in page and help_links(main(page)) == ["/hjalp/skicka"]
    refused = citizen.get(f"/mina-intyg/intyg/{sent_by_care}/skicka").get_data(as_text=True)
    assert "Intyget kan inte skickas" in refused and help_links(main(refused)) == ["/hjalp/skicka"]


@pytest.mark.parametrize("state", ["DELIVERED", "PENDING", "CARE"])
def test_a_sent_or_sending_certificate_links_what_sent_means_once(citizen, demo, state):
    with db.new_session(demo) as s:
        cert = mine(s, "FK7804")
        if state == "CARE":
            s.add(CareSend(certificate_id=cert.id, recipient="FK", sent_at=datetime(2026, 11, 3, 9, 0)))
        else:
            s.add(Send(certificate_id=cert.id, recipient="FK", kind="CERTIFICATE", idempotency_key=f"help-{state}",
                       state=state, attempts=1 if state == "DELIVERED" else 0, requested_at=NOW,
                       requested_by="CITIZEN", delivered_at=NOW if state == "DELIVERED" else None,
                       next_attempt_at=None if state == "DELIVERED" else NOW))
        s.commit()
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert ("Skickas…" if state == "PENDING" else "Skickat") in page
    assert help_links(main(page)).count("/hjalp/skickat") == 1


def test_an_unsent_certificate_does_not_link_what_sent_means(citizen, demo):
    with db.new_session(demo) as s:
        cert = mine(s, "FK7804")
    page = citizen.get(f"/mina-intyg/intyg/{cert.id}").get_data(as_text=True)
    assert "/hjalp/skickat" not in main(page)


def test_the_employer_copy_choices_link_how_to_give_the_employer_a_copy(citizen, demo):
    with db.new_session(demo) as s:
        ag = mine(s, "AG7804", unsent=False)
        tstrk = mine(s, "TSTRK1007", unsent=False)
    read = citizen.get(f"/mina-intyg/intyg/{ag.id}").get_data(as_text=True)
    assert "Ladda ner kopia till arbetsgivaren (PDF)" in read
    assert help_links(main(read)) == ["/hjalp/arbetsgivare"]
    share = citizen.get(f"/mina-intyg/intyg/{ag.id}/dela").get_data(as_text=True)
    assert 'name="variant"' in share  # the first step
    assert help_links(main(share)) == ["/hjalp/arbetsgivare"]
    # a type with no employer copy has no such link
    other = citizen.get(f"/mina-intyg/intyg/{tstrk.id}").get_data(as_text=True)
    assert "/hjalp/arbetsgivare" not in other


# --- the cookies --------------------------------------------------------------------------------------------

def named_cookies(page: str) -> set[str]:
    """The cookie names the privacy page's table names (its row headers)."""
    table = page[page.index('id="cookies-caption"'):page.index("</table>")]
    return set(re.findall(r'<th scope="row"><code>([^<]+)</code></th>', table))


def test_the_privacy_page_names_exactly_the_cookies_a_real_visit_sets(live):
    """A citizen's whole visit through the live server and the test broker: the start page, the language switch,
    logging in, the list, a certificate, logging out. Every cookie the portal's host set is named on the privacy
    page, and every cookie the page names was set: a new cookie fails this test until the page describes it."""
    browser = PortalBrowser(live.url)
    browser.http.cookies.clear()
    set_cookie_headers: list[str] = []

    def record(response, *args, **kwargs):
        set_cookie_headers.extend(response.raw.headers.getlist("Set-Cookie"))

    browser.http.hooks["response"].append(record)
    browser.get("/")
    switched = browser.get("/sprak/en?next=/", allow_redirects=False)
    lang_cookie = switched.raw.headers.getlist("Set-Cookie")[0]
    assert f"Max-Age={LANG_COOKIE_DAYS * 24 * 3600}" in lang_cookie  # as long as the page says
    browser.get("/sprak/sv?next=/")
    listing = browser.login("bankid", ORDINARY)
    assert listing.url.endswith("/mina-intyg/")
    # logged in, the session cookie lives as long as the page says (refreshed at each page)
    session_cookie = next(c for c in browser.http.cookies if c.name == "session")
    lifetime = live.app.config["PERMANENT_SESSION_LIFETIME"]
    assert session_cookie.expires is not None
    assert abs(session_cookie.expires - datetime.now(timezone.utc).timestamp() - lifetime) < 60
    first = re.search(r'href="(/mina-intyg/intyg/[^"]+)"', listing.text).group(1)
    browser.get(first)
    privacy = browser.get("/personuppgifter").text
    browser.post("/logga-ut", {"csrf_token": browser.csrf(privacy)})

    set_names = {h.split("=", 1)[0].strip() for h in set_cookie_headers}
    host = live.url.split("//", 1)[1].split(":")[0]
    jar_names = {c.name for c in browser.http.cookies if c.domain.lstrip(".") in (host, f"{host}.local")}
    assert set_names and jar_names <= set_names
    assert named_cookies(privacy) == set_names, (named_cookies(privacy), set_names)
    # the table says how long the language cookie lives, in days
    assert f"<td>{LANG_COOKIE_DAYS} dagar</td>" in privacy
