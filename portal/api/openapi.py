"""The OpenAPI 3.1 document of the certificate store's API, generated from the certificate types.

The envelopes (the certificate around its content, revocations, "sent by care", FK's questions, receipts
and problems) are fixed here; each certificate type adds a `Content_<code>` schema (its content schema from
`portal.domain.json_schema`) and a `RegisterCertificate_<code>` branch of the register body's `oneOf`. So a
new type file gives a new schema and branch with no code change. Pure: no Flask, no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.domain import api_contract, counties
from portal.domain.api_contract import QUESTIONS, REGISTER, REVOKE, SCOPES, SENT, STATUS
from portal.domain.certificate_types import CertificateType, Registry
from portal.domain.json_schema import DATE, content_schema

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
DEFAULT_TOKEN_URL = "/testbroker/api/token"
ID_PATTERN = api_contract.ID_PATTERN.pattern  # ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$
PERSONNUMMER_PATTERN = "^[0-9]{8}-?[0-9]{4}$"
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                     r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
PROBLEM_TYPE_BASE = "/api/v1/docs#problem-"
MAX_BODY_KB = 256
MAX_NESTING = 32
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """One RFC 9457 problem type the API answers with; its URI is PROBLEM_TYPE_BASE + name."""
    name: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.name


PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType("invalid-json", 400, "The body is not valid JSON",
                f"The request body is not well-formed UTF-8 JSON, or it is nested more than {MAX_NESTING} levels "
                "deep."),
    ProblemType("unauthorized", 401, "A valid access token is needed",
                "The access token is missing, expired or not valid. The WWW-Authenticate header says why."),
    ProblemType("forbidden", 403, "The token does not allow this",
                "The access token lacks the scope this operation needs. The WWW-Authenticate header names the "
                "scope (error=\"insufficient_scope\")."),
    ProblemType("not-found", 404, "Not found",
                "There is no certificate with this id that this client registered, or no such path."),
    ProblemType("method-not-allowed", 405, "Method not allowed",
                "The path exists but not with this HTTP method. The Allow header lists the methods it takes."),
    ProblemType("conflict", 409, "Conflicts with what is stored",
                "The id is already used with another body. Sending the same id with the same body again is safe "
                "and answers 200."),
    ProblemType("too-large", 413, "The request is too large", f"The request body is larger than {MAX_BODY_KB} KB."),
    ProblemType("unsupported-media-type", 415, "The body must be application/json",
                f"The request body is not sent with the content type {JSON}."),
    ProblemType("invalid", 422, "The request has problems",
                "The body is JSON but breaks the schema or the certificate type's rules. The errors member lists "
                "every problem, each with a JSON pointer into the request body."),
    ProblemType("rate-limited", 429, "Too many requests",
                "The client has sent too many requests. Wait the number of seconds in the Retry-After header."),
    ProblemType("server-error", 500, "Something went wrong on our side",
                "The server failed to handle the request. Retry later with the same body: ids make retries safe."),
    ProblemType("unavailable", 503, "The service cannot answer right now",
                "The service is temporarily unavailable. Retry later (after Retry-After, when given) with the "
                "same body."),
)
_PROBLEM_BY_STATUS = {p.status: p for p in PROBLEM_TYPES}

_INFO_DESCRIPTION = (
    "Journal systems, Webcert and Försäkringskassan deliver signed certificates, revocations, certificates "
    "sent by care and Försäkringskassan's questions to Intygsportalen through this API. Every write is "
    "idempotent by its id: sending the same id with the same body again answers 200 with result "
    "\"unchanged\"; the same id with another body answers 409. Bodies are JSON sent as "
    f"{JSON}, at most {MAX_BODY_KB} KB and nested at most {MAX_NESTING} levels. Each client has a rate "
    "limit; beyond it the API answers 429 with Retry-After. Errors are RFC 9457 problem details "
    f"({PROBLEM_JSON}); their type URIs are described on the reference page."
)

# The error statuses each kind of operation lists (a read has no body to refuse).
_WRITE_ERRORS = (400, 401, 403, 409, 413, 415, 422, 429)
_WRITE_ERRORS_ON_CERTIFICATE = (400, 401, 403, 404, 409, 413, 415, 422, 429)
_READ_ERRORS = (401, 403, 404, 429)


def document(registry: Registry, *, server_url: str = "/api/v1", token_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document for the API, with one content schema per type in `registry`.

    Deterministic (the same registry gives the same JSON) and JSON-serialisable; cheap enough to build per
    request, though callers may cache it."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Intygsportalen API",
            "version": API_VERSION,
            "description": _INFO_DESCRIPTION,
            "x-problem-types": [{"name": p.name, "status": p.status, "title": p.title, "description": p.description}
                                for p in PROBLEM_TYPES],
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(registry),
            "parameters": {"CertificateId": _certificate_id_parameter()},
            "securitySchemes": {"oauth2": _oauth2(token_url or DEFAULT_TOKEN_URL)},
        },
    }


def schema_suffix(code: str) -> str:
    """A type code as it appears in schema names: Content_AG1_14 for AG1-14."""
    return re.sub(r"[^A-Za-z0-9_]", "_", code)


def content_schema_name(code: str) -> str:
    return f"Content_{schema_suffix(code)}"


def register_schema_name(code: str) -> str:
    return f"RegisterCertificate_{schema_suffix(code)}"


def problem_type(status: int) -> ProblemType:
    """The problem type the API answers with for an HTTP status."""
    return _PROBLEM_BY_STATUS[status]


# --- small schema builders ----------------------------------------------------------------------

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str, *, min_length: int | None = None, max_length: int | None = None,
            pattern: str | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern is not None:
        schema["pattern"] = pattern
    return {**schema, **extra}


def _id(description: str) -> dict[str, Any]:
    return _string(description, min_length=1, max_length=64, pattern=ID_PATTERN)


def _date_time(description: str) -> dict[str, Any]:
    return _string(f"{description} ISO 8601 date and time, with an offset or Z; without one it is Swedish "
                   "local time.", pattern=DATE_TIME_PATTERN, examples=["2026-11-23T09:30:00+01:00"])


def _hsa_id(description: str) -> dict[str, Any]:
    return _string(description, min_length=1, max_length=64)


def _object(properties: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    """A closed object (additionalProperties false)."""
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema.update({"properties": properties, "required": required, "additionalProperties": False})
    return schema


# --- schemas -----------------------------------------------------------------------------------

def _schemas(registry: Registry) -> dict[str, Any]:
    """Every schema: the register body (one branch per type), the fixed envelopes, then per type its branch
    and its content schema."""
    branches: dict[str, Any] = {}
    for ctype in registry:
        content = content_schema(ctype)
        content.pop("$schema", None)  # the document's dialect (OpenAPI 3.1's, built on draft 2020-12) applies
        branches[register_schema_name(ctype.code)] = _register_branch(ctype)
        branches[content_schema_name(ctype.code)] = content
    return {"RegisterCertificate": _register_body(registry), **_envelope_schemas(), **branches}


def _register_body(registry: Registry) -> dict[str, Any]:
    """The register body: one of the types' branches, chosen by `type`."""
    mapping = {ctype.code: f"#/components/schemas/{register_schema_name(ctype.code)}" for ctype in registry}
    return {
        "description": "A signed certificate: the envelope and the type's content. One branch per type, chosen "
                       "by type.",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def _envelope_schemas() -> dict[str, Any]:
    """The fixed schemas: every body and answer except the per-type ones."""
    return {
        "Issuer": _object({
            "hsa_id": _hsa_id("The signing doctor's HSA-id."),
            "given_name": _string("Given name.", min_length=1, max_length=100),
            "family_name": _string("Family name.", min_length=1, max_length=100),
            "title": _string("Title, e.g. Läkare or Specialistläkare.", max_length=100),
        }, ["hsa_id", "given_name", "family_name"], "The doctor who signed the certificate."),
        "Unit": _object({
            "hsa_id": _hsa_id("The care unit's HSA-id."),
            "name": _string("The unit's name.", min_length=1, max_length=200),
            "address": _string("Postal address."),
            "postal_code": _string("Postal code.", max_length=10),
            "city": _string("City.", max_length=100),
            "phone": _string("Phone number.", max_length=40),
            "county": {"type": "string", "enum": list(counties.CODES),
                       "description": "The county (län) the unit is in: its county code (länskod, HSA's "
                                      "countyCode) as text, e.g. \"17\" for Värmland. Intygsstatistik's report by "
                                      "county counts the unit's certificates there (without it: unknown county). "
                                      "Like the rest of the unit, taken only for a unit not yet known."},
        }, ["hsa_id", "name"], "The care unit where the certificate was signed."),
        "Provider": _object({
            "hsa_id": _hsa_id("The care provider's HSA-id."),
            "name": _string("The care provider's name.", min_length=1, max_length=200),
        }, ["hsa_id", "name"], "The care provider (vårdgivare) the unit belongs to."),
        "Relation": _object({
            "kind": {"type": "string", "enum": ["REPLACES", "COMPLEMENTS"],
                     "description": "REPLACES: this certificate replaces the other one. COMPLEMENTS: it answers a "
                                    "komplettering request about the other one."},
            "certificate": _id("The id of the other certificate."),
        }, ["kind", "certificate"], "How this certificate relates to an earlier one."),
        "Revocation": _object({
            "at": _date_time("When the certificate was revoked."),
            "reason": _string("Why it was revoked.", min_length=1, max_length=500),
        }, ["at", "reason"], "The revocation of a certificate the client registered."),
        "SentByCare": _object({
            "at": _date_time("When care sent the certificate."),
        }, ["at"], "Care sent a certificate the client registered to the recipient in the path."),
        "Question": _question_schema(),
        "Receipt": _object({
            "id": {"type": "string", "description": "The id of the certificate or question."},
            "result": {"type": "string", "enum": ["created", "unchanged"],
                       "description": "created: stored now. unchanged: the same body was stored before."},
        }, ["id", "result"], "What the API did with the request."),
        "CertificateStatus": _certificate_status_schema(),
        "Problem": _problem_schema(),
    }


def _question_schema() -> dict[str, Any]:
    return _object({
        "id": _id("The question's id, unique for the sender."),
        "certificate": _string("The id of the certificate the question is about.", min_length=1),
        "subject": {"type": "string", "enum": ["KOMPLT", "AVSTMN", "KONTKT", "OVRIGT", "PAMINN"],
                    "description": "KOMPLT: komplettering request. AVSTMN: avstämningsmöte. KONTKT: contact. "
                                   "OVRIGT: other. PAMINN: reminder."},
        "heading": _string("A short heading.", max_length=200),
        "text": _string("The question.", min_length=1, max_length=10000),
        "sent": _date_time("When Försäkringskassan sent the question."),
        "last_answer_date": {**DATE, "description": "The last day to answer, YYYY-MM-DD."},
        "reminder_of": _string("For a reminder: the id of the question it reminds about."),
        "in_reply_to": _string("For Försäkringskassan's answer to a question the care unit asked (sent to "
                               "Försäkringskassan as a delivery of kind QUESTION, message_id): that question's id. "
                               "It must be a question from care (422 otherwise, pointer /in_reply_to), with the "
                               "question's subject (422, pointer /subject), answered once (another answer to the "
                               "same question: 409)."),
    }, ["id", "certificate", "subject", "text", "sent"],
        "A question, reminder or komplettering request from Försäkringskassan about a certificate.")


def _certificate_status_schema() -> dict[str, Any]:
    revoked = {"type": ["object", "null"], "description": "The revocation, or null.",
               "properties": {"at": {"type": "string"}, "reason": {"type": "string"}}, "required": ["at", "reason"]}
    sent = {"type": "object", "required": ["recipient", "at", "by"], "properties": {
        "recipient": {"type": "string", "enum": ["FK", "TS"]},
        "at": {"type": "string"},
        "by": {"type": "string", "enum": ["CARE", "CITIZEN"]},
    }}
    return {
        "type": "object",
        "description": "A registered certificate's status.",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "description": "The type code."},
            "version": {"type": "string", "description": "The type definition's version."},
            "signed": {"type": "string", "description": "When it was signed."},
            "revoked": revoked,
            "sent": {"type": "array", "items": sent, "description": "Every sending, by care or by the citizen."},
            "replaced_by": {"type": "array", "items": {"type": "string"},
                            "description": "The ids of certificates that replace this one."},
        },
        "required": ["id", "type", "version", "signed", "revoked", "sent", "replaced_by"],
    }


