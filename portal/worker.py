"""The delivery worker: takes due sends from the outbox, posts them to their recipient, records the outcome.

    portal worker          deliver every OUTBOX_WORKER_INTERVAL seconds until stopped
    portal worker --once   one pass, then print what happened

The embedded default runs the same loop in a daemon thread (`start_background_worker`). Any number of
workers may run at once (threads, processes, machines): `outbox.claim_due` hands each due send to one of
them, with a lease. A worker that dies after posting but before recording leaves the send pending; when the
lease ends it is posted again with the same idempotency key, and the recipient acknowledges it without a
second certificate.

Configuration (app.config): RECIPIENT_ENDPOINTS {recipient: url} (default: the recipient simulator at
PUBLIC_BASE_URL), RECIPIENT_TIMEOUT (s, 5), SEND_GIVE_UP_AFTER (s, 86400), OUTBOX_LEASE_SECONDS (60),
OUTBOX_WORKER_INTERVAL (s, 2), OUTBOX_BATCH (20).
"""
from __future__ import annotations

import atexit
import logging
import threading
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import db
from .adapters.recipients import DeliveryFailed, HttpRecipients
from .domain import questions as question_rules
from .domain import sending
from .repository import outbox
from .repository import questions as question_store

log = logging.getLogger(__name__)


def endpoints(app: Flask) -> dict[str, str]:
    base = app.config.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    default = {r: f"{base}/simulator/{r}/intyg" for r in ("FK", "TS")}
    return dict(app.config.get("RECIPIENT_ENDPOINTS") or default)


def transport(app: Flask):
    """The recipient transport: app.extensions["recipient_transport"] if set (tests, another adapter), else HTTP."""
    given = app.extensions.get("recipient_transport")
    if given is not None:
        return given
    return HttpRecipients(endpoints(app), float(app.config.get("RECIPIENT_TIMEOUT", 5)))


