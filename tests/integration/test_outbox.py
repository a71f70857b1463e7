"""Sending through the durable outbox, on SQLite and PostgreSQL, over real HTTP to the recipient simulator
(a live server): delivered exactly once whatever fails – the recipient down, the recipient answering too
late, the worker dying between posting and recording, two requests or two workers racing – and given up
after SEND_GIVE_UP_AFTER. Time moves with the app's FixedClock, never by sleeping (except the simulator's
deliberate slow answer)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from conftest import NOW, LiveServer, free_port
from portal import db, recipient_sim
from portal.domain import sending
from portal.models import Certificate, CertificateRelation, Person, Send, SimDelivery
from portal.repository import outbox
from portal.worker import deliver_due, start_background_worker, worker_command

LEASE = 60


@pytest.fixture
def portal(demo):
    """The app with the demo data and the recipient simulator, served on a free port: the worker posts to
    PUBLIC_BASE_URL/simulator/<recipient>/intyg (the default RECIPIENT_ENDPOINTS)."""
    app = demo
    port = free_port()
    app.config.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", RECIPIENT_TIMEOUT=0.5, OUTBOX_LEASE_SECONDS=LEASE,
                      SEND_GIVE_UP_AFTER=86400)
    app.config.pop("RECIPIENT_ENDPOINTS", None)
    if "recipient_sim" not in app.blueprints:
        recipient_sim.init_app(app)
    app.extensions["recipient_sim"].reset()
    app.extensions["recipient_sim"].delay = 1.5
    app.extensions["outbox_random"] = lambda: 0.5  # the backoff's jitter in the middle: the waits are exact
    with LiveServer(app, port):
        yield app


def sendable(app, n: int = 1) -> list[Certificate]:
    """FK7804s a citizen may send: not revoked, not replaced, not a valideringsperson's."""
    with db.new_session(app) as s:
        replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
        certs = s.scalars(
            select(Certificate).join(Person, Person.personnummer == Certificate.patient_pnr)
            .where(Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None),
                   Certificate.id.not_in(replaced), Person.validation_person.is_(False))
            .order_by(Certificate.id).limit(n)).all()
    assert len(certs) == n
    return list(certs)


def request(app, cert: Certificate) -> int:
    with db.new_session(app) as s:
        return outbox.request_send(s, certificate_id=cert.id, recipient="FK", requested_by=cert.patient_pnr,
                                   now=app.extensions["clock"].now())


def the_send(app, send_id: int) -> Send:
    with db.new_session(app) as s:
        return s.get(Send, send_id)


def received(app, recipient: str = "FK") -> list[SimDelivery]:
    with db.new_session(app) as s:
        return list(s.scalars(select(SimDelivery).where(SimDelivery.recipient == recipient).order_by(SimDelivery.id)))


def sim(app):
    return app.extensions["recipient_sim"]


def counts(delivered=0, retried=0, failed=0) -> dict[str, int]:
    return {"delivered": delivered, "retried": retried, "failed": failed}


# --- delivery ------------------------------------------------------------------------------------

def test_a_send_is_delivered_once_with_its_idempotency_key_and_the_certificate_in_the_body(portal):
    cert = sendable(portal)[0]
    send_id = request(portal, cert)
    pending = the_send(portal, send_id)
    assert (pending.state, pending.attempts, pending.next_attempt_at) == ("PENDING", 0, NOW)

    assert deliver_due(portal) == counts(delivered=1)

    send = the_send(portal, send_id)
    assert (send.state, send.delivered_at, send.attempts, send.last_error) == ("DELIVERED", NOW, 1, None)
    [got] = received(portal)
    assert got.idempotency_key == send.idempotency_key and got.certificate_id == cert.id
    assert got.payload["type"] == "FK7804" and got.payload["patient"] == {"personnummer": cert.patient_pnr}
    assert got.payload["content"] == cert.content and got.payload["unit"]["id"] == cert.unit_id
    assert got.payload["issued_by"]["name"] and got.payload["signed_at"] == cert.signed_at.isoformat()
    assert deliver_due(portal) == counts()  # nothing is due any more
    assert len(received(portal)) == 1
    with db.new_session(portal) as s:
        [view] = outbox.sends_for(s, [cert.id])[cert.id]
    assert (view.recipient, view.state, view.delivered_at) == ("FK", "DELIVERED", NOW)


