"""States the crawl cannot reach by URL, checked with axe-core in Swedish and English: every refusal page the
login can end on (auth.refused: the callback's, and the login start's when the broker cannot be reached).

The reasons are read from the code (every `LoginRefused("…")` and `refused("…")` in portal/auth, every reason
portal/domain/access.py's refusal functions return) and from the refusal page's own texts
(templates/auth/refused.html): a new reason without a way to reach it here fails
test_every_refusal_reason_is_reached_here, and gets a failing case of its own below. Each page is reached the
way a user gets there (the test broker's login page, its fault knobs, a tampered or forged callback address)
and must show its own heading, say its error id (and the log says the same id with the reason: the page is
that reason's, not another's with the same words), leave no one logged in, have no axe violations (and, in
Swedish, pass the checks beyond axe of accessibility/checks.py), and lead on to the start page by keyboard.

The keyboard states (the unit whose rights changed, the too-long search) are in e2e/test_states_keyboard.py.
"""
from __future__ import annotations

import ast
import logging
import re
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import NOW, ROOT, new_context
from e2e.keyboard import activate
from portal.domain import demo

from . import checks, crawl

pytestmark = pytest.mark.a11y

CITIZENS = {c.key: c for c in demo.demo_citizens(NOW.date())}
ORDINARY = CITIZENS["ordinary"].personnummer
CHILD = CITIZENS["child"].personnummer
CODE = sorted((ROOT / "portal" / "auth").glob("*.py")) + [ROOT / "portal" / "domain" / "access.py"]
REFUSED_PAGE = ROOT / "templates" / "auth" / "refused.html"


# --- the reasons, from the code -------------------------------------------------------------------------

def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _literals(node: ast.expr | None) -> list[str]:
    """The strings an expression can be: a literal, or either branch of `a if c else b` / `a or b`."""
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [s for v in node.values for s in _literals(v)]
    return [s for s in (_literal(node),) if s]


def reasons_in_code(files: list[Path] = CODE) -> dict[str, str]:
    """Every refusal reason the code can give: reason -> where (file:line)."""
    found: dict[str, str] = {}
    for path in files:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in ("LoginRefused", "refused") and node.args:
                reason = _literal(node.args[0])
                if reason:
                    found.setdefault(reason, f"{where}:{node.lineno}")
            if isinstance(node, ast.FunctionDef) and "refusal" in node.name:  # access.refusal_reason & co
                for ret in (n for n in ast.walk(node) if isinstance(n, ast.Return)):
                    for reason in _literals(ret.value):
                        found.setdefault(reason, f"{where}:{ret.lineno}")
    return found


def reasons_on_the_page() -> set[str]:
    """The reasons templates/auth/refused.html has words of their own for."""
    return set(re.findall(r'^\s*"(\w+)":\s*\(_\(', REFUSED_PAGE.read_text(encoding="utf-8"), re.M))


def all_reasons() -> list[str]:
    return sorted(set(reasons_in_code()) | reasons_on_the_page())


# --- reaching each one, the way a user does -------------------------------------------------------------

def at_broker(page, broker: str) -> str:
    """Start a login and stop on the broker's login page; the login's `state`."""
    page.goto(f"/inloggning/{broker}")
    assert "/testbroker/" in page.url, page.url
    return parse_qs(urlsplit(page.url).query)["state"][0]


def at_the_broker_choose(page, broker: str, identity: str | None = None, other: str | None = None,
                         action: str = "login"):
    """Start a login, choose on the broker's page, press its button; the response the browser ends on."""
    at_broker(page, broker)
    if other is not None:
        page.locator("input[name=identity][value=other]").check()
        page.locator("#other-value").fill(other)
    elif identity is not None:
        page.locator(f"input[name=identity][value='{identity}']").check()
    with page.expect_navigation() as navigation:
        page.locator(f"button[name=action][value={action}]").click()
    page.wait_for_load_state()
    return navigation.value


