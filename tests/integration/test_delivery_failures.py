"""How a send ends when it is not delivered, and what the citizen then sees and can do (issue 12, "Delivery"):

- given up after the recipient timed out: the recipient may have it, the page says "we do not know", and the
  citizen's retry carries the same idempotency key, so the recipient holds the certificate exactly once;
- a permanent error (a 4xx other than 408/409/429) fails the send at once, with help on the page;
- an unexpected error during delivery is recorded on the send and retried with backoff (with jitter), then
  given up like any other failure;
- at delivery the send request's rules are checked again (replaced, sent by care, valideringsperson – asking
  the person service, not the local table): a send that may no longer go is never posted, and when the
  person service cannot answer the send waits; answers to FK's questions likewise.

Over real HTTP to the recipient simulator (a live server), on SQLite and PostgreSQL; time moves with the
app's FixedClock (the simulator's deliberate slow answer aside)."""
from __future__ import annotations

import dataclasses
import html as html_lib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import NOW, LiveServer, free_port, session_login
from portal import db, recipient_sim
from portal.domain import questions as question_rules
from portal.models import CareSend, CareUnit, Certificate, CertificateRelation, Message, Person, Send, SimDelivery
from portal.repository import outbox
from portal.repository import questions as question_store
from portal.worker import deliver_due


@pytest.fixture
def portal(demo):
    """The demo app with the recipient simulator served on a free port (the worker posts over HTTP to it); the
    backoff's jitter in the middle, so the waits are exact (30 s, 1 min, …)."""
    app = demo
    port = free_port()
    app.config.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", RECIPIENT_TIMEOUT=0.4, OUTBOX_LEASE_SECONDS=60,
                      SEND_GIVE_UP_AFTER=86400)
    app.config.pop("RECIPIENT_ENDPOINTS", None)
    if "recipient_sim" not in app.blueprints:
        recipient_sim.init_app(app)
    app.extensions["recipient_sim"].reset()
    app.extensions["recipient_sim"].delay = 1.0
    app.extensions["outbox_random"] = lambda: 0.5
    with LiveServer(app, port):
        yield app


def sim(app):
    return app.extensions["recipient_sim"]


def clock(app):
    return app.extensions["clock"]


def counts(delivered=0, retried=0, failed=0) -> dict[str, int]:
    return {"delivered": delivered, "retried": retried, "failed": failed}


def sendable(app, n: int = 1) -> Certificate | list[Certificate]:
    """An FK7804 its patient may send (n > 1: that many): not revoked, not replaced, not sent by care, not a
    valideringsperson's."""
    with db.new_session(app) as s:
        replaced = select(CertificateRelation.to_id).where(CertificateRelation.kind == "REPLACES")
        by_care = select(CareSend.certificate_id)
        found = list(s.scalars(
            select(Certificate).join(Person, Person.personnummer == Certificate.patient_pnr)
            .where(Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None),
                   Certificate.id.not_in(replaced), Certificate.id.not_in(by_care),
                   Person.validation_person.is_(False))
            .order_by(Certificate.id).limit(n)))
    assert len(found) == n
    return found[0] if n == 1 else found


def citizen(app, cert: Certificate):
    client = app.test_client()
    session_login(client, app, "citizen", cert.patient_pnr)
    return client


def csrf(client) -> str:
    page = client.get("/mina-intyg/").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def ask_to_send(client, cert: Certificate) -> None:
    response = client.post(f"/mina-intyg/intyg/{cert.id}/skicka", data={"csrf_token": csrf(client), "consent": "yes"})
    assert response.status_code == 303, response.get_data(as_text=True)


def page(client, cert: Certificate) -> str:
    response = client.get(f"/mina-intyg/intyg/{cert.id}")
    assert response.status_code == 200
    return " ".join(html_lib.unescape(response.get_data(as_text=True)).split())


def sends(app, cert: Certificate) -> list[Send]:
    with db.new_session(app) as s:
        return list(s.scalars(select(Send).where(Send.certificate_id == cert.id, Send.kind == "CERTIFICATE")
                              .order_by(Send.id)))


def received(app, certificate_id: str | None = None) -> list[SimDelivery]:
    with db.new_session(app) as s:
        query = select(SimDelivery).order_by(SimDelivery.id)
        if certificate_id is not None:
            query = query.where(SimDelivery.certificate_id == certificate_id)
        return list(s.scalars(query))


