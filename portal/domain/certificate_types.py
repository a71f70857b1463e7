"""Certificate types as data, and the one validator that checks a certificate against its type.

Each type is a YAML file (see docs/certificate-types.md). This module reads the files, checks the
definitions themselves, and validates certificate content. It imports no Flask and does no I/O
beyond reading the definition files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "certificate_types"

SIMPLE_KINDS = {"text", "date", "year", "integer", "decimal", "date_range", "yes_no", "checkbox",
                "choice", "multi_choice"}
KINDS = SIMPLE_KINDS | {"sick_leave_periods", "diagnoses", "dated_choices", "icf", "rows"}
ICD10_RE = re.compile(r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?[-]?$")
ICF_RE = re.compile(r"^[bdse][0-9]{1,5}$")
REHAB_VALUES = {"list", "lakarutlatande", "patient_view", "none"}


class DefinitionError(ValueError):
    """A type definition file is malformed."""


@dataclass(frozen=True)
class Text:
    sv: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.sv

    @classmethod
    def of(cls, raw: Any, where: str) -> Text:
        if not isinstance(raw, dict) or not raw.get("sv") or not raw.get("en"):
            raise DefinitionError(f"{where}: needs both 'sv' and 'en' text")
        return cls(str(raw["sv"]), str(raw["en"]))


@dataclass(frozen=True)
class Option:
    value: str
    label: Text


@dataclass(frozen=True)
class Condition:
    question: str
    equals: Any = None
    includes: Any = None
    in_: tuple = ()
    has_degree_in: tuple = ()

    def holds(self, content: dict[str, Any]) -> bool:
        answer = content.get(self.question)
        if self.has_degree_in:
            return isinstance(answer, list) and any(isinstance(p, dict) and p.get("degree") in self.has_degree_in
                                                    for p in answer)
        if self.includes is not None:
            if isinstance(answer, list):
                return any(a == self.includes or (isinstance(a, dict) and a.get("type") == self.includes)
                           for a in answer)
            return False
        if self.in_:
            return answer in self.in_
        return answer == self.equals


@dataclass(frozen=True)
class Question:
    id: str
    label: Text
    kind: str
    ref: str | None = None
    help: Text | None = None
    text: Text | None = None
    required: bool = False
    required_when: Condition | None = None
    required_unless: Condition | None = None
    medical: bool = False
    role: str | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min: float | None = None
    max: float | None = None
    unit: Text | None = None
    degrees: tuple[float, ...] = ()
    options: tuple[Option, ...] = ()
    exclusive: tuple[str, ...] = ()
    fields: tuple[Question, ...] = ()

    def option_label(self, value: Any, lang: str) -> str:
        for option in self.options:
            if option.value == value:
                return option.label.get(lang)
        return str(value)


@dataclass(frozen=True)
class Section:
    id: str
    title: Text
    questions: tuple[Question, ...]
    at_least_one: bool = False  # at least one of the section's questions must be answered


@dataclass(frozen=True)
class CertificateType:
    code: str
    version: str
    name: Text
    sections: tuple[Section, ...]
    description: Text | None = None
    recipient: str | None = None
    recipient_at_signing: str | None = None
    citizen_visible: bool = True
    sick_leave: bool = False
    rehab: str = "none"
    employer_copy: bool = False
    source: str = ""
    _by_id: dict[str, Question] = field(default_factory=dict, compare=False, repr=False)

    def questions(self) -> Iterator[Question]:
        for section in self.sections:
            yield from section.questions

    def question(self, qid: str) -> Question | None:
        return self._by_id.get(qid)

    def first_of_kind(self, kind: str) -> Question | None:
        return next((q for q in self.questions() if q.kind == kind), None)

    def with_role(self, role: str) -> Question | None:
        return next((q for q in self.questions() if q.role == role), None)


# --- reading definitions ----------------------------------------------------------------------

def _question(raw: Any, where: str, *, nested: bool = False) -> Question:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: a question must be a mapping")
    qid, kind = raw.get("id"), raw.get("kind")
    if not qid or not isinstance(qid, str):
        raise DefinitionError(f"{where}: question without an 'id'")
    where = f"{where} question '{qid}'"
    allowed = SIMPLE_KINDS if nested else KINDS
    if kind not in allowed:
        raise DefinitionError(f"{where}: unknown kind {kind!r} (one of {', '.join(sorted(allowed))})")
    raw_options = raw.get("options") or []
    if not isinstance(raw_options, list) or any(not isinstance(o, dict) or o.get("value") in (None, "")
                                                for o in raw_options):
        raise DefinitionError(f"{where}: every option needs a value and a label")
    options = tuple(Option(str(o["value"]), Text.of(o.get("label"), f"{where} option {o.get('value')!r}"))
                    for o in raw_options)
    if kind in {"choice", "multi_choice", "dated_choices"} and not options:
        raise DefinitionError(f"{where}: kind {kind} needs options")
    if len({o.value for o in options}) != len(options):
        raise DefinitionError(f"{where}: option values must be unique")
    def condition(name: str) -> Condition | None:
        rw = raw.get(name)
        if not rw:
            return None
        if not isinstance(rw, dict) or not rw.get("question"):
            raise DefinitionError(f"{where}: {name} needs a question")
        return Condition(question=rw["question"], equals=rw.get("equals"), includes=rw.get("includes"),
                         in_=tuple(rw.get("in") or ()), has_degree_in=tuple(rw.get("has_degree_in") or ()))
    fields: tuple[Question, ...] = ()
    if kind == "rows":
        if not raw.get("fields"):
            raise DefinitionError(f"{where}: kind rows needs fields")
        fields = tuple(_question(f, where, nested=True) for f in raw["fields"])
    degrees = tuple(raw.get("degrees") or ((25, 50, 75, 100) if kind == "sick_leave_periods" else ()))
    return Question(
        id=qid, kind=kind, label=Text.of(raw.get("label"), where), ref=str(raw["ref"]) if raw.get("ref") else None,
        help=Text.of(raw["help"], where) if raw.get("help") else None,
        text=Text.of(raw["text"], where) if raw.get("text") else None,
        required=bool(raw.get("required", False)), required_when=condition("required_when"),
        required_unless=condition("required_unless"), medical=bool(raw.get("medical", False)),
        role=raw.get("role"), max_length=raw.get("max_length"), min_items=raw.get("min_items"),
        max_items=raw.get("max_items"), min=raw.get("min"), max=raw.get("max"),
        unit=Text.of(raw["unit"], where) if raw.get("unit") else None, degrees=degrees, options=options,
        exclusive=tuple(raw.get("exclusive") or ()), fields=fields,
    )


def parse_definition(raw: Any, source: str = "<memory>") -> CertificateType:
    """Build a CertificateType from a parsed YAML document, checking the definition itself."""
    if not isinstance(raw, dict) or not raw.get("code"):
        raise DefinitionError(f"{source}: a type needs a 'code'")
    where = f"{source} ({raw['code']})"
    if raw.get("rehab", "none") not in REHAB_VALUES:
        raise DefinitionError(f"{where}: rehab must be one of {sorted(REHAB_VALUES)}")
    sections = []
    by_id: dict[str, Question] = {}
    section_ids: set[str] = set()
    for s in raw.get("sections") or []:
        if s.get("id") in section_ids:
            raise DefinitionError(f"{where}: section id {s.get('id')!r} is used twice")
        section_ids.add(s.get("id"))
        title = Text.of(s.get("title"), f"{where} section {s.get('id')!r}")
        questions = tuple(_question(q, f"{where} section {s.get('id')!r}") for q in s.get("questions") or [])
        for q in questions:
            if q.id in by_id:
                raise DefinitionError(f"{where}: question id {q.id!r} is used twice")
            by_id[q.id] = q
        sections.append(Section(id=str(s.get("id")), title=title, questions=questions,
                                at_least_one=bool(s.get("at_least_one", False))))
    if not sections:
        raise DefinitionError(f"{where}: a type needs sections")
    for q in by_id.values():
        for cond in (q.required_when, q.required_unless):
            if cond and cond.question not in by_id:
                raise DefinitionError(f"{where}: question {q.id!r} depends on unknown question {cond.question!r}")
    return CertificateType(
        code=str(raw["code"]), version=str(raw.get("version", "1.0")), name=Text.of(raw.get("name"), where),
        description=Text.of(raw["description"], where) if raw.get("description") else None,
        sections=tuple(sections), recipient=raw.get("recipient"), recipient_at_signing=raw.get("recipient_at_signing"),
        citizen_visible=bool(raw.get("citizen_visible", True)), sick_leave=bool(raw.get("sick_leave", False)),
        rehab=raw.get("rehab", "none"), employer_copy=bool(raw.get("employer_copy", False)), source=source,
        _by_id=by_id,
    )


class Registry:
    """All known certificate types, by code."""

    def __init__(self, types: Iterable[CertificateType]):
        self._types: dict[str, CertificateType] = {}
        for t in types:
            if t.code in self._types:
                raise DefinitionError(f"type {t.code} is defined twice ({self._types[t.code].source}, {t.source})")
            self._types[t.code] = t

    def get(self, code: str) -> CertificateType | None:
        return self._types.get(code)

    def __getitem__(self, code: str) -> CertificateType:
        return self._types[code]

    def __contains__(self, code: object) -> bool:
        return code in self._types

    def __iter__(self) -> Iterator[CertificateType]:
        return iter(sorted(self._types.values(), key=lambda t: t.code))

    def codes(self) -> list[str]:
        return sorted(self._types)

    def sick_leave_codes(self) -> list[str]:
        return [t.code for t in self if t.sick_leave]

    def citizen_codes(self) -> list[str]:
        return [t.code for t in self if t.citizen_visible]


def load_registry(extra_dirs: Iterable[str | Path] = ()) -> Registry:
    """Read the built-in type files and any extra folders' files (cached per set of folders)."""
    return _load_registry(tuple(str(d) for d in extra_dirs))


