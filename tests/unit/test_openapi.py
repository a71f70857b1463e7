"""The OpenAPI 3.1 document of the certificate store's API (portal.api.openapi): a valid document, the
contract exactly (operations, scopes, bodies, responses, problem types), real request bodies built from the
demo data valid against it, wrong ones refused, and a type added as a file showing up with no code change.
"""
from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from portal.api.openapi import DEFAULT_TOKEN_URL, document, problem_type
from portal.domain import certificate_types as ct
from portal.domain import demo
from portal.domain.json_schema import content_schema

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SCOPES = {"certificates.register", "certificates.revoke", "certificates.sent", "certificates.status",
          "questions.deliver"}
# operationId -> (method, path, scope, response statuses), exactly as the API contract says
OPERATIONS = {
    "registerCertificate": ("post", "/certificates", "certificates.register",
                            {201, 200, 400, 401, 403, 409, 413, 415, 422, 429}),
    "revokeCertificate": ("put", "/certificates/{certificate_id}/revocation", "certificates.revoke",
                          {201, 200, 400, 401, 403, 404, 409, 413, 415, 422, 429}),
    "recordSentByCare": ("put", "/certificates/{certificate_id}/sent/{recipient}", "certificates.sent",
                         {201, 200, 400, 401, 403, 404, 409, 413, 415, 422, 429}),
    "getCertificateStatus": ("get", "/certificates/{certificate_id}", "certificates.status",
                             {200, 401, 403, 404, 429}),
    "deliverQuestion": ("post", "/questions", "questions.deliver",
                        {201, 200, 400, 401, 403, 409, 413, 415, 422, 429}),
}
QUESTION_FIELDS = ("id", "certificate", "subject", "heading", "text", "sent", "last_answer_date", "reminder_of",
                   "in_reply_to")
PROBLEM_NAMES = {"invalid-json": 400, "unauthorized": 401, "forbidden": 403, "not-found": 404,
                 "method-not-allowed": 405, "conflict": 409, "too-large": 413, "unsupported-media-type": 415,
                 "invalid": 422, "rate-limited": 429, "server-error": 500, "unavailable": 503}


@pytest.fixture(scope="module")
def registry() -> ct.Registry:
    return ct.load_registry()


