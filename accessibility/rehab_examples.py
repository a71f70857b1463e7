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
                       Message.subject.in_(rules.SUBJECTS), Certificate.revoked_at.is_(None))
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
    return out
