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
    "main.ready": "JSON readiness check",
    "metrics": "Prometheus metrics, plain text for loopback or a token (tests/integration/test_observability.py)",
    "main.language": "redirects back to the page it came from (covered: every page is crawled in both languages)",
    "auth.login": "redirects to the broker (its login page is crawled as testbroker.authorize)",
    "auth.callback": "the end of a login; its refusal pages are checked in accessibility/test_states.py",
    "auth.session_status": "JSON for the idle-timeout script",
    "testbroker.discovery": "JSON discovery document",
    "testbroker.jwks": "JSON key set",
    "citizen.download": "PDF files (their text is checked in tests/integration/test_pdf.py and e2e)",
    "rehab.patient": "reached through the list with a session-bound token; axe-checked in e2e/test_rehabstod.py",
    "rehab.certificate": "reached through the patient view; axe-checked in e2e/test_rehabstod.py",
    "rehab.ask_question": "the form to ask FK, reached from a certificate or question page with a session-bound "
                          "token; axe-checked in each state (form, errors, refusal) in e2e/test_fk_conversation.py",
    "rehab.ongoing_pdf": "a PDF file (tested in "
                         "tests/integration/test_rehab_exports.py and e2e/test_rehab_exports.py)",
    "rehab.ongoing_xlsx": "an Excel file (tested in "
                          "tests/integration/test_rehab_exports.py and e2e/test_rehab_exports.py)",
    "rehab.lakarutlatanden_pdf": "a PDF file (tested in "
                                 "tests/integration/test_rehab_exports.py and e2e/test_rehab_exports.py)",
    "rehab.lakarutlatanden_xlsx": "an Excel file (tested in "
                                  "tests/integration/test_rehab_exports.py and e2e/test_rehab_exports.py)",
    "rehab.export_file": "a background export's file (tested in tests/integration/test_export_jobs.py and "
                         "e2e/test_export_jobs.py); its progress page rehab.export_job is crawled in each state",
    "api.openapi_document": "the API's OpenAPI document, JSON (tested in tests/unit/test_openapi.py and fuzzed in "
                            "tests/integration/test_api_fuzz.py); its reference page api.reference is crawled",
    "api.certificate_status": "JSON for API clients with a token (tests/integration/test_api.py)",
    "testbroker.api_metadata": "JSON authorization server metadata",
    "testbroker.api_jwks": "JSON key set",
    "employer.pdf_file": "a PDF file (tested in tests/integration/test_shares.py and e2e/test_shares.py)",
    "statistics.national_xlsx": "an Excel file (tested in tests/integration/test_statistics.py)",
    "statistics.staff_xlsx": "an Excel file (tested in tests/integration/test_statistics.py)",
    "statistics.staff_region_example": "an Excel file (tested in tests/integration/test_region_upload.py)",
    "main.feedback_receipt": "a report's receipt, shown only to the browser that sent it; axe-checked in "
                             "e2e/test_feedback.py",
}

# who to log in as for the pages of an area (endpoint prefix -> demo identities)
AREA_USERS: dict[str, tuple[str, ...]] = {
    "citizen.": ("citizen",),
    "rehab.": ("doctor", "coordinator"),
    "auth.choose_unit": ("doctor",),
    "statistics.staff": ("statistician",),
}

# endpoint -> function(app) returning a list of (url-values, as_user) examples
def _module_examples(module: str, endpoint: str) -> Callable[[Flask], list[tuple[dict, str | None]]]:
    """Examples a dev-only module gives itself (the test broker, the recipient simulator)."""
    def examples(app: Flask) -> list[tuple[dict, str | None]]:
        import importlib

        return [(values, None) for e, values in importlib.import_module(module).a11y_examples(app) if e == endpoint]

    return examples


def _citizen_certificates(app: Flask) -> list[tuple[dict, str | None]]:
    """The crawl citizen's certificates: one of each type they have, and a replaced one."""
    from portal import db
    from portal.domain import certificates as rules
    from portal.repository import certificates as store

    pnr = login_identities()["citizen"][1]
    registry = app.extensions["certificate_types"]
    with app.app_context():
        certs = [c for c in store.for_patient(db.session(), pnr) if rules.visible_to_citizen(registry, c)]
    picked: dict[str, str] = {}
    for c in certs:
        picked.setdefault(c.type_code, c.id)
        if c.replaced_by:
            picked.setdefault("replaced", c.id)
    return [({"certificate_id": cid}, "citizen") for cid in picked.values()]


