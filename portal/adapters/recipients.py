"""The recipient transport: posts a certificate to its recipient (Försäkringskassan, Transportstyrelsen).

One HTTPS endpoint per recipient (`RECIPIENT_ENDPOINTS`; the embedded default points at the recipient
simulator, `portal.recipient_sim`). The body is JSON; the header `Idempotency-Key` lets the recipient
recognise a repeated delivery of the same send, so a retry after a timeout is never a second certificate.
Everything personal is in the body, never in the URL.
"""
from __future__ import annotations

import logging

import requests

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The recipient did not acknowledge: a non-2xx answer, no connection, or no answer in time.
    `reason` is short and holds no personal data (it is stored as the send's last_error)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
        except requests.Timeout:
            raise DeliveryFailed(f"{recipient}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError:
            raise DeliveryFailed(f"{recipient}: could not connect") from None
        except requests.RequestException as err:
            raise DeliveryFailed(f"{recipient}: {type(err).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"{recipient}: HTTP {response.status_code}")
        log.info("delivered to %s (HTTP %s)", recipient, response.status_code)
