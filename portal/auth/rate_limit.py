"""The rate limiter: LOGIN_RATE_LIMIT per client address on login and callback, API_RATE_LIMIT per API client
(portal/api). One flask-limiter object for the process; its counters live in the database
(rate_store.DatabaseStorage), so every app process counts together.

The client address is `request.remote_addr`: with PROXY_COUNT > 0, create_app wraps the app in werkzeug's
ProxyFix, which takes the address the nearest trusted proxy saw from X-Forwarded-For. Without it, behind a
proxy every client would share the proxy's address and one address could lock everyone out.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter

from .. import db
from . import rate_store


def client_address() -> str:
    return request.remote_addr or "unknown"


limiter = Limiter(client_address, default_limits=[])


def login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def init_app(app: Flask) -> None:
    """The counters go to the database unless RATELIMIT_STORAGE_URI names another storage."""
    uri = app.config.setdefault("RATELIMIT_STORAGE_URI", rate_store.URI)
    app.config.setdefault("RATELIMIT_STRATEGY", "fixed-window")
    if uri == rate_store.URI:
        options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        options["engine"] = db.get_engine(app)  # outside an app context (the app's engine is used inside one)
        app.config["RATELIMIT_STORAGE_OPTIONS"] = options
    limiter.init_app(app)