def until_settled(app, send_id: int, limit: int = 30) -> Send:
    """Run the worker at each next attempt until the send is no longer pending."""
    for _ in range(limit):
        with db.new_session(app) as s:
            send = s.get(Send, send_id)
        if send.state != "PENDING":
            return send
        clock(app).set(max(send.next_attempt_at, clock(app).now()))
        deliver_due(app)
    raise AssertionError("the send never settled")


# --- 1. a retry after a give-up: what the page says, and the same key --------------------------------------

def test_given_up_after_timeouts_the_page_says_we_do_not_know_and_a_retry_reaches_the_recipient_once(portal):
    portal.config["SEND_GIVE_UP_AFTER"] = 30
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    sim(portal).mode["FK"] = "timeout"  # it records the certificate, then answers after the worker gave up waiting

    assert deliver_due(portal) == counts(retried=1)
    clock(portal).advance(seconds=30)
    assert deliver_due(portal) == counts(failed=1)  # the second attempt, at the give-up time
    [first] = sends(portal, cert)
    assert (first.state, first.failure, first.maybe_received, first.attempts) == ("FAILED", "GAVE_UP", True, 2)
    assert len(received(portal, cert.id)) == 1  # the recipient has it, although the portal never heard so

    shown = page(client, cert)
    assert "Vi vet inte om Försäkringskassan tog emot intyget" in shown
    assert "Om Försäkringskassan redan har fått det får de det inte en gång till" in shown
    assert "Inget har skickats" not in shown
    confirm = " ".join(client.get(f"/mina-intyg/intyg/{cert.id}/skicka").get_data(as_text=True).split())
    assert "Vi vet inte om Försäkringskassan tog emot intyget" in confirm

    sim(portal).mode["FK"] = "ok"
    ask_to_send(client, cert)  # the citizen tries again
    assert deliver_due(portal) == counts(delivered=1)

    first, retry = sends(portal, cert)
    assert (first.state, retry.state) == ("FAILED", "DELIVERED")  # the history is kept
    assert retry.idempotency_key == first.idempotency_key  # and the retry carries the key the recipient knows
    assert [d.idempotency_key for d in received(portal, cert.id)] == [first.idempotency_key]  # exactly once
    shown = page(client, cert)
    assert "Intyget skickades till Försäkringskassan" in shown and "Vi vet inte" not in shown


def test_given_up_without_reaching_the_recipient_the_page_says_nothing_was_sent(portal):
    portal.config["SEND_GIVE_UP_AFTER"] = 30
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    sim(portal).mode["FK"] = "fail"  # 503: down, it takes nothing
    [send] = sends(portal, cert)
    send = until_settled(portal, send.id)
    assert (send.state, send.failure, send.maybe_received) == ("FAILED", "GAVE_UP", False)
    shown = page(client, cert)
    assert "Vi försökte skicka intyget till Försäkringskassan men det gick inte. Inget har skickats." in shown
    assert "Vi vet inte" not in shown


# --- 2. permanent errors and unexpected ones --------------------------------------------------------------

def test_a_permanent_error_fails_the_send_at_once_with_help_and_a_retry_gets_a_new_key(portal):
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    sim(portal).mode["FK"] = "reject"  # 400: it will not take it

    assert deliver_due(portal) == counts(failed=1)  # not retried for a day: failed at the first answer
    [send] = sends(portal, cert)
    assert (send.state, send.failure, send.attempts, send.failed_at, send.next_attempt_at, send.last_error) == (
        "FAILED", "REJECTED", 1, NOW, None, "FK: HTTP 400")
    assert not send.maybe_received
    with db.new_session(portal) as s:
        unit = s.get(CareUnit, cert.unit_id).name
    shown = page(client, cert)
    assert "Försäkringskassan tog inte emot intyget. Det har inte skickats." in shown
    assert f"Kontakta {unit}, som utfärdade intyget, eller ladda ner intyget som PDF" in shown
    assert "Vi vet inte" not in shown
    clock(portal).advance(minutes=20)
    assert deliver_due(portal) == counts()  # nothing is due

    sim(portal).mode["FK"] = "ok"
    ask_to_send(client, cert)
    assert deliver_due(portal) == counts(delivered=1)
    first, retry = sends(portal, cert)
    assert retry.idempotency_key != first.idempotency_key  # the recipient holds nothing under the rejected key
    assert [d.idempotency_key for d in received(portal, cert.id)] == [retry.idempotency_key]