def test_recipient_down_the_send_waits_with_backoff_then_is_delivered_once(portal):
    clock = portal.extensions["clock"]
    send_id = request(portal, sendable(portal)[0])
    sim(portal).mode["FK"] = "fail"

    assert deliver_due(portal) == counts(retried=1)
    send = the_send(portal, send_id)
    assert (send.state, send.attempts) == ("PENDING", 1)
    assert send.next_attempt_at == NOW + sending.backoff(1) == NOW + timedelta(seconds=30)
    assert send.last_error == "FK: HTTP 503"
    assert received(portal) == []

    sim(portal).mode["FK"] = "ok"
    clock.advance(seconds=29)
    assert deliver_due(portal) == counts()  # not due yet
    clock.advance(seconds=1)
    assert deliver_due(portal) == counts(delivered=1)
    send = the_send(portal, send_id)
    assert (send.state, send.attempts, send.delivered_at) == ("DELIVERED", 2, NOW + timedelta(seconds=30))
    assert [d.idempotency_key for d in received(portal)] == [send.idempotency_key]


def test_recipient_answering_too_late_has_it_once_after_the_retry(portal):
    clock = portal.extensions["clock"]
    send_id = request(portal, sendable(portal)[0])
    sim(portal).mode["FK"] = "timeout"  # records, then answers after 1.5 s; the worker waits 0.5 s

    assert deliver_due(portal) == counts(retried=1)
    send = the_send(portal, send_id)
    assert (send.state, send.attempts, send.next_attempt_at) == ("PENDING", 1, NOW + timedelta(seconds=30))
    assert "no answer" in send.last_error and send.maybe_received
    assert len(received(portal)) == 1  # the recipient has it although the worker did not hear so

    sim(portal).mode["FK"] = "ok"
    clock.advance(seconds=30)
    assert deliver_due(portal) == counts(delivered=1)
    send = the_send(portal, send_id)
    assert send.state == "DELIVERED" and send.attempts == 2
    assert [d.idempotency_key for d in received(portal)] == [send.idempotency_key]  # still exactly one


class Killed(BaseException):
    """The worker's process ends here (nothing after it runs: not even the recording of an error)."""


def test_worker_dying_between_posting_and_recording_delivers_once_after_the_lease(portal, monkeypatch):
    clock = portal.extensions["clock"]
    send_id = request(portal, sendable(portal)[0])
    real = outbox.record_delivered
    calls = []

    def dies_once(session, send_id, now):
        calls.append(send_id)
        if len(calls) == 1:
            raise Killed()
        return real(session, send_id, now)

    monkeypatch.setattr(outbox, "record_delivered", dies_once)

    with pytest.raises(Killed):
        deliver_due(portal)
    send = the_send(portal, send_id)
    assert (send.state, send.attempts, send.next_attempt_at) == ("PENDING", 1, NOW + timedelta(seconds=LEASE))
    assert len(received(portal)) == 1

    clock.advance(seconds=LEASE - 1)
    assert deliver_due(portal) == counts()  # still leased
    clock.advance(seconds=1)
    assert deliver_due(portal) == counts(delivered=1)
    send = the_send(portal, send_id)
    assert (send.state, send.attempts) == ("DELIVERED", 2)
    assert [d.idempotency_key for d in received(portal)] == [send.idempotency_key]


def test_given_up_after_the_limit_then_a_new_send_may_be_requested(portal):
    clock = portal.extensions["clock"]
    portal.config["SEND_GIVE_UP_AFTER"] = 600
    cert = sendable(portal)[0]
    send_id = request(portal, cert)
    sim(portal).mode["FK"] = "fail"

    attempts_at = []
    while (send := the_send(portal, send_id)).state == "PENDING":
        clock.set(send.next_attempt_at)
        attempts_at.append((clock.now() - NOW).total_seconds())
        deliver_due(portal)
        assert len(attempts_at) < 20
    assert attempts_at == [0, 30, 90, 210, 450, 600]  # backoff 30 s, 1, 2, 4 min; the last at the limit
    assert (send.state, send.failed_at, send.attempts, send.next_attempt_at) == (
        "FAILED", NOW + timedelta(seconds=600), 6, None)
    assert (send.last_error, send.failure, send.maybe_received) == ("FK: HTTP 503", "GAVE_UP", False)
    assert received(portal) == []

    sim(portal).mode["FK"] = "ok"
    again = request(portal, cert)
    assert again != send_id
    assert deliver_due(portal) == counts(delivered=1)
    with db.new_session(portal) as s:
        assert [v.state for v in outbox.sends_for(s, [cert.id])[cert.id]] == ["FAILED", "DELIVERED"]
    assert [d.idempotency_key for d in received(portal)] == [the_send(portal, again).idempotency_key]


