"""The delivery worker: takes due sends from the outbox, checks them again, posts them to their recipient,
records the outcome.

    portal worker          deliver every OUTBOX_WORKER_INTERVAL seconds until stopped
    portal worker --once   one pass, then print what happened
    portal worker --metrics-port 9101   also serve its Prometheus metrics on 127.0.0.1:9101/metrics

The embedded default runs the same loop in a daemon thread (`start_background_worker`). Any number of
workers may run at once (threads, processes, machines): `outbox.claim_due` hands each due send to one of
them, with a lease. A worker that dies after posting but before recording leaves the send pending; when the
lease ends it is posted again with the same idempotency key, and the recipient acknowledges it without a
second certificate.

Before posting, the send request's rules are checked again (revoked, replaced, sent by care,
valideringsperson — asking the person service, app.extensions["person_service"]); a send that may no longer
go is REFUSED, and when the person service cannot answer the send waits and is tried again: it is never
posted unchecked. A failed attempt is retried with backoff and jitter until SEND_GIVE_UP_AFTER (then
GAVE_UP), except when the recipient answers that it will not take it (a 4xx other than 408/409/429:
REJECTED at once). An unexpected error is recorded on the send and retried the same way.

Configuration (app.config): RECIPIENT_ENDPOINTS {recipient: url} (default: the recipient simulator at
PUBLIC_BASE_URL), RECIPIENT_TIMEOUT (s, 5), SEND_GIVE_UP_AFTER (s, 86400), OUTBOX_LEASE_SECONDS (60),
OUTBOX_WORKER_INTERVAL (s, 2), OUTBOX_BATCH (20). Tests may set app.extensions["recipient_transport"] (another
transport) and app.extensions["outbox_random"] (the backoff jitter's source, a function returning [0, 1)).
"""
from __future__ import annotations

import atexit
import logging
import random as _random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import db, observability
from .adapters.person_service import PersonInfo, PersonServiceUnavailable
from .adapters.recipients import DeliveryFailed, HttpRecipients
from .domain import questions as question_rules
from .domain import sending
from .notices import deliver_notices
from .rehab.exports import build_due
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


@dataclass(frozen=True)
class _Pass:
    """What one pass needs for every send it delivers."""

    at: Callable[[], datetime]
    give_up_after: timedelta
    registry: Any
    recipients: Any
    random: sending.Random


class _Attempt:
    """How far one send's attempt got: after `posted` the recipient may have it, whatever happens next."""

    posted = False


def deliver_due(app: Flask, now: datetime | None = None, *, random: sending.Random | None = None,
                stop: threading.Event | None = None) -> dict[str, int]:
    """One pass: claim the due sends, check each again, post it, record the outcome. Returns counts:
    delivered, retried (failed, tried again later), failed (given up, rejected by the recipient, or no longer
    allowed to go). `random`: the backoff jitter's source (default app.extensions["outbox_random"], else
    random.random). `stop`: when set during the pass (the worker is told to stop), the send being posted is
    finished and the rest of the batch is released at once for another worker (counted as "released")."""
    build_due(app, now, stop=stop)  # first, one big Rehabstöd export (portal/rehab/exports.py); never raises
    deliver_notices(app, now, stop=stop)  # then the e-mail notices when FK wrote (portal/notices.py); never raises
    clock = app.extensions["clock"]
    run = _Pass(at=(lambda: now) if now is not None else clock.now,
                give_up_after=timedelta(seconds=float(app.config.get("SEND_GIVE_UP_AFTER", 86400))),
                registry=app.extensions["certificate_types"], recipients=transport(app),
                random=random or app.extensions.get("outbox_random") or _random.random)
    lease = timedelta(seconds=float(app.config.get("OUTBOX_LEASE_SECONDS", 60)))
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    with db.new_session(app) as session:
        claimed = outbox.claim_due(session, run.at(), lease, limit=int(app.config.get("OUTBOX_BATCH", 20)))
        if not claimed:
            return counts
        session.expunge_all()  # plain data from here: a rollback below must not expire (and reload) them
        certificates = outbox.delivery_sources(session, [s.certificate_id for s in claimed
                                                         if s.kind not in outbox.MESSAGES])
        answers = question_store.answer_sources(session, [s.payload_ref for s in claimed
                                                          if s.kind in outbox.MESSAGES and s.payload_ref])
        session.commit()  # end the read: no transaction stays open while posting (SQLite)
        pnrs = {c.patient_pnr for c in certificates.values()}
        pnrs.update(a.answer.patient_pnr for a in answers.values() if a.answer.patient_pnr)
        persons = _persons(app, sorted(pnrs))
        for i, send in enumerate(claimed):
            if stop is not None and stop.is_set():
                counts["released"] = outbox.release(session, claimed[i:], run.at())
                observability.count_outcome("released", *(c.recipient for c in claimed[i:]))
                log.info("outbox worker: stopping; %s claimed sends released", counts["released"])
                break
            assert send.next_attempt_at is not None  # claim_due set it: the end of the lease
            if run.at() >= send.next_attempt_at:  # the lease ran out (a slow batch): another worker may have it now
                log.warning("send %s: lease expired before posting; left for the next pass", send.id)
                continue
            outcome = _attempt(session, run, send, certificates, answers, persons)
            if outcome:
                counts[outcome] += 1
    return counts


