"""The Rehabstöd ongoing list's free-text search keeps personal data out of every URL and every log (issue 12,
item 9). A coordinator searches for a personnummer and for a name, without JavaScript (POST, 303) and with htmx
(POST, the results block): the list shows the matching rows, the "Sök: …" tag ends the search, the exports hold
the same rows, and no request URL, Location, pushed or replaced URL, `next`, link, log record or access log line
(gunicorn's, through the repository's gunicorn.conf.py) holds the term. The term is kept for the login only."""
from __future__ import annotations

import html as html_lib
import io
import json
import logging
import re
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest
from flask.sessions import SecureCookieSessionInterface
from openpyxl import load_workbook
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from conftest import session_login
from portal import db
from portal.domain import demo as demo_data
from portal.export import XLSX_HEADER_ROW
from portal.models import AuthSession

ONGOING, SEARCH, CLEAR = "/rehabstod/sjukfall", "/rehabstod/sjukfall/sok", "/rehabstod/sjukfall/sok/rensa"
COORDINATOR, VE10, VE40 = demo_data.hsa("R001"), demo_data.hsa("VE10"), demo_data.hsa("VE40")
ROOT = Path(__file__).resolve().parents[2]
URL_ATTRS = re.compile(r'\b(?:href|action|src|formaction|hx-get|hx-post|hx-put|hx-delete|hx-push-url|hx-replace-url'
                       r'|data-app-[a-z-]+)="([^"]*)"')
ROW_RE = re.compile(r'<tr>\s*<td>\d+</td>\s*<td class="app-nowrap"><a href="[^"]+">(\d{8}-\d{4})</a></td>\s*'
                    r'<td>\d+</td>\s*<td>([^<]+)</td>')


def login(client, app) -> None:
    session_login(client, app, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name="Lena Forsberg")


def rows(page: str) -> list[tuple[str, str]]:
    """(personnummer, name) of every row of the list, in order."""
    return ROW_RE.findall(page)


def count(page: str) -> tuple[int, int]:
    shown, total = re.search(r'class="app-results__count"[^>]*><strong>\D*(\d+)\D+(\d+)', page).groups()
    return int(shown), int(total)


def csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def search_form(page: str) -> list[tuple[str, str]]:
    """What the search form sends besides the term: its CSRF token and the list's filters and sort (hidden
    fields tied to it with form="sjukfall-sok")."""
    form = page.split('id="sjukfall-sok"')[1].split("</form>")[0]
    own = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    tied = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)" form="sjukfall-sok">', page)
    return [(n, html_lib.unescape(v)) for n, v in own + tied]


def tags(page: str) -> dict[str, str]:
    """The filter tags: words -> where the link leads."""
    return {re.sub(r"<[^>]+>", "", re.sub(r'<span aria-hidden="true">.*?</span>', "", inner)).strip():
            html_lib.unescape(href)
            for href, inner in re.findall(r'<a class="app-filter-tags__tag" href="([^"]*)">(.*?)</a>', page)}


def forms_of(term: str) -> list[str]:
    """The ways a term can sit in a URL or a line of text: as typed, without the hyphen, in 10 digits."""
    out = {term, term.replace("-", ""), term.replace(" ", "+")}
    digits = term.replace("-", "")
    if digits.isdigit() and len(digits) == 12:
        out |= {digits[2:], digits[2:8] + "-" + digits[8:]}
    return sorted(out)


