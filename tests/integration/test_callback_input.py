"""The OIDC callback takes whatever an attacker puts in its query string: a non-ASCII or forged `state`, an
`error` from a flow that is unknown or expired, very long values, control characters. Each is a 400 page
(never a 500), ends no one's session, and leaves no request text in the log but a short escaped form."""
from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from conftest import NOW
from portal.adapters.clock import TZ

STATE = "S" * 43
STARTED = int(NOW.replace(tzinfo=TZ).timestamp())
FAILED = "Inloggningen misslyckades"
FORGED = "\r\n2026-11-23 10:00:00 INFO portal.auth: login ok hsa=admin"


def pending(started: int = STARTED, broker: str = "bankid") -> dict:
    return {"broker": broker, "state": STATE, "nonce": "n" * 43, "code_verifier": "v" * 43,
            "redirect_uri": f"http://localhost/inloggning/{broker}/callback", "started": started}


def start_flow(client, **kw) -> None:
    with client.session_transaction() as s:
        s["oidc_pending"] = pending(**kw)


def callback(client, query: str, broker: str = "bankid"):
    return client.get(f"/inloggning/{broker}/callback?{query}")


def q(value: str) -> str:
    return quote(value, safe="")


def assert_clean_log(caplog) -> None:
    """No log line holds a control character, a non-ASCII line break or a long stretch of request text."""
    for record in caplog.records:
        message = record.getMessage()
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in message), message
        assert len(message) < 400, message[:200]


BAD = {
    "non-ascii-state": f"code=abc&state={q('äöå' + STATE)}",
    "line-separator-state": f"code=abc&state={q(STATE + chr(0x2028) + 'x')}",
    "invalid-utf8-state": "code=abc&state=%FF%FE",
    "crlf-in-state": f"code=abc&state={q(STATE + FORGED)}",
    "nul-in-code": f"code={q('abc' + chr(0))}&state={STATE}",
    "very-long-state": f"code=abc&state={'S' * 200_000}",
    "very-long-code": f"code={'c' * 200_000}&state={STATE}",
    "state-twice": f"code=abc&state={STATE}&state=other",
    "wrong-state": "code=abc&state=" + "T" * 43,
    "no-state": "code=abc",
    "nothing": "",
    "crlf-in-error": f"error={q('access_denied' + FORGED)}&state={STATE}",
    "no-code": f"state={STATE}",
}


@pytest.mark.parametrize("query", BAD.values(), ids=BAD.keys())
def test_bad_callback_input_is_a_400_and_no_forged_log_line(client, caplog, query):
    caplog.set_level(logging.DEBUG)
    start_flow(client)
    response = callback(client, query)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'<h1 class="app-heading-xl">{FAILED}</h1>' in page and "Fel-id:" in page
    assert "login ok" not in page  # no request text on the page either
    assert_clean_log(caplog)
    assert any("login refused" in r.getMessage() for r in caplog.records)
    with client.session_transaction() as s:  # the login in progress is spent: it cannot be retried
        assert "oidc_pending" not in s and "_user_id" not in s


@pytest.mark.parametrize("query", [
    "error=access_denied&state=" + STATE,
    "error=access_denied",
    f"error={q('access_denied' + FORGED)}",
    f"error={'e' * 100_000}&error_description={q(FORGED * 1000)}",
], ids=["known-state", "no-state", "crlf", "very-long"])
def test_an_error_from_an_unknown_flow_is_a_400(client, caplog, query):
    """No login in progress in this browser: the `error` is not believed (it could come from anyone)."""
    caplog.set_level(logging.DEBUG)
    response = callback(client, query)
    assert response.status_code == 400 and FAILED in response.get_data(as_text=True)
    assert "Inloggningen avbröts" not in response.get_data(as_text=True)
    assert_clean_log(caplog)


def test_an_error_from_an_expired_flow_is_a_400(client, clock):
    start_flow(client)
    clock.advance(minutes=16)  # a login may take 15 minutes at the broker
    response = callback(client, f"error=access_denied&state={STATE}")
    assert response.status_code == 400 and FAILED in response.get_data(as_text=True)


def test_a_code_for_an_expired_flow_is_a_400(client, clock):
    start_flow(client)
    clock.advance(minutes=16)
    assert callback(client, f"code=abc&state={STATE}").status_code == 400


def test_a_flow_started_for_the_other_broker_is_a_400(client):
    start_flow(client, broker="siths")
    assert callback(client, f"code=abc&state={STATE}", broker="bankid").status_code == 400


def test_the_broker_cancelling_our_own_flow_is_still_cancelled(client):
    start_flow(client)
    response = callback(client, f"error=access_denied&state={STATE}")
    assert response.status_code == 403 and "Inloggningen avbröts" in response.get_data(as_text=True)


def test_a_broker_error_is_logged_short_and_escaped(client, caplog):
    caplog.set_level(logging.INFO)
    start_flow(client)
    response = callback(client, f"error=server_error&state={STATE}")
    assert response.status_code == 403 and FAILED in response.get_data(as_text=True)
    assert any("broker said server_error" in r.getMessage() for r in caplog.records)
    assert_clean_log(caplog)


def test_an_unknown_broker_is_a_404(client):
    assert callback(client, f"code=abc&state={STATE}", broker="evil").status_code == 404


def test_log_text_is_escaped_and_cut():
    from portal.auth.logsafe import escaped, one_line

    assert escaped("a\r\nb\x00\x1b[31mä\u2028\\") == "a\\r\\nb\\x00\\x1b[31m\\xe4\\u2028\\\\"
    assert escaped("x" * 100, 10) == "x" * 10 + "...(+90)"
    assert one_line("wrong aud") == "wrong aud"
    assert "\n" not in one_line("hsa=" + FORGED)
