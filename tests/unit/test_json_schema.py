"""The JSON Schema of each certificate type's content (portal.domain.json_schema): it accepts every content
the validator accepts (the demo data set, and each answer replaced by edge values the validator takes), and
refuses what it can see is wrong: an unknown question, a value outside the options, a bad code, a long text.

The validator (certificate_types.validate) stays the authority: the schema may be looser (rules across
answers), never stricter.
"""
from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from portal.domain import certificate_types as ct
from portal.domain import demo
from portal.domain.json_schema import DATE_PATTERN, SCHEMA_DIALECT, always_required, content_schema

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def registry() -> ct.Registry:
    return ct.load_registry()


@pytest.fixture(scope="module")
def demo_certificates(registry) -> list[dict[str, Any]]:
    return demo.small(today=TODAY, seed=20261123, registry=registry)["certificates"]


@pytest.fixture(scope="module")
def validators(registry) -> dict[str, Draft202012Validator]:
    return {t.code: Draft202012Validator(content_schema(t)) for t in registry}


def signed_day(certificate: dict[str, Any]) -> date:
    return datetime.fromisoformat(certificate["signed"]).date()


def schema_errors(validator: Draft202012Validator, content: Any) -> list[str]:
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(content)]


# --- every schema is a schema, and says what it is -------------------------------------------------------

def test_every_types_schema_is_a_valid_draft_2020_12_schema(registry):
    for ctype in registry:
        schema = content_schema(ctype)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == SCHEMA_DIALECT == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert list(schema["properties"]) == [q.id for q in ctype.questions()]


def test_the_schema_is_deterministic_json_of_modest_size(registry):
    for ctype in registry:
        text = json.dumps(content_schema(ctype), ensure_ascii=False)
        assert text == json.dumps(content_schema(ctype), ensure_ascii=False)
        assert len(text) < 40_000, ctype.code


def test_each_property_has_the_swedish_label_as_title_and_the_english_label_in_its_description(registry):
    fk7804 = registry["FK7804"]
    schema = content_schema(fk7804)
    for q in fk7804.questions():
        prop = schema["properties"][q.id]
        assert prop["title"] == q.label.sv
        assert prop["description"].startswith(q.label.en)
        assert prop["x-kind"] == q.kind
        if q.help:
            assert q.help.en in prop["description"]


def test_required_lists_the_unconditionally_required_questions_and_conditions_are_left_to_the_validator(registry):
    for ctype in registry:
        schema = content_schema(ctype)
        expected = [q.id for q in ctype.questions()
                    if q.required and q.required_when is None and q.required_unless is None]
        assert schema.get("required", []) == expected, ctype.code
        assert "condition" in schema["description"] and "422" in schema["description"]
    conditional = [q for t in registry for q in t.questions() if q.required_when or q.required_unless]
    assert conditional, "the built-in types have conditional questions"
    for q in conditional:
        prop = content_schema(next(t for t in registry if t.question(q.id) is q))["properties"][q.id]
        assert "Required when" in prop["description"] or "Required unless" in prop["description"]


def test_dates_are_strings_of_the_form_yyyy_mm_dd(registry):
    dates = [p for t in registry for p in content_schema(t)["properties"].values() if p["x-kind"] == "date"]
    assert dates
    for prop in dates:
        assert prop["pattern"] == DATE_PATTERN == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
        assert prop["format"] == "date" and "string" in prop["type"]
    periods = content_schema(registry["FK7804"])["properties"]["sick_leave_periods"]["items"]["properties"]
    assert periods["start"]["pattern"] == periods["end"]["pattern"] == DATE_PATTERN


# --- everything the validator accepts, the schema accepts -------------------------------------------------

def test_every_demo_certificate_validates_against_its_types_schema(registry, demo_certificates, validators):
    assert {c["type"] for c in demo_certificates} == set(registry.codes())
    for cert in demo_certificates:
        assert ct.validate(registry[cert["type"]], cert["content"], signed_day(cert)) == []
        assert schema_errors(validators[cert["type"]], cert["content"]) == [], cert["id"]


