"""Every page of the portal passes axe-core (WCAG 2.0/2.1 A and AA) in Swedish and English.

The crawl in Swedish is test_report.py's: the accessibility report's quick build visits every crawled page for
every user in Swedish with axe, and the test fails on any violation. Here: the same pages in English."""
from __future__ import annotations

import pytest
from flask import Blueprint

from conftest import LiveServer, free_port, make_test_app, new_context

from . import crawl

pytestmark = pytest.mark.a11y


def test_every_page_passes_axe_in_english(browser, live_server, demo_app):
    found = crawl.pages(demo_app)
    assert any(p.endpoint == "main.start" for p in found)
    assert any(p.endpoint == "main.accessibility_statement" for p in found)
    users = sorted({p.as_user for p in found}, key=str)
    assert {"citizen", "doctor", "coordinator"} <= set(users)  # the crawl also logs in
    failures = []
    for lang in ("en",):  # Swedish: test_report.py
        for user in users:
            context = new_context(browser, live_server.url, lang=lang)
            page = context.new_page()
            if user:
                crawl.login(page, user)
            for p in (p for p in found if p.as_user == user):
                response = page.goto(p.url)
                assert response is not None and response.ok, \
                    f"{p.url} as {user} answered {response and response.status}"
                assert page.locator("html").get_attribute("lang") == lang
                bad = crawl.violations(page)
                if bad:
                    failures.append(f"{p.url} [{lang}, {user or 'anonymous'}]:\n{crawl.describe(bad)}")
            context.close()
    assert not failures, "axe violations:\n" + "\n".join(failures)


def test_error_pages_pass_axe(browser, live_server):
    context = new_context(browser, live_server.url, lang="sv")
    page = context.new_page()
    response = page.goto("/finns-inte")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Sidan hittades inte"
    assert crawl.violations(page) == []
    context.close()


def broken_blueprint() -> Blueprint:
    bp = Blueprint("broken", __name__)

    @bp.get("/test-only/broken")
    def broken():
        # an image without alt text, a field without a label, a page without a title or language
        return ("<!doctype html><html><head></head><body><main><img src='/static/img/logo.svg'>"
                "<input type='text'><a href='#'></a></main></body></html>")

    return bp


def test_the_crawl_finds_a_new_page_and_fails_on_its_violations(browser, tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'broken.sqlite'}", AUTO_MIGRATE=True,
                        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    app.register_blueprint(broken_blueprint())
    found = crawl.pages(app)
    assert "/test-only/broken" in [p.url for p in found]
    with LiveServer(app) as server:
        context = new_context(browser, server.url)
        page = context.new_page()
        page.goto("/test-only/broken")
        ids = {v["id"] for v in crawl.violations(page)}
        context.close()
    assert {"image-alt", "label", "html-has-lang", "document-title", "link-name"} <= ids


def test_the_crawl_refuses_a_page_with_arguments_and_no_example(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'args.sqlite'}", AUTO_MIGRATE=True)
    bp = Blueprint("newarea", __name__)
    bp.add_url_rule("/ny/<thing>", "thing", lambda thing: thing)
    app.register_blueprint(bp)
    with pytest.raises(crawl.MissingExample, match="newarea.thing"):
        crawl.pages(app)
