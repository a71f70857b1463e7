"""The recipient transport: posts a certificate to its recipient (Försäkringskassan, Transportstyrelsen).

One HTTPS endpoint per recipient (`RECIPIENT_ENDPOINTS`; the embedded default points at the recipient
simulator, `portal.recipient_sim`). The body is JSON; the header `Idempotency-Key` lets the recipient
recognise a repeated delivery of the same send, so a retry after a timeout is never a second certificate.
A failure says whether trying again can help (`permanent`) and whether the recipient may have the delivery
anyway (`maybe_received`).
Everything personal is in the body, never in the URL.
"""
from __future__ import annotations

import logging

import requests
import urllib3

log = logging.getLogger(__name__)


#: 4xx answers that are not the recipient's last word: 408 Request Timeout and 429 Too Many Requests say "later";
#: 409 Conflict is what an idempotent API answers while the same key's first request is still being processed
#: (IETF draft "The Idempotency-Key HTTP Header Field"): all tried again. Every other 4xx is permanent.
RETRIED_4XX = frozenset({408, 409, 429})
#: Answers that say clearly that nothing was taken (503: down, 408/429: not now); other 5xx (500, 502, 504 …)
#: and 409 leave it open whether the recipient stored the delivery before the error.
NOT_RECEIVED = frozenset({408, 429, 503})


class DeliveryFailed(Exception):
    """The recipient did not acknowledge: a non-2xx answer, no connection, or no answer in time.
    `reason` is short and holds no personal data (it is stored as the send's last_error).
    `permanent`: the recipient answered that it will not take the delivery (a 4xx other than 408, 409, 429):
    trying again cannot help. `maybe_received`: there was no clear answer (a timeout, the connection lost
    after the request went out, a server error), so the recipient may have stored the delivery."""

    def __init__(self, reason: str, *, permanent: bool = False, maybe_received: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.maybe_received = maybe_received


def status_failure(recipient: str, status: int) -> DeliveryFailed | None:
    """What a status code means for the delivery: None for 2xx (acknowledged), else the failure."""
    if 200 <= status < 300:
        return None
    reason = f"{recipient}: HTTP {status}"
    if 400 <= status < 500 and status not in RETRIED_4XX:
        return DeliveryFailed(reason, permanent=True)
    # 3xx (redirects are not followed: a misconfigured endpoint), 408, 409, 429, 5xx: tried again
    unclear = status == 409 or (status >= 500 and status not in NOT_RECEIVED)
    return DeliveryFailed(reason, maybe_received=unclear)


def _never_sent(err: requests.ConnectionError) -> bool:
    """The connection was never made (refused, unknown host, connect timeout): the request did not go out."""
    cause = err.args[0] if err.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError carries the cause
    return isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


class HttpRecipients:
    def __init__(self, endpoints: dict[str, str], timeout: float):
        self.endpoints = dict(endpoints)
        self.timeout = timeout

    def deliver(self, recipient: str, idempotency_key: str, payload: dict) -> None:
        """Post the payload; returns when the recipient has acknowledged (2xx), else raises DeliveryFailed."""
        url = self.endpoints.get(recipient)
        if not url:
            raise DeliveryFailed(f"no endpoint configured for recipient {recipient}")
        try:
            response = requests.post(url, json=payload, timeout=self.timeout, allow_redirects=False,
                                     headers={"Idempotency-Key": idempotency_key, "Accept": "application/json"})
        except requests.ConnectTimeout:
            raise DeliveryFailed(f"{recipient}: could not connect within {self.timeout:g} s") from None
        except requests.Timeout:
            raise DeliveryFailed(f"{recipient}: no answer within {self.timeout:g} s", maybe_received=True) from None
        except requests.ConnectionError as err:
            never = _never_sent(err)
            raise DeliveryFailed(f"{recipient}: could not connect" if never else f"{recipient}: connection lost",
                                 maybe_received=not never) from None
        except requests.RequestException as err:
            raise DeliveryFailed(f"{recipient}: {type(err).__name__}", maybe_received=True) from None
        failure = status_failure(recipient, response.status_code)
        if failure is not None:
            raise failure
        log.info("delivered to %s (HTTP %s)", recipient, response.status_code)