class Broken:
    """A transport that fails in a way nobody planned for (the exception text holds a personnummer)."""

    def __init__(self):
        self.calls = 0

    def deliver(self, recipient, key, payload):
        self.calls += 1
        raise RuntimeError(f"bug while posting for {payload['patient']['personnummer']}")


def test_an_unexpected_error_is_recorded_retried_with_jittered_backoff_and_given_up(portal):
    portal.config["SEND_GIVE_UP_AFTER"] = 600
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    broken = portal.extensions["recipient_transport"] = Broken()

    assert deliver_due(portal) == counts(retried=1)
    [send] = sends(portal, cert)
    assert (send.state, send.attempts, send.last_error) == ("PENDING", 1, "unexpected error: RuntimeError")
    assert send.next_attempt_at == NOW + timedelta(seconds=30)  # the backoff, not the 60 s lease
    assert send.maybe_received  # it went wrong while posting: the recipient may have it

    clock(portal).advance(seconds=30)
    portal.extensions["outbox_random"] = lambda: 0.0  # the jitter's low end: 80 % of the 1-minute backoff
    assert deliver_due(portal) == counts(retried=1)
    [send] = sends(portal, cert)
    assert send.next_attempt_at == NOW + timedelta(seconds=30 + 48)

    send = until_settled(portal, send.id)
    assert (send.state, send.failure, send.failed_at) == ("FAILED", "GAVE_UP", NOW + timedelta(seconds=600))
    assert broken.calls == send.attempts
    assert "Vi vet inte om Försäkringskassan tog emot intyget" in page(client, cert)


def test_an_unexpected_error_before_posting_leaves_the_recipient_without_it(portal, monkeypatch):
    from portal.domain import sending

    cert = sendable(portal)
    ask_to_send(citizen(portal, cert), cert)

    def payload_fails(cert, ctype):
        raise KeyError("content")

    monkeypatch.setattr(sending, "payload", payload_fails)
    assert deliver_due(portal) == counts(retried=1)
    [send] = sends(portal, cert)
    assert (send.state, send.last_error, send.maybe_received) == ("PENDING", "unexpected error: KeyError", False)
    assert received(portal) == []


# --- 3. the rules, checked again at delivery ----------------------------------------------------------------

def test_a_certificate_replaced_after_the_request_is_not_posted(portal):
    with db.new_session(portal) as s:
        newer = Certificate.__table__.alias("newer")
        old = s.scalars(
            select(Certificate)
            .join(CertificateRelation, CertificateRelation.to_id == Certificate.id)
            .join(newer, newer.c.id == CertificateRelation.from_id)
            .join(Person, Person.personnummer == Certificate.patient_pnr)
            .where(CertificateRelation.kind == "REPLACES", Certificate.type_code == "FK7804",
                   Certificate.revoked_at.is_(None), newer.c.revoked_at.is_(None),
                   Person.validation_person.is_(False))
            .order_by(Certificate.id).limit(1)).one()
        # asked for before the replacement arrived (the send page refuses a replaced certificate)
        outbox.request_send(s, certificate_id=old.id, recipient="FK", requested_by="CITIZEN", now=NOW)

    assert deliver_due(portal) == counts(failed=1)
    [send] = sends(portal, old)
    assert (send.state, send.failure, send.last_error, send.attempts) == ("FAILED", "REFUSED", "REPLACED", 1)
    assert received(portal) == []
    shown = page(citizen(portal, old), old)
    assert "Intyget skickades inte till Försäkringskassan eftersom vården har ersatt det med ett nytt intyg." in shown


def test_a_certificate_sent_by_care_meanwhile_is_not_posted_again(portal):
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    with db.new_session(portal) as s:
        s.add(CareSend(certificate_id=cert.id, recipient="FK", sent_at=NOW))
        s.commit()

    assert deliver_due(portal) == counts(failed=1)
    [send] = sends(portal, cert)
    assert (send.state, send.failure, send.last_error) == ("FAILED", "REFUSED", "ALREADY_SENT")
    assert received(portal) == []
    shown = page(client, cert)
    assert "Skickat till Försäkringskassan av vården, 23 november 2026." in shown
    assert "Intyget kunde inte skickas" not in shown and "Intyget skickades inte" not in shown


