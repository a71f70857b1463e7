"""The accessibility statement's facts (issue 16): how and when the portal was last assessed, its conformance
status and its known failures, from ONE file, `accessibility/status.json`, which the accessibility report writes.

The statement page (`/tillganglighet`, accessibility/statement_{sv,en}.html) shows what `load` returns; nothing on
it about conformance is written by hand. The status follows from the known failures (`derive_status`): fully
compliant ("full") only when there are none, otherwise partly ("partial"). The file names the status too, so a
reader of the file sees it; tests/integration/test_accessibility_statement.py checks that it says what the
failures say, and the page always shows the derived one.

The file:

    {"tested_on": "2026-12-01",            the date of the assessment (the report's date)
     "updated_on": "2026-12-01",           when the statement was last updated (optional: tested_on)
     "assessment": "self",                 "self" (our own tests) or "external" (an independent audit)
     "methods": ["axe", "keyboard", …],    how it was tested: codes from METHODS (the page words each)
     "pages_checked": 123,                 optional: how many pages and states the automatic checks covered
     "status": "full",                     "full", "partial" or "none"
     "known_failures": [{"criterion": "1.4.10", "title_sv": …, "title_en": …, "where_sv": …, "where_en": …,
                         "plan_sv": …, "plan_en": …}],
     "manual_only": [{"criteria": ["1.2.1", …], "note_sv": …, "note_en": …}]}

Every criterion must be a WCAG 2.1 success criterion of level A or AA (what EN 301 549 and the law require).
No Flask, no database.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

FULL, PARTIAL, NONE = "full", "partial", "none"
STATUSES = (FULL, PARTIAL, NONE)
ASSESSMENTS = ("self", "external")
#: how the portal can have been tested (the statement has words for each)
METHODS = ("axe", "states", "keyboard", "layout", "lighthouse", "documents", "review", "external_audit",
           "user_testing")

#: WCAG 2.1's success criteria of levels A and AA (50): the ones the law (EN 301 549, chapter 9) requires
WCAG21_A_AA = frozenset("""
1.1.1 1.2.1 1.2.2 1.2.3 1.2.4 1.2.5 1.3.1 1.3.2 1.3.3 1.3.4 1.3.5
1.4.1 1.4.2 1.4.3 1.4.4 1.4.5 1.4.10 1.4.11 1.4.12 1.4.13
2.1.1 2.1.2 2.1.4 2.2.1 2.2.2 2.3.1 2.4.1 2.4.2 2.4.3 2.4.4 2.4.5 2.4.6 2.4.7 2.5.1 2.5.2 2.5.3 2.5.4
3.1.1 3.1.2 3.2.1 3.2.2 3.2.3 3.2.4 3.3.1 3.3.2 3.3.3 3.3.4
4.1.1 4.1.2 4.1.3
""".split())

FAILURE_TEXTS = ("title_sv", "title_en", "where_sv", "where_en")
FAILURE_OPTIONAL = ("plan_sv", "plan_en")


class StatusFileError(ValueError):
    """The status file is missing, not JSON, or does not hold what it must (the message says what)."""


@dataclass(frozen=True)
class KnownFailure:
    criterion: str
    title: dict[str, str]  # {"sv": …, "en": …}
    where: dict[str, str]
    plan: dict[str, str]  # empty texts when there is no plan yet


@dataclass(frozen=True)
class ManualCheck:
    criteria: tuple[str, ...]
    note: dict[str, str]


@dataclass(frozen=True)
class A11yStatus:
    tested_on: date
    updated_on: date
    assessment: str
    methods: tuple[str, ...]
    pages_checked: int | None
    stated_status: str  # what the file says
    known_failures: tuple[KnownFailure, ...]
    manual_only: tuple[ManualCheck, ...]

    @property
    def status(self) -> str:
        """The conformance status, from the known failures (what the page shows)."""
        return derive_status(self.known_failures)

    @property
    def consistent(self) -> bool:
        return self.stated_status == self.status


def derive_status(known_failures: tuple[KnownFailure, ...] | list[Any]) -> str:
    """Fully compliant only with no known failure; any known failure makes it partly compliant."""
    return FULL if not known_failures else PARTIAL


def _date(data: Mapping[str, Any], key: str, problems: list[str], default: date | None = None) -> date:
    value = data.get(key)
    if value is None and default is not None:
        return default
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{key}: an ISO date (YYYY-MM-DD) is needed, not {value!r}")
        return date.min


def _text(item: Mapping[str, Any], key: str, where: str, problems: list[str], required: bool = True) -> str:
    value = item.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{where}.{key}: a text is needed")
        return ""
    return value.strip()


def _criterion(value: Any, where: str, problems: list[str]) -> str:
    if not isinstance(value, str) or value not in WCAG21_A_AA:
        problems.append(f"{where}: {value!r} is not a WCAG 2.1 success criterion of level A or AA")
        return ""
    return value


def _failure(item: Any, n: int, problems: list[str]) -> KnownFailure | None:
    where = f"known_failures[{n}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where}: an object is needed")
        return None
    criterion = _criterion(item.get("criterion"), f"{where}.criterion", problems)
    texts = {key: _text(item, key, where, problems) for key in FAILURE_TEXTS}
    texts |= {key: _text(item, key, where, problems, required=False) for key in FAILURE_OPTIONAL}
    return KnownFailure(criterion,
                        {"sv": texts["title_sv"], "en": texts["title_en"]},
                        {"sv": texts["where_sv"], "en": texts["where_en"]},
                        {"sv": texts["plan_sv"], "en": texts["plan_en"]})


def _manual(item: Any, n: int, problems: list[str]) -> ManualCheck | None:
    where = f"manual_only[{n}]"
    if not isinstance(item, Mapping):
        problems.append(f"{where}: an object is needed")
        return None
    criteria = item.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        problems.append(f"{where}.criteria: a list of success criteria is needed")
        criteria = []
    found = tuple(_criterion(c, f"{where}.criteria", problems) for c in criteria)
    return ManualCheck(found, {"sv": _text(item, "note_sv", where, problems),
                               "en": _text(item, "note_en", where, problems)})


def _list(data: Mapping[str, Any], key: str, problems: list[str]) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{key}: a list is needed")
        return []
    return value


def parse(data: Any) -> A11yStatus:
    """The status file's content checked; StatusFileError names every problem at once."""
    if not isinstance(data, Mapping):
        raise StatusFileError("the status file must hold a JSON object")
    problems: list[str] = []
    tested_on = _date(data, "tested_on", problems)
    updated_on = _date(data, "updated_on", problems, default=tested_on)
    assessment = data.get("assessment")
    if assessment not in ASSESSMENTS:
        problems.append(f"assessment: one of {', '.join(ASSESSMENTS)}, not {assessment!r}")
    methods = _list(data, "methods", problems)
    if not methods:
        problems.append("methods: at least one method is needed")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        problems.append(f"methods: unknown {unknown!r} (known: {', '.join(METHODS)})")
    pages = data.get("pages_checked")
    if pages is not None and (not isinstance(pages, int) or isinstance(pages, bool) or pages < 1):
        problems.append(f"pages_checked: a positive whole number or null, not {pages!r}")
    status = data.get("status")
    if status not in STATUSES:
        problems.append(f"status: one of {', '.join(STATUSES)}, not {status!r}")
    failures = [_failure(item, n, problems) for n, item in enumerate(_list(data, "known_failures", problems))]
    manual = [_manual(item, n, problems) for n, item in enumerate(_list(data, "manual_only", problems))]
    if problems:
        raise StatusFileError("; ".join(problems))
    return A11yStatus(tested_on=tested_on, updated_on=updated_on, assessment=str(assessment),
                      methods=tuple(str(m) for m in methods), pages_checked=pages, stated_status=str(status),
                      known_failures=tuple(f for f in failures if f is not None),
                      manual_only=tuple(m for m in manual if m is not None))


_cache: dict[str, tuple[int, A11yStatus]] = {}


def load(path: Path) -> A11yStatus:
    """The status file read and checked, read again only when it changed (the report may rewrite it while the
    portal runs)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as err:
        raise StatusFileError(f"{path}: cannot be read ({err.strerror})") from err
    cached = _cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StatusFileError(f"{path}: not a readable JSON file ({err})") from err
    found = parse(data)
    _cache[str(path)] = (stamp, found)
    return found
