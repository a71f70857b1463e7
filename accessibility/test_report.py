"""The accessibility report (accessibility/report.py, `make a11y-report`) builds, covers every crawled page, maps
every WCAG 2.1 A/AA success criterion to a way of testing it, and agrees with the accessibility statement's status
(accessibility/status.json, read by portal/domain/a11y_status.py). Built here with --quick (Swedish, 1280 px, no
Lighthouse): every page is still visited.

That visit is also the suite's Swedish axe crawl and its checks beyond axe at 1280 px: every crawled page, for every
user, has no axe violation (WCAG 2.0/2.1 A and AA) and no problem found by accessibility/checks.py. The English axe
crawl is test_axe.py's, the checks at the phone's width test_checks.py's: each page is loaded once per language and
width."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal.domain import a11y_status

from . import checks, crawl, report, wcag

pytestmark = pytest.mark.a11y

ROOT = Path(__file__).resolve().parent.parent


def test_every_wcag_21_a_and_aa_criterion_has_a_way_of_testing_it():
    assert [c.number for c in wcag.CRITERIA] == sorted({c.number for c in wcag.CRITERIA}, key=report._sc_key)
    assert set(wcag.BY_NUMBER) == a11y_status.WCAG21_A_AA
    for c in wcag.CRITERIA:
        assert c.ways and c.method in (wcag.AUTOMATIC, wcag.SCRIPTED, wcag.MANUAL), c.number
        assert c.level in ("A", "AA") and c.en301549 == "9." + c.number
    assert wcag.axe_tag_criterion("wcag1410") == "1.4.10" and wcag.axe_tag_criterion("wcag21aa") is None


def test_the_criteria_the_statement_calls_manual_only_are_manual_only_in_the_map():
    status = a11y_status.load(report.STATUS_FILE)
    for check in status.manual_only:
        for number in check.criteria:
            assert {w.kind for w in wcag.BY_NUMBER[number].ways} == {wcag.MANUAL}, number


def test_the_tests_the_map_names_exist():
    for c in wcag.CRITERIA:
        for way in c.ways:
            if way.kind == wcag.MANUAL or "/" not in way.what:
                continue  # a module (accessibility.checks, accessibility.report) or the auditor's work
            path, _, test = way.what.partition("::")
            assert (ROOT / path).exists(), f"{c.number}: {path}"
            if test:
                assert f"def {test}(" in (ROOT / path).read_text(encoding="utf-8"), f"{c.number}: {way.what}"


def test_the_report_builds_covers_every_crawled_page_and_matches_the_statement(browser, live_server, demo_app,
                                                                               tmp_path):
    built = report.build(demo_app, live_server.url, browser, tmp_path, quick=True, progress=lambda _: None)

    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["status"] == built["status"]
    expected = {report.page_id(p) for p in crawl.pages(demo_app)}
    assert {p["id"] for p in data["pages"]} == expected
    visited = {f"{v['user'] or 'anonymous'} {v['url']}" for v in data["visits"]}
    assert visited == expected
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for p in data["pages"]:
        assert f"id='{report.slug(p['id'])}'" in index, p["id"]
    for v in data["visits"]:
        assert v["http_status"] == 200 and v["html_lang"] == "sv", v["key"]
        assert (tmp_path / v["screenshot"]).stat().st_size > 0
        assert v["tab_order"] and v["tree"]["headings"], v["key"]  # every page has a heading and a tab stop
        assert {"passes", "violations", "incomplete"} <= set(v["axe"])
        assert set(v["checks"]) == set(checks.CHECKS), v["key"]  # 1280 px: every check beyond axe
    failures = [f"{v['url']} [sv, {v['user'] or 'anonymous'}]: axe: "
                + ", ".join(f"{r['id']} ({'; '.join(r['targets'][:3])})" for r in v["axe"]["violations"])
                for v in data["visits"] if v["axe"]["violations"]]
    failures += [f"{v['url']} [{v['user'] or 'anonymous'}, 1280px] {name}: " + "; ".join(found)
                 for v in data["visits"] for name, found in v["checks"].items() if found]
    assert not failures, "\n".join(failures)
    start = next(v for v in data["visits"] if v["url"] == "/" and v["user"] is None)
    assert start["tab_order"][0]["role"] == "link" and start["tab_order"][0]["name"]  # the skip link
    assert any(m["role"] == "main" for m in start["tree"]["landmarks"])
    assert any(r["criteria"] for r in start["axe"]["passes"])
    assert "Checks beyond axe" in index and "reflow (1.4.10): passes" in index

    criteria = {c["criterion"]: c for c in data["criteria"]}
    assert set(criteria) == a11y_status.WCAG21_A_AA
    for c in criteria.values():
        assert c["method"] in ("automatic", "scripted", "manual") and c["ways"], c["criterion"]
        if c["method"] == "automatic":
            assert c["axe_rules"], f"{c['criterion']} is called automatic but no axe rule of it ran"

    # the statement's status (what /tillganglighet shows) is the report's
    statement = a11y_status.load(report.STATUS_FILE)
    assert data["status"] == statement.status, (
        f"the report finds the portal {data['status']!r}, the statement says {statement.status!r}: "
        + "; ".join(f"{v['key']}: {[r['id'] for r in v['axe']['violations']]} {v['checks']}"
                    for v in data["visits"] if v["axe"]["violations"] or report.check_problems(v)))


def test_the_status_is_partial_with_a_violation_or_a_known_failure():
    clean = [{"axe": {"violations": []}}]
    assert report.derive_status(clean, []) == "full"
    assert report.derive_status([{"axe": {"violations": [{"id": "label"}]}}], []) == "partial"
    assert report.derive_status(clean, [{"criterion": "1.4.10"}]) == "partial"
    reflowing = {"axe": {"violations": []}, "checks": {"reflow": ["40 px of sideways scrolling at 320 px"]}}
    assert report.derive_status([reflowing], []) == "partial"
    assert report.derive_status([{"axe": {"violations": []}, "checks": {"reflow": []}}], []) == "full"


def test_update_status_writes_the_date_and_status_and_keeps_the_rest(tmp_path):
    status_file = tmp_path / "status.json"
    status_file.write_text(report.STATUS_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    before = json.loads(status_file.read_text(encoding="utf-8"))
    report.update_status({"generated_on": "2027-01-02", "status": "full", "pages": [{}] * 7}, status_file)
    after = json.loads(status_file.read_text(encoding="utf-8"))
    assert (after["tested_on"], after["status"], after["pages_checked"]) == ("2027-01-02", "full", 7)
    assert {k: v for k, v in after.items() if k not in ("tested_on", "status", "pages_checked")} == \
        {k: v for k, v in before.items() if k not in ("tested_on", "status", "pages_checked")}
    assert a11y_status.parse(after).status == "full"
