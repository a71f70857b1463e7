"""Logs and metrics for operations: one log line per record (JSON in production), a request id on every line of
a request, and Prometheus metrics at /metrics. docs/operations.md is the operators' guide.

Logs. `configure_logging` gives the root logger one handler on stderr: `LOG_FORMAT=json` (the default in
production) writes one JSON object a line with `time` (UTC, ISO 8601), `level`, `logger`, `message` and, within a
request, `request_id`; `text` (the default elsewhere) writes the same as a readable line. Every record is masked
by the portal's log record factory (`security.install_log_masking`: personnummer and the search parameter's
value), and the JSON formatter masks every field again, tracebacks included. One access line per request:
method, route (the URL rule, e.g. `/mina-intyg/intyg/<certificate_id>`, never the path or the query string),
status, duration_ms, bytes, request_id. Gunicorn writes it when its access log is on (`--access-logfile`,
through gunicorn.conf.py, which reads the route and the request id the app leaves in the WSGI environ; with
LOG_FORMAT=text gunicorn's usual line, masked); otherwise the app writes it itself (`portal.access`), so there
is always exactly one.

Request id. A well-formed incoming `X-Request-ID` (letters, digits, `.`, `_`, `-`, at most 64 characters, not
shaped like a personnummer) is kept, anything else is replaced by a new uuid4 hex; it is `g.request_id`, on every
log line of the request, and in the response's `X-Request-ID` header.

Metrics (prometheus_client). Under gunicorn every process writes its values to PROMETHEUS_MULTIPROC_DIR
(gunicorn.conf.py sets it up) and /metrics adds up all processes' files; elsewhere the process's own registry.
The outbox gauges are read from the database at scrape time, so any process gives the same answer. /metrics
answers a direct connection from loopback, or a request with `Authorization: Bearer <METRICS_TOKEN>` when that
is set; anything else gets a plain 404. It touches no login session and sets no cookie (sessions.PROBES).
The delivery worker (`portal worker --metrics-port PORT`) serves its own process's metrics on 127.0.0.1:PORT.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import IO, Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .security import install_log_masking, mask_pnr

log = logging.getLogger(__name__)
access_log = logging.getLogger("portal.access")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Keys in the WSGI environ through which the app tells gunicorn's access log the route and the request id.
ENVIRON_ROUTE, ENVIRON_REQUEST_ID = "portal.route", "portal.request_id"
UNMATCHED = "unmatched"  # the route of a request no URL rule matched (404, 405, redirects to a slash)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}

#: Set by gunicorn.conf.py's post_worker_init: gunicorn writes the access lines, so the app does not.
server_writes_access_log = False

# --- metrics -------------------------------------------------------------------------------------------------

disable_created_metrics()  # no `_created` series: the same output with one process as with several

REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL rule; 'unmatched' when none matched), method and status "
    "class.", ["route", "method", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
DELIVERY_OUTCOMES = Counter(
    "portal_delivery_outcomes_total",
    "Outcomes of the delivery worker's attempts, by recipient: delivered, retry (tried again later), rejected "
    "(the recipient will not take it), refused (no longer allowed to go), gave_up (SEND_GIVE_UP_AFTER passed), "
    "released (left for another worker at shutdown).", ["recipient", "outcome"])
MAIL_OUTCOMES = Counter(
    "portal_mail_outcomes_total",
    "Outcomes of the delivery worker's attempts to send e-mail notices (FK has written to a unit): sent, retry (the "
    "mail server did not take it; tried again later), gave_up (MAIL_MAX_ATTEMPTS failed), rejected (the server "
    "refused the address for good), no_address (the unit removed its address), released (left for another worker "
    "at shutdown).", ["outcome"])
PERSON_SERVICE_ERRORS = Counter(
    "portal_person_service_errors_total",
    "Calls to the person service (PU) that failed, by reason (unavailable, timeout); callers fail closed.",
    ["reason"])


def count_outcome(outcome: str | None, *recipients: str) -> None:
    """One delivery outcome per recipient given (the worker calls it where it records an outcome)."""
    if outcome:
        for recipient in recipients:
            DELIVERY_OUTCOMES.labels(recipient=recipient, outcome=outcome).inc()


def count_mail(outcome: str, n: int = 1) -> None:
    """An e-mail notice's outcome (portal/notices.py)."""
    MAIL_OUTCOMES.labels(outcome=outcome).inc(n)