class Record:
    """Every URL the server handed out (links, forms, htmx attributes, Location, HX-* headers), every request
    the test made, and gunicorn's access log line for each."""

    def __init__(self, client, access_line):
        self.client, self.access_line = client, access_line
        self.urls: list[str] = []
        self.lines: list[str] = []

    def _seen(self, response):
        environ = response.request.environ
        self.urls.append(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"])
        self.lines.append(self.access_line(environ, response))
        for header in ("Location", "HX-Push-Url", "HX-Replace-Url", "HX-Redirect", "HX-Location"):
            if response.headers.get(header):
                self.urls.append(response.headers[header])
        if response.mimetype == "text/html":
            self.urls += [html_lib.unescape(u) for u in URL_ATTRS.findall(response.get_data(as_text=True))]
        return response

    def get(self, url, **kw):
        return self._seen(self.client.get(url, **kw))

    def post(self, url, **kw):
        return self._seen(self.client.post(url, **kw))

    def follow(self, response):
        assert response.status_code == 303, response.status_code
        return self.get(response.headers["Location"])

    def assert_clean(self, *terms: str):
        assert self.urls and self.lines
        for url in self.urls:
            plain = unquote_plus(url)
            for value in (url, plain, *[v for _, v in parse_qsl(urlsplit(url).query)]):
                for term in terms:
                    for form in forms_of(term):
                        assert form.casefold() not in value.casefold(), (term, url)
        for line in self.lines:
            for term in terms:
                assert not any(form.casefold() in unquote_plus(line).casefold() for form in forms_of(term)), line


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def gunicorn_access():
    """gunicorn's access logger as the repository configures it (gunicorn.conf.py, the access log on, as
    `make run` has it): a function of a request's WSGI environ and its response giving the line it writes."""
    from gunicorn.config import Config

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("logger_class", settings["logger_class"])
    cfg.set("accesslog", "-")
    logger = cfg.logger_class(cfg)
    handler = ListHandler()
    logger.access_log.addHandler(handler)

    def line(environ, response) -> str:
        environ = dict(environ)
        environ.setdefault("RAW_URI", environ.get("REQUEST_URI") or environ["PATH_INFO"] + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""))
        environ.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
        resp = SimpleNamespace(status=response.status, sent=len(response.data), headers=list(response.headers.items()))
        req = SimpleNamespace(headers=[(k.upper(), v) for k, v in response.request.headers.items()])
        logger.access(resp, req, environ, timedelta(milliseconds=12))
        return handler.lines[-1]

    yield line
    logger.access_log.removeHandler(handler)


def xlsx_pnrs(data: bytes) -> list[str]:
    table = list(load_workbook(io.BytesIO(data)).active.iter_rows(min_row=XLSX_HEADER_ROW, values_only=True))
    column = list(table[0]).index("Personnummer")
    return [r[column] for r in table[1:]]


