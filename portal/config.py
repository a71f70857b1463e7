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


def _dev_secret_key(name: str = "secret_key") -> str:
    """A per-checkout random key kept in instance/ so sessions (and the PDL chain) survive restarts in
    development."""
    path = INSTANCE / name
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class ConfigError(RuntimeError):
    pass


#: The known environments: the embedded default, the test suite, production. Anything else refuses to start.
ENVIRONMENTS = ("development", "test", "production")
#: The HSTS max-age production sends at least (one year).
MIN_HSTS_SECONDS = 365 * 24 * 3600
#: The shortest key production accepts for the PDL chain and checkpoint keys (characters).
MIN_KEY_LENGTH = 32


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return float(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}.") from None


#: The notices' sender (MAIL_FROM) unless set: a domain that cannot receive mail, so nobody answers it.
DEFAULTS_MAIL_FROM = "Intygsportalen <no-reply@intygsportalen.invalid>"

#: The log formats (LOG_FORMAT): one JSON object a line (production's default) or a readable line.
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_format(env: str | None = None) -> str:
    """LOG_FORMAT, by default json in production and text elsewhere (gunicorn.conf.py asks it too)."""
    env = env or os.environ.get("PORTAL_ENV", "development")
    value = (os.environ.get("LOG_FORMAT") or ("json" if env == "production" else "text")).strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {value!r}.")
    return value


def _log_level() -> str:
    value = (os.environ.get("LOG_LEVEL") or "INFO").strip().upper()
    if value not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {value!r}.")
    return value


def _metrics_token(production: bool) -> str | None:
    """METRICS_TOKEN: the bearer token /metrics also answers (unset: loopback only); production wants a long one."""
    token = os.environ.get("METRICS_TOKEN") or None
    if production and token is not None and len(token) < MIN_KEY_LENGTH:
        raise ConfigError(f"METRICS_TOKEN must be at least {MIN_KEY_LENGTH} characters in production (or unset: "
                          "then /metrics answers loopback only).")
    return token