def _problem_schema() -> dict[str, Any]:
    example = problem_type(422)
    return {
        "type": "object",
        "description": "An RFC 9457 problem detail.",
        "properties": {
            "type": {"type": "string", "format": "uri-reference",
                     "description": f"The problem type: {PROBLEM_TYPE_BASE}<name>."},
            "title": {"type": "string", "description": "The problem type's title."},
            "status": {"type": "integer", "description": "The HTTP status."},
            "detail": {"type": "string", "description": "What went wrong with this request."},
            "instance": {"type": "string"},
            "errors": {"type": "array", "description": "For 422: every problem found.", "items": {
                "type": "object", "required": ["pointer", "detail"], "properties": {
                    "pointer": {"type": "string", "description": "A JSON pointer into the request body, e.g. "
                                                                 "/content/diagnoses/0/code."},
                    "detail": {"type": "string"},
                    "parameter": {"type": "string", "description": "For a problem with a path parameter: its "
                                                                   "name (the pointer is then empty)."},
                }}},
        },
        "required": ["type", "title", "status"],
        "examples": [{
            "type": example.uri, "title": example.title, "status": example.status,
            "detail": "The certificate has 1 problem.",
            "errors": [{"pointer": "/content/diagnoses/0/code",
                        "detail": "must be an ICD-10 code such as M54.5, got 'X'"}],
        }],
    }


