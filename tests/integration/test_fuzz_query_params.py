"""Every GET route, taken from the app's URL map, fed bad query parameters and bad path parameters as a
logged-out visitor, a citizen and a rehab coordinator: the answer is never a 5xx (issue 12).

What is sent, a fixed set chosen to hit the parsing traps rather than thousands of random strings:
digits that are not ASCII (``"²".isdigit()`` is True but ``int("²")`` raises), numbers too big for
``int()``, empty and blank values, very long values, NUL and other control characters, invalid percent
encoding and encoded surrogates, repeated parameters, and unknown parameter names. Every parameter a
page knows gets the junk: the list models' filters, sort, order, personal-data switch and page, what the
views read from ``request.args`` (recorded while the test runs, so a new parameter is fuzzed without
being listed here), and the OpenID Connect parameters of the login routes.

A route with URL parameters is called with plausible values (the citizen's own certificate, a question
and a patient link of the coordinator's unit), and once per parameter with junk in its place. A new
route fails `test_every_get_route_has_values_for_its_url_parameters` until it has values here."""
from __future__ import annotations

import contextvars
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from flask import Request
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict

from conftest import NOW, session_login
from portal import db
from portal.domain import certificates as citizen_list
from portal.domain import demo as demo_data
from portal.domain import lakarutlatanden, ongoing
from portal.domain.list_model import PAGE_PARAM
from portal.models import Certificate, Message
from tests.integration.test_rehab_defects import token_for

VE10, COORDINATOR = demo_data.hsa("VE10"), demo_data.hsa("R001")

# --- the junk -------------------------------------------------------------------------------------------

#: values sent as every known parameter at once (already percent-encoded, so invalid encodings get through)
VALUES: dict[str, str] = {
    "superscript two": quote("²"),
    "arabic-indic one": quote("١"),
    "full-width digits": quote("１２"),
    "devanagari five": quote("५"),
    "huge number": "9" * 5000,  # more digits than int() accepts
    "seven digits": "1234567",
    "negative": "-1",
    "zero": "0",
    "decimal": "1.5",
    "exponent": "1e999",
    "nan": "NaN",
    "empty": "",
    "blank": "%20%20",
    "very long": "x" * 20_000,
    "NUL": "%00",
    "digit and NUL": "1%00",
    "control characters": "%01%1F%7F",
    "newline": "1%0A",
    "invalid UTF-8": "%FF%FE",
    "encoded surrogate": "%ED%A0%80",
    "lone percent": "%",
    "bad escape": "%zz",
    "full-width date": quote("２０２６-１１-２３"),
    "superscript in a date": quote("2026-11-2³"),
    "date out of range": "9999-99-99",
    "markup": quote("<script>alert(1)</script>"),
    "right-to-left override": quote("\u202e1"),
    "emoji": quote("😀"),
}
#: the ones sent to each parameter alone (so no other parameter's error answers first)
ALONE = ["superscript two", "arabic-indic one", "full-width digits", "huge number", "very long", "NUL",
         "encoded surrogate", "full-width date"]
#: the ones sent to the exports (which parse as their pages do)
FOR_EXPORTS = ["superscript two", "huge number", "NUL", "encoded surrogate"]
#: whole query strings
RAW_QUERIES = ["sida=1&sida=%C2%B2&sida=2", "%ED%A0%80=%ED%A0%80", "%", "=", "&&&", "=1&=2", "%00=1",
               quote("²") + "=1", "sida", "sida=%C2%B2&sida=%C2%B2", "a=" + "%25" * 5000]
#: values put in place of a URL parameter
PATH_VALUES = [quote("²"), "%00", "x" * 2000, "%ED%A0%80", "%FF", quote("١٢"), "..%2F..%2Fetc", "%20"]

#: parameters every route is fuzzed with, whether it reads them or not
COMMON = {PAGE_PARAM, "next", "sortera", "ordning", "lang"}
#: the OpenID Connect parameters the login routes and the test broker take
OIDC = {"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
        "code_challenge_method", "prompt", "acr_values", "code", "error", "error_description", "id_token_hint",
        "post_logout_redirect_uri", "login_hint", "max_age", "ui_locales"}


def _model_params(model) -> set[str]:
    return {f.param for f in model.fields} | model.not_filters | {PAGE_PARAM}


