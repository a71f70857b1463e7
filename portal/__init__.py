"""Intygsportalen: Mina intyg (citizens) and Rehabstöd (staff) on one certificate store."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_htmx import HTMX
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.routing import Map, UnicodeConverter

from . import db, errors, i18n, observability, pdl_checkpoints, security
from .adapters.clock import SystemClock
from .config import DEFAULTS, ROOT, ConfigError, broker_defaults, from_env
from .domain import certificate_types


class PathPart(UnicodeConverter):
    """A URL's <id> part, as Werkzeug's default but never holding NUL: no id has one, and PostgreSQL refuses
    it in a query, so "/mina-intyg/intyg/%00" is a 404 like any unknown id rather than a 500."""

    def __init__(self, map: Map, minlength: int = 1, maxlength: int | None = None, length: int | None = None):
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory. `config` overrides the environment (tests pass their own)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(DEFAULTS)
    app.config.update(from_env() if config is None or not config.get("TESTING") else {})
    if config:
        app.config.update(config)
    app.config.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    if app.config.get("PORTAL_ENV") == "production" and app.config.get("TEST_BROKER_ENABLED"):
        raise ConfigError("The embedded test broker must not run in production: unset TEST_BROKER_ENABLED.")
    app.config.update(broker_defaults(app.config))
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(ROOT / "templates")),
        FileSystemLoader(str(ROOT / "accessibility")),
    ])
    app.jinja_env.autoescape = True
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")
    observability.init_app(app)  # logs (LOG_FORMAT), request ids, /metrics: before the other request hooks
    logging.getLogger("alembic").setLevel(logging.WARNING)

    app.extensions.setdefault("clock", config.get("CLOCK") if config and config.get("CLOCK") else SystemClock())
    app.extensions["certificate_types"] = certificate_types.load_registry(app.config.get("CERTIFICATE_TYPE_DIRS", []))
    HTMX(app)
    from . import static_assets  # first: its compression then runs after every other after_request
    static_assets.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    db.init_app(app)
    pdl_checkpoints.init_app(app)  # sessions used outside an app context find the PDL keys by their engine
    if int(app.config.get("PROXY_COUNT") or 0) > 0:  # the client address (rate limits) and scheme behind proxies
        from werkzeug.middleware.proxy_fix import ProxyFix

        proxies = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    from .adapters.person_service import LocalPersonService

    app.extensions["person_service"] = LocalPersonService(
        app.extensions["db_sessionmaker"], mode=app.config["PERSON_SERVICE_MODE"],
        timeout=app.config["PERSON_SERVICE_TIMEOUT"], mode_file=app.config.get("PERSON_SERVICE_MODE_FILE"))

    from .repository.rehab import ComputedCache

    app.extensions["rehab_cache"] = ComputedCache()

    from . import auth
    from .citizen import bp as citizen_bp
    from .help import bp as help_bp
    from .main import bp as main_bp
    from .rehab import bp as rehab_bp

    app.url_map.converters["default"] = app.url_map.converters["string"] = PathPart
    app.register_blueprint(main_bp)
    auth.init_app(app)
    app.register_blueprint(citizen_bp)
    app.register_blueprint(rehab_bp)
    app.register_blueprint(help_bp)
    from . import api, employer, statistics

    employer.init_app(app)
    statistics.init_app(app)

    api.init_app(app)
    if app.config.get("TEST_BROKER_ENABLED"):
        from . import testbroker

        testbroker.init_app(app)
    if app.config.get("RECIPIENT_SIMULATOR_ENABLED"):
        if app.config.get("PORTAL_ENV") == "production":
            raise ConfigError("The recipient simulator must not run in production: unset RECIPIENT_SIMULATOR_ENABLED.")
        from . import recipient_sim

        recipient_sim.init_app(app)
    if app.config.get("OUTBOX_WORKER_EMBEDDED"):
        from . import worker

        worker.init_app(app)  # starts the delivery thread with the first request (not in CLI commands)

    @app.context_processor
    def _globals():
        return {"service_name": "Intygsportalen", "recipient_name": recipient_name, "role_title": role_title}

    return app


RECIPIENTS = {
    "FK": _l("Försäkringskassan"),
    "TS": _l("Transportstyrelsen"),
    "SKV": _l("Skatteverket"),
    "SOS": _l("Socialstyrelsen"),
}


def recipient_name(code: str | None) -> str:
    if not code:
        return str(_l("Ingen elektronisk mottagare"))
    return str(RECIPIENTS.get(code, code))


ROLE_TITLES = {"LAKARE": _l("läkare"), "REHABKOORDINATOR": _l("rehabkoordinator")}


def role_title(role: str | None) -> str:
    return str(ROLE_TITLES.get(role or "", role or ""))


def clock(app: Flask | None = None):
    from flask import current_app

    return (app or current_app).extensions["clock"]