def _register_branch(ctype: CertificateType) -> dict[str, Any]:
    return {
        "title": f"{ctype.code}: {ctype.name.en}",
        **_object({
            "id": _id("The certificate's id, unique for the client; the key of idempotency."),
            "type": {"type": "string", "const": ctype.code, "description": "The type code."},
            "version": {"type": "string", "const": ctype.version,
                        "description": "The type definition's version; defaults to the current version."},
            "patient": _string("The patient's personnummer or samordningsnummer, YYYYMMDD-NNNN or YYYYMMDDNNNN.",
                               pattern=PERSONNUMMER_PATTERN),
            "signed": _date_time("When the certificate was signed."),
            "issuer": _ref("Issuer"),
            "unit": _ref("Unit"),
            "provider": _ref("Provider"),
            "relation": _ref("Relation"),
            "content": _ref(content_schema_name(ctype.code)),
        }, ["id", "type", "patient", "signed", "issuer", "unit", "provider", "content"]),
    }


# --- security and parameters ---------------------------------------------------------------------

def _oauth2(token_url: str) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials: POST grant_type=client_credentials with the client's id, "
                       "secret and the scopes it needs to the token URL, then send the access token as "
                       "Authorization: Bearer <token>.",
        "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPES)}},
    }


def _certificate_id_parameter() -> dict[str, Any]:
    return {"name": "certificate_id", "in": "path", "required": True,
            "description": "The certificate's id, as registered.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": ID_PATTERN}}


