"""The pure rules of FK's questions: open or not, who may see, what may be answered, handled or undone,
the answer's text, threads, and what is posted to FK."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from portal.domain import questions as q
from portal.domain.rehab import PersonFacts, Viewer, question_counts

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 10, 0)
COORD = Viewer("R1", "REHABKOORDINATOR", "U1")
DOCTOR = Viewer("L1", "LAKARE", "U1")
PLAIN = PersonFacts("191212121212", "Tolvan Tolvansson")
PROTECTED = PersonFacts("191212121212", "Hemlig Person", protected=True)


def msg(id="q1", subject="KONTKT", sender="FK", days_ago=2, **kw) -> q.Question:
    return q.Question(id=id, certificate_id=kw.pop("certificate_id", "c1"), subject=subject, sender=sender,
                      sent_at=NOW - timedelta(days=days_ago), text=kw.pop("text", "text"), **kw)


@pytest.mark.parametrize("m, answered, expected", [
    (msg(), False, True),
    (msg(subject="KOMPLT"), False, True),
    (msg(), True, False),  # answered
    (msg(handled_at=NOW), False, False),  # handled
    (msg(subject="PAMINN", reminder_of="q0"), False, False),  # a reminder is never a question
    (msg(sender="CARE", in_reply_to="q0"), False, False),  # the care unit's answer
    (msg(days_ago=90), False, True),  # the 90th day still counts
    (msg(days_ago=91), False, False),
    (msg(subject="XYZ"), False, False),
])
def test_open_means_from_fk_last_90_days_not_answered_not_handled_not_a_reminder(m, answered, expected):
    assert q.is_open(m, TODAY, answered) is expected


def test_open_questions_agree_with_the_lists_counts_and_come_oldest_first():
    messages = [msg("a", "KOMPLT", days_ago=3), msg("b", "AVSTMN", days_ago=10), msg("c", "OVRIGT", days_ago=1),
                msg("d", "KONTKT", days_ago=5), msg("e", "PAMINN", reminder_of="a"),
                msg("f", "KONTKT", sender="CARE", in_reply_to="d"), msg("g", "KOMPLT", days_ago=120),
                msg("h", "OVRIGT", handled_at=NOW)]
    answered = {m.in_reply_to for m in messages if m.sender == "CARE"}
    got = q.open_questions(messages, answered, TODAY)
    assert [m.id for m in got] == ["b", "a", "c"]
    rows = [dict(id=m.id, certificate_id=m.certificate_id, subject=m.subject, sender=m.sender, sent_at=m.sent_at,
                 handled_at=m.handled_at, answered=m.id in answered) for m in messages]
    assert question_counts(rows, TODAY) == {"c1": (1, 2)}
    assert q.case_counts(["c1"], got) == {"komplettering": 1, "administrative": 2}
    assert q.case_counts(["other"], got) == {"komplettering": 0, "administrative": 0}


def test_the_subject_filter():
    assert q.parse_subjects(["KOMPLT", "kontkt", ""]) == (frozenset({"KOMPLT", "KONTKT"}), [])
    assert q.parse_subjects(["PAMINN"]) == (frozenset(), [("amne", q.UNKNOWN_SUBJECT)])
    assert q.parse_subjects(["KOMPLT", "nope"])[1] == [("amne", q.UNKNOWN_SUBJECT)]
    items = [msg("a", "KOMPLT"), msg("b", "AVSTMN")]
    assert [m.id for m in q.filter_subjects(items, frozenset({"AVSTMN"}))] == ["b"]
    assert q.filter_subjects(items, frozenset()) == items


def test_who_may_see_a_question():
    args = dict(certificate_staff_id="L2", certificate_id="c1")
    assert q.may_see(PLAIN, COORD, **args)
    assert not q.may_see(PROTECTED, COORD, **args)  # never a protected patient for a coordinator
    assert not q.may_see(None, COORD, **args)  # nor one unknown to PU-tjänsten
    assert not q.may_see(PLAIN, DOCTOR, **args)  # not the doctor's certificate nor case
    assert q.may_see(PLAIN, DOCTOR, certificate_staff_id="L1", certificate_id="c1")
    assert q.may_see(PROTECTED, DOCTOR, own_case_certificate_ids={"c1"}, **args)  # own case: shown (masked)
    deceased = PersonFacts("191212121212", "X", deceased=True)
    validation = PersonFacts("191212121212", "X", validation_person=True)
    for person in (deceased, validation):
        assert not q.may_see(person, COORD, **args)
        assert not q.may_see(person, DOCTOR, certificate_staff_id="L1", certificate_id="c1")
    with pytest.raises(ValueError):
        q.may_see(PLAIN, Viewer("X", "SJUKSKOTERSKA", "U1"), **args)


@pytest.mark.parametrize("text, clean, errors", [
    ("Hej", "Hej", []),
    ("  Rad 1\r\nRad 2  ", "Rad 1\nRad 2", []),
    ("", "", [("svar", q.MISSING)]),
    ("   \n ", "", [("svar", q.MISSING)]),
    (None, "", [("svar", q.MISSING)]),
    ("x" * 2000, "x" * 2000, []),
    ("x" * 2001, "x" * 2001, [("svar", q.TOO_LONG)]),
])
def test_an_answer_is_1_to_2000_characters(text, clean, errors):
    assert q.validate_answer(text) == (clean, errors)


def test_what_may_be_answered_handled_and_undone():
    admin, komplt = msg(subject="AVSTMN"), msg(subject="KOMPLT")
    assert q.answer_refusal(admin, False) is None and q.handle_refusal(admin, False) is None
    assert q.answer_refusal(komplt, False) == q.NEEDS_CERTIFICATE
    assert q.handle_refusal(komplt, False) == q.NEEDS_CERTIFICATE
    assert q.answer_refusal(admin, True) == q.ALREADY_ANSWERED
    handled = msg(subject="OVRIGT", handled_at=NOW, handled_by="R1")
    assert q.answer_refusal(handled, False) == q.ALREADY_HANDLED
    assert q.handle_refusal(handled, False) == q.ALREADY_HANDLED
    assert q.undo_refusal(handled, False) is None
    assert q.undo_refusal(handled, True) == q.NOT_UNDOABLE  # handled by an answer
    complemented = msg(subject="KOMPLT", handled_at=NOW, handled_by=q.COMPLEMENTED)
    assert complemented.complemented and q.undo_refusal(complemented, False) == q.NOT_UNDOABLE
    assert q.undo_refusal(admin, False) == q.NOT_HANDLED
    reminder = msg(subject="PAMINN", reminder_of="q0")
    assert q.answer_refusal(reminder, False) == q.UNKNOWN_SUBJECT
    assert q.handle_refusal(reminder, False) == q.UNKNOWN_SUBJECT


def test_a_thread_groups_reminders_answers_and_the_other_questions_about_the_certificate():
    question = msg("q1", "KONTKT", days_ago=10)
    messages = [question, msg("r2", "PAMINN", days_ago=2, reminder_of="q1"),
                msg("r1", "PAMINN", days_ago=5, reminder_of="q1"),
                msg("a1", "KONTKT", sender="CARE", days_ago=1, in_reply_to="q1"),
                msg("q0", "KOMPLT", days_ago=30), msg("r0", "PAMINN", days_ago=20, reminder_of="q0")]
    t = q.thread(question, messages)
    assert [m.id for m in t.reminders] == ["r1", "r2"]
    assert [m.id for m in t.answers] == ["a1"] and t.answered
    assert [e.question.id for e in t.earlier] == ["q0"]
    assert [m.id for m in t.earlier[0].reminders] == ["r0"] and not t.earlier[0].answered


def test_the_answer_payload_and_its_stable_key():
    question = msg("q1", "AVSTMN", heading="Avstämningsmöte")
    answer = q.Question(id="svar-1", certificate_id="c1", subject="AVSTMN", sender="CARE", sent_at=NOW,
                        text="Tisdag passar.", unit_id="U1", in_reply_to="q1")
    payload = q.answer_payload(answer, question, unit_name="Vårdcentralen")
    assert payload == {"kind": "ANSWER", "message_id": "svar-1", "certificate_id": "c1", "in_reply_to": "q1",
                       "subject": "AVSTMN", "heading": "Avstämningsmöte", "text": "Tisdag passar.",
                       "sent_at": NOW.isoformat(), "recipient": "FK", "unit": {"id": "U1", "name": "Vårdcentralen"}}
    assert "patient" not in payload
    assert q.idempotency_key("svar-1") == q.idempotency_key("svar-1") == "answer-svar-1"
    assert len(q.idempotency_key("svar-" + "f" * 32)) <= 64
