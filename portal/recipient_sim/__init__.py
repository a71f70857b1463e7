"""The recipient simulator (development, demo and tests only; off in production): stands in for
Försäkringskassan's and Transportstyrelsen's certificate intake, so the outbox really posts over HTTP.

- `POST /simulator/<FK|TS>/intyg`: a JSON body (a certificate, or with `"kind": "ANSWER"` the care unit's
  answer to an FK question) and the header `Idempotency-Key` (required). The
  delivery is recorded once per key (table `sim_deliveries`): the first time 202, the same key again
  200 without a second record (exactly once at the recipient). The same key with another payload: 422.
- `GET /simulator/<FK|TS>`: a page listing what was received (time, certificate id, type; never the
  personnummer).

Fault knobs for tests and the demo (Python only, no HTTP endpoint): `app.extensions["recipient_sim"]`,
a SimulatorState with `.mode[recipient]` in {"ok", "fail", "reject", "timeout"} and `.delay` (seconds):
- "fail": answer 503 and record nothing (the recipient is down);
- "reject": answer 400 and record nothing (the recipient will not take the delivery: a permanent error);
- "timeout": record the delivery, then wait `delay` seconds before answering, so a client with a shorter
  timeout gives up although the recipient has the certificate: the hard case for exactly-once.
"""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import db, security
from ..models import SimDelivery

__all__ = ["bp", "init_app", "a11y_examples", "SimulatorState", "RECIPIENTS"]

bp = Blueprint("recipient_sim", __name__, url_prefix="/simulator")
RECIPIENTS = ("FK", "TS")
RECIPIENT = "<any(FK, TS):recipient>"
MODES = ("ok", "fail", "reject", "timeout")
SHOWN = 200  # the page lists the newest deliveries


class SimulatorState:
    """The simulator's fault modes, per recipient."""

    def __init__(self, delay: float = 1.5):
        self.mode: dict[str, str] = {r: "ok" for r in RECIPIENTS}
        self.delay = delay

    def reset(self) -> None:
        self.mode = {r: "ok" for r in RECIPIENTS}


def init_app(app: Flask) -> SimulatorState:
    state = app.extensions["recipient_sim"] = SimulatorState(float(app.config.get("RECIPIENT_SIMULATOR_DELAY", 1.5)))
    app.register_blueprint(bp)
    return state


def state() -> SimulatorState:
    return current_app.extensions["recipient_sim"]


def _answer(code: int, /, **body: Any):
    return jsonify(body), code


@bp.post(f"/{RECIPIENT}/intyg")
def receive(recipient: str):
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key or len(key) > 64:
        return _answer(400, error="an Idempotency-Key header (at most 64 characters) is required")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _answer(400, error="the body must be a JSON object")
    mode = state().mode.get(recipient, "ok")
    if mode == "fail":
        return _answer(503, error="the recipient is unavailable")
    if mode == "reject":
        return _answer(400, error="the recipient does not accept the delivery")
    session = db.session()
    status, body = _record(session, recipient, key, payload)
    if mode == "timeout":
        time.sleep(state().delay)  # the delivery is recorded: the client gives up before it hears so
    return _answer(status, **body)


security.csrf.exempt(receive)  # a machine-to-machine endpoint: no browser session, no form


def _record(session, recipient: str, key: str, payload: dict) -> tuple[int, dict]:
    certificate_id = payload.get("certificate_id")
    certificate_id = str(certificate_id)[:64] if certificate_id is not None else None
    session.add(SimDelivery(recipient=recipient, idempotency_key=key, certificate_id=certificate_id, payload=payload,
                            received_at=current_app.extensions["clock"].now()))
    try:
        session.commit()
        return 202, {"status": "received"}
    except IntegrityError:
        session.rollback()
    earlier = session.scalar(select(SimDelivery).where(SimDelivery.idempotency_key == key))
    session.rollback()
    if earlier is None:  # pragma: no cover - the unique index said it exists
        raise RuntimeError("sim_deliveries: duplicate key but no row")
    if earlier.recipient != recipient or earlier.payload != payload:
        return 422, {"error": "the Idempotency-Key was used before with another delivery"}
    return 200, {"status": "already received"}


@bp.get(f"/{RECIPIENT}")
def index(recipient: str):
    deliveries = db.session().scalars(
        select(SimDelivery).where(SimDelivery.recipient == recipient)
        .order_by(SimDelivery.received_at.desc(), SimDelivery.id.desc()).limit(SHOWN)).all()
    rows = [{"received_at": d.received_at, "certificate_id": d.certificate_id,
             "type": _("Svar på fråga") if (d.payload or {}).get("kind") == "ANSWER"
             else str((d.payload or {}).get("type") or "")} for d in deliveries]
    heading = {"FK": _("Mottagarsimulator – Försäkringskassan"),
               "TS": _("Mottagarsimulator – Transportstyrelsen")}[recipient]
    other = next(r for r in RECIPIENTS if r != recipient)
    return render_template("recipient_sim/index.html", recipient=recipient, heading=heading, rows=rows,
                           mode=state().mode.get(recipient, "ok"), other=other, shown=SHOWN)


def a11y_examples(app: Flask) -> list[tuple[str, dict]]:
    """Pages for the accessibility crawl: the simulator's page per recipient."""
    return [("recipient_sim.index", {"recipient": r}) for r in RECIPIENTS]
