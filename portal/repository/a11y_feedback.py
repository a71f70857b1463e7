"""The store of accessibility problem reports (table `accessibility_feedback`, domain/a11y_feedback.py): storing a
report with its receipt number, finding one by that number, deleting old ones."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ..domain import a11y_feedback
from ..models import AccessibilityFeedback


@dataclass(frozen=True)
class Receipt:
    reference: str
    received_at: datetime
    reachable: bool
    format_wanted: str | None


def store(session: Session, report: a11y_feedback.Report, now: datetime) -> str:
    """Store the report in one transaction; its receipt number ("TG-2026-000123", from its row's number)."""
    number = session.execute(insert(AccessibilityFeedback).values(
        received_at=now, language=report.language, problem=report.problem, page=report.page,
        contact_email=report.email, contact_phone=report.phone, format_wanted=report.format,
    ).returning(AccessibilityFeedback.id)).scalar_one()
    reference = a11y_feedback.reference(now, number)
    session.execute(update(AccessibilityFeedback).where(AccessibilityFeedback.id == number)
                    .values(reference=reference))
    session.commit()
    return reference


def receipt(session: Session, reference: str) -> Receipt | None:
    """What the receipt page says about a report (never its text or the contact details)."""
    row = session.execute(select(AccessibilityFeedback.reference, AccessibilityFeedback.received_at,
                                 AccessibilityFeedback.contact_email, AccessibilityFeedback.contact_phone,
                                 AccessibilityFeedback.format_wanted)
                          .where(AccessibilityFeedback.reference == reference)).first()
    if row is None:
        return None
    return Receipt(str(row.reference), row.received_at, bool(row.contact_email or row.contact_phone),
                   row.format_wanted)


def purge(session: Session, now: datetime) -> int:
    """Delete the reports that came in more than a11y_feedback.KEEP_DAYS ago; how many."""
    from .. import db

    done = db.rowcount(session.execute(delete(AccessibilityFeedback).where(
        AccessibilityFeedback.received_at < a11y_feedback.purge_before(now))))
    session.commit()
    return done
