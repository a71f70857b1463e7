"""The checks beyond axe (accessibility/checks.py, issue 16 item 2) on every crawled page, logged in or not, at 390
and 1280 px, and on every htmx swap; and, on pages made to fail, that each check finds what it is for.

At 1280 px every check runs in test_report.py's build of the accessibility report, which visits every crawled page
for every user and fails on any problem a check finds; here the pages at 390 px, with the checks that depend on the
window's width.

The crawl runs in Swedish: the checks measure layout, focus and motion, which the English texts do not change in
kind (the longer English words are covered by axe and the e2e tests at 390 px in both languages)."""
from __future__ import annotations

import pytest
from flask import Blueprint, Response

from conftest import LiveServer, free_port, make_test_app, new_context

from . import checks, crawl

pytestmark = pytest.mark.a11y

USERS = (None, "citizen", "doctor", "coordinator", "statistician", "unit_statistician")


def test_the_users_here_are_the_crawls(demo_app):
    assert {p.as_user for p in crawl.pages(demo_app)} == set(USERS)


@pytest.mark.parametrize("width", [390])  # 1280: test_report.py
@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "anonymous")
def test_every_page_passes_the_checks_beyond_axe(browser, live_server, demo_app, user, width):
    found = [p for p in crawl.pages(demo_app) if p.as_user == user]
    assert found
    context = new_context(browser, live_server.url, width=width, height=844 if width < 500 else 900)
    page = context.new_page()
    page.set_default_timeout(20_000)
    if user:
        crawl.login(page, user)
    failures = []
    for p in found:
        response = page.goto(p.url)
        assert response is not None and response.ok, f"{p.url} answered {response and response.status}"
        # at the phone's width only the checks that depend on the page's width (reflow is measured at 320 px and
        # text zoom at 1280 px whatever the window)
        for name, problems in checks.run_all(page, only=checks.AT_EACH_WIDTH if width < 1280 else None).items():
            if problems:
                failures.append(f"{p.url} [{user or 'anonymous'}, {width}px] {name}: " + "; ".join(problems))
    context.close()
    assert not failures, "\n".join(failures)


# --- every htmx swap: focus to its heading or an announcement, exactly one ------------------------------------------

def _open_filter(page) -> None:
    details = page.locator("details.app-filter__details").first
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()


def _change_first(selector: str):
    def act(page) -> None:
        _open_filter(page)
        field = page.locator(selector).first
        if field.evaluate("e => e.tagName") == "SELECT":
            options = field.locator("option").evaluate_all("os => os.map(o => o.value)")
            current = field.input_value()
            field.select_option(next(v for v in options if v != current))
        else:
            field.click()
    return act


def _type_search(page) -> None:
    page.locator("#fritext").fill("a")


def _sort(page) -> None:
    page.locator("a.app-sort").first.click()


def _show_report(page) -> None:
    _open_filter(page)
    page.locator("#report-filter button[type=submit], form[hx-get] button[type=submit]").first.click()


# (user, page, what the user does, what the swap must do: "focus" or "announce")
SWAPS = {
    "citizen-list-sorting": ("citizen", "/mina-intyg/", _change_first("#sortering"), "announce"),
    "rehab-list-filter": ("coordinator", "/rehabstod/sjukfall", _change_first("form[hx-get] .app-checkboxes__input"),
                          "announce"),
    "rehab-list-search": ("coordinator", "/rehabstod/sjukfall", _type_search, "announce"),
    "rehab-list-sort": ("coordinator", "/rehabstod/sjukfall", _sort, "announce"),
    "lakarutlatanden-filter": ("doctor", "/rehabstod/lakarutlatanden", _change_first(".app-checkboxes__input"),
                               "announce"),
    "questions-filter": ("coordinator", "/rehabstod/fragor", _change_first("form[hx-get] .app-checkboxes__input"),
                         "announce"),
    "statistics-report-filter": (None, "/statistik/nationell/sjukfall", _show_report, "focus"),
}


def test_the_swaps_here_are_every_htmx_form_and_link_kind():
    """A template with a new hx-get/hx-post target names its swap here (by the page it is on)."""
    from conftest import ROOT

    pages_with_htmx = sorted(p.relative_to(ROOT / "templates").as_posix()
                             for p in (ROOT / "templates").rglob("*.html")
                             if any(f"hx-{verb}=" in p.read_text(encoding="utf-8") for verb in ("get", "post")))
    assert pages_with_htmx == ["citizen/list.html", "components/macros.html", "rehab/export/progress.html",
                               "rehab/lakarutlatanden.html", "rehab/ongoing.html", "rehab/questions.html",
                               "statistics/report.html"], \
        "a new htmx swap: add it to SWAPS (the export's progress is in test_the_export_progress_swap_announces)"


