"""The accessibility crawl: every page of the portal, found from the URL map, checked with axe-core.

A GET route without arguments is visited as it is. A route with arguments needs an example in
EXAMPLES (a function of the demo data giving the values) or a reason in NOT_PAGES; a new route with
neither fails the crawl test, so no page can be forgotten. Pages behind a login name the demo
identity to log in as (issue 3 adds the logins).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from axe_playwright_python.sync_playwright import Axe
from flask import Flask

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}

# endpoints that are not pages (with the reason)
NOT_PAGES: dict[str, str] = {
    "static": "static files",
    "main.health": "JSON health check",
    "main.language": "redirects back to the page it came from (covered: every page is crawled in both languages)",
}

# endpoint -> function(app) returning a list of (url-values, as_user) examples
EXAMPLES: dict[str, Callable[[Flask], list[tuple[dict, str | None]]]] = {
    "main.certificate_type": lambda app: [({"code": code}, None) for code in app.extensions["certificate_types"].codes()],
}


@dataclass(frozen=True)
class Page:
    endpoint: str
    url: str
    as_user: str | None = None


class MissingExample(Exception):
    pass


def pages(app: Flask) -> list[Page]:
    """Every page of the app, from its URL map."""
    found: list[Page] = []
    missing = []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
                continue
            if rule.endpoint.startswith("testbroker.") and rule.endpoint in NOT_PAGES:
                continue
            if rule.arguments:
                example = EXAMPLES.get(rule.endpoint)
                if example is None:
                    missing.append(f"{rule.endpoint} ({rule.rule})")
                    continue
                for values, who in example(app):
                    found.append(Page(rule.endpoint, url_for(rule.endpoint, **values), who))
            else:
                found.append(Page(rule.endpoint, url_for(rule.endpoint), None))
    if missing:
        raise MissingExample(
            "These routes take arguments and have no accessibility example; add one to accessibility/crawl.py "
            "EXAMPLES (or a reason to NOT_PAGES): " + ", ".join(missing))
    return found


_axe = Axe()


def violations(page) -> list[dict]:
    """Run axe-core (WCAG 2.0/2.1 A and AA) on the page as it is now; return the violations."""
    result = _axe.run(page, options=AXE_OPTIONS)
    return result.response["violations"]


def describe(found: list[dict]) -> str:
    lines = []
    for v in found:
        targets = "; ".join(", ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                            for n in v["nodes"][:5])
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)
