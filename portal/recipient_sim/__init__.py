"""The recipient simulator (development, demo and tests only; off in production): stands in for
Försäkringskassan's and Transportstyrelsen's certificate intake, so the outbox really posts over HTTP.

- `POST /simulator/<FK|TS>/intyg`: a JSON body (a certificate, or with `"kind": "ANSWER"` the care unit's
  answer to an FK question, or with `"kind": "QUESTION"` the care unit's own question to FK) and the header
  `Idempotency-Key` (required). The
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

Across processes (the simulator served by several processes, `portal serve-production`, bench/faults.py):
`RECIPIENT_SIMULATOR_CONTROL_FILE` names a JSON file, e.g. `{"FK": "timeout", "TS": "ok", "delay": 30}`, that
overrides the modes (and the delay) while it exists, read again whenever it changes. `RECIPIENT_SIMULATOR_DELAY`
is the delay's default (1.5 s).
"""
from __future__ import annotations

import json
import os
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
    """The simulator's fault modes, per recipient; `control_file` (JSON) overrides them while it exists."""

    def __init__(self, delay: float = 1.5, control_file: str | None = None):
        self.mode: dict[str, str] = {r: "ok" for r in RECIPIENTS}
        self.delay = delay
        self.control_file = control_file
        self._file_seen: tuple[tuple[int, int], dict] = ((-1, -1), {})

    def reset(self) -> None:
        self.mode = {r: "ok" for r in RECIPIENTS}

    def _control(self) -> dict:
        if not self.control_file:
            return {}
        try:
            stat = os.stat(self.control_file)
        except OSError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._file_seen[0]:
            try:
                with open(self.control_file, encoding="utf-8") as f:
                    found = json.load(f)
            except (OSError, ValueError):
                found = {}
            self._file_seen = (stamp, found if isinstance(found, dict) else {})
        return self._file_seen[1]

    def current(self, recipient: str) -> tuple[str, float]:
        """The recipient's mode and the delay now: the control file's if it names them, else the state's."""
        control = self._control()
        mode = control.get(recipient)
        delay = control.get("delay")
        return (mode if mode in MODES else self.mode.get(recipient, "ok"),
                float(delay) if isinstance(delay, (int, float)) and delay >= 0 else self.delay)


def init_app(app: Flask) -> SimulatorState:
    state = app.extensions["recipient_sim"] = SimulatorState(float(app.config.get("RECIPIENT_SIMULATOR_DELAY", 1.5)),
                                                             app.config.get("RECIPIENT_SIMULATOR_CONTROL_FILE"))
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
    mode, delay = state().current(recipient)
    if mode == "fail":
        return _answer(503, error="the recipient is unavailable")
    if mode == "reject":
        return _answer(400, error="the recipient does not accept the delivery")
    session = db.session()
    status, body = _record(session, recipient, key, payload)
    if mode == "timeout":
        time.sleep(delay)  # the delivery is recorded: the client gives up before it hears so
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


def _kind_label(kind: object) -> str | None:
    """The care unit's messages: an answer to FK's question, or its own question (issue 17)."""
    labels = {"ANSWER": _("Svar på fråga"), "QUESTION": _("Fråga från vården")}
    return labels.get(kind) if isinstance(kind, str) else None


@bp.get(f"/{RECIPIENT}")
def index(recipient: str):
    deliveries = db.session().scalars(
        select(SimDelivery).where(SimDelivery.recipient == recipient)
        .order_by(SimDelivery.received_at.desc(), SimDelivery.id.desc()).limit(SHOWN)).all()
    rows = [{"received_at": d.received_at, "certificate_id": d.certificate_id,
             "type": _kind_label((d.payload or {}).get("kind")) or str((d.payload or {}).get("type") or "")}
            for d in deliveries]
    heading = {"FK": _("Mottagarsimulator – Försäkringskassan"),
               "TS": _("Mottagarsimulator – Transportstyrelsen")}[recipient]
    other = next(r for r in RECIPIENTS if r != recipient)
    return render_template("recipient_sim/index.html", recipient=recipient, heading=heading, rows=rows,
                           mode=state().current(recipient)[0], other=other, shown=SHOWN)


def a11y_examples(app: Flask) -> list[tuple[str, dict]]:
    """Pages for the accessibility crawl: the simulator's page per recipient."""
    return [("recipient_sim.index", {"recipient": r}) for r in RECIPIENTS]