@pytest.fixture(scope="module")
def spec(registry) -> dict[str, Any]:
    return document(registry)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def validator_for(spec: dict[str, Any], schema_name: str) -> Draft202012Validator:
    """A validator for one of the document's schemas, its $refs resolved within the document."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": spec["components"],
            "$ref": f"#/components/schemas/{schema_name}"}
    return Draft202012Validator(root)


# --- a valid OpenAPI 3.1 document ------------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    assert (spec["info"]["title"], spec["info"]["version"]) == ("Intygsportalen API", "1.0.0")
    assert spec["servers"] == [{"url": "/api/v1"}]
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not installed: check what it would check that matters here
        validate = None
    if validate is not None:
        validate(json.loads(json.dumps(spec)))
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for ref in refs(spec):
        resolve(spec, ref)  # every reference points into the document
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)) == 6
    for path, _, op in operations(spec):
        names = {(resolve(spec, p["$ref"]) if "$ref" in p else p)["name"] for p in op.get("parameters", [])}
        assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
        assert op["responses"] and all(r["description"] for r in op["responses"].values())


def test_the_document_is_json_deterministic_and_quick_to_build(registry, spec):
    text = json.dumps(spec, ensure_ascii=False)
    assert json.dumps(document(registry), ensure_ascii=False) == text
    started = time.perf_counter()
    document(registry)
    assert time.perf_counter() - started < 0.1


def test_the_server_url_and_token_url_are_the_callers(registry, spec):
    other = document(registry, server_url="https://intyg.example/api/v1", token_url="https://idp.example/token")
    assert other["servers"] == [{"url": "https://intyg.example/api/v1"}]
    assert other["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == (
        "https://idp.example/token")
    token_url = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"]
    assert token_url == DEFAULT_TOKEN_URL == "/testbroker/api/token"


def test_the_info_states_idempotency_and_the_limits(spec):
    description = spec["info"]["description"]
    for words in ("same id with the same body", "200", "unchanged", "409", "256 KB", "32 levels",
                  "application/json", "rate limit"):
        assert words in description, words


# --- security ---------------------------------------------------------------------------------------------

def test_oauth2_client_credentials_with_the_five_scopes(spec):
    scheme = spec["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2" and list(scheme["flows"]) == ["clientCredentials"]
    scopes = scheme["flows"]["clientCredentials"]["scopes"]
    assert set(scopes) == SCOPES
    assert "Försäkringskassan" in scopes["questions.deliver"] and "revoke" in scopes["certificates.revoke"]


def test_every_operation_has_its_scope_and_its_error_responses(spec):
    found = {op["operationId"]: (method, path, op) for path, method, op in operations(spec)}
    for operation_id, (method, path, scope, statuses) in OPERATIONS.items():
        got_method, got_path, op = found[operation_id]
        assert (got_method, got_path) == (method, path)
        assert op["security"] == [{"oauth2": [scope]}]
        assert {int(s) for s in op["responses"]} == statuses, operation_id
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["description"]
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}
        for status in ("401", "403"):
            assert "WWW-Authenticate" in op["responses"][status]["headers"]
        assert op["responses"]["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_the_openapi_document_itself_needs_no_token(spec):
    op = spec["paths"]["/openapi.json"]["get"]
    assert op["security"] == [] and op["operationId"] and "200" in op["responses"]


def test_writes_answer_a_receipt_and_register_gives_a_location(spec):
    for operation_id in ("registerCertificate", "revokeCertificate", "recordSentByCare", "deliverQuestion"):
        method, path, _, _ = OPERATIONS[operation_id]
        responses = spec["paths"][path][method]["responses"]
        for status in ("200", "201"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Receipt"}
    assert "Location" in spec["paths"]["/certificates"]["post"]["responses"]["201"]["headers"]
    receipt = spec["components"]["schemas"]["Receipt"]
    assert receipt["properties"]["result"]["enum"] == ["created", "unchanged"]
    assert receipt["required"] == ["id", "result"]


# --- problem types ------------------------------------------------------------------------------------------

def test_the_problem_types_are_listed_in_the_info_with_their_statuses(spec):
    listed = spec["info"]["x-problem-types"]
    assert {p["name"]: p["status"] for p in listed} == PROBLEM_NAMES
    assert all(set(p) == {"name", "status", "title", "description"} and p["title"] and p["description"]
               for p in listed)
    assert problem_type(422).uri == "/api/v1/docs#problem-invalid"


def test_the_problem_titles_are_those_the_api_sends(spec):
    problems = pytest.importorskip("portal.api.problems")
    for p in spec["info"]["x-problem-types"]:
        assert problems.TITLES[p["name"]] == (p["status"], p["title"])


def test_every_error_status_an_operation_lists_has_a_problem_type(spec):
    statuses = {p["status"] for p in spec["info"]["x-problem-types"]}
    for _, _, op in operations(spec):
        assert {int(s) for s in op["responses"] if int(s) >= 400} <= statuses


def test_the_problem_schema_is_rfc_9457_with_pointers(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status"]
    assert problem["properties"]["type"]["format"] == "uri-reference"
    assert problem["properties"]["errors"]["items"]["required"] == ["pointer", "detail"]
    validator = validator_for(spec, "Problem")
    for example in problem["examples"]:
        validator.validate(example)


# --- request bodies ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_doc(registry) -> dict[str, Any]:
    return demo.small(today=date(2026, 11, 23), seed=20261123, registry=registry)


def register_body(doc: dict[str, Any], cert: dict[str, Any]) -> dict[str, Any]:
    """A registerCertificate body for a demo certificate, from the demo's staff, unit and provider."""
    staff = next(s for s in doc["staff"] if s["hsa_id"] == cert["staff"])
    unit = next(u for u in doc["units"] if u["hsa_id"] == cert["unit"])
    provider = next(p for p in doc["providers"] if p["hsa_id"] == unit["provider"])
    return {
        "id": cert["id"], "type": cert["type"], "version": cert["version"], "patient": cert["patient"],
        "signed": cert["signed"],
        "issuer": {k: staff[k] for k in ("hsa_id", "given_name", "family_name", "title")},
        "unit": {k: unit[k] for k in ("hsa_id", "name", "address", "postal_code", "city", "phone")},
        "provider": provider,
        "content": cert["content"],
    }