# --- paths ---------------------------------------------------------------------------------------

def _paths() -> dict[str, Any]:
    certificate_id = {"$ref": "#/components/parameters/CertificateId"}
    recipient = {"name": "recipient", "in": "path", "required": True, "description": "FK or TS.",
                 "schema": {"type": "string", "enum": ["FK", "TS"]}}
    return {
        "/certificates": {"post": _operation(
            "registerCertificate", REGISTER, "Register a signed certificate",
            "Stores a signed certificate for the patient. The content is checked against the type: its schema "
            "here and the type's rules (conditional answers, periods, dates), and refused with 422 listing every "
            "problem.", body="RegisterCertificate", errors=_WRITE_ERRORS,
            created="Registered. Location is the certificate's status URL.", location=True,
            unchanged="This id was registered before with the same body; nothing changed.")},
        "/certificates/{certificate_id}": {"get": _operation(
            "getCertificateStatus", STATUS, "Read a certificate's status",
            "Whether a certificate the client registered is revoked, sent or replaced.",
            parameters=[certificate_id], errors=_READ_ERRORS, ok=("The certificate's status.", "CertificateStatus"))},
        "/certificates/{certificate_id}/revocation": {"put": _operation(
            "revokeCertificate", REVOKE, "Revoke a certificate",
            "Revokes a certificate the client registered. Revoking again with the same body changes nothing.",
            parameters=[certificate_id], body="Revocation", errors=_WRITE_ERRORS_ON_CERTIFICATE,
            created="Revoked.", unchanged="Revoked before with the same body; nothing changed.")},
        "/certificates/{certificate_id}/sent/{recipient}": {"put": _operation(
            "recordSentByCare", SENT, "Record that care sent a certificate",
            "Records that care sent a certificate the client registered to Försäkringskassan (FK) or "
            "Transportstyrelsen (TS).", parameters=[certificate_id, recipient], body="SentByCare",
            errors=_WRITE_ERRORS_ON_CERTIFICATE, created="Recorded.",
            unchanged="Recorded before with the same body; nothing changed.")},
        "/questions": {"post": _operation(
            "deliverQuestion", QUESTIONS, "Deliver a question from Försäkringskassan",
            "Delivers a question, a reminder or a komplettering request about a certificate to the care unit "
            "that issued it, or Försäkringskassan's answer to a question the care unit asked (with in_reply_to: "
            "it shows in the question's conversation in Rehabstöd).", body="Question", errors=_WRITE_ERRORS,
            created="Delivered.",
            unchanged="Delivered before with the same body; nothing changed.")},
        "/openapi.json": {"get": {
            "operationId": "getOpenApiDocument",
            "summary": "This OpenAPI document",
            "description": "The API described in OpenAPI 3.1, with a JSON Schema of each certificate type's "
                           "content. Needs no token.",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {JSON: {"schema": {"type": "object"}}}}},
        }},
    }


