"""Error pages 400/403/404/405/429/500/503, each with an error id the user can quote."""
from __future__ import annotations

import logging
import secrets

from flask import Flask, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Felaktig begäran"), _l("Det du skickade kunde inte tas emot. Gå tillbaka och försök igen.")),
    403: (_l("Du har inte behörighet"), _l("Du har inte behörighet att se den här sidan.")),
    404: (_l("Sidan hittades inte"),
          _l("Sidan du letar efter finns inte. Kontrollera adressen eller gå till startsidan.")),
    405: (_l("Otillåten metod"), _l("Sidan kan inte användas på det sättet.")),
    413: (_l("För stor begäran"), _l("Det du skickade var för stort.")),
    429: (_l("För många försök"), _l("Du har gjort för många försök på kort tid. Vänta en stund och försök igen.")),
    500: (_l("Något gick fel"), _l("Ett tekniskt fel uppstod. Försök igen om en stund.")),
    503: (_l("Tjänsten är inte tillgänglig"), _l("Tjänsten är tillfälligt otillgänglig. Försök igen om en stund.")),
}
CSRF_MESSAGE = _l(
    "Sidan var för gammal eller formuläret kom inte från den här tjänsten. Ladda om sidan och försök igen.")


def error_id() -> str:
    return secrets.token_hex(4).upper()


def render_error(code: int, message: str | None = None):
    code = code if code in MESSAGES else (500 if code >= 500 else 400)
    title, default_message = MESSAGES[code]
    eid = error_id()
    log.log(logging.ERROR if code >= 500 else logging.INFO, "error %s id=%s path=%s", code, eid, _safe_path())
    return render_template("errors/error.html", code=code, title=title, message=message or default_message,
                           error_id=eid), code


def _safe_path() -> str:
    """The request path for a log line: printable ASCII only (no forged lines from %0A in a URL)."""
    from .auth.logsafe import one_line

    return one_line(request.path)


def init_app(app: Flask) -> None:
    from . import api, db

    @app.errorhandler(CSRFError)
    def _csrf(err):
        return render_error(400, str(CSRF_MESSAGE))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if err.code and err.code < 400:
            return err
        if api.is_api_request():  # systems get RFC 9457 problem documents, not pages
            log.log(logging.ERROR if (err.code or 500) >= 500 else logging.INFO, "api error %s path=%s",
                    err.code, _safe_path())
            return api.error_response(err.code or 500)
        return render_error(err.code or 500)

    @app.errorhandler(OperationalError)
    def _database_unavailable(err: OperationalError):
        """The database did not answer (restarting, failing over, unreachable): 503 with Retry-After, as the
        person service being down, not a 500; nothing was changed (the transaction did not commit)."""
        log.warning("database unavailable: %s", type(err.orig).__name__ if err.orig is not None else "error")
        try:
            db.session().rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the session is discarded at teardown
            pass
        if api.is_api_request():
            response = api.error_response(503)
        else:
            try:
                response = make_response(render_error(503))
            except Exception:  # noqa: BLE001 - the page needs the database too (the login session)
                response = make_response((str(MESSAGES[503][1]), 503, {"Content-Type": "text/plain; charset=utf-8"}))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if isinstance(err, HTTPException):  # pragma: no cover - handled above
            return _http(err)
        log.exception("unhandled error")
        if api.is_api_request():
            return api.error_response(InternalServerError.code)
        return render_error(InternalServerError.code)