def edge_values(q: ct.Question) -> Iterator[Any]:
    """Answers at and beyond the edges of what the validator takes for `q`, for the differential test."""
    options = [o.value for o in q.options]
    yield from (None, "", " ", "x", 0, -1, 1, 12.5, True, False, [], {}, [None], [{}], "2026-11-20", "2026-02-30",
                "20261120", "2026-W47-1", {"start": "2026-11-01", "end": "2026-11-20"}, {"start": "2026-11-01"},
                {"start": "2026-11-20", "end": "2026-11-01"})
    yield from options
    if options:
        yield options[:1]
        yield options
        yield options[:1] * 2
        yield [{"type": options[0], "date": "2026-11-01"}]
        yield [{"type": o, "date": "2026-11-01"} for o in options]
        yield [{"type": options[0], "date": "2026-11-01"}] * 2
        yield [{"type": options[0], "date": "2027-01-01"}]
    for bound in (q.min, q.max):
        if bound is not None:
            yield from (bound, bound - 1, bound + 1, float(bound), bound + 0.5)
    if q.max_length:
        yield from ("å" * q.max_length, "å" * (q.max_length + 1),
                    {"text": "å" * q.max_length}, {"text": "å" * (q.max_length + 1)})
    for degree in (*q.degrees, 10, "50", True):
        yield [{"start": "2026-11-01", "end": "2026-11-20", "degree": degree}]
    yield [{"start": "2026-11-01", "end": "2026-11-20", "degree": 100},
           {"start": "2026-11-10", "end": "2026-11-30", "degree": 50}]
    for code in ("M54.5", "M545", "F32-", "S82.0-", "J06.9P", "A00.1234", "m54", "M5", "X", ""):
        yield [{"code": code, "text": "Lumbago"}]
    yield [{"code": "M54", "text": " "}]
    yield [{"code": "M54", "text": "Lumbago"}] * 4
    yield from ({"categories": []}, {"text": ""}, {"categories": ["b152"], "text": "x"}, {"categories": ["b152"]},
                {"categories": ["x152"]}, {"categories": None}, {"text": None}, {"categories": [], "text": ""})
    if q.kind == "rows":
        for f in q.fields:
            for value in edge_values(f):
                yield [{f.id: value}]
                yield [{**{g.id: "x" for g in q.fields if g.kind == "text"}, f.id: value}]


def bases(registry: ct.Registry, certificates: list[dict[str, Any]]) -> Iterator[tuple[ct.CertificateType, dict, date]]:
    """Valid contents to vary: the first demo certificate of each type, and that certificate with each
    required_unless condition made true (so the questions it excuses may be left empty)."""
    first: dict[str, dict[str, Any]] = {}
    for cert in certificates:
        first.setdefault(cert["type"], cert)
    for code, cert in first.items():
        ctype, signed = registry[code], signed_day(cert)
        yield ctype, cert["content"], signed
        conditions = {(q.required_unless.question, json.dumps(q.required_unless.equals)): q.required_unless
                      for q in ctype.questions() if q.required_unless and q.required_unless.equals is not None}
        for cond in conditions.values():
            excused = {**cert["content"], cond.question: cond.equals}
            assert ct.validate(ctype, excused, signed) == [], (code, cond)
            yield ctype, excused, signed


def test_any_answer_the_validator_accepts_the_schema_accepts(registry, demo_certificates, validators):
    """Replace one answer at a time by edge values: whenever the validator accepts the content, so must the
    schema (the schema is never stricter)."""
    checked = 0
    for ctype, base, signed in bases(registry, demo_certificates):
        for q in ctype.questions():
            for value in [*edge_values(q), "__absent__"]:
                content = copy.deepcopy(base)
                if value == "__absent__":
                    content.pop(q.id, None)
                else:
                    content[q.id] = value
                if ct.validate(ctype, content, signed) == []:
                    checked += 1
                    assert schema_errors(validators[ctype.code], content) == [], (ctype.code, q.id, value)
    assert checked > 1000  # the edges really exercise the schema


def test_an_unanswered_optional_question_may_be_null_or_left_out_but_a_required_one_may_not(registry, validators):
    fk7804 = registry["FK7804"]
    optional = next(q for q in fk7804.questions() if not q.required and not q.required_when)
    required = next(q for q in fk7804.questions() if always_required(q))
    validator = validators["FK7804"]
    assert not any(e.validator == "type" and list(e.absolute_path) == [optional.id]
                   for e in validator.iter_errors({optional.id: None}))
    errors = list(validator.iter_errors({required.id: None}))
    assert any(list(e.absolute_path) == [required.id] for e in errors)
    assert any(e.validator == "required" for e in validator.iter_errors({}))


# --- what the schema refuses --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fk7804_content(demo_certificates) -> dict[str, Any]:
    return next(c for c in demo_certificates if c["type"] == "FK7804")["content"]


def test_the_schema_refuses_a_question_the_type_does_not_have(validators, fk7804_content):
    content = {**fk7804_content, "favourite_colour": "blå"}
    errors = list(validators["FK7804"].iter_errors(content))
    assert [e.validator for e in errors] == ["additionalProperties"]
    assert "favourite_colour" in errors[0].message


def test_the_schema_refuses_a_value_outside_a_choices_options(registry, validators, fk7804_content):
    choice = next(q for q in registry["FK7804"].questions() if q.kind == "choice")
    errors = list(validators["FK7804"].iter_errors({**fk7804_content, choice.id: "NOT_AN_OPTION"}))
    assert [(e.validator, list(e.absolute_path)) for e in errors] == [("enum", [choice.id])]