#: the parameters each page declares, by endpoint (more are added from what the views read)
DECLARED: dict[str, set[str]] = {
    "citizen.start": _model_params(citizen_list.MODEL),
    "citizen.archived": _model_params(citizen_list.MODEL),
    **{f"rehab.ongoing{s}": _model_params(ongoing.MODEL) for s in ("", "_pdf", "_xlsx")},
    **{f"rehab.lakarutlatanden{s}": _model_params(lakarutlatanden.MODEL) for s in ("", "_pdf", "_xlsx")},
    "rehab.questions": {"amne"},
    "rehab.patient": {"flik"},
    "main.language": {"next"},
    "auth.callback": OIDC,
    **{f"testbroker.{e}": OIDC for e in ("authorize", "logout", "discovery", "jwks")},
}

# --- which parameters the views read ---------------------------------------------------------------------

_read: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("read_params", default=None)


class _RecordingArgs(ImmutableMultiDict):
    """``request.args`` that notes each name a view asks for."""

    def _note(self, key) -> None:
        seen = _read.get()
        if seen is not None and isinstance(key, str):
            seen.add(key)

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        self._note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # noqa: A002
        self._note(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self._note(key)
        return super().__contains__(key)


class _RecordingRequest(Request):
    parameter_storage_class = _RecordingArgs


# --- the routes and their URL parameters ---------------------------------------------------------------

SESSIONS = ("logged-out", "citizen", "coordinator")
#: the blueprints whose pages depend on who is logged in; the others (the API, the test broker, the recipient
#: simulator, static files) are fuzzed logged out only
PER_USER = {"main", "auth", "citizen", "rehab"}


def _world(app) -> dict[str, str]:
    """Plausible values for URL parameters: the citizen's own certificate, one of the unit's questions and
    ongoing patients."""
    citizen = demo_data.demo_citizens(NOW.date())[0].personnummer
    with db.new_session(app) as s:
        own = s.scalars(select(Certificate.id).where(Certificate.patient_pnr == citizen,
                                                     Certificate.type_code == "FK7804",
                                                     Certificate.revoked_at.is_(None))).first()
        question = s.scalars(select(Message.id).where(Message.unit_id == VE10, Message.sender == "FK")).first()
        patient = s.scalars(select(Certificate).where(
            Certificate.unit_id == VE10, Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None),
            Certificate.sick_leave_end >= NOW.date() - timedelta(days=1))).first()
    assert own and question and patient
    return {"citizen": citizen, "certificate_id": own, "question_id": question, "patient": patient.patient_pnr,
            "patient_certificate": patient.id}


#: a URL parameter's plausible value, by name (or by endpoint and name); "token" is minted per login
URL_VALUES: dict[str, str] = {
    "broker": "bankid", "idp": "bankid", "recipient": "FK", "code": "sv", "variant": "full",
    "filename": "css/portal.css", "share_id": "1", "report_id": "sjukfall", "kind": "enhet",
    "scope_id": demo_data.hsa("VE10"), "provider_id": demo_data.hsa("VG1"), "topic": "skicka",
    "reference": "TG-2026-000001",
}
URL_VALUES_BY_ENDPOINT: dict[tuple[str, str], str] = {
    ("main.certificate_type", "code"): "FK7804",
}


#: a big export's progress page and file take the token of a job the coordinator's login session asked for
EXPORT_JOB_ROUTES = {"rehab.export_job", "rehab.export_file"}


def _export_job(app, client) -> str:
    """The token of a big export (made, so its file can be fetched) this client's login session asked for."""
    from portal.rehab.exports import build_due

    previous = app.config.get("EXPORT_INLINE_ROWS_XLSX")
    app.config["EXPORT_INLINE_ROWS_XLSX"] = 1  # this one export goes to the background
    try:
        location = client.get("/rehabstod/sjukfall/export.xlsx").headers["Location"]
    finally:
        if previous is None:
            app.config.pop("EXPORT_INLINE_ROWS_XLSX")
        else:
            app.config["EXPORT_INLINE_ROWS_XLSX"] = previous
    assert build_due(app) == "done"
    return location.rsplit("/", 1)[1]


def get_routes(app) -> list:
    return sorted((r for r in app.url_map.iter_rules() if "GET" in (r.methods or set())), key=lambda r: r.rule)


def _url_value(rule, name: str, world: dict[str, str], token: str | None) -> str:
    if name == "token":
        return token or "nope"
    if name == "certificate_id" and rule.endpoint == "rehab.certificate":
        return world["patient_certificate"]
    if name in world:
        return world[name]
    return URL_VALUES_BY_ENDPOINT.get((rule.endpoint, name), URL_VALUES.get(name, ""))


