"""Issue 17's pure rules (domain/questions.py): asking FK (validation, refusals), the conversation in order, FK's
answer to the care unit's question (not an FK question, not counted as one), and who a question may be
forwarded to."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from portal.domain import questions as rules
from portal.domain.access import LAKARE, REHABKOORDINATOR

TODAY = date(2026, 11, 23)
AT = datetime(2026, 11, 20, 9, 0)


def msg(mid, sender="FK", subject="KONTKT", at=AT, **kw) -> rules.Question:
    return rules.Question(id=mid, certificate_id="c1", subject=subject, sender=sender, sent_at=at, text=mid, **kw)


@pytest.mark.parametrize("subject, heading, text, errors", [
    ("AVSTMN", "Möte", "Kan vi ses?", []),
    ("", "Möte", "Text", [("amne", rules.MISSING)]),
    ("KOMPLT", "Möte", "Text", [("amne", rules.UNKNOWN_SUBJECT)]),
    ("kontkt", " ", "Text", [("rubrik", rules.MISSING)]),
    ("OVRIGT", "x" * 201, "Text", [("rubrik", rules.TOO_LONG)]),
    ("OVRIGT", "x" * 200, "x" * 2000, []),
    ("OVRIGT", "R", "x" * 2001, [("text", rules.TOO_LONG)]),
    ("OVRIGT", "R", " \r\n ", [("text", rules.MISSING)]),
])
def test_a_question_to_fk_is_validated_against_fks_limits(subject, heading, text, errors):
    _clean, found = rules.validate_question(subject, heading, text)
    assert found == errors


def test_the_question_is_cleaned():
    (subject, heading, text), errors = rules.validate_question(" kontkt ", "  Ring   mig ", " Hej\r\nMvh ")
    assert (subject, heading, text, errors) == ("KONTKT", "Ring mig", "Hej\nMvh", [])


@pytest.mark.parametrize("facts, refusal", [
    ({}, None),
    ({"revoked": True}, rules.REVOKED),
    ({"received": False}, rules.NOT_RECEIVED),
    ({"recipient": "TS"}, rules.NOT_RECEIVED),
    ({"validation_person": True, "revoked": True}, rules.VALIDATION_PERSON),
    ({"is_coordinator": False}, rules.NOT_ASKER),
    ({"is_coordinator": False, "is_signer": True}, None),
])
def test_who_may_ask_about_what(facts, refusal):
    base = {"revoked": False, "recipient": "FK", "received": True, "validation_person": False,
            "is_coordinator": True, "is_signer": False}
    assert rules.ask_refusal(**{**base, **facts}) == refusal


def test_fk_received_any_of_three_ways():
    assert not rules.fk_received(delivered_to_fk=False, sent_by_care_to_fk=False, fk_wrote_about_it=False)
    for key in ("delivered_to_fk", "sent_by_care_to_fk", "fk_wrote_about_it"):
        facts = {"delivered_to_fk": False, "sent_by_care_to_fk": False, "fk_wrote_about_it": False, key: True}
        assert rules.fk_received(**facts)


def test_fks_answer_to_our_question_is_not_an_fk_question_nor_counted():
    ours = msg("q", sender="CARE")
    answer = msg("a", in_reply_to="q", at=AT + timedelta(days=1))
    assert ours.is_care_question and ours.is_root and not ours.is_question
    assert answer.is_fk_answer and not answer.is_question and not answer.is_root
    rows = [{"id": "a", "certificate_id": "c1", "sender": "FK", "subject": "KONTKT", "sent_at": answer.sent_at,
             "handled_at": None, "answered": False, "in_reply_to": "q"}]
    assert rules.question_counts(rows, TODAY) == {}
    assert rules.is_waiting(ours, TODAY, answered=False) and not rules.is_waiting(ours, TODAY, answered=True)
    assert rules.thread(ours, [ours, answer]).answers == (answer,)


def test_the_conversation_is_every_message_both_ways_in_order():
    fk_q = msg("f1", at=AT)
    reminder = msg("p1", subject="PAMINN", reminder_of="f1", at=AT + timedelta(days=1))
    our_answer = msg("s1", sender="CARE", in_reply_to="f1", at=AT + timedelta(days=2))
    ours = msg("q1", sender="CARE", subject="AVSTMN", at=AT + timedelta(days=3))
    fk_answer = msg("a1", subject="AVSTMN", in_reply_to="q1", at=AT + timedelta(days=4))
    entries = rules.conversation([fk_answer, ours, our_answer, reminder, fk_q])
    assert [(e.message.id, e.kind, e.root) for e in entries] == [
        ("f1", rules.FK_QUESTION, "f1"), ("p1", rules.FK_REMINDER, "f1"), ("s1", rules.CARE_ANSWER, "f1"),
        ("q1", rules.CARE_QUESTION, "q1"), ("a1", rules.FK_ANSWER, "q1")]


def test_fk_may_answer_only_a_care_question_with_its_subject_once():
    ours = msg("q", sender="CARE")
    assert rules.reply_refusal("a", "KONTKT", ours, []) is None
    assert rules.reply_refusal("a", "KONTKT", ours, [msg("a", in_reply_to="q")]) is None  # the same again
    assert rules.reply_refusal("b", "KONTKT", ours, [msg("a", in_reply_to="q")]) == rules.ALREADY_ANSWERED_BY_FK
    assert rules.reply_refusal("a", "OVRIGT", ours, []) == rules.OTHER_SUBJECT
    assert rules.reply_refusal("a", "KONTKT", msg("f"), []) == rules.NOT_A_CARE_QUESTION


def test_a_question_is_forwarded_only_to_colleagues_who_would_see_it():
    colleagues = [rules.Colleague("me", "Jag Själv", REHABKOORDINATOR),
                  rules.Colleague("k2", "Bo Koord", REHABKOORDINATOR),
                  rules.Colleague("l1", "Ann Läkare", LAKARE), rules.Colleague("l2", "Cem Läkare", LAKARE),
                  rules.Colleague("n1", "Nils Sköterska", None)]
    found = rules.forward_candidates(colleagues, me="me", certificate_staff_id="l1")
    assert [c.hsa_id for c in found] == ["l1", "k2"]  # by name; not oneself, not another doctor, not without a role


def test_the_care_payload_is_the_question_or_the_answer():
    ours = msg("q", sender="CARE", subject="AVSTMN", heading="Möte", unit_id="u", author_id="s")
    payload = rules.care_payload(ours, None, unit_name="Enheten", author_name="Lena")
    assert payload["kind"] == "QUESTION" and payload["message_id"] == "q" and payload["heading"] == "Möte"
    assert rules.question_idempotency_key("q") == "question-q"
    answer = msg("s", sender="CARE", in_reply_to="f")
    assert rules.care_payload(answer, msg("f"))["kind"] == "ANSWER"
    assert rules.care_payload(answer, None) is None