def test_the_schema_refuses_a_multi_choice_value_outside_the_options_and_a_repeated_one(registry, validators,
                                                                                        fk7804_content):
    multi = next(q for q in registry["FK7804"].questions() if q.kind == "multi_choice")
    first = multi.options[0].value
    bad = list(validators["FK7804"].iter_errors({**fk7804_content, multi.id: [first, "NOPE"]}))
    assert [(e.validator, list(e.absolute_path)) for e in bad] == [("enum", [multi.id, 1])]
    twice = list(validators["FK7804"].iter_errors({**fk7804_content, multi.id: [first, first]}))
    assert [e.validator for e in twice] == ["uniqueItems"]


@pytest.mark.parametrize(("answer", "where", "keyword"), [
    ([{"start": "2026-11-01", "end": "2026-11-20", "degree": 60}], [0, "degree"], "enum"),
    ([{"start": "2026-11-01", "end": "2026-11-20"}], [0], "required"),
    ([{"start": "1 november", "end": "2026-11-20", "degree": 100}], [0, "start"], "pattern"),
    ([{"start": "2026-11-01", "end": "2026-11-20", "degree": 100, "note": "x"}], [0], "additionalProperties"),
])
def test_the_schema_refuses_a_malformed_sick_leave_period(registry, validators, fk7804_content, answer, where,
                                                         keyword):
    qid = registry["FK7804"].first_of_kind("sick_leave_periods").id
    errors = list(validators["FK7804"].iter_errors({**fk7804_content, qid: answer}))
    assert [(e.validator, list(e.absolute_path)) for e in errors] == [(keyword, [qid, *where])]


def test_the_schema_refuses_a_diagnosis_code_that_is_not_icd_10(registry, validators, fk7804_content):
    qid = registry["FK7804"].first_of_kind("diagnoses").id
    errors = list(validators["FK7804"].iter_errors({**fk7804_content, qid: [{"code": "lumbago", "text": "Ont"}]}))
    assert [(e.validator, list(e.absolute_path)) for e in errors] == [("pattern", [qid, 0, "code"])]


def test_the_schema_refuses_a_text_longer_than_its_max_length(registry, validators, fk7804_content):
    text = next(q for q in registry["FK7804"].questions() if q.kind == "text" and q.max_length)
    errors = list(validators["FK7804"].iter_errors({**fk7804_content, text.id: "a" * (text.max_length + 1)}))
    assert [(e.validator, list(e.absolute_path)) for e in errors] == [("maxLength", [text.id])]


def test_the_schema_refuses_a_row_with_an_unknown_field_and_too_many_rows(registry, validators):
    doi = registry["DOI"]
    rows = doi.question("consequence_of")
    errors = list(validators["DOI"].iter_errors({"consequence_of": [{"description": "Fall", "colour": "röd"}]}))
    assert ("additionalProperties", ["consequence_of", 0]) in [(e.validator, list(e.absolute_path)) for e in errors]
    too_many = [{"description": "Fall"}] * (rows.max_items + 1)
    errors = list(validators["DOI"].iter_errors({"consequence_of": too_many}))
    assert ("maxItems", ["consequence_of"]) in [(e.validator, list(e.absolute_path)) for e in errors]


# --- a type added as a file ------------------------------------------------------------------------------

NEW_TYPE = textwrap.dedent("""\
    code: XX9002
    version: "1.1"
    name: {sv: "Intyg om simförmåga", en: "Certificate of swimming ability"}
    sections:
      - id: bedomning
        title: {sv: "Bedömning", en: "Assessment"}
        questions:
          - id: can_swim
            label: {sv: "Kan patienten simma 200 meter?", en: "Can the patient swim 200 metres?"}
            kind: yes_no
            required: true
          - id: restrictions
            label: {sv: "Begränsningar", en: "Restrictions"}
            kind: text
            max_length: 20
            required_when: {question: can_swim, equals: false}
          - id: lengths
            label: {sv: "Simmade längder", en: "Lengths swum"}
            kind: integer
            min: 0
            max: 100
            unit: {sv: "längder", en: "lengths"}
    """)


def test_a_type_added_as_a_file_gets_its_schema_with_no_code(tmp_path):
    (tmp_path / "xx9002.yaml").write_text(NEW_TYPE, encoding="utf-8")
    ctype = ct.load_registry([tmp_path])["XX9002"]
    schema = content_schema(ctype)
    assert schema["required"] == ["can_swim"]
    props = schema["properties"]
    assert props["can_swim"]["type"] == "boolean"
    assert props["restrictions"]["type"] == ["string", "null"] and props["restrictions"]["maxLength"] == 20
    assert props["restrictions"]["description"] == "Restrictions. Required when `can_swim` is false."
    assert (props["lengths"]["minimum"], props["lengths"]["maximum"]) == (0, 100)
    assert "Unit: lengths." in props["lengths"]["description"]
    validator = Draft202012Validator(schema)
    assert schema_errors(validator, {"can_swim": False}) == []  # the condition is the validator's
    assert ct.validate(ctype, {"can_swim": False}) != []
    assert schema_errors(validator, {"can_swim": True, "lengths": 101}) != []