@pytest.mark.parametrize("name", SWAPS)
def test_each_htmx_swap_moves_focus_or_announces_never_both(browser, live_server, name):
    user, url, act, expected = SWAPS[name]
    context = new_context(browser, live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if user:
        crawl.login(page, user)
    page.goto(url)
    seen, problems = checks.swap_feedback(page, lambda: act(page))
    context.close()
    assert problems == [], f"{name}: {problems}"
    assert bool(seen["focused"]) == (expected == "focus"), seen
    assert bool(seen["announced"]) == (expected == "announce"), seen


def test_the_export_progress_swap_announces(browser, live_server, demo_app):
    """The background export's status block asks for itself again every 2 seconds while the file is being made
    (a silent swap: nothing changed, nothing to say); when the file is ready it announces that, and keeps focus
    where the user is."""
    from sqlalchemy import update

    from accessibility import export_examples
    from portal import db
    from portal.models import ExportJob
    from portal.repository import export_jobs as jobs

    crawl.pages(demo_app)  # makes the crawl's example jobs afresh (pending, done, failed)
    context = new_context(browser, live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    crawl.login(page, "coordinator")
    page.goto(f"/rehabstod/export/{export_examples.token('coordinator', jobs.PENDING)}")
    assert page.locator("#export-status[hx-trigger^=load]").count() == 1

    def file_ready() -> None:
        with db.new_session(demo_app) as s:
            s.execute(update(ExportJob).where(
                ExportJob.token_hash == jobs.token_hash(export_examples.token("coordinator", jobs.PENDING)))
                .values(state=jobs.DONE, content=b"%PDF-1.7 done", content_size=13, lease_until=None,
                        finished_at=demo_app.extensions["clock"].now()))
            s.commit()

    seen, problems = checks.swap_feedback(page, file_ready, timeout_ms=20_000)
    assert problems == [] and seen["announced"] == ["Filen är klar att ladda ner."], (problems, seen)
    context.close()
    crawl.pages(demo_app)  # the pending example back for the other tests


# --- each check finds what it is for ---------------------------------------------------------------------------------

BROKEN_CSS = """
.wide { width: 600px; background: #eee; }
.scroller { overflow-x: auto; } .scroller table { width: 900px; }
.box { height: 20px; line-height: 18px; font-size: 16px; overflow: hidden; white-space: nowrap; width: 20rem; }
.fixed { width: 300px; height: 24px; overflow: hidden; font-size: 1rem; white-space: nowrap; }
.icon { border: 0; width: 32px; height: 32px; background: #036; }
.shadow:focus { outline: none; box-shadow: 0 0 0 3px #036; }
.bare:focus { outline: none; box-shadow: none; }
.spin { animation: spin 2s linear infinite; } @keyframes spin { to { transform: rotate(360deg); } }
.slide { transition: transform 1s; }
.cover { position: fixed; top: 0; left: 0; right: 0; height: 400px; background: #fff; z-index: 10; }
.under { position: absolute; top: 300px; left: 10px; }
.tiny { width: 16px; height: 16px; padding: 0; border: 1px solid #000; margin: 0; }
"""

PAGE = ("<!doctype html><html lang='sv'><head><meta charset='utf-8'><title>{title}</title>"
        "<link rel='stylesheet' href='/test-only/broken.css'>{head}</head><body><main>{body}</main>"
        "<div id='app-live' role='status' aria-live='polite'></div></body></html>")

BROKEN = {
    "wide": "<div class='wide'>Bred ruta</div><div class='scroller'><table><tr><td>tabell</td></tr></table></div>",
    "spacing": "<p class='box'>Text i en låda med fast höjd</p>",
    "zoom": "<p class='fixed'>Ett två tre fyra fem sex</p>",
    "forced": "<button class='icon' aria-label='Stäng'></button> <a class='shadow' href='#x'>Skugga</a>",
    "motion": "<p class='spin'>Snurrar</p><p class='slide'>Glider</p>",
    "hidden": "<div class='cover'>Fast rad</div><a class='under' href='#y'>Under</a>",
    "nofocus": "<p><a class='bare' href='#z'>Ingen fokusmarkering</a></p>",
    "small": "<p><button class='tiny' aria-label='Ett'></button><button class='tiny' aria-label='Två'></button></p>"
             "<p>En <a href='#t'>länk</a> i en mening är undantagen.</p>",
    "ok": "<h1>En bra sida</h1><p>Inget fel här.</p>",
}
SWAP_PAGE = ("<h1>Byten</h1><button hx-get='/test-only/fragment/{kind}' hx-target='#target' hx-swap='outerHTML'>Byt"
             "</button><div id='target'>Före</div>")
FRAGMENTS = {"neither": "<div id='target'><p>Ny text</p></div>",
             "both": "<div id='target' data-app-announce='Klart'><h2 data-app-focus>Nytt</h2></div>",
             "focus": "<div id='target'><h2 data-app-focus>Nytt</h2></div>",
             "announce": "<div id='target' data-app-announce='Klart'><p>Ny text</p></div>"}


def broken_pages() -> Blueprint:
    bp = Blueprint("broken_checks", __name__)

    @bp.get("/test-only/broken.css")
    def css():
        return Response(BROKEN_CSS, mimetype="text/css")

    @bp.get("/test-only/checks/<kind>")
    def broken(kind: str):
        return PAGE.format(title=kind, head="", body=BROKEN[kind])

    @bp.get("/test-only/swap/<kind>")
    def swap(kind: str):
        scripts = ("<script src='/static/vendor/htmx-2.0.11.min.js' defer></script>"
                   "<script src='/static/js/portal.js' defer></script>")
        return PAGE.format(title=kind, head=scripts, body=SWAP_PAGE.format(kind=kind))

    @bp.get("/test-only/fragment/<kind>")
    def fragment(kind: str):
        return FRAGMENTS[kind]

    return bp


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    app = make_test_app(f"sqlite:///{tmp_path_factory.mktemp('checks') / 'broken.sqlite'}", AUTO_MIGRATE=True,
                        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}")
    app.register_blueprint(broken_pages())
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def broken(browser, broken_server):
    context = new_context(browser, broken_server.url, width=1280)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _run(page, kind: str, check: str) -> list[str]:
    page.goto(f"/test-only/checks/{kind}")
    return checks.run_all(page)[check]


def test_a_good_page_passes_every_check(broken):
    broken.goto("/test-only/checks/ok")
    assert checks.run_all(broken) == {name: [] for name in checks.CHECKS}


def test_reflow_finds_a_wide_block_but_allows_a_table_in_its_own_scroll_region(broken):
    problems = _run(broken, "wide", "reflow")
    assert problems and "sideways scrolling at 320 px" in problems[0]
    assert any("div.wide" in p for p in problems) and not any("table" in p for p in problems), problems
    assert broken.viewport_size == {"width": 1280, "height": 900}  # put back


def test_text_spacing_finds_clipped_text_and_leaves_the_page_as_it_was(broken):
    assert any("text clipped in p.box" in p for p in _run(broken, "spacing", "text_spacing"))
    assert broken.evaluate(checks.CLIPPED_JS) == []  # the added spacing is gone again


def test_text_zoom_finds_text_cut_at_200_percent(broken):
    assert any("text clipped in p.fixed" in p for p in _run(broken, "zoom", "text_zoom"))


def test_forced_colours_finds_a_control_without_border_or_text_and_a_focus_shown_by_shadow(broken):
    problems = _run(broken, "forced", "forced_colors")
    assert any("no border or text shows button.icon" in p for p in problems), problems
    assert any("no outline on focus in forced colours: a.shadow" in p for p in problems), problems
    assert broken.evaluate("matchMedia('(forced-colors: active)').matches") is False  # put back


def test_reduced_motion_finds_an_animation_and_a_moving_transition(broken):
    problems = _run(broken, "motion", "reduced_motion")
    assert any("animation spin on p.spin" in p for p in problems), problems
    assert any("transition of transform on p.slide" in p for p in problems), problems


def test_focus_visible_finds_focus_behind_a_fixed_bar_and_focus_without_indicator(broken):
    assert any("focus hidden behind div.cover" in p for p in _run(broken, "hidden", "focus_visible"))
    assert any("no visible focus indicator: a.bare" in p for p in _run(broken, "nofocus", "focus_visible"))


def test_target_size_finds_small_targets_side_by_side_but_not_a_link_in_a_sentence(broken):
    problems = _run(broken, "small", "target_size")
    assert len(problems) == 2 and all("16 × 16 px" in p for p in problems), problems
    assert not any("länk" in p for p in problems)


@pytest.mark.parametrize("kind, problem", [("neither", "neither moved focus"), ("both", "both moved focus"),
                                           ("focus", None), ("announce", None)])
def test_swap_feedback_wants_focus_or_announcement_exactly_one(broken, kind, problem):
    broken.goto(f"/test-only/swap/{kind}")
    broken.wait_for_function("() => window.htmx !== undefined")
    seen, problems = checks.swap_feedback(broken, lambda: broken.get_by_role("button", name="Byt").click())
    if problem:
        assert len(problems) == 1 and problems[0].startswith(problem), (problems, seen)
    else:
        assert problems == [], (problems, seen)
