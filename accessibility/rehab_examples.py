"""Rehabstöd question pages for the accessibility crawl, found in the demo data (test support, not the app)."""
from __future__ import annotations

from portal import db
from portal.domain import questions as rules
from portal.repository import rehab as store


def a11y_examples(app, coordinator: tuple[str, str], doctor: tuple[str, str]) -> list[tuple[dict, str]]:
    """Question pages for the accessibility crawl, in each state (open administrative, open komplettering,
    answered, handled, complemented), as the crawl's coordinator and doctor ((hsa_id, unit_id) each) see them."""
    from sqlalchemy import select

    from portal.models import Certificate, Message, Person

    registry = app.extensions["certificate_types"]
    out: list[tuple[dict, str]] = []
    with app.app_context():
        session = db.session()
        for who, (hsa_id, unit_id) in (("coordinator", coordinator), ("doctor", doctor)):
            scope = store.unit_scope(session, unit_id)
            rows = session.execute(
                select(Message.id, Message.subject, Message.handled_by, Certificate.type_code, Certificate.staff_id,
                       Person.protected, Person.deceased, Person.validation_person)
                .join(Certificate, Certificate.id == Message.certificate_id)
                .join(Person, Person.personnummer == Message.patient_pnr)
                .where(Message.unit_id.in_(scope), Certificate.unit_id.in_(scope), Message.sender == rules.FK,
                       Message.subject.in_(rules.SUBJECTS), Certificate.revoked_at.is_(None),
                       Message.in_reply_to.is_(None))
                .order_by(Message.id)).all()
            answered = set(session.scalars(select(Message.in_reply_to).where(
                Message.sender == rules.CARE, Message.in_reply_to.in_([r.id for r in rows]))))
            picked: dict[str, str] = {}
            for r in rows:
                if (r.deceased or r.validation_person or registry.get(r.type_code) is None
                        or registry[r.type_code].rehab == "none"):
                    continue
                if who == "coordinator" and r.protected or who == "doctor" and r.staff_id != hsa_id:
                    continue
                state = ("answered" if r.id in answered else "complemented" if r.handled_by == rules.COMPLEMENTED
                         else "handled" if r.handled_by else "komplt" if r.subject == "KOMPLT" else "open")
                picked.setdefault(state, r.id)
            out += [({"question_id": qid}, who) for qid in picked.values()]
        out += [({"question_id": qid}, "coordinator") for qid in care_questions(app, session, coordinator)]
    return out


def care_questions(app, session, coordinator: tuple[str, str]) -> list[str]:
    """The care unit's own questions to FK in each state (waiting, with its send pending; answered by FK;
    forwarded to the coordinator), made once on an FK-received certificate the coordinator may see (issue 17)."""
    from datetime import timedelta

    from sqlalchemy import select

    from portal.models import CareSend, Certificate, Message, Person, QuestionForward, Send

    hsa_id, unit_id = coordinator
    ids = ["a11y-care-waiting", "a11y-care-answered", "a11y-care-forwarded"]
    if session.get(Message, ids[0]) is not None:
        return ids
    scope = store.unit_scope(session, unit_id)
    now = app.extensions["clock"].now()
    cert = session.scalars(
        select(Certificate).join(Person, Person.personnummer == Certificate.patient_pnr)
        .where(Certificate.unit_id.in_(scope), Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None),
               Person.protected.is_(False), Person.deceased.is_(False), Person.validation_person.is_(False))
        .order_by(Certificate.signed_at.desc())).first()
    if cert is None:
        return []
    care_sent = select(CareSend.id).where(CareSend.certificate_id == cert.id, CareSend.recipient == "FK")
    if session.scalar(care_sent) is None:
        session.add(CareSend(certificate_id=cert.id, recipient="FK", sent_at=cert.signed_at))
    for i, qid in enumerate(ids):
        session.add(Message(id=qid, certificate_id=cert.id, unit_id=cert.unit_id, patient_pnr=cert.patient_pnr,
                            subject=rules.ASK_SUBJECTS[i], sender=rules.CARE, heading="Fråga om avstämning",
                            text="Kan vi ses för ett avstämningsmöte?", sent_at=now - timedelta(days=3 - i),
                            author_id=hsa_id))
        session.flush()
        session.add(Send(certificate_id=cert.id, recipient="FK", kind="QUESTION", payload_ref=qid,
                         idempotency_key=rules.question_idempotency_key(qid), state="PENDING", attempts=0,
                         requested_at=now, requested_by=hsa_id, next_attempt_at=now + timedelta(days=365)))
    session.add(Message(id="a11y-fk-answer", certificate_id=cert.id, unit_id=cert.unit_id, patient_pnr=cert.patient_pnr,
                        subject=rules.ASK_SUBJECTS[1], sender=rules.FK, heading="Svar", text="Ring oss på tisdag.",
                        sent_at=now - timedelta(days=1), in_reply_to=ids[1], author_name="Handläggare FK"))
    session.add(QuestionForward(message_id=ids[2], unit_id=unit_id, to_staff_id=hsa_id, by_staff_id=hsa_id,
                                forwarded_at=now))
    session.commit()
    return ids
