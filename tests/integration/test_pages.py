"""The public pages, the language switch, error pages and the security baseline."""
from __future__ import annotations

import re

import pytest
from flask import Blueprint

from conftest import make_test_app


def test_start_page_presents_both_areas_in_swedish_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="sv"' in html
    assert "Välkommen till Intygsportalen" in html
    assert "Mina intyg" in html and "Rehabstöd" in html
    assert 'href="#main"' in html and 'id="main"' in html  # skip link to the main landmark
    assert 'href="/tillganglighet"' in html


def test_english_through_the_language_cookie(client):
    client.set_cookie("lang", "en")
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en"' in html
    assert "Welcome to Intygsportalen" in html
    assert "Skip to main content" in html


def test_language_switch_keeps_the_page(client):
    response = client.get("/sprak/en?next=/tillganglighet")
    assert response.status_code == 303
    assert response.headers["Location"] == "/tillganglighet"
    html = client.get("/tillganglighet").get_data(as_text=True)
    assert "Accessibility statement" in html
    response = client.get("/sprak/sv?next=/tillganglighet")
    assert "Tillgänglighetsredogörelse" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_language_switch_never_redirects_to_another_site(client, target):
    response = client.get("/sprak/en", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_unknown_language_is_a_404(client):
    assert client.get("/sprak/de").status_code == 404


def test_strict_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in response.headers["Vary"]


def test_no_inline_script_or_style_in_rendered_pages(client):
    for path in ("/", "/tillganglighet", "/intygstyper", "/intygstyper/FK7804", "/finns-inte"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_session_cookie_is_httponly_and_samesite_lax(client):
    client.get("/")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_session_cookie_is_secure_in_production_settings(db_url):
    app = make_test_app(db_url, SESSION_COOKIE_SECURE=True)
    response = app.test_client().get("/")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_404_page_with_error_id_in_both_languages(client):
    response = client.get("/finns-inte")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Sidan hittades inte" in html
    assert re.search(r"Fel-id: [0-9A-F]{8}", html)
    client.set_cookie("lang", "en")
    html = client.get("/finns-inte").get_data(as_text=True)
    assert "Page not found" in html and re.search(r"Error id: [0-9A-F]{8}", html)


def _app_with_test_routes(db_url):
    app = make_test_app(db_url)
    bp = Blueprint("testonly", __name__)

    @bp.post("/test-only/action")
    def action():
        return "done"

    @bp.get("/test-only/crash")
    def crash():
        raise RuntimeError("boom 19121212-1212")

    @bp.get("/test-only/status/<int:code>")
    def status(code):
        from flask import abort

        abort(code)

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("code,title", [(400, "Felaktig begäran"), (403, "Du har inte behörighet"),
                                        (404, "Sidan hittades inte"), (429, "För många försök"),
                                        (500, "Något gick fel"), (503, "Tjänsten är inte tillgänglig")])
def test_error_pages(db_url, code, title):
    client = _app_with_test_routes(db_url).test_client()
    response = client.get(f"/test-only/status/{code}")
    assert response.status_code == code
    html = response.get_data(as_text=True)
    assert f"<h1 class=\"app-heading-xl\">{title}</h1>" in html
    assert re.search(r"Fel-id: [0-9A-F]{8}", html)


def test_unexpected_error_is_a_500_page_and_the_log_has_no_personnummer(db_url, caplog):
    client = _app_with_test_routes(db_url).test_client()
    response = client.get("/test-only/crash")
    assert response.status_code == 500
    assert "Något gick fel" in response.get_data(as_text=True)
    assert "boom" not in response.get_data(as_text=True)
    assert "191212121212" not in caplog.text and "19121212-1212" not in caplog.text


def test_post_without_csrf_token_is_refused(db_url):
    app = _app_with_test_routes(db_url)
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/test-only/action")
    assert response.status_code == 400
    assert "Ladda om sidan" in response.get_data(as_text=True)


def test_post_with_csrf_header_as_htmx_sends_it_is_accepted(db_url):
    app = _app_with_test_routes(db_url)
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    response = client.post("/test-only/action", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True) == "done"


def test_certificate_type_pages_render_every_type(client, app):
    for ctype in app.extensions["certificate_types"]:
        response = client.get(f"/intygstyper/{ctype.code}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert ctype.name.sv in html
        # the example certificate is rendered from the definition: every section with an answer has a heading
        assert 'class="app-certificate"' in html
    assert client.get("/intygstyper/FK0000").status_code == 404


def test_health_check(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