def _citizen_sendable(app: Flask) -> list[tuple[dict, str | None]]:
    from portal import db
    from portal.repository import certificates as store

    pnr = login_identities()["citizen"][1]
    registry = app.extensions["certificate_types"]
    with app.app_context():
        certs = store.for_patient(db.session(), pnr)
    out = []
    for code in ("FK7804", "TSTRK1007", "AG7804"):
        cert = next((c for c in certs if c.type_code == code and not c.replaced_by and c.revoked_at is None
                     and not c.sends), None)
        if cert and registry[code]:
            out.append(({"certificate_id": cert.id}, "citizen"))
    return out


def _rehab_questions(app: Flask) -> list[tuple[dict, str | None]]:
    """FK question pages in each state, for the crawl's coordinator and doctor (portal.rehab.questions)."""
    from accessibility import rehab_examples as questions
    from portal.domain import demo

    ids = login_identities()
    return questions.a11y_examples(app, (ids["coordinator"][1], demo.hsa("VE10")), (ids["doctor"][1], ids["doctor"][2]))


#: run after each login of the crawl (the page, who): pages bound to the login session are handed to it here
AFTER_LOGIN: dict[str, Callable[[object, str], None]] = {}


def _export_jobs(app: Flask) -> list[tuple[dict, str | None]]:
    """A background export's progress page, pending, done and failed, for the crawl's coordinator and doctor
    (accessibility/export_examples.py; each login gets the jobs, which only their own login session sees)."""
    from accessibility import export_examples
    from portal.domain import demo

    ids = login_identities()
    users = {"coordinator": (ids["coordinator"][1], demo.hsa("VE10")), "doctor": (ids["doctor"][1], ids["doctor"][2])}
    # one hand-over per app: it acts only on a browser logged in to that app's server (its PUBLIC_BASE_URL)
    AFTER_LOGIN[f"rehab.export_job {app.config['PUBLIC_BASE_URL']}"] = (
        lambda page, who: export_examples.give_to_login(app, page, who))
    return list(export_examples.a11y_examples(app, users))


def _citizen_shareable(app: Flask) -> list[tuple[dict, str | None]]:
    """The share form (its first step) for the crawl citizen's shareable certificates: AG7804, AG1-14, FK7804."""
    from accessibility import share_examples

    return [({"certificate_id": cid}, "citizen")
            for cid in share_examples.citizen_shareable(app, login_identities()["citizen"][1])]


def _share_details(app: Flask) -> list[tuple[dict, str | None]]:
    """The crawl citizen's page for a share link in each state: active with a code and openings, active without,
    active but no longer showable, withdrawn, expired, locked (accessibility/share_examples.py)."""
    from accessibility import share_examples

    made = share_examples.ensure(app, login_identities()["citizen"][1])
    return [({"share_id": e.share_id}, "citizen") for e in made.values() if e.citizen]


def _employer_views(app: Flask) -> list[tuple[dict, str | None]]:
    """The employer's page (anonymous) for the links that open: the code form, the copy with and without the
    diagnosis, the periods-only copy, a replaced certificate's copy. The links that do not open (withdrawn,
    expired, ended: 410; locked: 403) are axe-checked in e2e/test_shares.py, as the crawl wants a 2xx."""
    from accessibility import share_examples
    from portal.domain import sharing

    made = share_examples.ensure(app, login_identities()["citizen"][1])
    return [({"token": e.token}, None) for e in made.values() if e.state == sharing.ACTIVE]