def test_a_search_for_a_personnummer_and_a_name_never_reaches_a_url_or_a_log(demo, client, caplog, gunicorn_access):
    caplog.set_level(logging.DEBUG)
    login(client, demo)
    web = Record(client, gunicorn_access)
    first = web.get(ONGOING + "?sortera=namn").get_data(as_text=True)
    everyone = rows(first)
    _, total = count(first)
    pnr, name = everyone[len(everyone) // 2]
    family = name.split()[-1]
    expected_by_name = [r for r in everyone if family.casefold() in r[1].casefold()]
    assert len(everyone) == total > 5 and expected_by_name

    # without JavaScript: the form's POST, 303 to the list's address (the sort kept, no term)
    response = web.post(SEARCH, data=MultiDict([("fritext", pnr), *search_form(first)]))
    assert response.status_code == 303 and response.headers["Location"] == ONGOING + "?sortera=namn"
    page = web.follow(response).get_data(as_text=True)
    assert rows(page) == [(pnr, name)] and count(page) == (1, total)
    assert f'id="fritext" name="fritext" value="{pnr}"' in page  # the field says what was searched for
    assert tags(page) == {f"Ta bort filter: Sök: {pnr}": CLEAR + "?sortera=namn"}
    # the exports (their links carry no term) hold the page's rows
    export = re.search(r'href="([^"]*/export\.xlsx[^"]*)"', page).group(1)
    assert xlsx_pnrs(web.get(html_lib.unescape(export)).data) == [pnr]

    # with htmx, by name: the results block, the address bar replaced by the list's own address
    response = web.post(SEARCH, data=MultiDict([("fritext", family), *search_form(page)]),
                        headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200 and fragment.lstrip().startswith('<div id="results"')
    assert response.headers["HX-Replace-Url"] == ONGOING + "?sortera=namn"
    assert rows(fragment) == expected_by_name
    assert f"Ta bort filter: Sök: {family}" in tags(fragment)
    assert xlsx_pnrs(web.get(ONGOING + "/export.xlsx?sortera=namn").data) == [p for p, _ in expected_by_name]
    pdf = web.get(ONGOING + "/export.pdf?sortera=namn")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"

    # the tag ends the search: back to every row, still sorted by name
    page = web.follow(web.get(tags(fragment)[f"Ta bort filter: Sök: {family}"])).get_data(as_text=True)
    assert rows(page) == everyone and "app-filter-tags" not in page and 'name="fritext" value=""' in page

    web.assert_clean(pnr, name, family)
    assert caplog.records  # the requests did log (the PDL writer, the app): none of it holds the term
    for term in (pnr, name, family):
        assert not any(form in caplog.text for form in forms_of(term))


def test_the_search_is_kept_across_filter_changes_and_sorting_and_never_enters_a_link(demo, client):
    login(client, demo)
    page = client.get(ONGOING).get_data(as_text=True)
    term = rows(client.get(ONGOING + "?kon=F").get_data(as_text=True))[0][1].split()[0]
    client.post(SEARCH, data=MultiDict([("fritext", term), *search_form(page)]))
    for url in (ONGOING + "?kon=F", ONGOING + "?kon=F&sortera=alder&ordning=desc"):
        for htmx in (False, True):
            response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
            body = response.get_data(as_text=True)
            assert response.status_code == 200 and rows(body)
            assert all(term.casefold() in n.casefold() for _, n in rows(body))
            assert f"Ta bort filter: Sök: {term}" in tags(body)
            links = [html_lib.unescape(u) for u in URL_ATTRS.findall(body)]
            assert links and not any(term.casefold() in unquote_plus(u).casefold() for u in links)
            # the search form gets the list's filters and sort, to send them with the next search
            assert htmx or ("kon", "F") in search_form(body)
    # an htmx answer replaces the search form's hidden fields out of band: the new filters, no term
    fragment = client.get(ONGOING + "?kon=F&sortera=alder", headers={"HX-Request": "true"}).get_data(as_text=True)
    oob = fragment.split('<div id="sjukfall-sok-lista" hx-swap-oob="true">')[1].split("</div>")[0]
    fields = re.findall(r'name="([^"]+)" value="([^"]*)" form="sjukfall-sok"', oob)
    assert fields == [("kon", "F"), ("sortera", "alder")]


def test_an_old_link_with_a_search_in_it_goes_to_the_list_without_it_and_applies_nothing(demo, client):
    login(client, demo)
    _, total = count(client.get(ONGOING).get_data(as_text=True))
    response = client.get(ONGOING + "?fritext=19121212-1212&kon=F&sortera=namn")
    assert response.status_code == 303 and response.headers["Location"] == ONGOING + "?kon=F&sortera=namn"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "19121212" not in page and "Sök:" not in page
    assert client.get(ONGOING + "?fritext=").status_code == 303


def test_an_export_link_with_a_search_in_it_goes_to_the_file_without_it(demo, client):
    login(client, demo)
    pnr = rows(client.get(ONGOING).get_data(as_text=True))[0][0]
    response = client.get(ONGOING + f"/export.xlsx?fritext={pnr}&kon=F")
    assert response.status_code == 303 and response.headers["Location"] == ONGOING + "/export.xlsx?kon=F"
    response = client.get(ONGOING + f"/export.pdf?alder_fran=abc&fritext={pnr}")
    assert response.status_code == 303 and response.headers["Location"] == ONGOING + "/export.pdf?alder_fran=abc"
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "alder_fran=abc" in body and not any(form in body for form in forms_of(pnr))


def test_the_search_belongs_to_the_login_and_the_unit_and_is_sealed_in_the_cookie(demo, client):
    login(client, demo)
    page = client.get(ONGOING).get_data(as_text=True)
    pnr, _name = rows(page)[0]
    client.post(SEARCH, data=MultiDict([("fritext", pnr), *search_form(page)]))
    assert rows(client.get(ONGOING).get_data(as_text=True)) == [rows(page)[0]]
    # the session cookie (signed, HttpOnly) holds the term encrypted, never readable
    cookie = client.get_cookie("session")
    assert cookie.http_only
    stored = SecureCookieSessionInterface().get_signing_serializer(demo).loads(cookie.value)
    assert not any(form in json.dumps(stored) for form in forms_of(pnr))
    # another care unit ("Byt vårdenhet") does not search for it, and coming back finds it ended
    with db.new_session(demo) as s:
        row = s.scalars(select(AuthSession).where(AuthSession.subject == COORDINATOR)).one()
        row.unit_id = VE40
        s.commit()
    other = client.get(ONGOING)
    assert other.status_code == 200 and 'id="results"' in other.get_data(as_text=True)
    assert "Sök:" not in other.get_data(as_text=True)
    with db.new_session(demo) as s:
        s.scalars(select(AuthSession).where(AuthSession.subject == COORDINATOR)).one().unit_id = VE10
        s.commit()
    assert len(rows(client.get(ONGOING).get_data(as_text=True))) == len(rows(page))
    # another login in the same browser (a new session id) does not inherit it either
    client.post(SEARCH, data=MultiDict([("fritext", pnr), *search_form(page)]))
    login(client, demo)
    assert len(rows(client.get(ONGOING).get_data(as_text=True))) == len(rows(page))


def test_a_search_without_a_unit_or_a_login_sends_nothing_on(demo, client):
    session_login(client, demo, "staff", COORDINATOR, name="Lena Forsberg")  # no unit chosen yet
    token = csrf(client.get("/").get_data(as_text=True))
    response = client.post(SEARCH, data={"fritext": "19121212-1212", "csrf_token": token})
    assert response.status_code == 302 and "19121212" not in unquote_plus(response.headers["Location"])
    assert "next=/rehabstod/sjukfall/sok" in unquote_plus(response.headers["Location"])
    login(client, demo)  # the unit chosen: `next` leads here by GET, which shows the list
    response = client.get(SEARCH)
    assert response.status_code == 303 and response.headers["Location"] == ONGOING
    client.delete_cookie("session")  # logged out: to the login, with nothing of the search
    token = csrf(client.get("/").get_data(as_text=True))
    response = client.post(SEARCH, data={"fritext": "19121212-1212", "csrf_token": token})
    assert response.status_code == 302 and "19121212" not in unquote_plus(response.headers["Location"])


def test_an_empty_search_ends_the_search(demo, client):
    login(client, demo)
    page = client.get(ONGOING).get_data(as_text=True)
    client.post(SEARCH, data=MultiDict([("fritext", rows(page)[0][0]), *search_form(page)]))
    client.post(SEARCH, data=MultiDict([("fritext", "   "), *search_form(page)]))
    assert rows(client.get(ONGOING).get_data(as_text=True)) == rows(page)


def test_the_search_form_needs_its_csrf_token_and_is_refused_from_another_site(demo, client):
    login(client, demo)
    demo.config["WTF_CSRF_ENABLED"] = True
    assert client.post(SEARCH, data={"fritext": "Anna"}).status_code == 400
    page = client.get(ONGOING).get_data(as_text=True)
    refused = client.post(SEARCH, data={"fritext": "Anna", "csrf_token": csrf(page)},
                          headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert client.post(SEARCH, data={"fritext": "Anna", "csrf_token": csrf(page)},
                       headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}).status_code == 303
    assert client.post(SEARCH, data={"fritext": "Anna"}, headers={"X-CSRFToken": csrf(page), "HX-Request": "true",
                                                                  "Sec-Fetch-Site": "same-origin"}).status_code == 200