_PLACEHOLDER = re.compile(r"<(?:[^<>]*:)?(\w+)>")


def _path(rule, values: dict[str, str]) -> str:
    """The rule's path with these (already URL-safe) values in place of its parameters."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], rule.rule)


def test_every_get_route_has_values_for_its_url_parameters(demo):
    world = _world(demo)
    missing = [(r.endpoint, a) for r in get_routes(demo) for a in r.arguments
               if not _url_value(r, a, world, "token")]
    assert not missing, f"give these URL parameters a plausible value in {__name__}: {missing}"


def _client(app, who: str, world: dict[str, str]):
    client = app.test_client()
    if who == "citizen":
        session_login(client, app, "citizen", world["citizen"], name="Tolva Demosson")
    elif who == "coordinator":
        session_login(client, app, "staff", COORDINATOR, unit_id=VE10, role="REHABKOORDINATOR", name="Lena Forsberg")
    return client


#: the login routes fetch the broker's discovery document over HTTP, which the test client cannot serve:
#: their answer here is the 503 "the login service cannot be reached" (tests/integration/test_login.py
#: logs in against a live server)
BROKER_ROUTES = {"auth.login", "auth.callback"}


def _call(client, path: str, query: str, failures: list[str], who: str, seen: set[str] | None = None,
          tolerate: int | None = None) -> int:
    """One GET; a 5xx (but `tolerate`) or an exception is written down (with the query cut short)."""
    url = f"{path}?{query}" if query else path
    reset = _read.set(seen if seen is not None else set())
    try:
        status = client.get(url).status_code
    except Exception as err:  # the test app propagates exceptions: each is a 500 in production
        failures.append(f"{who} GET {url[:160]!r}: {type(err).__name__}: {str(err)[:160]}")
        return 500
    finally:
        _read.reset(reset)
    if status >= 500 and status != tolerate:
        failures.append(f"{who} GET {url[:160]!r}: {status}")
    return status


def _fuzz_route(app, rule, who: str, world: dict[str, str], failures: list[str]) -> int:
    """Every kind of junk for one route and one kind of user. Returns the number of requests."""
    client = _client(app, who, world)
    token = token_for(app, client, world["patient"], VE10) if who == "coordinator" else None
    if who == "coordinator" and rule.endpoint in EXPORT_JOB_ROUTES:
        token = _export_job(app, client)
    values = {a: _url_value(rule, a, world, token) for a in rule.arguments}
    path = _path(rule, values)
    tolerate = 503 if rule.endpoint in BROKER_ROUTES else None
    sent = 0

    def call(query: str, at: str = path, seen: set[str] | None = None) -> None:
        nonlocal sent
        sent += 1
        _call(client, at, query, failures, who, seen, tolerate)

    seen: set[str] = set()
    call("", seen=seen)  # the plain page: which parameters it reads
    own = sorted(DECLARED.get(rule.endpoint, set()) | seen)
    # the exports parse as their page does, and files are slow to make: a few values for them
    export = rule.endpoint.endswith(("_pdf", "_xlsx"))
    for name, value in VALUES.items():
        if not export or name in FOR_EXPORTS:
            call("&".join(f"{p}={value}" for p in sorted(set(own) | COMMON)))
    if not export:
        for p in own:
            for name in ALONE:
                call(f"{p}={VALUES[name]}")
            call(f"{p}=1&{p}={VALUES['superscript two']}&{p}=")
    for query in RAW_QUERIES[:3] if export else RAW_QUERIES:
        call(query)
    for name in rule.arguments:
        if name in ("idp", "recipient") or (name == "variant" and who != "citizen"):
            continue  # `any(...)` converters: junk is a 404 before any view (and a PDF per junk is slow)
        for junk in PATH_VALUES:
            call("", _path(rule, {**values, name: junk}))
    return sent


@pytest.mark.parametrize("who", SESSIONS)
def test_no_get_route_answers_bad_query_or_path_parameters_with_a_5xx(demo, who):
    demo.request_class = _RecordingRequest
    world = _world(demo)
    failures: list[str] = []
    routes = [r for r in get_routes(demo) if who == "logged-out" or r.endpoint.split(".")[0] in PER_USER]
    sent = sum(_fuzz_route(demo, rule, who, world, failures) for rule in routes)
    assert sent > 500  # the fuzzing reached every route
    assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures[:40])