def test_every_demo_certificate_as_a_register_body_is_valid(spec, demo_doc, registry):
    validator = validator_for(spec, "RegisterCertificate")
    first: dict[str, dict[str, Any]] = {}
    for cert in demo_doc["certificates"]:
        first.setdefault(cert["type"], cert)
    assert set(first) == set(registry.codes())
    for cert in demo_doc["certificates"]:
        body = register_body(demo_doc, cert)
        assert list(validator.iter_errors(body)) == [], cert["id"]
    relation = demo_doc["relations"][0]
    replacing = next(c for c in demo_doc["certificates"] if c["id"] == relation["from"])
    body = {**register_body(demo_doc, replacing), "relation": {"kind": relation["kind"], "certificate": relation["to"]}}
    assert list(validator.iter_errors(body)) == []


@pytest.mark.parametrize(("change", "why"), [
    ({"colour": "blå"}, "an unknown envelope field"),
    ({"patient": "19850314"}, "a patient that is no personnummer"),
    ({"id": "-starts-with-a-dash"}, "an id outside the pattern"),
    ({"signed": "2024-01-19 09:06"}, "a signing time that is not ISO 8601"),
    ({"type": "FK7210"}, "another type's code for this content"),
    ({"version": "0.1"}, "a version that is not the type's"),
    ({"issuer": {"hsa_id": "SE123"}}, "an issuer without names"),
    ({"relation": {"kind": "AMENDS", "certificate": "x"}}, "an unknown relation kind"),
])
def test_a_wrong_register_body_is_refused(spec, demo_doc, change, why):
    cert = next(c for c in demo_doc["certificates"] if c["type"] == "FK7804")
    body = {**register_body(demo_doc, cert), **change}
    assert list(validator_for(spec, "RegisterCertificate").iter_errors(body)), why


def test_a_register_body_missing_a_required_field_is_refused(spec, demo_doc):
    validator = validator_for(spec, "RegisterCertificate")
    cert = next(c for c in demo_doc["certificates"] if c["type"] == "DB")
    body = register_body(demo_doc, cert)
    for field in ("id", "type", "patient", "signed", "issuer", "unit", "provider", "content"):
        assert list(validator.iter_errors({k: v for k, v in body.items() if k != field})), field
    assert list(validator.iter_errors({k: v for k, v in body.items() if k != "version"})) == []


def test_revocation_sent_by_care_and_question_bodies(spec, demo_doc):
    revocation = demo_doc["revocations"][0]
    validator_for(spec, "Revocation").validate({"at": revocation["at"], "reason": revocation["reason"]})
    assert list(validator_for(spec, "Revocation").iter_errors({"at": revocation["at"]}))
    validator_for(spec, "SentByCare").validate({"at": "2026-11-23T10:15:00+01:00"})
    assert list(validator_for(spec, "SentByCare").iter_errors({"at": "2026-11-23T10:15", "by": "CARE"}))
    questions = validator_for(spec, "Question")
    bodies = [{k: v for k, v in q.items() if k in QUESTION_FIELDS} for q in demo_doc["questions"]]
    for body in bodies:
        assert list(questions.iter_errors(body)) == [], body["id"]
    question = bodies[0]
    assert list(questions.iter_errors({**question, "subject": "FRAGA"}))
    assert list(questions.iter_errors({**question, "sender": "FK"}))
    assert spec["paths"]["/certificates/{certificate_id}/sent/{recipient}"]["put"]["parameters"][1]["schema"][
        "enum"] == ["FK", "TS"]


