"""Sending's pure rules: who may send (domain.md, Mina intyg – Send), the retry backoff, giving up, the
idempotency key and what is posted."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from portal.domain import sending
from portal.domain.certificate_types import load_registry
from portal.domain.certificates import CertificateView, SendView

NOW = datetime(2026, 11, 23, 10, 0, 0)
PNR = "198503149828"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def cert(type_code: str = "FK7804", **changes) -> CertificateView:
    base = CertificateView(
        id="c-1", type_code=type_code, type_version="1.0", patient_pnr=PNR, signed_at=datetime(2026, 11, 20, 9, 30),
        content={"diagnoses": [{"code": "M54.5", "text": "Ländryggssmärta"}]}, unit_id="TSTNMT2321000156-U1",
        unit_name="Vårdcentralen Demo", provider_name="Region Demo", staff_name="Anna Berglund")
    return replace(base, **changes)


def sent(recipient: str, state: str) -> SendView:
    return SendView(recipient=recipient, state=state, requested_at=NOW - timedelta(days=1),
                    delivered_at=NOW if state == "DELIVERED" else None, failed_at=NOW if state == "FAILED" else None)


# --- who may send ---------------------------------------------------------------------------------

def test_an_ordinary_certificate_may_be_sent_to_its_types_recipient(registry):
    assert sending.refusal(registry.get("FK7804"), cert(), validation_person=False) is None
    assert sending.recipient(registry.get("FK7804")) == "FK"
    assert sending.refusal(registry.get("TSTRK1007"), cert("TSTRK1007"), validation_person=False) is None
    assert sending.recipient(registry.get("TSTRK1007")) == "TS"


@pytest.mark.parametrize("code", ["FK7263", "AG7804", "AG1-14"])
def test_a_type_without_electronic_recipient_cannot_be_sent(registry, code):
    assert sending.refusal(registry.get(code), cert(code), validation_person=False) == sending.NO_RECIPIENT


def test_an_unknown_type_cannot_be_sent():
    assert sending.refusal(None, cert("FK9999"), validation_person=False) == sending.NO_RECIPIENT


def test_death_certificates_are_sent_at_signing_not_by_the_citizen(registry):
    assert sending.refusal(registry.get("DB"), cert("DB"), validation_person=False) == sending.NO_RECIPIENT


def test_a_revoked_certificate_cannot_be_sent(registry):
    assert sending.refusal(registry.get("FK7804"), cert(revoked_at=NOW), validation_person=False) == sending.REVOKED


def test_a_replaced_certificate_cannot_be_sent(registry):
    assert sending.refusal(registry.get("FK7804"), cert(replaced_by="c-2"), validation_person=False) == sending.REPLACED


@pytest.mark.parametrize("state", ["PENDING", "DELIVERED"])
def test_a_certificate_cannot_be_sent_twice_to_the_same_recipient(registry, state):
    c = cert(sends=(sent("FK", state),))
    assert sending.refusal(registry.get("FK7804"), c, validation_person=False) == sending.ALREADY_SENT


def test_a_failed_send_does_not_block_a_new_one(registry):
    c = cert(sends=(sent("FK", "FAILED"),))
    assert sending.refusal(registry.get("FK7804"), c, validation_person=False) is None


def test_a_send_to_another_recipient_does_not_block(registry):
    c = cert("TSTRK1007", sends=(sent("FK", "DELIVERED"),))
    assert sending.refusal(registry.get("TSTRK1007"), c, validation_person=False) is None


def test_a_valideringspersons_certificate_is_never_sent(registry):
    assert sending.refusal(registry.get("FK7804"), cert(), validation_person=True) == sending.VALIDATION_PERSON


def test_every_refusal_is_a_known_code(registry):
    cases = [(registry.get("FK7263"), cert("FK7263"), False), (registry.get("FK7804"), cert(revoked_at=NOW), False),
             (registry.get("FK7804"), cert(replaced_by="x"), False),
             (registry.get("FK7804"), cert(sends=(sent("FK", "PENDING"),)), False),
             (registry.get("FK7804"), cert(), True)]
    assert [sending.refusal(t, c, validation_person=v) for t, c, v in cases] == list(sending.REFUSALS)


# --- retries --------------------------------------------------------------------------------------

def test_backoff_doubles_from_30_seconds_and_stops_at_30_minutes():
    waits = [sending.backoff(n).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert sending.backoff(0) == timedelta(seconds=30)
    assert sending.backoff(10_000) == timedelta(minutes=30)


def test_the_backoff_itself_has_no_randomness_the_jitter_is_added_to_it():
    assert {sending.backoff(4) for _ in range(20)} == {timedelta(minutes=4)}


def test_the_next_attempt_is_jittered_by_up_to_20_percent_from_the_given_random_source():
    day = timedelta(days=1)
    after = NOW + timedelta(minutes=1)
    assert sending.next_attempt(4, NOW, after, day, random=lambda: 0.0) == after + timedelta(minutes=4) * 0.8
    assert sending.next_attempt(4, NOW, after, day, random=lambda: 0.5) == after + timedelta(minutes=4)
    assert sending.next_attempt(4, NOW, after, day, random=lambda: 0.75) == after + timedelta(minutes=4) * 1.1
    top = sending.next_attempt(7, NOW, after, day, random=lambda: 0.999999)  # the 30-minute cap, at most +20 %
    assert after + timedelta(minutes=35, seconds=59) < top <= after + timedelta(minutes=36)


def test_sends_that_failed_together_are_not_all_tried_again_at_once():
    day = timedelta(days=1)
    times = [sending.next_attempt(3, NOW, NOW, day) for _ in range(50)]  # the default source: random.random
    assert len(set(times)) > 25
    assert all(NOW + timedelta(seconds=96) <= t <= NOW + timedelta(seconds=144) for t in times)


def test_a_send_is_given_up_when_it_is_as_old_as_the_limit():
    day = timedelta(days=1)
    assert not sending.should_give_up(NOW, NOW + day - timedelta(seconds=1), day)
    assert sending.should_give_up(NOW, NOW + day, day)
    assert sending.should_give_up(NOW, NOW + day + timedelta(hours=1), day)


def test_the_last_retry_is_made_at_the_give_up_time_not_skipped():
    day = timedelta(days=1)
    assert sending.next_attempt(1, NOW, NOW + timedelta(minutes=1), day, random=lambda: 0.5) == (
        NOW + timedelta(minutes=1, seconds=30))
    almost = NOW + day - timedelta(minutes=5)
    assert sending.next_attempt(20, NOW, almost, day, random=lambda: 0.0) == NOW + day


# --- checked again at delivery ------------------------------------------------------------------------

def test_at_delivery_the_send_being_delivered_does_not_block_itself(registry):
    c = cert(sends=(sent("FK", "PENDING"),))
    assert sending.delivery_refusal(registry.get("FK7804"), c, "FK", validation_person=False) is None


@pytest.mark.parametrize("changes,validation,expected", [
    ({"revoked_at": NOW}, False, sending.REVOKED),
    ({"replaced_by": "c-2"}, False, sending.REPLACED),
    ({"sends": (SendView.by_care("FK", NOW),)}, False, sending.ALREADY_SENT),
    ({}, True, sending.VALIDATION_PERSON),
])
def test_at_delivery_the_send_requests_rules_are_checked_again(registry, changes, validation, expected):
    c = cert(**changes)
    assert sending.delivery_refusal(registry.get("FK7804"), c, "FK", validation_person=validation) == expected


def test_at_delivery_a_send_to_another_recipient_than_the_types_is_refused(registry):
    assert sending.delivery_refusal(registry.get("FK7804"), cert(), "TS", validation_person=False) == (
        sending.NO_RECIPIENT)
    assert sending.delivery_refusal(None, cert("FK9999"), "FK", validation_person=False) == sending.NO_RECIPIENT


# --- what the citizen is told, and the retry's key ---------------------------------------------------

def failed(failure: str | None, maybe_received: bool = False) -> SendView:
    return SendView("FK", "FAILED", NOW, failed_at=NOW, failure=failure, maybe_received=maybe_received)


@pytest.mark.parametrize("failure,maybe_received,notice", [
    (sending.GAVE_UP, True, sending.NOTICE_UNKNOWN),  # an attempt timed out: the recipient may have it
    (sending.GAVE_UP, False, sending.NOTICE_NOT_SENT),  # the recipient was never reached
    (sending.REJECTED, False, sending.NOTICE_REJECTED),
    (sending.REFUSED, False, sending.NOTICE_REFUSED),
    (sending.REFUSED, True, sending.NOTICE_REFUSED),  # the page adds that an earlier attempt is unknown
    (None, False, sending.NOTICE_UNKNOWN),  # failed before failures were recorded: nothing is known
])
def test_the_citizen_is_told_what_is_known_about_a_failed_send(failure, maybe_received, notice):
    assert sending.failure_notice(failed(failure, maybe_received)) == notice


@pytest.mark.parametrize("failure,maybe_received,carried", [
    (sending.GAVE_UP, True, True), (sending.GAVE_UP, False, True), (sending.REFUSED, True, True),
    (sending.REFUSED, False, True), (None, False, True), (sending.REJECTED, True, True),
    (sending.REJECTED, False, False),
])
def test_a_retry_carries_the_failed_sends_key_unless_the_recipient_clearly_said_no(failure, maybe_received,
                                                                                     carried):
    assert sending.retry_key(failure, maybe_received, "k-1") == ("k-1" if carried else None)


# --- what is posted ------------------------------------------------------------------------------

def test_idempotency_keys_are_random_and_long_enough():
    keys = {sending.idempotency_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(len(k) >= 32 and len(k) <= 64 and k.replace("-", "").replace("_", "").isalnum() for k in keys)


def test_the_payload_carries_the_certificate_and_is_json(registry):
    c = cert()
    body = sending.payload(c, registry.get("FK7804"))
    assert body == {
        "certificate_id": "c-1", "type": "FK7804", "type_version": "1.0", "recipient": "FK",
        "signed_at": "2026-11-20T09:30:00", "patient": {"personnummer": PNR},
        "unit": {"id": "TSTNMT2321000156-U1", "name": "Vårdcentralen Demo"}, "provider": {"name": "Region Demo"},
        "issued_by": {"name": "Anna Berglund"}, "content": c.content}
    assert json.loads(json.dumps(body)) == body