def test_a_certificate_revoked_after_the_request_is_not_posted(portal):
    cert = sendable(portal)[0]
    send_id = request(portal, cert)
    with db.new_session(portal) as s:
        s.execute(update(Certificate).where(Certificate.id == cert.id).values(revoked_at=NOW))
        s.commit()
    assert deliver_due(portal) == counts(failed=1)
    send = the_send(portal, send_id)
    assert (send.state, send.failed_at, send.last_error, send.failure) == ("FAILED", NOW, "REVOKED", "REFUSED")
    assert received(portal) == []


def test_a_stored_error_is_short_and_never_holds_a_personnummer():
    error = outbox.short_error("FK: HTTP 400 invalid patient 19850314-9828 /  198503149828\n" + "x" * 500)
    assert "9828" not in error and "850314" not in error
    assert len(error) == outbox.ERROR_LENGTH and error.startswith("FK: HTTP 400 invalid patient")


# --- races ---------------------------------------------------------------------------------------

def test_two_requests_racing_for_the_same_certificate_make_one_send(portal):
    for cert in sendable(portal, 3):
        barrier = threading.Barrier(2)
        results: list = []

        def ask(c=cert, barrier=barrier, results=results):
            with db.new_session(portal) as s:
                barrier.wait()
                try:
                    results.append(outbox.request_send(s, certificate_id=c.id, recipient="FK",
                                                       requested_by=c.patient_pnr, now=NOW))
                except outbox.AlreadySent as refused:
                    results.append(refused)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(type(r).__name__ for r in results) == ["AlreadySent", "int"], results
        with db.new_session(portal) as s:
            assert s.scalar(select(func.count()).select_from(Send).where(Send.certificate_id == cert.id)) == 1


def test_a_second_request_while_one_is_pending_or_delivered_is_refused(portal):
    cert = sendable(portal)[0]
    request(portal, cert)
    with pytest.raises(outbox.AlreadySent):
        request(portal, cert)
    deliver_due(portal)
    with pytest.raises(outbox.AlreadySent):
        request(portal, cert)


def test_two_workers_at_once_never_deliver_a_send_twice(portal):
    portal.config["OUTBOX_BATCH"] = 2
    ids = [request(portal, c) for c in sendable(portal, 8)]
    barrier = threading.Barrier(2)
    totals: list[dict] = []
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait()
            total = counts()
            while True:
                n = deliver_due(portal)
                if not any(n.values()):
                    break
                total = {k: total[k] + n[k] for k in total}
            totals.append(total)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(totals) == 2 and sum(t["delivered"] for t in totals) == 8
    sends = [the_send(portal, i) for i in ids]
    assert {(s.state, s.attempts) for s in sends} == {("DELIVERED", 1)}  # no send was ever claimed twice
    assert sorted(d.idempotency_key for d in received(portal)) == sorted(s.idempotency_key for s in sends)


def test_a_claim_skips_sends_another_worker_holds_instead_of_waiting(portal):
    if db.get_engine(portal).dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers (the test above covers both)")
    held, free = [request(portal, c) for c in sendable(portal, 2)]
    with db.new_session(portal) as other_worker:
        other_worker.execute(select(Send).where(Send.id == held).with_for_update())  # holds the row lock
        with db.new_session(portal) as s:
            s.connection().exec_driver_sql("SET lock_timeout = '2s'")  # waiting would fail the test, not hang it
            claimed = outbox.claim_due(s, NOW, timedelta(seconds=LEASE))
        assert [c.id for c in claimed] == [free]
        other_worker.rollback()
    assert (the_send(portal, held).attempts, the_send(portal, free).attempts) == (0, 1)


def test_a_send_whose_lease_ran_out_during_a_slow_pass_is_left_for_the_next(portal):
    clock = portal.extensions["clock"]
    first, second = [request(portal, c) for c in sendable(portal, 2)]
    posted = []

    class SlowRecipient:  # every post takes longer than the lease
        def deliver(self, recipient, key, payload):
            posted.append(payload["certificate_id"])
            clock.advance(seconds=LEASE)

    portal.extensions["recipient_transport"] = SlowRecipient()
    try:
        assert deliver_due(portal) == counts(delivered=1)
    finally:
        del portal.extensions["recipient_transport"]
    assert len(posted) == 1
    assert (the_send(portal, first).state, the_send(portal, second).state) == ("DELIVERED", "PENDING")
    assert the_send(portal, second).next_attempt_at == NOW + timedelta(seconds=LEASE)  # due again now
    assert deliver_due(portal) == counts(delivered=1)