@lru_cache(maxsize=8)
def _load_registry(extra_dirs: tuple[str, ...]) -> Registry:
    types = []
    for folder in [BUILTIN_DIR, *map(Path, extra_dirs)]:
        for path in sorted(Path(folder).glob("*.yaml")):
            with path.open(encoding="utf-8") as fh:
                types.append(parse_definition(yaml.safe_load(fh), path.name))
    return Registry(types)


# --- validating certificate content ------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, dict)) and not value)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: Any) -> date | None:
    """A YYYY-MM-DD date (only that form: fromisoformat alone also takes 20270315 and week dates)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _check_number(q: Question, value: Any, path: str, integral: bool) -> list[Problem]:
    ok = isinstance(value, int) if integral else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        return [Problem(path, "must be a whole number" if integral else "must be a number")]
    if q.min is not None and value < q.min or q.max is not None and value > q.max:
        return [Problem(path, f"must be between {q.min} and {q.max}")]
    return []


def _check_text(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    if not isinstance(value, str):
        return [Problem(path, "must be text")]
    if q.max_length and len(value) > q.max_length:
        return [Problem(path, f"is {len(value)} characters; at most {q.max_length} allowed")]
    return []


def _check_date(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    return [] if parse_date(value) else [Problem(path, f"must be a date YYYY-MM-DD, got {value!r}")]


def _check_integer(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    return _check_number(q, value, path, integral=True)


def _check_decimal(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    return _check_number(q, value, path, integral=False)


def _check_bool(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    return [] if isinstance(value, bool) else [Problem(path, "must be true or false")]


def _check_choice(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    values = [o.value for o in q.options]
    return [] if value in values else [Problem(path, f"must be one of {', '.join(values)}, got {value!r}")]


def _check_date_range(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    if not isinstance(value, dict) or set(value) - {"start", "end"}:
        return [Problem(path, "must be an object with start and end")]
    start, end = parse_date(value.get("start")), parse_date(value.get("end"))
    if not start or not end:
        return [Problem(path, "start and end must be dates YYYY-MM-DD")]
    if end < start:
        return [Problem(path, f"period end {end} is before its start {start}")]
    return []


def _check_list_size(q: Question, value: list, path: str) -> list[Problem]:
    problems = []
    if q.min_items is not None and len(value) < q.min_items and value:
        problems.append(Problem(path, f"needs at least {q.min_items} entries"))
    if q.max_items is not None and len(value) > q.max_items:
        problems.append(Problem(path, f"has {len(value)} entries; at most {q.max_items} allowed"))
    return problems


def _check_multi_choice(q: Question, value: list, path: str, signed: date | None) -> list[Problem]:
    problems = []
    values = [o.value for o in q.options]
    for i, v in enumerate(value):
        if v not in values:
            problems.append(Problem(f"{path}[{i}]", f"must be one of {', '.join(values)}, got {v!r}"))
    if len(set(map(str, value))) != len(value):
        problems.append(Problem(path, "has the same choice twice"))
    if any(v in q.exclusive for v in value) and len(value) > 1:
        problems.append(Problem(path, f"{', '.join(q.exclusive)} cannot be combined with other choices"))
    return problems


def _check_dated_choices(q: Question, value: list, path: str, signed: date | None) -> list[Problem]:
    problems = []
    values = [o.value for o in q.options]
    seen = set()
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, dict) or set(item) - {"type", "date"}:
            problems.append(Problem(p, "must be an object with type and date"))
            continue
        if item.get("type") not in values:
            problems.append(Problem(f"{p}.type", f"must be one of {', '.join(values)}, got {item.get('type')!r}"))
        elif item["type"] in seen:
            problems.append(Problem(f"{p}.type", f"{item['type']} is given twice"))
        else:
            seen.add(item["type"])
        d = parse_date(item.get("date"))
        if not d:
            problems.append(Problem(f"{p}.date", f"must be a date YYYY-MM-DD, got {item.get('date')!r}"))
        elif signed and d > signed:
            problems.append(Problem(f"{p}.date", f"{d} is after the signing date {signed}"))
    return problems


def _check_sick_leave_periods(q: Question, value: list, path: str, signed: date | None) -> list[Problem]:
    problems = []
    spans = []
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, dict) or set(item) - {"start", "end", "degree"}:
            problems.append(Problem(p, "must be an object with start, end and degree"))
            continue
        start, end = parse_date(item.get("start")), parse_date(item.get("end"))
        if not start:
            problems.append(Problem(f"{p}.start", f"must be a date YYYY-MM-DD, got {item.get('start')!r}"))
        if not end:
            problems.append(Problem(f"{p}.end", f"must be a date YYYY-MM-DD, got {item.get('end')!r}"))
        if start and end:
            if end < start:
                problems.append(Problem(f"{p}.end", f"period end {end} is before its start {start}"))
            else:
                spans.append((start, end, p))
        if item.get("degree") not in q.degrees or isinstance(item.get("degree"), bool):
            allowed = ", ".join(f"{d:g}" for d in q.degrees)
            problems.append(Problem(f"{p}.degree", f"must be one of {allowed}, got {item.get('degree')!r}"))
    spans.sort()
    for (s1, e1, _), (s2, _, p2) in pairwise(spans):
        if s2 <= e1:
            problems.append(Problem(p2, f"overlaps the period {s1}–{e1}"))
    return problems


def _check_diagnoses(q: Question, value: list, path: str, signed: date | None) -> list[Problem]:
    problems = []
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, dict) or set(item) - {"code", "text"}:
            problems.append(Problem(p, "must be an object with code and text"))
            continue
        code = item.get("code")
        if not isinstance(code, str) or not ICD10_RE.fullmatch(code):
            problems.append(Problem(f"{p}.code", f"must be an ICD-10 code such as M54.5, got {code!r}"))
        if not isinstance(item.get("text"), str) or not item["text"].strip():
            problems.append(Problem(f"{p}.text", "must be the diagnosis in words"))
    return problems


def _check_icf(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    if not isinstance(value, dict) or set(value) - {"categories", "text"}:
        return [Problem(path, "must be an object with categories and text")]
    problems = []
    cats = value.get("categories", [])
    if not isinstance(cats, list) or any(not isinstance(c, str) or not ICF_RE.fullmatch(c) for c in cats):
        problems.append(Problem(f"{path}.categories", "must be a list of ICF codes such as b152 or d850"))
    text = value.get("text", "")
    if not isinstance(text, str):
        problems.append(Problem(f"{path}.text", "must be text"))
    elif q.max_length and len(text) > q.max_length:
        problems.append(Problem(f"{path}.text", f"is {len(text)} characters; at most {q.max_length} allowed"))
    return problems


def _check_rows(q: Question, value: list, path: str, signed: date | None) -> list[Problem]:
    problems = []
    for i, row in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(row, dict):
            problems.append(Problem(p, "must be an object"))
            continue
        problems += _check_answers(q.fields, row, p, signed)
    return problems


_Check = Callable[[Question, Any, str, date | None], list[Problem]]
#: the check of one answer, by question kind; a list kind's value is known to be a list of the right size
_CHECKS: dict[str, _Check] = {
    "text": _check_text, "date": _check_date, "year": _check_integer, "integer": _check_integer,
    "decimal": _check_decimal, "yes_no": _check_bool, "checkbox": _check_bool, "choice": _check_choice,
    "date_range": _check_date_range, "multi_choice": _check_multi_choice, "dated_choices": _check_dated_choices,
    "sick_leave_periods": _check_sick_leave_periods, "diagnoses": _check_diagnoses, "icf": _check_icf,
    "rows": _check_rows,
}
_LIST_KINDS = {"multi_choice", "sick_leave_periods", "diagnoses", "dated_choices", "rows"}


def _check_value(q: Question, value: Any, path: str, signed: date | None) -> list[Problem]:
    problems: list[Problem] = []
    if q.kind in _LIST_KINDS:
        if not isinstance(value, list):
            return [Problem(path, "must be a list")]
        problems += _check_list_size(q, value, path)
    check = _CHECKS.get(q.kind)
    if check is not None:
        problems += check(q, value, path, signed)
    return problems


def _check_answers(questions: Iterable[Question], content: dict[str, Any], prefix: str,
                   signed: date | None) -> list[Problem]:
    questions = list(questions)
    known = {q.id for q in questions}
    problems = [Problem(f"{prefix}.{key}", "is not a question of this type") for key in content if key not in known]
    for q in questions:
        path = f"{prefix}.{q.id}"
        value = content.get(q.id)
        needed = (q.required and not (q.required_unless is not None and q.required_unless.holds(content))) or (
            q.required_when is not None and q.required_when.holds(content))
        if _is_empty(value) or (q.kind == "icf" and isinstance(value, dict) and _is_empty(value.get("text"))
                                and not value.get("categories")):
            if needed:
                problems.append(Problem(path, "is required"))
            if value is None:
                continue
        problems += _check_value(q, value, path, signed)
    return problems


def validate(ctype: CertificateType, content: Any, signed: date | None = None) -> list[Problem]:
    """Check a certificate's content against its type. Returns the problems (empty = valid)."""
    if not isinstance(content, dict):
        return [Problem("content", "must be an object of answers")]
    problems = _check_answers(ctype.questions(), content, "content", signed)
    for section in ctype.sections:
        if section.at_least_one and all(_is_empty(content.get(q.id)) for q in section.questions):
            problems.append(Problem(f"content.{section.id}", "answer at least one of: "
                                    + ", ".join(q.id for q in section.questions)))
    return problems