def from_env() -> dict:
    """Read the configuration from the environment."""
    env = os.environ.get("PORTAL_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"
    cfg: dict = {
        "PORTAL_ENV": env,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'portal.sqlite'}"),
        "AUTO_MIGRATE": _bool("PORTAL_AUTO_MIGRATE", not production),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or (None if production else _dev_secret_key()),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        "HSTS_SECONDS": _int("HSTS_SECONDS", MIN_HSTS_SECONDS if production else 0),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "CERTIFICATE_TYPE_DIRS": [p for p in os.environ.get("CERTIFICATE_TYPE_DIRS", "").split(os.pathsep) if p],
        "TEST_BROKER_ENABLED": _bool("TEST_BROKER_ENABLED", env == "development"),
        "PERSON_SERVICE_MODE": os.environ.get("PERSON_SERVICE_MODE", "ok"),
        # development and tests only (production refuses them): switches read by every process at once
        "PERSON_SERVICE_MODE_FILE": os.environ.get("PERSON_SERVICE_MODE_FILE") or None,
        "RECIPIENT_SIMULATOR_CONTROL_FILE": os.environ.get("RECIPIENT_SIMULATOR_CONTROL_FILE") or None,
        "RECIPIENT_SIMULATOR_DELAY": _float("RECIPIENT_SIMULATOR_DELAY", 1.5),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20 per minute"),
        "FEEDBACK_RATE_LIMIT": os.environ.get("FEEDBACK_RATE_LIMIT", "10 per hour"),
        "ORGANISATION_NAME": os.environ.get("ORGANISATION_NAME", "").strip(),
        "RECIPIENT_SIMULATOR_ENABLED": _bool("RECIPIENT_SIMULATOR_ENABLED", env == "development"),
        "OUTBOX_WORKER_EMBEDDED": _bool("OUTBOX_WORKER_EMBEDDED", env == "development"),
        "RECIPIENT_TIMEOUT": _float("RECIPIENT_TIMEOUT", 5),
        "SEND_GIVE_UP_AFTER": _int("SEND_GIVE_UP_AFTER", 86400),
        "OUTBOX_LEASE_SECONDS": _int("OUTBOX_LEASE_SECONDS", 60),
        "OUTBOX_WORKER_INTERVAL": _float("OUTBOX_WORKER_INTERVAL", 2),
        # Intygsstatistik in the embedded default: the delivery thread's incremental run when data changed (s; 0:
        # never), and `portal load` running it after a batch
        "STATISTICS_INTERVAL": _float("STATISTICS_INTERVAL", 60),
        "STATISTICS_AFTER_LOAD": _bool("STATISTICS_AFTER_LOAD", env == "development"),
        # big Rehabstöd exports: more rows than this are made in the background (portal/rehab/exports.py)
        "EXPORT_INLINE_ROWS": _int("EXPORT_INLINE_ROWS", 100),
        "EXPORT_INLINE_ROWS_XLSX": _int("EXPORT_INLINE_ROWS_XLSX", 5000),
        "EXPORT_KEEP_SECONDS": _int("EXPORT_KEEP_SECONDS", 3600),
        "EXPORT_LEASE_SECONDS": _int("EXPORT_LEASE_SECONDS", 600),
        "API_OAUTH_AUDIENCE": os.environ.get("API_OAUTH_AUDIENCE", "intygsportalen-api"),
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "3000 per minute"),
        # the employer's share links (portal/employer): openings and code tries per link and per client address
        "SHARE_RATE_LIMIT_LINK": os.environ.get("SHARE_RATE_LIMIT_LINK", "30 per hour"),
        "SHARE_RATE_LIMIT_ADDRESS": os.environ.get("SHARE_RATE_LIMIT_ADDRESS", "120 per hour"),
        "API_MAX_BODY_BYTES": _int("API_MAX_BODY_BYTES", 256 * 1024),
        # the PDL log's keyed hash chain and its signed checkpoints (issue 12): keys never in the database
        "PDL_CHAIN_KEY": os.environ.get("PDL_CHAIN_KEY") or (None if production else _dev_secret_key("pdl_chain_key")),
        "PDL_CHECKPOINT_KEY": os.environ.get("PDL_CHECKPOINT_KEY")
        or (None if production else _dev_secret_key("pdl_checkpoint_key")),
        "PDL_CHECKPOINT_FILE": os.environ.get("PDL_CHECKPOINT_FILE", str(INSTANCE / "pdl-checkpoints.log")),
        "PDL_CHECKPOINT_EVERY": _int("PDL_CHECKPOINT_EVERY", 100),
        # sessions and login
        "SESSION_ABSOLUTE_SECONDS": _int("SESSION_ABSOLUTE_SECONDS", 12 * 3600),
        "STAFF_RIGHTS_RECHECK_SECONDS": _int("STAFF_RIGHTS_RECHECK_SECONDS", 300),
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        # e-mail notices to a unit when FK writes (portal/notices.py): SMTP when MAIL_SMTP_HOST is set, else the
        # mailbox file MAIL_MBOX_PATH (the embedded default)
        "MAIL_SMTP_HOST": os.environ.get("MAIL_SMTP_HOST") or None,
        "MAIL_SMTP_PORT": _int("MAIL_SMTP_PORT", 587 if _bool("MAIL_SMTP_STARTTLS", production) else 25),
        "MAIL_SMTP_USER": os.environ.get("MAIL_SMTP_USER") or None,
        "MAIL_SMTP_PASSWORD": os.environ.get("MAIL_SMTP_PASSWORD") or None,
        "MAIL_SMTP_STARTTLS": _bool("MAIL_SMTP_STARTTLS", production),
        "MAIL_FROM": os.environ.get("MAIL_FROM") or DEFAULTS_MAIL_FROM,
        "MAIL_MBOX_PATH": os.environ.get("MAIL_MBOX_PATH") or str(INSTANCE / "mail" / "outbox.mbox"),
        "MAIL_TIMEOUT": _float("MAIL_TIMEOUT", 10),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 12),
        "MAIL_COALESCE_SECONDS": _float("MAIL_COALESCE_SECONDS", 60),
        "MAIL_BATCH": _int("MAIL_BATCH", 20),
        # logs and metrics (portal/observability.py, docs/operations.md)
        "LOG_FORMAT": log_format(env),
        "LOG_LEVEL": _log_level(),
        "METRICS_TOKEN": _metrics_token(production),
    }
    for key in ("API_OAUTH_ISSUER", "API_OAUTH_JWKS_URL", "API_OAUTH_TOKEN_URL", "PDF_CACHE_DIR",
                "TEST_BROKER_KEY_FILE"):
        if os.environ.get(key):
            cfg[key] = os.environ[key]
    endpoints = {r: os.environ[f"RECIPIENT_ENDPOINT_{r}"] for r in ("FK", "TS")
                 if os.environ.get(f"RECIPIENT_ENDPOINT_{r}")}
    if endpoints:
        cfg["RECIPIENT_ENDPOINTS"] = endpoints
    for prefix in ("CITIZEN_OIDC_", "STAFF_OIDC_"):
        for key, value in os.environ.items():
            if key.startswith(prefix):
                cfg[key] = value.split(",") if key.endswith(("_ACR", "_CLAIMS")) else value
    if production:
        _check_production(cfg)
    return cfg


