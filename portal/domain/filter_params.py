"""Reading a list's filters from query parameters, shared by Rehabstöd's lists: the error codes (the
blueprint turns them into messages that say how to fix the field), the parsing helpers, the removable
filter tags and Swedish alphabetical order. Pure."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date

# --- Error codes (the blueprint turns them into messages that say how to fix the field) --------

MISSING = "missing"
NOT_A_NUMBER = "not_a_number"
OUT_OF_RANGE = "out_of_range"
NOT_A_DATE = "not_a_date"
FROM_AFTER_TO = "from_after_to"
TOO_LONG = "too_long"


ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
WHOLE_NUMBER = re.compile(r"^[0-9]+$")


def values(args: Mapping[str, Sequence[str]], param: str) -> list[str]:
    """The non-empty, trimmed values of a parameter, without repeats, in order."""
    raw = args.get(param) or []
    if isinstance(raw, str):  # a plain dict of strings works too
        raw = [raw]
    seen: list[str] = []
    for value in raw:
        value = (value or "").strip()
        if value and value not in seen:
            seen.append(value)
    return seen


def first(args: Mapping[str, Sequence[str]], param: str) -> str | None:
    found = values(args, param)
    return found[0] if found else None


def one_text(form: Mapping[str, object], name: str) -> str:
    """A posted form's (or query's) field as one text: its first value, "" when it is missing or empty."""
    value = form.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def choices(args: Mapping[str, Sequence[str]], param: str,
             allowed: Sequence[str]) -> tuple[str, ...]:
    """Known choice values in the order of ``allowed``; unknown ones are dropped silently."""
    given = set(values(args, param))
    return tuple(v for v in allowed if v in given)


def parse_int(value: str | None, param: str, allowed: range,
               errors: list[tuple[str, str]]) -> int | None:
    if value is None:
        return None
    if not WHOLE_NUMBER.match(value):
        errors.append((param, NOT_A_NUMBER))
        return None
    number = int(value) if len(value) <= 6 else None  # int() refuses huge digit strings
    if number is None or number not in allowed:
        errors.append((param, OUT_OF_RANGE))
        return None
    return number


def parse_date(value: str | None, param: str, errors: list[tuple[str, str]]) -> date | None:
    if value is None:
        return None
    try:
        if not ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.append((param, NOT_A_DATE))
        return None


def without(query: list[tuple[str, str]], param: str, value: str | None = None) -> list[tuple[str, str]]:
    """A list's query without one chosen value (or every value of `param`): the link of a removable tag."""
    return [(p, v) for p, v in query if not (p == param and (value is None or v == value))]


def tags(query: list[tuple[str, str]], without: Callable[[str, str], list[tuple[str, str]]],
         not_filters: frozenset[str]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Each chosen filter value as (parameter, value, the query without it): the removable tags (the
    parameters in `not_filters`, such as the sort, are not filters and stay in every tag's query)."""
    return [(p, v, without(p, v)) for p, v in query if p not in not_filters]


_SWEDISH = str.maketrans({"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}",
                          "é": "e", "è": "e", "ü": "y", "á": "a", "à": "a"})


def swedish_key(text: str | None) -> str:
    """A sort key for Swedish alphabetical order, case-insensitive."""
    return (text or "").casefold().translate(_SWEDISH)
