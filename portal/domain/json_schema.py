"""A JSON Schema (draft 2020-12) of a certificate's `content`, generated from its type definition.

The schema describes what `certificate_types.validate()` checks one answer at a time: the questions, their
JSON types, text lengths, option values, number bounds, date forms, list lengths and the shape of periods,
diagnoses, dated choices, ICF answers and rows. It is deliberately no stricter than the validator: every
content the validator accepts is valid against the schema. Rules that span answers (conditional
requirements, sections needing at least one answer, overlapping periods, ends before starts, dates after
signing, a choice given twice) stay with the validator; the API answers 422 for those.

Pure: no Flask, no I/O.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from portal.domain.certificate_types import ICD10_RE, ICF_RE, CertificateType, Condition, Question

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE: dict[str, Any] = {"type": "string", "pattern": DATE_PATTERN, "format": "date"}

_CONTENT_NOTE = (
    "Each property answers one question; a question left unanswered may be omitted or null. "
    "The server checks, beyond this schema, the rules that span answers: answers required only under a "
    "condition (see each property's description), sections needing at least one answer, overlapping "
    "sick-leave periods, periods ending before they start, dates after signing and a choice given twice. "
    "It answers 422 listing every such problem."
)


def content_schema(ctype: CertificateType) -> dict[str, Any]:
    """The JSON Schema of a `ctype` certificate's content object (JSON-serialisable, deterministic)."""
    return {
        "$schema": SCHEMA_DIALECT,
        "title": ctype.name.sv,
        "description": f"The answers of a {ctype.code} certificate ({ctype.name.en}), type version "
                       f"{ctype.version}. {_CONTENT_NOTE}",
        **_object_schema(ctype.questions()),
    }


def always_required(q: Question) -> bool:
    """Whether the schema lists `q` as required: required, and not under any condition."""
    return q.required and q.required_unless is None and q.required_when is None


def _object_schema(questions: Iterable[Question]) -> dict[str, Any]:
    """An object whose properties are the questions' answers (the content, or one row of a rows question)."""
    questions = list(questions)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {q.id: _property(q) for q in questions},
        "additionalProperties": False,
    }
    required = [q.id for q in questions if always_required(q)]
    if required:
        schema["required"] = required
    return schema


def _property(q: Question) -> dict[str, Any]:
    """One question's schema: annotations (labels, help, kind) and the value's shape."""
    value = _value_schema(q)
    if not always_required(q):
        value = _nullable(value)
    return {"title": q.label.sv, "description": _description(q), "x-kind": q.kind, **value}


def _description(q: Question) -> str:
    """The English label, then the unit, the help text and any conditional requirement."""
    label = q.label.en.rstrip()
    parts = [label if label.endswith((".", "?", ":")) else f"{label}."]
    if q.unit:
        parts.append(f"Unit: {q.unit.en}.")
    if q.help:
        parts.append(q.help.en)
    if q.required and q.required_unless is not None:
        parts.append(f"Required unless {_condition(q.required_unless)}.")
    if q.required_when is not None:
        parts.append(f"Required when {_condition(q.required_when)}.")
    return " ".join(parts)


def _condition(cond: Condition) -> str:
    """A condition in words, e.g. "`can_swim` is false"."""
    subject = f"`{cond.question}`"
    if cond.has_degree_in:
        return f"{subject} has a period with degree {_or(cond.has_degree_in)}"
    if cond.includes is not None:
        return f"{subject} includes {json.dumps(cond.includes)}"
    if cond.in_:
        return f"{subject} is {_or(cond.in_)}"
    return f"{subject} is {json.dumps(cond.equals)}"


def _or(values: Iterable[Any]) -> str:
    return " or ".join(json.dumps(v) for v in values)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema, also allowing null (the validator skips an answer that is null unless needed)."""
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _value_schema(q: Question) -> dict[str, Any]:
    """The shape of a (non-null) answer to `q`, by kind."""
    kind = q.kind
    if kind == "text":
        return _text(q.max_length, non_empty=always_required(q))
    if kind == "date":
        return dict(DATE)
    if kind in {"year", "integer", "decimal"}:
        return _number("number" if kind == "decimal" else "integer", q.min, q.max)
    if kind in {"yes_no", "checkbox"}:
        return {"type": "boolean"}
    if kind == "choice":
        return {"type": "string", "enum": _values(q)}
    if kind == "date_range":
        return _record({"start": dict(DATE), "end": dict(DATE)})
    if kind == "icf":
        return _icf(q)
    return _array(q, _item_schema(q))


def _item_schema(q: Question) -> dict[str, Any]:
    """The schema of one entry of a list-valued question."""
    kind = q.kind
    if kind == "multi_choice":
        return {"type": "string", "enum": _values(q)}
    if kind == "sick_leave_periods":
        return _record({"start": dict(DATE), "end": dict(DATE),
                        "degree": {"enum": list(q.degrees)}})
    if kind == "diagnoses":
        return _record({"code": {"type": "string", "pattern": ICD10_RE.pattern, "description": "An ICD-10-SE code"},
                        "text": {"type": "string", "minLength": 1, "description": "The diagnosis in words"}})
    if kind == "dated_choices":
        return _record({"type": {"type": "string", "enum": _values(q)}, "date": dict(DATE)})
    if kind == "rows":
        return _object_schema(q.fields)
    raise ValueError(f"question {q.id!r}: no JSON Schema for kind {kind!r}")


def _text(max_length: int | None, *, non_empty: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if non_empty:
        schema["minLength"] = 1
    if max_length:
        schema["maxLength"] = max_length
    return schema


def _number(json_type: str, minimum: float | None, maximum: float | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": json_type}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _values(q: Question) -> list[str]:
    return [o.value for o in q.options]


def _record(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An object with exactly these properties, all required."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _icf(q: Question) -> dict[str, Any]:
    """ICF categories and a text; either may be left out."""
    return {"type": "object", "additionalProperties": False, "properties": {
        "categories": {"type": "array", "items": {"type": "string", "pattern": ICF_RE.pattern},
                       "description": "ICF codes such as b152 or d850"},
        "text": _text(q.max_length),
    }}


def _array(q: Question, items: dict[str, Any]) -> dict[str, Any]:
    """A list of `items`. The validator takes an empty list even below min_items unless the question is
    needed, so minItems is stated only for questions that are always required (an empty answer is then
    refused as missing)."""
    schema: dict[str, Any] = {"type": "array", "items": items}
    if q.kind == "multi_choice":
        schema["uniqueItems"] = True
    if always_required(q):
        schema["minItems"] = max(1, q.min_items or 0)
    if q.max_items is not None:
        schema["maxItems"] = q.max_items
    return schema