#: The stand-ins for the outside world, for development, tests and demos only.
_NEVER_IN_PRODUCTION = (
    ("TEST_BROKER_ENABLED", "The embedded test broker must not run in production: unset TEST_BROKER_ENABLED."),
    ("RECIPIENT_SIMULATOR_ENABLED",
     "The recipient simulator must not run in production: unset RECIPIENT_SIMULATOR_ENABLED."),
    ("PERSON_SERVICE_MODE_FILE", "PERSON_SERVICE_MODE_FILE is a switch for tests and demos: unset it in production."),
)


def _check_production(cfg: dict) -> None:
    """Production refuses to start without the settings it cannot guess or with an unsafe one: HTTPS-only
    cookies and HSTS, a database URL, both recipients' HTTPS endpoints, the PDL keys, the API's token
    issuer, and never the test broker or the recipient simulator."""
    if not (cfg.get("API_OAUTH_ISSUER") and cfg.get("API_OAUTH_JWKS_URL")):
        raise ConfigError("Production mode needs API_OAUTH_ISSUER and API_OAUTH_JWKS_URL (the authorization "
                          "server that issues the API clients' access tokens).")
    endpoints = cfg.get("RECIPIENT_ENDPOINTS", {})
    if set(endpoints) != {"FK", "TS"}:
        raise ConfigError("Production mode needs RECIPIENT_ENDPOINT_FK and RECIPIENT_ENDPOINT_TS.")
    plain = sorted(r for r, url in endpoints.items() if not url.lower().startswith("https://"))
    if plain:
        raise ConfigError("Production sends certificates only over HTTPS: RECIPIENT_ENDPOINT_"
                          + ", RECIPIENT_ENDPOINT_".join(plain) + " must start with https://.")
    for key, message in _NEVER_IN_PRODUCTION:
        if cfg.get(key):
            raise ConfigError(message)
    if not cfg["SESSION_COOKIE_SECURE"]:
        raise ConfigError("Production needs HTTPS-only session cookies: SESSION_COOKIE_SECURE must be on.")
    if cfg["HSTS_SECONDS"] < MIN_HSTS_SECONDS:
        raise ConfigError(f"Production needs HSTS for at least a year: HSTS_SECONDS >= {MIN_HSTS_SECONDS}.")
    short = [k for k in ("PDL_CHAIN_KEY", "PDL_CHECKPOINT_KEY") if len(cfg.get(k) or "") < MIN_KEY_LENGTH]
    if short:
        raise ConfigError("Production needs the PDL log's keys, each at least "
                          f"{MIN_KEY_LENGTH} characters and kept outside the database: " + ", ".join(short))
    if cfg.get("PDL_CHAIN_KEY") == cfg.get("PDL_CHECKPOINT_KEY"):
        raise ConfigError("PDL_CHAIN_KEY and PDL_CHECKPOINT_KEY must be different keys.")
    _check_mail(cfg)
    missing = [k for k in ("SECRET_KEY",) if not cfg[k]]
    if "DATABASE_URL" not in os.environ:
        missing.append("DATABASE_URL")
    if missing:
        raise ConfigError("Production mode needs these settings: " + ", ".join(missing))


