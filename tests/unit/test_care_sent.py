"""A certificate care sent outside the portal (care_sends) counts, for Mina intyg's rules, as a delivered send:
the "Skickat" badge and filter, no second send, its own event, and a PDF cache key of its own."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from portal import pdf
from portal.domain import certificates as rules
from portal.domain import sending
from portal.domain.certificate_types import load_registry
from portal.domain.certificates import CertificateView, Filters, SendView

NOW = datetime(2026, 11, 23, 10, 0, 0)
CARE_SENT = datetime(2026, 11, 3, 14, 30)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def cert(type_code: str = "FK7804", **changes) -> CertificateView:
    base = CertificateView(
        id="c-1", type_code=type_code, type_version="1.0", patient_pnr="198503149828",
        signed_at=datetime(2026, 11, 2, 9, 30), content={"diagnoses": [{"code": "M54.5", "text": "Ländryggssmärta"}]},
        unit_id="TSTNMT2321000156-U1", unit_name="Vårdcentralen Demo", provider_name="Region Demo",
        staff_name="Anna Berglund")
    return replace(base, **changes)


def care_sent(recipient: str = "FK", at: datetime = CARE_SENT) -> CertificateView:
    return cert("FK7804" if recipient == "FK" else "TSTRK1007", sends=(SendView.by_care(recipient, at),))


def test_a_care_send_is_a_delivered_send_by_care_at_its_time():
    s = SendView.by_care("FK", CARE_SENT)
    assert (s.recipient, s.state, s.requested_at, s.delivered_at, s.failed_at, s.by) == (
        "FK", "DELIVERED", CARE_SENT, CARE_SENT, None, rules.CARE)
    assert SendView("FK", "PENDING", NOW).by == rules.CITIZEN


def test_a_care_sent_certificate_is_sent_badged_and_filtered_as_sent():
    c = care_sent()
    assert c.sent and c.delivered_to == ["FK"] and c.send_to("FK").by == rules.CARE
    assert "SENT" in rules.badges(c, NOW.date()) and "SENDING" not in rules.badges(c, NOW.date())
    other = cert(id="c-2")
    assert rules.apply_filters([c, other], Filters(sent=("yes",))) == [c]
    assert rules.apply_filters([c, other], Filters(sent=("no",))) == [other]


@pytest.mark.parametrize("recipient,code", [("FK", "FK7804"), ("TS", "TSTRK1007")])
def test_a_certificate_care_sent_cannot_be_sent_again_by_the_citizen(registry, recipient, code):
    assert sending.refusal(registry[code], care_sent(recipient), validation_person=False) == sending.ALREADY_SENT


def test_a_care_send_to_another_recipient_does_not_block_the_types_own():
    # a FK7804 that care (oddly) reported sent to TS is still sendable to FK
    c = cert(sends=(SendView.by_care("TS", CARE_SENT),))
    assert sending.refusal(load_registry()["FK7804"], c, validation_person=False) is None


def test_the_delivered_send_wins_over_a_citizens_pending_one():
    """The citizen asked to send; before delivery care reported its own send: the certificate is sent."""
    pending = SendView("FK", "PENDING", CARE_SENT - timedelta(hours=1))
    c = cert(sends=(pending, SendView.by_care("FK", CARE_SENT)))
    assert c.send_to("FK").by == rules.CARE
    assert rules.badges(c, date(2026, 11, 23)) == ["SENT"]


def test_the_first_delivery_is_the_one_shown_when_both_sent():
    citizen = SendView("FK", "DELIVERED", CARE_SENT + timedelta(days=1), CARE_SENT + timedelta(days=1))
    c = cert(sends=(citizen, SendView.by_care("FK", CARE_SENT)))
    assert c.send_to("FK").by == rules.CARE
    c = cert(sends=(citizen, SendView.by_care("FK", CARE_SENT + timedelta(days=2))))
    assert c.send_to("FK") is citizen


def test_the_event_says_care_sent_it():
    events = rules.events(care_sent())
    assert [(e.kind, e.at, e.recipient) for e in events] == [("SENT_BY_CARE", CARE_SENT, "FK")]
    citizen = cert(sends=(SendView("FK", "DELIVERED", NOW, NOW),))
    assert [e.kind for e in rules.events(citizen)] == ["SENT"]


def test_the_pdf_cache_key_changes_when_care_sends_and_differs_from_the_citizens_send(registry):
    ctype = registry["FK7804"]
    keys = {
        "unsent": pdf.cache_key(ctype, cert(), "full", "sv"),
        "care": pdf.cache_key(ctype, care_sent(), "full", "sv"),
        "care later": pdf.cache_key(ctype, care_sent(at=CARE_SENT + timedelta(days=1)), "full", "sv"),
        "citizen": pdf.cache_key(ctype, cert(sends=(SendView("FK", "DELIVERED", CARE_SENT, CARE_SENT),)), "full",
                                 "sv"),
    }
    assert len(set(keys.values())) == len(keys)
    assert pdf.cache_key(ctype, care_sent(), "full", "sv") == keys["care"]  # stable