EXAMPLES: dict[str, Callable[[Flask], list[tuple[dict, str | None]]]] = {
    "citizen.read": _citizen_certificates,
    "citizen.send": _citizen_sendable,
    "main.certificate_type": lambda app: [({"code": code}, None)
                                          for code in app.extensions["certificate_types"].codes()],
    "testbroker.authorize": _module_examples("portal.testbroker", "testbroker.authorize"),
    "testbroker.logout": _module_examples("portal.testbroker", "testbroker.logout"),
    "recipient_sim.index": _module_examples("portal.recipient_sim", "recipient_sim.index"),
    "rehab.question": _rehab_questions,
    "rehab.export_job": _export_jobs,
    # the staff statistics: a care provider's split by unit (system role), a unit's new and ended cases with the
    # comparison (commission "Statistik"); the other reports are the national pages' template with other figures
    "statistics.staff_report": lambda app: [
        ({"kind": "vardgivare", "scope_id": __import__("portal.domain.demo", fromlist=["hsa"]).hsa("VG1"),
          "report_id": "enheter"}, "statistician"),
        ({"kind": "enhet", "scope_id": __import__("portal.domain.demo", fromlist=["hsa"]).hsa("VE10"),
          "report_id": "inflode-utflode", "jamfor": "1"}, "unit_statistician")],
    # one report of each shape (a split with totals, the chapters with a filter and the comparison, the flows
    # without month totals, a monthly count table, the share table); the others differ only in their figures
    "statistics.national": lambda app: [
        ({"report_id": "sjukfall"}, None), ({"report_id": "diagnoskapitel", "jamfor": "1", "grad": "100"}, None),
        ({"report_id": "inflode-utflode"}, None), ({"report_id": "fragor"}, None),
        ({"report_id": "komplettering"}, None)],
    # the region upload page of the care provider whose statistician T002 is (no file yet: the form alone)
    "statistics.staff_region": lambda app: [
        ({"provider_id": __import__("portal.domain.demo", fromlist=["hsa"]).hsa("VG1")}, "statistician")],
    "citizen.share": _citizen_shareable,
    "citizen.share_detail": _share_details,
    "employer.view": _employer_views,
    # every help topic (portal/help), public
    "help.topic": lambda app: [({"topic": t.slug}, None)
                               for t in __import__("portal.help", fromlist=["TOPICS"]).TOPICS],
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
            users = next((u for prefix, u in AREA_USERS.items() if rule.endpoint.startswith(prefix)), (None,))
            if rule.arguments:
                example = EXAMPLES.get(rule.endpoint)
                if example is None:
                    missing.append(f"{rule.endpoint} ({rule.rule})")
                    continue
                for values, who in example(app):
                    for user in ((who,) if who else users):
                        found.append(Page(rule.endpoint, url_for(rule.endpoint, **values), user))
            else:
                for user in users:
                    found.append(Page(rule.endpoint, url_for(rule.endpoint), user))
    if missing:
        raise MissingExample(
            "These routes take arguments and have no accessibility example; add one to accessibility/crawl.py "
            "EXAMPLES (or a reason to NOT_PAGES): " + ", ".join(missing))
    return found


# the demo identities the crawl logs in as (broker, identity, unit to choose)
def login_identities() -> dict[str, tuple[str, str, str | None]]:
    from portal.domain import demo

    return {
        "citizen": ("bankid", demo.make_pnr(__import__("datetime").date(1985, 3, 14), 982), None),
        "doctor": ("siths", demo.hsa("L001"), demo.hsa("VE10")),
        "coordinator": ("siths", demo.hsa("R001"), None),
        # the staff statistics: the care provider's system role (T002) and a unit's "Statistik" commission (T001)
        "statistician": ("siths?tjanst=statistik", demo.hsa("T002"), None),
        "unit_statistician": ("siths?tjanst=statistik", demo.hsa("T001"), None),
    }


def login(page, who: str) -> None:
    """Log in through the test broker's page as one of the crawl's identities."""
    broker, identity, unit = login_identities()[who]
    keep = [c for c in page.context.cookies() if c["name"] == "lang"]
    page.context.clear_cookies()  # start from a fresh session, whoever was logged in before
    if keep:
        page.context.add_cookies(keep)
    page.goto(f"/inloggning/{broker}")
    page.locator(f"input[name=identity][value='{identity}']").check()
    page.locator("button[name=action][value=login]").click()
    page.wait_for_load_state()
    if unit and "/valj-vardenhet" in page.url:
        page.locator(f"input[name=unit][value='{unit}']").check()
        page.locator("form[action='/valj-vardenhet'] button[type=submit]").click()
        page.wait_for_load_state()
    for hand_over in AFTER_LOGIN.values():
        hand_over(page, who)


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