# --- running the worker ----------------------------------------------------------------------------

def test_the_worker_command_makes_one_pass(portal):
    request(portal, sendable(portal)[0])
    result = portal.test_cli_runner().invoke(worker_command, ["--once"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "delivered: 1, retried: 0, failed: 0" in result.output
    assert len(received(portal)) == 1


def test_the_background_worker_delivers_and_survives_a_failing_pass(portal, monkeypatch):
    import portal.worker as worker_module

    portal.config["OUTBOX_WORKER_INTERVAL"] = 0.05
    real = worker_module.deliver_due
    passes = []

    def first_pass_fails(app, now=None, **options):
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("database went away")
        return real(app, now, **options)

    monkeypatch.setattr(worker_module, "deliver_due", first_pass_fails)
    send_id = request(portal, sendable(portal)[0])
    worker = start_background_worker(portal)
    try:
        assert start_background_worker(portal) is worker  # once per app
        done = threading.Event()
        for _ in range(100):
            if the_send(portal, send_id).state == "DELIVERED":
                done.set()
                break
            done.wait(0.05)
        assert done.is_set() and len(passes) >= 2
    finally:
        worker.stop()
    assert not worker.thread.is_alive()
    assert len(received(portal)) == 1


def test_the_embedded_worker_starts_with_the_first_request_only(portal):
    import requests

    from portal import worker as worker_module

    portal.config["OUTBOX_WORKER_INTERVAL"] = 0.05
    worker_module.init_app(portal)
    send_id = request(portal, sendable(portal)[0])
    assert "outbox_worker" not in portal.extensions  # not started by creating the app or by a command
    assert requests.get(portal.config["PUBLIC_BASE_URL"] + "/", timeout=5).status_code == 200
    worker = portal.extensions["outbox_worker"]
    try:
        for _ in range(100):
            if the_send(portal, send_id).state == "DELIVERED":
                break
            threading.Event().wait(0.05)
        assert the_send(portal, send_id).state == "DELIVERED"
    finally:
        worker.stop()
    assert len(received(portal)) == 1


# --- the simulator ---------------------------------------------------------------------------------

def test_the_simulator_records_once_per_key_and_fails_when_told(app):
    if "recipient_sim" not in app.blueprints:
        recipient_sim.init_app(app)
    client = app.test_client()
    body = {"certificate_id": "c-1", "type": "FK7804", "patient": {"personnummer": "198503149828"}}
    assert client.post("/simulator/FK/intyg", json=body).status_code == 400  # no Idempotency-Key
    assert client.post("/simulator/FK/intyg", data="x", headers={"Idempotency-Key": "k1"}).status_code == 400
    assert client.post("/simulator/XX/intyg", json=body, headers={"Idempotency-Key": "k1"}).status_code == 404
    app.extensions["recipient_sim"].mode["FK"] = "fail"
    assert client.post("/simulator/FK/intyg", json=body, headers={"Idempotency-Key": "k1"}).status_code == 503
    app.extensions["recipient_sim"].mode["FK"] = "reject"
    assert client.post("/simulator/FK/intyg", json=body, headers={"Idempotency-Key": "k1"}).status_code == 400
    assert received(app) == []
    app.extensions["recipient_sim"].mode["FK"] = "ok"
    assert client.post("/simulator/FK/intyg", json=body, headers={"Idempotency-Key": "k1"}).status_code == 202
    assert client.post("/simulator/FK/intyg", json=body, headers={"Idempotency-Key": "k1"}).status_code == 200
    other = dict(body, certificate_id="c-2")
    assert client.post("/simulator/FK/intyg", json=other, headers={"Idempotency-Key": "k1"}).status_code == 422
    assert [d.certificate_id for d in received(app)] == ["c-1"]

    page = client.get("/simulator/FK")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Mottagarsimulator – Försäkringskassan" in html and "c-1" in html and "FK7804" in html
    assert "198503149828" not in html and "19850314-9828" not in html
    assert "c-1" not in client.get("/simulator/TS").get_data(as_text=True)
    assert recipient_sim.a11y_examples(app) == [("recipient_sim.index", {"recipient": "FK"}),
                                                ("recipient_sim.index", {"recipient": "TS"})]
