"""Configuration: an embedded default for development, a strict production mode, and tests.

Everything can be set with environment variables (see README, "Configuration").
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secret_key() -> str:
    """A per-checkout random key kept in instance/ so sessions survive restarts in development."""
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class ConfigError(RuntimeError):
    pass


def from_env() -> dict:
    """Read the configuration from the environment."""
    env = os.environ.get("PORTAL_ENV", "development")
    production = env == "production"
    cfg: dict = {
        "PORTAL_ENV": env,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'portal.sqlite'}"),
        "AUTO_MIGRATE": _bool("PORTAL_AUTO_MIGRATE", not production),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or (None if production else _dev_secret_key()),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "CERTIFICATE_TYPE_DIRS": [p for p in os.environ.get("CERTIFICATE_TYPE_DIRS", "").split(os.pathsep) if p],
    }
    if production:
        missing = [k for k in ("SECRET_KEY",) if not cfg[k]]
        if "DATABASE_URL" not in os.environ:
            missing.append("DATABASE_URL")
        if missing:
            raise ConfigError("Production mode needs these settings: " + ", ".join(missing))
    return cfg


DEFAULTS: dict = {
    "BABEL_DEFAULT_LOCALE": "sv",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Stockholm",
    "LANGUAGES": ("sv", "en"),
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": 30 * 60,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "WTF_CSRF_SSL_STRICT": False,  # Origin/Referer is checked by SameSite and our own header rule
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "TEMPLATES_AUTO_RELOAD": False,
    "JSON_SORT_KEYS": False,
}
