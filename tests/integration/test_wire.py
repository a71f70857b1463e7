"""Bytes over the wire (portal/static_assets.py): answers compressed by the client's Accept-Encoding (brotli, gzip,
or not at all), never what is compressed already or too small to gain; static files under content-hashed names
cached for a year, the plain names still served with a short cache and revalidated with a 304."""
from __future__ import annotations

import gzip
import re

import brotli
import pytest
from flask import Response

from conftest import NOW, session_login
from portal import static_assets
from portal.domain import demo as demo_data

ORDINARY = next(c for c in demo_data.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends
YEAR = "max-age=31536000"


def decoded(response) -> str:
    encoding = response.headers.get("Content-Encoding")
    data = response.get_data()
    if encoding == "br":
        data = brotli.decompress(data)
    elif encoding == "gzip":
        data = gzip.decompress(data)
    else:
        assert encoding is None, encoding
    return data.decode("utf-8")


def vary(response) -> set[str]:
    return {v.strip().lower() for value in response.headers.getlist("Vary") for v in value.split(",")}


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


@pytest.fixture
def citizen(demo, client):
    session_login(client, demo, "citizen", ORDINARY, name="Tolva Demosson")
    return client


# --- compressed answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept, encoding", [(BROWSER, "br"), ("br", "br"), ("gzip", "gzip"),
                                              ("gzip;q=1.0, br;q=0.5", "gzip"), ("", None), ("identity", None),
                                              ("compress", None)])
def test_a_page_is_compressed_as_the_client_asks(client, accept, encoding):
    response = client.get("/", headers={"Accept-Encoding": accept} if accept else {})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == encoding
    html = decoded(response)
    assert html.startswith("<!doctype html>") and "Intygsportalen" in html and html.rstrip().endswith("</html>")
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert {"accept-encoding", "hx-request"} <= vary(response)
    assert len(response.headers.getlist("Vary")) == 1  # one header: caches and Flask's session read only the first
    if encoding:
        assert len(response.get_data()) < len(html.encode()) / 2


def test_compression_keeps_the_security_headers_and_no_store(citizen):
    response = citizen.get("/mina-intyg/", headers={"Accept-Encoding": BROWSER})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert {"accept-encoding", "hx-request", "cookie"} <= vary(response)
    assert "Tolva Demosson" in decoded(response)