def person_service_error(reason: str) -> None:
    PERSON_SERVICE_ERRORS.labels(reason=reason).inc()


def multiprocess() -> bool:
    """Whether this process writes its metrics to files in PROMETHEUS_MULTIPROC_DIR (gunicorn's processes: see
    gunicorn.conf.py) rather than keeping them in memory."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue and bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class OutboxCollector:
    """The outbox's depth and the age of its oldest pending send, per recipient, read from the database when
    scraped (any process gives the same answer). `portal_database_up` is 0 when the database did not answer."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from sqlalchemy import func, select

        from . import db
        from .models import Send
        from .repository.outbox import PENDING
        from .worker import endpoints

        rows: list[Any] = []
        up = 1
        try:
            with db.new_session(self.app) as s:
                rows = list(s.execute(select(Send.recipient, func.count(), func.min(Send.requested_at))
                                      .where(Send.state == PENDING).group_by(Send.recipient)))
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database does not
            log.warning("metrics: the outbox could not be read", exc_info=True)
            up = 0
        database = GaugeMetricFamily("portal_database_up", "1 when the database answered the outbox query of "
                                                           "this scrape, 0 when it did not.")
        database.add_metric([], up)
        yield database
        if not up:
            return
        now: datetime = self.app.extensions["clock"].now()
        found = {r[0]: (int(r[1]), r[2]) for r in rows}
        pending = GaugeMetricFamily("portal_outbox_pending", "Sends (certificates and answers) waiting in the "
                                                             "outbox to be delivered, by recipient.",
                                    labels=["recipient"])
        age = GaugeMetricFamily("portal_outbox_oldest_pending_age_seconds",
                                "Seconds since the oldest pending send was requested, by recipient (0: none).",
                                labels=["recipient"])
        for recipient in sorted(set(endpoints(self.app)) | set(found)):
            count, oldest = found.get(recipient, (0, None))
            pending.add_metric([recipient], count)
            age.add_metric([recipient], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield pending
        yield age
        yield from self._mail()

    def _mail(self):
        """The mail outbox (e-mail notices, portal/notices.py): its depth and the age of its oldest notice."""
        from . import db
        from .repository.notices import pending_summary

        try:
            with db.new_session(self.app) as s:
                count, oldest = pending_summary(s)
        except Exception:  # noqa: BLE001 - the certificate outbox's gauges are still worth answering
            log.warning("metrics: the mail outbox could not be read", exc_info=True)
            return
        now: datetime = self.app.extensions["clock"].now()
        yield GaugeMetricFamily("portal_mail_outbox_pending", "E-mail notices waiting in the mail outbox to be sent.",
                                value=count)
        yield GaugeMetricFamily("portal_mail_outbox_oldest_pending_age_seconds",
                                "Seconds since the oldest waiting e-mail notice was queued (0: none).",
                                value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


class _Scrape:
    """What one scrape shows: the request and delivery metrics (every gunicorn process added up, or this
    process's own) and the outbox read from the database."""

    def __init__(self, app: Flask):
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            self.sources: list[Any] = [registry]
        else:
            self.sources = [REGISTRY]
        self.sources.append(OutboxCollector(app))

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_allowed() -> bool:
    """/metrics answers the right bearer token (METRICS_TOKEN, when set) from anywhere, and without a token only
    a direct connection from this machine: loopback and no forwarding header (a reverse proxy on the same host
    connects from loopback too, on behalf of anyone)."""
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    forwarded = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))
    return not forwarded and _loopback(request.remote_addr)


def metrics_view() -> Response:
    if not metrics_allowed():
        # plain text: no error page, so no session cookie (the page's CSRF token would make one)
        return Response("Not Found\n", 404, mimetype="text/plain")
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encoder(_Scrape(current_app._get_current_object())),  # type: ignore[attr-defined]
                        headers={"Content-Type": content_type})
    response.headers["Cache-Control"] = "no-store"
    return response


