"""The API's OpenAPI document, fuzzed with schemathesis (property-based, Hypothesis): for every operation
it generates requests from the document (valid and invalid ones), sends them to the app with a token
that has every scope, and checks that no answer is a 5xx and that every answer conforms to the document
(status code, content type, headers, body schema). Bounded in examples so the suite stays fast; on SQLite
(the contract tests run on both databases)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import _clean, make_test_app
from portal import db
from portal.testbroker.api_issuer import default_clients
from tests.api_support import bearer, registration, token

EXAMPLES = 100
ALL_SCOPES = ["certificates.register", "certificates.revoke", "certificates.sent", "certificates.status",
              "questions.deliver"]
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance)


@pytest.fixture
def fuzz_app(sqlite_url):
    clients = default_clients() + [{"client_id": "fuzz", "client_secret": "fuzz-secret", "scopes": ALL_SCOPES}]
    app = make_test_app(sqlite_url, TEST_BROKER_API_CLIENTS=clients)
    _clean(db.get_engine(app))
    yield app
    db.get_engine(app).dispose()


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


OPERATIONS = [("POST", "/certificates"), ("PUT", "/certificates/{certificate_id}/revocation"),
              ("PUT", "/certificates/{certificate_id}/sent/{recipient}"), ("GET", "/certificates/{certificate_id}"),
              ("POST", "/questions"), ("GET", "/openapi.json")]


def _fuzz_token(app) -> dict:
    import tests.api_support as support

    support.SECRETS.setdefault("fuzz", "fuzz-secret")
    client = app.test_client()
    headers = bearer(token(client, "fuzz"))
    # something to find: a certificate of the fuzz client's own, so status/revoke/sent reach their checks
    from datetime import datetime

    client.post("/api/v1/certificates", json=registration("a", datetime(2026, 11, 20, 10)), headers=headers)
    return headers


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_conforms_to_the_document_and_none_is_a_5xx(api_schema, fuzz_app, method, path, mode):
    """(schemathesis' own pytest plugin does not work with pytest 9, so Hypothesis drives its strategy.)"""
    if path == "/openapi.json" and mode == GenerationMode.NEGATIVE:
        pytest.skip("the document takes no input to get wrong")
    operation = api_schema[path][method]
    # schemathesis's WSGI transport hands the body over as sent, without undoing a Content-Encoding: ask for
    # none (compression itself is tested in tests/integration/test_wire.py)
    headers = {**_fuzz_token(fuzz_app), "Accept-Encoding": "identity"}
    strategy = operation.as_strategy(mode)
    if "{certificate_id}" in path:  # half the time the fuzz client's own certificate, to get past the 404
        strategy = st.one_of(strategy, operation.as_strategy(mode, path_parameters={"certificate_id": "a"}))
    seen: list[int] = []

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def fuzz(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        seen.append(response.status_code)

    fuzz()
    assert seen and all(status < 500 for status in seen)


def test_the_fuzzer_reaches_every_operation(api_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found >= set(OPERATIONS) - {("GET", "/openapi.json")}