def _operation(operation_id: str, scope: str, summary: str, description: str, *, errors: tuple[int, ...],
               parameters: list[dict[str, Any]] | None = None, body: str | None = None,
               created: str | None = None, unchanged: str | None = None, location: bool = False,
               ok: tuple[str, str] | None = None) -> dict[str, Any]:
    """One operation: its scope, parameters, JSON body and responses (successes, then errors)."""
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "description": description,
                                 "security": [{"oauth2": [scope]}]}
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(body)}}}
    responses: dict[str, Any] = {}
    if created:
        responses["201"] = _json_response(created, "Receipt")
        if location:
            responses["201"]["headers"] = {"Location": {"description": "The certificate's status URL.",
                                                        "schema": {"type": "string"}}}
    if unchanged:
        responses["200"] = _json_response(unchanged, "Receipt")
    if ok:
        responses["200"] = _json_response(*ok)
    for status in errors:
        responses[str(status)] = _problem_response(status)
    operation["responses"] = responses
    return operation


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _problem_response(status: int) -> dict[str, Any]:
    """An error response: the problem type's title and description, a Problem body, and the headers that
    come with 401, 403 and 429."""
    ptype = problem_type(status)
    response: dict[str, Any] = {"description": f"{ptype.title}. {ptype.description}",
                                "content": {PROBLEM_JSON: {"schema": _ref("Problem")}}}
    if status in (401, 403):
        response["headers"] = {"WWW-Authenticate": {
            "description": "Bearer, with error=\"invalid_token\" (401) or error=\"insufficient_scope\" and the "
                           "scope needed (403).", "schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before trying again.",
                                               "schema": {"type": "integer", "minimum": 0}}}
    return response


__all__ = ["DEFAULT_TOKEN_URL", "ID_PATTERN", "PROBLEM_TYPES", "PROBLEM_TYPE_BASE", "SCOPES",
           "ProblemType", "content_schema_name", "document", "problem_type", "register_schema_name"]