# --- reading the main parts -------------------------------------------------------------------

def sick_leave_periods(ctype: CertificateType, content: dict[str, Any]) -> list[dict[str, Any]]:
    q = ctype.first_of_kind("sick_leave_periods")
    periods = content.get(q.id) if q else None
    return sorted(periods or [], key=lambda p: p["start"])


def diagnoses(ctype: CertificateType, content: dict[str, Any]) -> list[dict[str, Any]]:
    q = ctype.first_of_kind("diagnoses")
    return list(content.get(q.id) or []) if q else []


def main_diagnosis(ctype: CertificateType, content: dict[str, Any]) -> str | None:
    found = diagnoses(ctype, content)
    return found[0]["code"] if found else None


def sick_leave_span(ctype: CertificateType, content: dict[str, Any]) -> tuple[date, date] | None:
    periods = sick_leave_periods(ctype, content)
    if not periods:
        return None
    return (min(date.fromisoformat(p["start"]) for p in periods),
            max(date.fromisoformat(p["end"]) for p in periods))


def engine_data(ctype: CertificateType, content: dict[str, Any]) -> str | None:
    """The few answers the sick-leave engine reads, as compact JSON stored beside the certificate, so a
    unit's list never parses thousands of whole certificates: {"p": [[start, end, degree], ...],
    "d": [diagnosis codes], "o": [occupation codes]}. None for types that don't count for sick leave."""
    import json

    if not ctype.sick_leave:
        return None
    occ = ctype.with_role("occupation")
    occupation = content.get(occ.id) if occ else None
    data = {"p": [[p["start"], p["end"], p["degree"]] for p in sick_leave_periods(ctype, content)],
            "d": [d["code"] for d in diagnoses(ctype, content)],
            "o": occupation if isinstance(occupation, list) else ([occupation] if occupation else [])}
    return json.dumps(data, separators=(",", ":"))