def callback(page, broker: str, query: Callable[[str], str]):
    """Start a login, then go to the callback address with a query made from the login's real state."""
    state = at_broker(page, broker)
    return page.goto(f"/inloggning/{broker}/callback?{query(state)}")


def with_fault(**fault):
    def reach(page, live, monkeypatch):
        live.app.extensions["testbroker"].faults.update(fault)  # the `live` fixture clears them
        return at_the_broker_choose(page, "bankid", ORDINARY)
    return reach


def broker_unreachable(page, live, monkeypatch):
    """The broker's discovery document cannot be fetched (its address answers nothing) when a login starts."""
    from conftest import free_port

    client = live.app.extensions["oidc_brokers"]["bankid"].client
    monkeypatch.setattr(client, "_server_metadata_url",
                        f"http://127.0.0.1:{free_port()}/testbroker/bankid/.well-known/openid-configuration")
    monkeypatch.setattr(client, "server_metadata",
                        {k: v for k, v in client.server_metadata.items() if k != "_loaded_at"})
    return page.goto("/inloggning/bankid")


# reason -> (how a user gets there, the page's HTTP status)
REACH: dict[str, tuple[Callable, int]] = {
    "under_16": (lambda page, live, mp: at_the_broker_choose(page, "bankid", CHILD), 403),
    "invalid_personnummer": (lambda page, live, mp: at_the_broker_choose(page, "bankid", other="198503149829"), 403),
    "cancelled": (lambda page, live, mp: at_the_broker_choose(page, "bankid", ORDINARY, action="cancel"), 403),
    "assurance": (with_fault(acr="http://id.elegnamnden.se/loa/1.0/loa2"), 403),
    "broker_unavailable": (broker_unreachable, 503),
    "unknown_user": (lambda page, live, mp: at_the_broker_choose(page, "siths", other="TSTNMT2321000156-OKAND"),
                     403),
    "no_commission": (lambda page, live, mp: at_the_broker_choose(page, "siths", demo.hsa("N001")), 403),
    "no_role": (lambda page, live, mp: at_the_broker_choose(page, "siths", demo.hsa("S001")), 403),
    # a login to the staff statistics by someone with no "Statistik" commission and no statistics system role
    "no_statistics_commission": (lambda page, live, mp: at_the_broker_choose(page, "siths?tjanst=statistik",
                                                                             demo.hsa("L002")), 403),
    # a callback whose state is not the login's in progress (a forged or replayed address)
    "state": (lambda page, live, mp: callback(page, "bankid", lambda s: f"code=abc&state={s}x"), 400),
    # the broker answers with an error of its own for this very login
    "broker_error": (lambda page, live, mp: callback(page, "bankid", lambda s: f"error=server_error&state={s}"),
                     403),
    # a code the broker never issued: the token request is refused
    "token_exchange": (lambda page, live, mp: callback(page, "bankid", lambda s: f"code=not-a-code&state={s}"),
                       403),
    # an ID token for another login (its nonce is not this login's)
    "token_invalid": (with_fault(nonce="not-the-nonce"), 403),
}

FAILED = {"sv": "Inloggningen misslyckades", "en": "The login failed"}
HEADINGS: dict[str, dict[str, str]] = {
    "under_16": {"sv": "Du som är under 16 har inte tillgång till Mina intyg",
                 "en": "If you are under 16 you do not have access to My certificates"},
    "invalid_personnummer": {"sv": "Inloggningen gav inget giltigt personnummer",
                             "en": "The login gave no valid personal identity number"},
    "cancelled": {"sv": "Inloggningen avbröts", "en": "The login was cancelled"},
    "assurance": {"sv": "Inloggningsmetoden räcker inte", "en": "The login method is not enough"},
    "broker_unavailable": {"sv": "Inloggningstjänsten svarar inte", "en": "The login service does not answer"},
    "unknown_user": {"sv": "Vi hittar dig inte i HSA-katalogen", "en": "We cannot find you in the HSA directory"},
    "no_commission": {"sv": "Du saknar medarbetaruppdrag", "en": "You have no commission"},
    "no_role": {"sv": "Du har inte behörighet till Rehabstöd", "en": "You do not have access to Rehabstöd"},
    "no_statistics_commission": {"sv": "Du har inte behörighet till verksamhetsstatistik",
                                 "en": "You do not have access to the care statistics"},
    "state": FAILED, "broker_error": FAILED, "token_exchange": FAILED, "token_invalid": FAILED,
}
ERROR_ID = {"sv": r"Fel-id: ([0-9A-F]{8})\.", "en": r"Error id: ([0-9A-F]{8})\."}
START = {"sv": "Gå till startsidan", "en": "Go to the start page"}