def serve_worker_metrics(port: int) -> None:
    """`portal worker --metrics-port PORT`: this process's metrics (delivery outcomes, person-service errors, the
    process's CPU and memory) on http://127.0.0.1:PORT/metrics, in a daemon thread."""
    from prometheus_client import start_http_server

    if multiprocess():
        log.warning("PROMETHEUS_MULTIPROC_DIR is set for the delivery worker: its counts also go into that "
                    "directory, and are counted twice if the app's /metrics reads the same one")
    start_http_server(port, addr="127.0.0.1")
    log.info("delivery worker metrics on http://127.0.0.1:%s/metrics", port)


# --- logs ----------------------------------------------------------------------------------------------------

def _utc_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, request_id (in a request), the record's extra
    fields (the access line's), exc_info. Every text is masked (personnummer, the search parameter)."""

    def __init__(self) -> None:
        super().__init__(JSON_FIELDS, rename_fields=JSON_RENAMES, json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _utc_time(record)

    def formatException(self, ei) -> str:  # noqa: N802 - the record's exception, formatted again
        return _masked_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _masked_text(super().formatStack(stack_info))

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _masked(value) for key, value in log_data.items()}


def _masked_text(value: str | list[str]) -> str:
    return mask_pnr(value if isinstance(value, str) else "\n".join(value))


def _masked(value: Any) -> Any:
    """A log field with every personnummer masked (texts, and texts in lists)."""
    if isinstance(value, str):
        return mask_pnr(value)
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


class TextFormatter(logging.Formatter):
    """`time level logger [request id] message`, for development and tests."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, defaults={"request_id": "-"})

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _utc_time(record)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


class RequestIdFilter(logging.Filter):
    """Puts the request id on every record made while a request is handled (a handler's filter: it sees the
    records of every logger that propagates to the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            request_id = g.get("request_id")
            if request_id:
                record.request_id = request_id
        return True


class StderrHandler(logging.StreamHandler):
    """The process's stderr (file descriptor 2), looked up at each record: never a stream that something swapped
    in for a while and has closed since (click's test runner, pytest's capsys)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self):
        return sys.__stderr__ or sys.stderr


def configure_logging(fmt: str = "text", level: str | int = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """The root logger's one handler of ours on stderr (or `stream`) in this format (replacing the one an earlier
    call added; others, such as pytest's, are left alone), and the personnummer masking of every record."""
    install_log_masking()
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "portal_handler", False):
            root.removeHandler(old)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    handler.portal_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler


def write_access_line(logger: logging.Logger, *, method: str, route: str, status: int, seconds: float,
                      size: int | None, request_id: str | None) -> None:
    """The access line: what was asked (the route, never the path or the query), the answer and its time."""
    duration_ms = round(seconds * 1000, 1)
    extra: dict[str, Any] = {"method": method[:16], "route": route, "status": status, "duration_ms": duration_ms,
                             "bytes": size}
    if request_id:
        extra["request_id"] = request_id
    logger.info("%s %s %s %s ms", method[:16], route, status, duration_ms, extra=extra)


# --- requests ------------------------------------------------------------------------------------------------

def request_id_for(incoming: str | None) -> str:
    """The incoming id when well formed (and not shaped like a personnummer), else a new one."""
    if incoming and REQUEST_ID_RE.fullmatch(incoming) and mask_pnr(incoming) == incoming:
        return incoming
    return uuid.uuid4().hex


def route_of(rule: Any) -> str:
    return rule.rule if rule is not None else UNMATCHED


def _before() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    request.environ[ENVIRON_REQUEST_ID] = g.request_id
    request.environ[ENVIRON_ROUTE] = route_of(request.url_rule)


def _after(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    request_id = g.get("request_id") or request_id_for(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    route = route_of(request.url_rule)
    request.environ[ENVIRON_ROUTE] = route
    method = request.method if request.method in METHODS else "other"
    REQUEST_SECONDS.labels(route=route, method=method, status_class=f"{response.status_code // 100}xx").observe(seconds)
    if not server_writes_access_log:
        write_access_line(access_log, method=request.method, route=route, status=response.status_code,
                          seconds=seconds, size=response.content_length, request_id=request_id)
    return response


def init_app(app: Flask) -> None:
    """Call early in create_app (before the other request hooks): the request id is then set before anything
    logs, and the access line and the latency see the response as finally made. Configures logging too."""
    configure_logging(app.config.get("LOG_FORMAT", "text"), app.config.get("LOG_LEVEL", "INFO"))
    app.before_request(_before)
    app.after_request(_after)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])
