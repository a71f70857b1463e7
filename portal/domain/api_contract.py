"""The certificate store's API contract, as plain data: which scope each operation needs, how a request
body becomes an intake document (domain.intake checks it and repository.intake stores it, exactly as for
`portal load`), and how intake's problems become JSON pointers into the request body (RFC 9457).

Pure: no Flask, no SQL. The blueprint (portal/api) does HTTP, tokens and limits; the OpenAPI document
(portal/api/openapi.py) describes the same bodies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .intake import IntakeProblem

REGISTER, REVOKE, SENT, STATUS, QUESTIONS = ("certificates.register", "certificates.revoke", "certificates.sent",
                                             "certificates.status", "questions.deliver")
SCOPES = {
    REGISTER: "register signed certificates",
    REVOKE: "revoke certificates the client registered",
    SENT: "record that care sent a certificate the client registered to FK or TS",
    STATUS: "read the status of certificates the client registered",
    QUESTIONS: "deliver Försäkringskassan's questions, reminders and komplettering requests",
}
RECIPIENTS = ("FK", "TS")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class FieldError:
    """One problem with a request: where (a JSON pointer into the body; "" is the whole body, or a path
    parameter when `parameter` is set) and what, in the words `portal load` uses."""

    pointer: str
    detail: str
    parameter: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"pointer": self.pointer, "detail": self.detail}
        if self.parameter:
            out["parameter"] = self.parameter
        return out


@dataclass(frozen=True)
class Translated:
    """A request body as an intake document, or the problems that stop it from becoming one."""

    doc: dict | None
    errors: tuple[FieldError, ...] = ()


def escape(token: str) -> str:
    """One JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def content_pointer(path: str) -> str:
    """"content.diagnoses[0].code" (the validator's path) → "/content/diagnoses/0/code"."""
    return "".join("/" + escape(name or index) for name, index in _PATH_PART.findall(path))


# --- from request bodies to intake documents ----------------------------------------------------------

_ENVELOPE = ("id", "type", "version", "patient", "signed", "issuer", "unit", "provider", "relation", "content")
_PARTS = {
    "issuer": ("hsa_id", "given_name", "family_name", "title"),
    "unit": ("hsa_id", "name", "address", "postal_code", "city", "phone", "county"),
    "provider": ("hsa_id", "name"),
    "relation": ("kind", "certificate"),
}
_REQUIRED_PARTS = ("issuer", "unit", "provider")


def _unknown(body: dict, allowed: tuple[str, ...], prefix: str = "") -> list[FieldError]:
    return [FieldError(f"{prefix}/{escape(k)}", "is not a known field") for k in sorted(set(body) - set(allowed))]


def _pick(part: dict, names: tuple[str, ...], **rename: str) -> dict:
    return {rename.get(n, n): part[n] for n in names if n in part}


def _not_an_object() -> Translated:
    return Translated(None, (FieldError("", "the body must be a JSON object"),))


def _id_errors(body: dict, name: str = "id") -> list[FieldError]:
    """Ids go into addresses: letters, digits and . _ : - (at most 64), as the OpenAPI document says."""
    value = body.get(name)
    if isinstance(value, str) and not ID_PATTERN.fullmatch(value):
        return [FieldError(f"/{name}", "must be 1–64 letters, digits or . _ : - (starting with a letter or digit)")]
    return []


def certificate_document(body: Any) -> Translated:
    """registerCertificate: one certificate with its doctor, unit and provider (and its relation)."""
    if not isinstance(body, dict):
        return _not_an_object()
    errors = _unknown(body, _ENVELOPE) + _id_errors(body)
    parts: dict[str, dict] = {}
    broken = False
    for name, fields in _PARTS.items():
        value = body.get(name)
        if value is None:
            if name in _REQUIRED_PARTS:
                errors.append(FieldError(f"/{name}", "is required"))
                broken = True
            continue
        if not isinstance(value, dict):
            errors.append(FieldError(f"/{name}", "must be an object"))
            broken = True
            continue
        errors += _unknown(value, fields, f"/{name}")
        parts[name] = value
    if broken:
        return Translated(None, tuple(errors))
    issuer, unit, provider = parts["issuer"], parts["unit"], parts["provider"]
    certificate = _pick(body, ("id", "type", "version", "patient", "signed", "content"))
    if "hsa_id" in issuer:
        certificate["staff"] = issuer["hsa_id"]
    if "hsa_id" in unit:
        certificate["unit"] = unit["hsa_id"]
    unit_entry = _pick(unit, _PARTS["unit"])
    if "hsa_id" in provider:
        unit_entry["provider"] = provider["hsa_id"]
    doc: dict[str, list] = {"providers": [_pick(provider, _PARTS["provider"])], "units": [unit_entry],
                            "staff": [_pick(issuer, _PARTS["issuer"])], "certificates": [certificate]}
    relation = parts.get("relation")
    if relation is not None:
        doc["relations"] = [{"from": body.get("id"), **_pick(relation, ("kind", "certificate"), certificate="to")}]
    return Translated(doc, tuple(errors))