def test_every_refusal_reason_is_reached_here():
    in_code = reasons_in_code()
    # the scan finds what it should (a broken scan would make the check below pass on nothing)
    assert {"state", "token_invalid", "under_16", "no_role", "broker_unavailable"} <= set(in_code)
    missing = {r: where for r, where in in_code.items() if r not in REACH}
    assert not missing, f"refusal reasons with no accessibility check in accessibility/test_states.py: {missing}"
    assert reasons_on_the_page() <= set(REACH), reasons_on_the_page() - set(REACH)
    assert set(REACH) == set(HEADINGS) == set(all_reasons()), set(REACH) ^ set(all_reasons())
    # each reason with words of its own on the page is expected with them, the others with the general words
    for reason, heading in HEADINGS.items():
        assert (heading is FAILED) == (reason not in reasons_on_the_page()), reason


def test_the_scan_sees_a_new_reason(tmp_path):
    new = tmp_path / "new.py"
    new.write_text("def f():\n    raise LoginRefused('new_reason', 'x')\n"
                   "def g():\n    return refused('other_reason')\n"
                   "def new_refusal(x):\n    if x:\n        return 'third_reason'\n    return 'a' if x else 'b'\n")
    assert set(reasons_in_code([new])) == {"new_reason", "other_reason", "third_reason", "a", "b"}


@pytest.mark.parametrize("reason", all_reasons())
def test_each_refusal_page_has_its_heading_and_passes_axe(browser, live, lang, reason, caplog, monkeypatch):
    assert reason in REACH, f"no way to reach the refusal {reason!r}: add it to REACH"
    reach, status = REACH[reason]
    caplog.set_level(logging.INFO, logger="portal.auth")
    context = new_context(browser, live.url, lang=lang)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        response = reach(page, live, monkeypatch)
        assert response is not None and response.status == status, (reason, response and response.status)
        assert "/testbroker/" not in page.url, page.url  # the portal's page, not the broker's
        heading = page.get_by_role("heading", level=1)
        assert heading.count() == 1 and heading.inner_text() == HEADINGS[reason][lang]
        assert page.title().startswith(HEADINGS[reason][lang])
        assert page.locator("html").get_attribute("lang") == lang
        # the page names its error id, and the log line with that id names this reason
        eid = re.search(ERROR_ID[lang], page.locator("main").inner_text())
        assert eid, page.locator("main").inner_text()
        logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("login refused")]
        assert any(f"reason={reason} id={eid.group(1)}" in m for m in logged), logged
        assert page.get_by_role("link", name=START[lang]).get_attribute("href") == "/"
        found = crawl.violations(page)
        assert found == [], crawl.describe(found)
        if lang == "sv":  # and the checks beyond axe (accessibility/checks.py), once a page
            beyond = {name: problems for name, problems in checks.run_all(page).items() if problems}
            assert beyond == {}, beyond
        status_now = page.evaluate("() => fetch('/session/status').then(r => r.json())")
        assert status_now["logged_in"] is False  # a refusal leaves no one logged in
        activate(page, START[lang])  # and the way on, by keyboard
        assert urlsplit(page.url).path == "/" and page.locator("html").get_attribute("lang") == lang
    finally:
        context.close()
