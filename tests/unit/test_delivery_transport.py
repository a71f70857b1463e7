"""The recipient transport's verdict on each way a post can end: acknowledged; refused for good (a 4xx other
than 408/409/429: not retried); failed for now (tried again); and whether the recipient may have the delivery
although it did not acknowledge (a timeout, a lost connection, a server error)."""
from __future__ import annotations

import pytest
import requests
import urllib3

from portal.adapters import recipients
from portal.adapters.recipients import DeliveryFailed, HttpRecipients


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_acknowledged(status):
    assert recipients.status_failure("FK", status) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 415, 422])
def test_a_4xx_is_permanent_and_the_recipient_does_not_have_it(status):
    failure = recipients.status_failure("FK", status)
    assert (failure.permanent, failure.maybe_received, failure.reason) == (True, False, f"FK: HTTP {status}")


@pytest.mark.parametrize("status,maybe_received", [
    (408, False), (429, False), (503, False),  # "not now": nothing taken
    (409, True),  # the same key's first request still in progress at the recipient
    (500, True), (502, True), (504, True),  # a server or gateway error: it may have been stored first
    (301, False), (307, False),  # redirects are not followed (a misconfigured endpoint)
])
def test_other_answers_are_tried_again(status, maybe_received):
    failure = recipients.status_failure("TS", status)
    assert (failure.permanent, failure.maybe_received) == (False, maybe_received)


class Answer:
    def __init__(self, status_code: int):
        self.status_code = status_code


def post_raising(error: Exception):
    def post(url, **kwargs):
        raise error
    return post


def failure_of(monkeypatch, post) -> DeliveryFailed:
    monkeypatch.setattr(recipients.requests, "post", post)
    with pytest.raises(DeliveryFailed) as caught:
        HttpRecipients({"FK": "https://fk.example/intyg"}, timeout=2).deliver("FK", "key-1", {"a": 1})
    return caught.value


def test_no_answer_in_time_may_have_reached_the_recipient(monkeypatch):
    failure = failure_of(monkeypatch, post_raising(requests.ReadTimeout("read timed out")))
    assert (failure.reason, failure.permanent, failure.maybe_received) == ("FK: no answer within 2 s", False, True)


def test_no_connection_in_time_never_reached_the_recipient(monkeypatch):
    failure = failure_of(monkeypatch, post_raising(requests.ConnectTimeout("connect timed out")))
    assert (failure.permanent, failure.maybe_received) == (False, False)
    assert failure.reason == "FK: could not connect within 2 s"


def test_a_refused_connection_never_reached_the_recipient(monkeypatch):
    cause = urllib3.exceptions.MaxRetryError(None, "/intyg", urllib3.exceptions.NewConnectionError(None, "refused"))
    failure = failure_of(monkeypatch, post_raising(requests.ConnectionError(cause)))
    assert (failure.reason, failure.maybe_received) == ("FK: could not connect", False)


def test_a_connection_lost_after_posting_may_have_reached_the_recipient(monkeypatch):
    cause = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
    failure = failure_of(monkeypatch, post_raising(requests.ConnectionError(cause)))
    assert (failure.reason, failure.permanent, failure.maybe_received) == ("FK: connection lost", False, True)


def test_the_status_decides_and_the_key_is_sent_in_a_header(monkeypatch):
    seen = {}

    def post(url, **kwargs):
        seen.update(url=url, **kwargs)
        return Answer(422)

    failure = failure_of(monkeypatch, post)
    assert failure.permanent and failure.reason == "FK: HTTP 422"
    assert seen["headers"]["Idempotency-Key"] == "key-1" and seen["json"] == {"a": 1}
    assert seen["allow_redirects"] is False and seen["url"] == "https://fk.example/intyg"


def test_a_missing_endpoint_is_tried_again_not_given_up_at_once():
    with pytest.raises(DeliveryFailed) as caught:
        HttpRecipients({}, timeout=2).deliver("TS", "key-1", {})
    assert (caught.value.permanent, caught.value.maybe_received) == (False, False)