def revocation_document(certificate_id: str, body: Any) -> Translated:
    """revokeCertificate."""
    if not isinstance(body, dict):
        return _not_an_object()
    entry = {"certificate": certificate_id, **_pick(body, ("at", "reason"))}
    return Translated({"revocations": [entry]}, tuple(_unknown(body, ("at", "reason"))))


def care_send_document(certificate_id: str, recipient: str, body: Any) -> Translated:
    """recordSentByCare."""
    if not isinstance(body, dict):
        return _not_an_object()
    entry = {"certificate": certificate_id, "recipient": recipient, **_pick(body, ("at",))}
    return Translated({"care_sends": [entry]}, tuple(_unknown(body, ("at",))))


_QUESTION_FIELDS = ("id", "certificate", "subject", "heading", "text", "sent", "last_answer_date", "reminder_of",
                    "in_reply_to")


def question_document(body: Any) -> Translated:
    """deliverQuestion: always from Försäkringskassan."""
    if not isinstance(body, dict):
        return _not_an_object()
    entry = {**_pick(body, _QUESTION_FIELDS), "sender": "FK"}
    return Translated({"questions": [entry]}, tuple(_unknown(body, _QUESTION_FIELDS) + _id_errors(body)))


# --- from intake's problems to pointers -------------------------------------------------------------------

# (section, intake field or stored column) -> pointer in the request body; None: a path parameter
_POINTERS: dict[str, dict[str, str]] = {
    "providers": {"hsa_id": "/provider/hsa_id", "name": "/provider/name"},
    "units": {"hsa_id": "/unit/hsa_id", "name": "/unit/name", "provider": "/provider/hsa_id",
              "address": "/unit/address", "postal_code": "/unit/postal_code", "city": "/unit/city",
              "phone": "/unit/phone", "county": "/unit/county"},
    "staff": {"hsa_id": "/issuer/hsa_id", "given_name": "/issuer/given_name", "family_name": "/issuer/family_name",
              "title": "/issuer/title"},
    "certificates": {"id": "/id", "type": "/type", "type_code": "/type", "version": "/version",
                     "type_version": "/version", "patient": "/patient", "patient_pnr": "/patient",
                     "staff": "/issuer/hsa_id", "staff_id": "/issuer/hsa_id", "unit": "/unit/hsa_id",
                     "unit_id": "/unit/hsa_id", "signed": "/signed", "signed_at": "/signed", "content": "/content",
                     "registered_by": "/id", "relation": "/relation"},
    "relations": {"from": "/signed", "to": "/relation/certificate", "kind": "/relation/kind",
                  "relation": "/relation"},
    "revocations": {"at": "/at", "reason": "/reason"},
    "care_sends": {"at": "/at"},
    "questions": {name: f"/{name}" for name in _QUESTION_FIELDS},
}
_PARAMETERS = {("revocations", "certificate"): "certificate_id", ("care_sends", "certificate"): "certificate_id",
               ("care_sends", "recipient"): "recipient"}


def errors_for(problems: list[IntakeProblem]) -> list[FieldError]:
    """Intake's problems as pointers into the request body, each once, in intake's words."""
    out: list[FieldError] = []
    for p in problems:
        for name in p.fields or ("",):
            parameter = _PARAMETERS.get((p.section or "", name))
            if p.unstorable and (p.section, name) == ("relations", "from"):  # the body's id, copied
                error = FieldError("/id", p.message)
            elif parameter:
                error = FieldError("", p.message, parameter)
            elif name.startswith("content"):
                error = FieldError(content_pointer(name), p.message)
            else:
                error = FieldError(_POINTERS.get(p.section or "", {}).get(name, ""), p.message)
            if error not in out:
                out.append(error)
    return out


def is_conflict(problems: list[IntakeProblem]) -> bool:
    """The request names something stored with other data (409), and nothing else is wrong with it."""
    return bool(problems) and all(p.conflict for p in problems)