def test_an_htmx_fragment_is_compressed_too(citizen):
    full = decoded(citizen.get("/mina-intyg/", headers={"Accept-Encoding": BROWSER}))
    response = citizen.get("/mina-intyg/?sortering=oldest", headers={"Accept-Encoding": BROWSER, "HX-Request": "true"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
    fragment = decoded(response)
    assert "<html" not in fragment and 'id="results"' in fragment and len(fragment) < len(full)
    assert {"accept-encoding", "hx-request"} <= vary(response)


def test_head_answers_the_compressed_length_without_a_body(client):
    get = client.get("/", headers={"Accept-Encoding": "br"})
    head = client.head("/", headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.headers["Content-Encoding"] == "br"
    assert head.get_data() == b""
    assert abs(int(head.headers["Content-Length"]) - len(get.get_data())) < 40  # the CSRF token differs a little


def test_a_small_answer_is_not_compressed(client):
    response = client.get("/healthz", headers={"Accept-Encoding": BROWSER})
    assert response.status_code == 200 and len(response.get_data()) < 500
    assert "Content-Encoding" not in response.headers
    assert response.get_json()["status"] == "ok"


def test_a_pdf_download_is_not_compressed_again(citizen, demo):
    html = citizen.get("/mina-intyg/").get_data(as_text=True)
    certificate = re.search(r'href="/mina-intyg/intyg/([^"/]+)"', html).group(1)
    response = citizen.get(f"/mina-intyg/intyg/{certificate}/pdf/full", headers={"Accept-Encoding": BROWSER})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "Content-Encoding" not in response.headers
    assert response.get_data().startswith(b"%PDF-")
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert response.headers["Cache-Control"] == "no-store"


def test_a_strong_etag_is_kept_per_encoding_and_a_revalidation_is_a_304(app):
    """flask-compress makes a strong ETag its own per encoding ("v1:br") and answers If-None-Match with a 304."""
    def tagged():
        response = Response("<p>" + "Intygsportalen " * 100 + "</p>", mimetype="text/html")
        response.set_etag("v1")
        return response

    app.add_url_rule("/test-only/etag", "test_only_etag", tagged)
    client = app.test_client()
    first = client.get("/test-only/etag", headers={"Accept-Encoding": "br"})
    assert first.headers["Content-Encoding"] == "br" and first.headers["ETag"] == '"v1:br"'
    again = client.get("/test-only/etag", headers={"Accept-Encoding": "br", "If-None-Match": '"v1:br"'})
    assert again.status_code == 304 and again.get_data() == b""
    other = client.get("/test-only/etag", headers={"Accept-Encoding": "gzip", "If-None-Match": '"v1:br"'})
    assert other.status_code == 200 and other.headers["ETag"] == '"v1:gzip"'


# --- static files ------------------------------------------------------------------------------------


def test_pages_link_content_hashed_static_files_cached_for_a_year(client):
    urls = static_urls(client.get("/").get_data(as_text=True))
    assert urls, "the page links no static file"
    for url in urls:
        assert re.search(r"-[0-9a-f]{32}\.(css|js)$", url), url
        response = client.get(url, headers={"Accept-Encoding": BROWSER})
        assert response.status_code == 200, url
        cache = {d.strip() for d in response.headers["Cache-Control"].split(",")}
        assert cache == {"public", YEAR, "immutable"}, url
        assert response.headers["Content-Encoding"] == "br"  # the precompressed brotli 11 copy
        assert "accept-encoding" in vary(response)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert "Access-Control-Allow-Origin" not in response.headers
        body = decoded(response)
        assert body.strip(), url
        gz = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert gz.headers["Content-Encoding"] == "gzip" and decoded(gz) == body
        plain = client.get(url)
        assert "Content-Encoding" not in plain.headers and plain.get_data(as_text=True) == body


def test_the_one_script_is_htmx_then_the_portals_script_minified(client):
    import rjsmin

    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', html)
    assert len(scripts) == 1 and "/js/bundle.min-" in scripts[0]
    body = decoded(client.get(scripts[0], headers={"Accept-Encoding": "br"}))
    folder = static_assets.Path(client.application.static_folder)
    htmx, ours = body.split("\n;\n")
    assert htmx == (folder / "vendor/htmx-2.0.11.min.js").read_text()
    assert ours == rjsmin.jsmin((folder / "js/portal.js").read_text()) and "X-CSRFToken" in ours


def test_the_plain_names_still_work_with_a_short_cache_and_a_304(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "immutable" not in response.headers["Cache-Control"]
    assert f"max-age={static_assets.SHORT_MAX_AGE}" in response.headers["Cache-Control"]
    assert response.get_data(as_text=True) == (static_assets.Path(client.application.static_folder) /
                                               "css/portal.css").read_text()
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    by_etag = client.get("/static/css/portal.css", headers={"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.get_data() == b""
    assert by_etag.headers["ETag"] == etag and "max-age" in by_etag.headers["Cache-Control"]
    assert client.get("/static/css/portal.css", headers={"If-Modified-Since": modified}).status_code == 304
    for name in ("js/portal.js", "vendor/htmx-2.0.11.min.js", "img/logo.svg"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert client.get("/static/finns-inte.css").status_code == 404


def test_a_static_svg_opened_on_its_own_may_run_nothing(client):
    response = client.get("/static/img/logo.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == static_assets.STATIC_CSP


def test_the_hashed_copies_are_the_sources_minified(app):
    from flask_static_digest.digester import DIGESTED_FILE_REGEX

    folder = static_assets.Path(app.static_folder)
    assert not static_assets.stale(folder)
    manifest = app.extensions["static_digest"].manifests["static"]
    css = (folder / manifest["css/portal.css"]).read_text()
    source = (folder / "css/portal.css").read_text()
    assert re.search(DIGESTED_FILE_REGEX, manifest["css/portal.css"])
    assert len(css) < len(source) and "/*" not in css and ".app-header" in css
    assert (folder / (manifest["css/portal.css"] + ".br")).exists()
