"""RFC 9457 problem documents (`application/problem+json`) for every API error.

Each problem type is a fragment of the reference page (`/api/v1/docs#problem-<name>`), which explains it.
"""
from __future__ import annotations

import json
from typing import Iterable

from flask import Response, request

from ..domain.api_contract import FieldError
from .openapi import PROBLEM_TYPES

# the problem types and their titles are the OpenAPI document's (one list: portal/api/openapi.py)
TITLES = {p.name: (p.status, p.title) for p in PROBLEM_TYPES}
BY_STATUS = {status: name for name, (status, _) in TITLES.items()}


def problem(name: str, detail: str, *, errors: Iterable[FieldError] = (), headers: dict | None = None) -> Response:
    status, title = TITLES[name]
    body: dict = {"type": f"/api/v1/docs#problem-{name}", "title": title, "status": status, "detail": detail,
                  "instance": request.path}
    listed = [e.as_dict() for e in errors]
    if listed:
        body["errors"] = listed
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def for_status(status: int, detail: str | None = None) -> Response:
    """A problem for an HTTP error raised anywhere under /api/ (unknown path, wrong method, 500)."""
    name = BY_STATUS.get(status, "server-error" if status >= 500 else "invalid-json")
    return problem(name, detail or TITLES[name][1])