def _check_mail(cfg: dict) -> None:
    """The notices' mail server: production logs in to it only over TLS (the password would go in clear)."""
    if cfg.get("MAIL_SMTP_USER") and not cfg.get("MAIL_SMTP_STARTTLS"):
        raise ConfigError("Production logs in to the mail server only over TLS: set MAIL_SMTP_STARTTLS=1 (or unset "
                          "MAIL_SMTP_USER).")


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
    "SESSION_IDLE_SECONDS": 30 * 60,
    "SESSION_WARNING_SECONDS": 5 * 60,
    "SESSION_POLL_MS": 30_000,
    "TEST_BROKER_ENABLED": False,
    "RECIPIENT_SIMULATOR_ENABLED": False,
    "OUTBOX_WORKER_EMBEDDED": False,
    "STATISTICS_AFTER_LOAD": False,
    "PERSON_SERVICE_MODE": "ok",
    "PERSON_SERVICE_TIMEOUT": 2.0,
    "MAIL_SMTP_HOST": None,
    "MAIL_SMTP_STARTTLS": False,
    "MAIL_FROM": DEFAULTS_MAIL_FROM,
    "MAIL_TIMEOUT": 10.0,
    "MAIL_MAX_ATTEMPTS": 12,
    "MAIL_COALESCE_SECONDS": 60.0,
    "MAIL_BATCH": 20,
    "LOGIN_RATE_LIMIT": "20 per minute",
    "RATELIMIT_HEADERS_ENABLED": True,
    "API_OAUTH_AUDIENCE": "intygsportalen-api",
    "API_RATE_LIMIT": "3000 per minute",
    "SHARE_RATE_LIMIT_LINK": "30 per hour",
    "SHARE_RATE_LIMIT_ADDRESS": "120 per hour",
    "API_MAX_BODY_BYTES": 256 * 1024,
    "API_MAX_DEPTH": 32,
    "PDL_CHECKPOINT_EVERY": 100,
    "SESSION_ABSOLUTE_SECONDS": 12 * 3600,
    "STAFF_RIGHTS_RECHECK_SECONDS": 300,
    "PROXY_COUNT": 0,
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    "METRICS_TOKEN": None,
    "HSTS_SECONDS": 0,
    "CITIZEN_OIDC_SCOPE": "openid https://id.oidc.se/scope/naturalPersonNumber",
    "CITIZEN_OIDC_ACR": ["http://id.elegnamnden.se/loa/1.0/loa3", "http://id.elegnamnden.se/loa/1.0/loa4"],
    "CITIZEN_OIDC_PNR_CLAIMS": ["https://id.oidc.se/claim/personalIdentityNumber",
                                "https://id.oidc.se/claim/coordinationNumber"],
    "CITIZEN_OIDC_TOKEN_AUTH": "client_secret_basic",
    "STAFF_OIDC_SCOPE": "openid",
    "STAFF_OIDC_ACR": ["http://id.sambi.se/loa/loa3"],
    "STAFF_OIDC_HSA_CLAIMS": ["employeeHsaId"],
    "STAFF_OIDC_TOKEN_AUTH": "client_secret_basic",
}


def broker_defaults(config: dict) -> dict:
    """With the embedded test broker on, the brokers default to it (and its development clients)."""
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    out = {}
    if config.get("TEST_BROKER_ENABLED"):
        out = {
            "CITIZEN_OIDC_DISCOVERY_URL": f"{base}/testbroker/bankid/.well-known/openid-configuration",
            "CITIZEN_OIDC_CLIENT_ID": "intygsportalen-citizen",
            "CITIZEN_OIDC_CLIENT_SECRET": "dev-citizen-secret",
            "STAFF_OIDC_DISCOVERY_URL": f"{base}/testbroker/siths/.well-known/openid-configuration",
            "STAFF_OIDC_CLIENT_ID": "intygsportalen-staff",
            "STAFF_OIDC_CLIENT_SECRET": "dev-staff-secret",
        }
    missing = [k for k in ("CITIZEN_OIDC_DISCOVERY_URL", "CITIZEN_OIDC_CLIENT_ID", "CITIZEN_OIDC_CLIENT_SECRET",
                           "STAFF_OIDC_DISCOVERY_URL", "STAFF_OIDC_CLIENT_ID", "STAFF_OIDC_CLIENT_SECRET")
               if not config.get(k) and k not in out]
    if missing:
        raise ConfigError("Configure the OpenID Connect brokers: " + ", ".join(missing)
                          + " (or TEST_BROKER_ENABLED=1 for the embedded test broker)")
    return {k: v for k, v in out.items() if not config.get(k)}