def _persons(app: Flask, pnrs: list[str]) -> dict[str, PersonInfo] | None:
    """The person service's answer for the batch's patients (is any a valideringsperson?); None if it could
    not answer: then no send that needs the answer is posted (each waits and is tried again)."""
    if not pnrs:
        return {}
    try:
        return app.extensions["person_service"].lookup(pnrs)
    except PersonServiceUnavailable as err:
        log.warning("outbox: the person service did not answer (%s); the sends wait", err)
    except Exception:  # noqa: BLE001 - whatever went wrong, nothing is posted unchecked
        log.exception("outbox: the person service failed; the sends wait")
    return None


def _attempt(session, run: _Pass, send, certificates, answers, persons) -> str | None:
    """One send: delivered, retried or failed (the count's key), or None when nothing was recorded. An
    unexpected error is recorded on the send and retried with backoff like any other failure (and given
    up in the end); only if even that cannot be recorded does the send wait for its lease to end."""
    attempt = _Attempt()
    try:
        return _deliver(session, run, send, certificates, answers, persons, attempt)
    except Exception as err:  # noqa: BLE001 - one send must not stop the others
        session.rollback()
        log.exception("send %s: unexpected error during delivery", send.id)
        return _retry_later(session, run, send, f"unexpected error: {type(err).__name__}",
                            maybe_received=attempt.posted)


def _retry_later(session, run: _Pass, send, reason: str, *, maybe_received: bool) -> str | None:
    try:
        state = outbox.record_failure(session, send.id, run.at(), reason, run.give_up_after,
                                      maybe_received=maybe_received, random=run.random)
    except Exception:  # noqa: BLE001 - the database went away: the lease brings the send back
        session.rollback()
        log.exception("send %s: the failure was not recorded; it is tried again when its lease ends", send.id)
        return None
    log.warning("send %s to %s, attempt %s failed (%s): %s", send.id, send.recipient, send.attempts,
                outbox.short_error(reason), "given up" if state == outbox.FAILED else "tried again later")
    observability.count_outcome({outbox.FAILED: "gave_up", outbox.PENDING: "retry"}.get(state or ""), send.recipient)
    return {outbox.FAILED: "failed", outbox.PENDING: "retried"}.get(state or "")


def _deliver(session, run: _Pass, send, certificates, answers, persons, attempt: _Attempt) -> str | None:
    if send.kind in outbox.MESSAGES:
        answer = answers.get(send.payload_ref or "")
        why_not = _why_not_answer(answer, send.recipient, persons)
    else:
        cert = certificates.get(send.certificate_id)
        why_not = _why_not_certificate(cert, run.registry, send.recipient, persons)
    if why_not == WAIT:
        return _retry_later(session, run, send, "the person service did not answer", maybe_received=False)
    if why_not:
        log.warning("send %s: refused at delivery, not posted: %s", send.id, why_not)
        observability.count_outcome("refused", send.recipient)
        return "failed" if outbox.record_refused(session, send.id, run.at(), why_not) else None
    if send.kind in outbox.MESSAGES:
        message_payload = answer.payload()
        assert message_payload is not None  # _why_not_answer refuses a message with nothing to post
        payload = message_payload
    else:
        payload = sending.payload(cert, run.registry[cert.type_code])
    return _post(session, run, send, payload, attempt)


def _post(session, run: _Pass, send, payload: dict, attempt: _Attempt) -> str | None:
    attempt.posted = True
    try:
        run.recipients.deliver(send.recipient, send.idempotency_key, payload)
    except DeliveryFailed as failure:
        if failure.permanent:
            log.warning("send %s to %s, attempt %s rejected (%s): given up", send.id, send.recipient,
                        send.attempts, failure.reason)
            observability.count_outcome("rejected", send.recipient)
            return "failed" if outbox.record_rejected(session, send.id, run.at(), failure.reason) else None
        return _retry_later(session, run, send, failure.reason, maybe_received=failure.maybe_received)
    outbox.record_delivered(session, send.id, run.at())
    observability.count_outcome("delivered", send.recipient)
    return "delivered"