def deliver_due(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """One pass: claim the due sends, post each, record the outcome. Returns counts:
    delivered, retried (failed, tried again later), failed (given up, or no longer allowed to go)."""
    clock = app.extensions["clock"]
    at = (lambda: now) if now is not None else clock.now
    lease = timedelta(seconds=float(app.config.get("OUTBOX_LEASE_SECONDS", 60)))
    give_up_after = timedelta(seconds=float(app.config.get("SEND_GIVE_UP_AFTER", 86400)))
    registry = app.extensions["certificate_types"]
    recipients = transport(app)
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    with db.new_session(app) as session:
        claimed = outbox.claim_due(session, at(), lease, limit=int(app.config.get("OUTBOX_BATCH", 20)))
        if not claimed:
            return counts
        session.expunge_all()  # plain data from here: a rollback below must not expire (and reload) them
        sources = outbox.delivery_sources(session, [s.certificate_id for s in claimed if s.kind != outbox.ANSWER])
        answers = question_store.answer_sources(session, [s.payload_ref for s in claimed
                                                          if s.kind == outbox.ANSWER and s.payload_ref])
        session.commit()  # end the read: no transaction stays open while posting (SQLite)
        for send in claimed:
            assert send.next_attempt_at is not None  # claim_due set it: the end of the lease
            if at() >= send.next_attempt_at:  # the lease ran out (a slow batch): another worker may have it now
                log.warning("send %s: lease expired before posting; left for the next pass", send.id)
                continue
            try:
                if send.kind == outbox.ANSWER:
                    outcome = _deliver_answer(session, send, answers.get(send.payload_ref or ""), recipients, at,
                                              give_up_after)
                else:
                    outcome = _deliver_one(session, send, sources.get(send.certificate_id), registry, recipients,
                                           at, give_up_after)
            except Exception:  # noqa: BLE001 - one send must not stop the others; the lease brings it back
                session.rollback()
                log.exception("send %s: not recorded; it is tried again when its lease ends", send.id)
                continue
            if outcome:
                counts[outcome] += 1
    return counts


def _deliver_one(session, send, source, registry, recipients, at, give_up_after) -> str | None:
    ctype = registry.get(source.cert.type_code) if source is not None else None
    why_not = _why_not(source, ctype, send.recipient)
    if why_not:
        log.warning("send %s: given up without posting: %s", send.id, why_not)
        return "failed" if outbox.record_refused(session, send.id, at(), why_not) else None
    assert ctype is not None  # _why_not refuses an unknown type
    return _post(session, send, sending.payload(source.cert, ctype), recipients, at, give_up_after)


def _deliver_answer(session, send, source, recipients, at, give_up_after) -> str | None:
    """An answer to an FK question: posted to FK with a payload of the answer (never for a valideringsperson)."""
    why_not = None
    if source is None or source.question is None:
        why_not = "answer not found"
    elif send.recipient != question_rules.FK:
        why_not = f"answers go to FK, not {send.recipient}"
    elif source.validation_person:
        why_not = sending.VALIDATION_PERSON
    if why_not:
        log.warning("send %s: given up without posting: %s", send.id, why_not)
        return "failed" if outbox.record_refused(session, send.id, at(), why_not) else None
    payload = question_rules.answer_payload(source.answer, source.question, unit_name=source.unit_name)
    return _post(session, send, payload, recipients, at, give_up_after)


def _post(session, send, payload, recipients, at, give_up_after) -> str | None:
    try:
        recipients.deliver(send.recipient, send.idempotency_key, payload)
    except DeliveryFailed as failure:
        state = outbox.record_failure(session, send.id, at(), failure.reason, give_up_after)
        log.warning("send %s to %s, attempt %s failed (%s): %s", send.id, send.recipient, send.attempts,
                    failure.reason, "given up" if state == outbox.FAILED else "tried again later")
        return {outbox.FAILED: "failed", outbox.PENDING: "retried"}.get(state or "")
    outbox.record_delivered(session, send.id, at())
    return "delivered"


def _why_not(source, ctype, recipient: str) -> str | None:
    """Checked again at delivery: the certificate may have been revoked since the citizen asked."""
    if source is None:
        return "certificate not found"
    if ctype is None:
        return f"unknown certificate type {source.cert.type_code}"
    if ctype.recipient != recipient:
        return f"type {ctype.code} is not sent to {recipient}"
    if source.cert.revoked_at is not None:
        return sending.REVOKED
    if source.validation_person:
        return sending.VALIDATION_PERSON
    return None


# --- running it -------------------------------------------------------------------------------------

class BackgroundWorker:
    """deliver_due every `interval` seconds in a daemon thread; stop() (also at interpreter exit) ends it."""

    def __init__(self, app: Flask, interval: float):
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)

    def start(self) -> BackgroundWorker:
        self.thread.start()
        atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deliver_due(self.app)
            except Exception:  # noqa: BLE001 - never crash: log and try again at the next tick
                log.exception("outbox worker: the pass failed; trying again in %s s", self.interval)
            self._stop.wait(self.interval)


_starting = threading.Lock()


def start_background_worker(app: Flask) -> BackgroundWorker:
    """Start (once per app) the embedded default's delivery thread."""
    with _starting:
        running = app.extensions.get("outbox_worker")
        if running is not None and running.thread.is_alive():
            return running
        worker = app.extensions["outbox_worker"] = BackgroundWorker(
            app, float(app.config.get("OUTBOX_WORKER_INTERVAL", 2)))
        return worker.start()


def init_app(app: Flask) -> None:
    """The embedded default: start the background worker with the app's first request, so that only a
    process that serves (gunicorn's worker, `portal run`) delivers, never `portal load` and the like."""

    @app.before_request
    def _start_outbox_worker() -> None:
        if "outbox_worker" not in app.extensions:
            start_background_worker(app)


@click.command("worker")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@with_appcontext
def worker_command(once: bool) -> None:
    """Deliver the outbox's due sends to their recipients (every OUTBOX_WORKER_INTERVAL seconds)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        counts = deliver_due(app)
        click.echo(f"delivered: {counts['delivered']}, retried: {counts['retried']}, failed: {counts['failed']}")
        return
    interval = float(app.config.get("OUTBOX_WORKER_INTERVAL", 2))
    click.echo(f"outbox worker: delivering every {interval:g} s (Ctrl-C stops)")
    stop = threading.Event()
    try:
        while not stop.is_set():
            try:
                counts = deliver_due(app)
                if any(counts.values()):
                    click.echo(f"delivered: {counts['delivered']}, retried: {counts['retried']}, "
                               f"failed: {counts['failed']}")
            except Exception:  # noqa: BLE001
                log.exception("outbox worker: the pass failed; trying again in %s s", interval)
            stop.wait(interval)
    except KeyboardInterrupt:
        click.echo("outbox worker: stopped")