class SaysValidationPerson:
    """The person service, answering that these patients are valideringspersoner (the local table says not)."""

    def __init__(self, real, pnrs):
        self.real, self.pnrs = real, set(pnrs)
        self.asked: list[set[str]] = []

    def lookup(self, pnrs):
        pnrs = set(pnrs)
        self.asked.append(pnrs)
        return {p: dataclasses.replace(i, validation_person=True) if p in self.pnrs else i
                for p, i in self.real.lookup(pnrs).items()}

    def one(self, pnr):
        return self.lookup([pnr]).get(pnr)


def test_the_person_service_not_the_local_table_says_whether_the_patient_is_a_valideringsperson(portal):
    cert = sendable(portal)
    client = citizen(portal, cert)
    ask_to_send(client, cert)
    service = portal.extensions["person_service"] = SaysValidationPerson(portal.extensions["person_service"],
                                                                        [cert.patient_pnr])

    assert deliver_due(portal) == counts(failed=1)
    [send] = sends(portal, cert)
    assert (send.state, send.failure, send.last_error) == ("FAILED", "REFUSED", "VALIDATION_PERSON")
    assert received(portal) == [] and service.asked == [{cert.patient_pnr}]
    assert "Intyget skickades inte till Försäkringskassan eftersom det inte kan skickas elektroniskt." in page(
        client, cert)


def test_without_the_person_service_a_send_waits_and_is_never_posted_unchecked(portal):
    first, second = sendable(portal, 2)
    ask_to_send(citizen(portal, first), first)
    persons = portal.extensions["person_service"]
    persons.mode = "fail"

    assert deliver_due(portal) == counts(retried=1)
    [send] = sends(portal, first)
    assert (send.state, send.last_error, send.next_attempt_at, send.maybe_received) == (
        "PENDING", "the person service did not answer", NOW + timedelta(seconds=30), False)
    assert received(portal) == []

    persons.mode = "ok"
    clock(portal).advance(seconds=30)
    assert deliver_due(portal) == counts(delivered=1)
    assert [d.certificate_id for d in received(portal)] == [first.id]

    # down until the give-up time: given up, never posted, and the page says nothing was sent
    portal.config["SEND_GIVE_UP_AFTER"] = 120
    client = citizen(portal, second)
    ask_to_send(client, second)
    persons.mode = "fail"
    [send] = sends(portal, second)
    send = until_settled(portal, send.id)
    assert (send.state, send.failure, send.maybe_received) == ("FAILED", "GAVE_UP", False)
    assert [d.certificate_id for d in received(portal)] == [first.id]
    persons.mode = "ok"
    assert "Inget har skickats" in page(client, second)


def open_question(app) -> question_rules.Question:
    with db.new_session(app) as s:
        qid = s.scalar(
            select(Message.id).join(Person, Person.personnummer == Message.patient_pnr)
            .where(Message.sender == "FK", Message.subject.in_(question_rules.ADMINISTRATIVE_SUBJECTS),
                   Message.in_reply_to.is_(None), Message.reminder_of.is_(None), Message.handled_at.is_(None),
                   Person.validation_person.is_(False))
            .order_by(Message.id).limit(1))
        assert qid is not None
        return question_store.one(s, qid)[0]


def answer(app, question: question_rules.Question, answer_id: str) -> Send:
    with db.new_session(app) as s:
        assert question_store.answer(s, question=question, answer_id=answer_id, text="Vi ringer upp.",
                                     staff_id="TSTNMT2321000156-L001", now=NOW) == question_store.ANSWERED
        return question_store.answer_send(s, answer_id)


def test_an_answer_to_fk_waits_for_the_person_service_and_is_never_posted_for_a_valideringsperson(portal):
    question = open_question(portal)
    send = answer(portal, question, "svar-" + "a" * 32)
    persons = portal.extensions["person_service"]
    persons.mode = "fail"

    assert deliver_due(portal) == counts(retried=1)
    with db.new_session(portal) as s:
        waiting = s.get(Send, send.id)
    assert (waiting.state, waiting.last_error) == ("PENDING", "the person service did not answer")
    assert received(portal) == []

    persons.mode = "ok"
    portal.extensions["person_service"] = SaysValidationPerson(persons, [question.patient_pnr])
    clock(portal).advance(seconds=30)
    assert deliver_due(portal) == counts(failed=1)
    with db.new_session(portal) as s:
        refused = s.get(Send, send.id)
    assert (refused.state, refused.failure, refused.last_error) == ("FAILED", "REFUSED", "VALIDATION_PERSON")
    assert received(portal) == []