WAIT = "PERSON_SERVICE_UNAVAILABLE"  # _why_not: the person service must answer first


def _why_not_certificate(cert, registry, recipient: str, persons) -> str | None:
    """Checked again at delivery, with the send request's rules (`sending.delivery_refusal`): revoked or
    replaced since the citizen asked, sent by care meanwhile, a valideringsperson (the person service's
    answer). WAIT when only the person service could tell, and it did not answer."""
    if cert is None:
        return "certificate not found"
    ctype = registry.get(cert.type_code)
    why_not = sending.delivery_refusal(ctype, cert, recipient, validation_person=False)
    if why_not or persons is None:
        return why_not or WAIT
    info = persons.get(cert.patient_pnr)
    return sending.delivery_refusal(ctype, cert, recipient, validation_person=bool(info and info.validation_person))


def _why_not_answer(source, recipient: str, persons) -> str | None:
    """An answer to an FK question, or the care unit's own question, goes to FK only, never for a
    valideringsperson (the person service's answer; WAIT when it did not answer), and a question never about a
    certificate revoked since it was asked."""
    if source is None or source.payload() is None:
        return "answer not found"
    if source.answer.is_care_question and source.certificate_revoked:
        return sending.REVOKED
    if recipient != question_rules.FK:
        return sending.NO_RECIPIENT
    if persons is None:
        return WAIT
    info = persons.get(source.answer.patient_pnr)
    return sending.VALIDATION_PERSON if info is not None and info.validation_person else None


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
        statistics_every = float(self.app.config.get("STATISTICS_INTERVAL", 60))
        statistics_next = 0.0
        while not self._stop.is_set():
            try:
                deliver_due(self.app, stop=self._stop)
            except Exception:  # noqa: BLE001 - never crash: log and try again at the next tick
                log.exception("outbox worker: the pass failed; trying again in %s s", self.interval)
            if statistics_every > 0 and time.monotonic() >= statistics_next:
                statistics_next = time.monotonic() + statistics_every
                try:
                    refresh_statistics(self.app)
                except Exception:  # noqa: BLE001 - the same: the next tick tries again
                    log.exception("statistics: the run failed; trying again in %s s", statistics_every)
            self._stop.wait(self.interval)


def refresh_statistics(app: Flask) -> str | None:
    """The embedded default's Intygsstatistik after each intake: when a unit's data has changed since the last run
    (a batch, or a certificate through the API), an incremental run (a production setup schedules `portal
    statistics` instead). Returns the run's kind, or None when nothing changed."""
    from . import db
    from .repository import statistics as store

    with db.new_session(app) as session:
        if not store.due(session):
            return None
        result = store.run(session, app.extensions["certificate_types"], store.statistics_key(app.config),
                           app.extensions["clock"].now())
    log.info("statistics: %s run, %s patient(s), %.1f s", result.kind, result.patients, result.seconds)
    return result.kind


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
@click.option("--metrics-port", type=int, help="Serve this process's Prometheus metrics on 127.0.0.1:PORT/metrics.")
@with_appcontext
def worker_command(once: bool, metrics_port: int | None = None) -> None:
    """Deliver the outbox's due sends to their recipients (every OUTBOX_WORKER_INTERVAL seconds)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        counts = deliver_due(app)
        click.echo(f"delivered: {counts['delivered']}, retried: {counts['retried']}, failed: {counts['failed']}")
        return
    interval = float(app.config.get("OUTBOX_WORKER_INTERVAL", 2))
    if metrics_port:
        observability.serve_worker_metrics(metrics_port)
    stop = threading.Event()
    _stop_on_signals(stop)  # before saying it runs: a supervisor may send SIGTERM as soon as it reads the line
    click.echo(f"outbox worker: delivering every {interval:g} s (SIGTERM or Ctrl-C stops it gracefully)")
    try:
        while not stop.is_set():
            try:
                counts = deliver_due(app, stop=stop)
                if any(counts.values()):
                    click.echo(f"delivered: {counts['delivered']}, retried: {counts['retried']}, "
                               f"failed: {counts['failed']}")
            except Exception:  # noqa: BLE001
                log.exception("outbox worker: the pass failed; trying again in %s s", interval)
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    click.echo("outbox worker: stopped")


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (a process manager stopping the worker) and SIGINT end the loop after the send being posted;
    the rest of a claimed batch is released for the other workers rather than left to its lease."""
    import signal

    def _handle(signum, _frame) -> None:
        log.info("outbox worker: signal %s, stopping after the current send", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _handle)
