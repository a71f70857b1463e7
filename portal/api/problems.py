"""RFC 9457 problem documents (`application/problem+json`) for every API error.

Each problem type is a fragment of the reference page (`/api/v1/docs#problem-<name>`), which explains it.
"""
from __future__ import annotations

import json
from typing import Iterable

from flask import Response, request

from ..domain.api_contract import FieldError

TITLES = {
    "invalid-json": (400, "The body is not valid JSON"),
    "unauthorized": (401, "A valid access token is needed"),
    "forbidden": (403, "The token does not allow this"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflicts with what is stored"),
    "too-large": (413, "The request is too large"),
    "unsupported-media-type": (415, "The body must be application/json"),
    "invalid": (422, "The request has problems"),
    "rate-limited": (429, "Too many requests"),
    "server-error": (500, "Something went wrong on our side"),
    "unavailable": (503, "The service cannot answer right now"),
}
BY_STATUS = {status: name for name, (status, _) in TITLES.items()}


def problem(name: str, detail: str, *, errors: Iterable[FieldError] = (), headers: dict | None = None) -> Response:
    status, title = TITLES[name]
    body: dict = {"type": f"/api/v1/docs#problem-{name}", "title": title, "status": status, "detail": detail,
                  "instance": request.path}
    errors = [e.as_dict() for e in errors]
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def for_status(status: int, detail: str | None = None) -> Response:
    """A problem for an HTTP error raised anywhere under /api/ (unknown path, wrong method, 500)."""
    name = BY_STATUS.get(status, "server-error" if status >= 500 else "invalid-json")
    return problem(name, detail or TITLES[name][1])