def test_the_certificate_status_answer(spec):
    validator = validator_for(spec, "CertificateStatus")
    validator.validate({"id": "c-1", "type": "FK7804", "version": "2.0", "signed": "2026-11-23T09:00:00",
                        "revoked": None, "sent": [{"recipient": "FK", "at": "2026-11-23T09:20:00", "by": "CARE"}],
                        "replaced_by": []})
    validator.validate({"id": "c-1", "type": "FK7804", "version": "2.0", "signed": "2026-11-23T09:00:00",
                        "revoked": {"at": "2026-11-24T08:00:00", "reason": "Fel patient"}, "sent": [],
                        "replaced_by": ["c-2"]})
    assert list(validator.iter_errors({"id": "c-1"}))


# --- one schema and branch per type, also for a type added as a file ---------------------------------------

def test_each_type_has_a_content_schema_and_a_register_branch(spec, registry):
    schemas = spec["components"]["schemas"]
    register = schemas["RegisterCertificate"]
    assert len(register["oneOf"]) == len(registry.codes())
    for ctype in registry:
        suffix = ctype.code.replace("-", "_")
        expected = content_schema(ctype)
        del expected["$schema"]
        assert schemas[f"Content_{suffix}"] == expected
        branch = schemas[f"RegisterCertificate_{suffix}"]
        assert {"$ref": f"#/components/schemas/RegisterCertificate_{suffix}"} in register["oneOf"]
        assert branch["additionalProperties"] is False
        assert branch["properties"]["type"]["const"] == ctype.code
        assert branch["properties"]["version"]["const"] == ctype.version
        assert branch["properties"]["content"] == {"$ref": f"#/components/schemas/Content_{suffix}"}
        assert branch["required"] == ["id", "type", "patient", "signed", "issuer", "unit", "provider", "content"]
    assert "Content_AG1_14" in schemas


NEW_TYPE = textwrap.dedent("""\
    code: XX-9003
    version: "3.2"
    name: {sv: "Intyg om simförmåga", en: "Certificate of swimming ability"}
    sections:
      - id: bedomning
        title: {sv: "Bedömning", en: "Assessment"}
        questions:
          - id: can_swim
            label: {sv: "Kan patienten simma 200 meter?", en: "Can the patient swim 200 metres?"}
            kind: yes_no
            required: true
    """)


def test_a_type_added_as_a_file_appears_in_the_document_with_no_code_change(tmp_path, registry):
    (tmp_path / "xx9003.yaml").write_text(NEW_TYPE, encoding="utf-8")
    extended = ct.load_registry([tmp_path])
    spec = document(extended)
    schemas = spec["components"]["schemas"]
    assert {"$ref": "#/components/schemas/RegisterCertificate_XX_9003"} in schemas["RegisterCertificate"]["oneOf"]
    assert schemas["RegisterCertificate"]["discriminator"]["mapping"]["XX-9003"] == (
        "#/components/schemas/RegisterCertificate_XX_9003")
    assert schemas["Content_XX_9003"]["required"] == ["can_swim"]
    assert len(schemas["RegisterCertificate"]["oneOf"]) == len(registry.codes()) + 1
    body = {"id": "swim-1", "type": "XX-9003", "patient": "191212121212", "signed": "2026-11-23T09:00:00",
            "issuer": {"hsa_id": "SE1", "given_name": "Ada", "family_name": "Lind"},
            "unit": {"hsa_id": "SE2", "name": "Simhallen"}, "provider": {"hsa_id": "SE3", "name": "Regionen"},
            "content": {"can_swim": True}}
    validator = validator_for(spec, "RegisterCertificate")
    assert list(validator.iter_errors(body)) == []
    assert list(validator.iter_errors({**body, "content": {"can_swim": "ja"}}))
    assert list(validator.iter_errors({**body, "version": "3.1"}))
