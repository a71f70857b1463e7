"""Rehabstöd: the unit's unanswered questions from Försäkringskassan, read and answered in place.

    GET  /rehabstod/fragor                      the unit's open questions (filter: amne=KOMPLT|AVSTMN|KONTKT|OVRIGT)
    GET  /rehabstod/fragor/<id>                 one question: its certificate, reminders, answers, earlier questions
    POST /rehabstod/fragor/<id>/svar            answer an administrative question (text; goes to FK by the outbox)
    POST /rehabstod/fragor/<id>/hanterad        mark an administrative question handled
    POST /rehabstod/fragor/<id>/ej-hanterad     undo that

Every question goes through the same rules as the ongoing list: the person service first (fail closed:
503, nothing about patients), `domain.rehab.may_see_patient` and, for a doctor, only certificates they
signed or of their own cases (`domain.questions.may_see`). A question this user may not see is a 404,
whatever the route. Every patient shown is PDL-logged (resource "Intyg", or "Läkarutlåtande" for those
types); every write too ("Skriva"). Question ids are FK's message ids: never a personnummer in a URL.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from .. import db
from ..auth.guards import staff_required
from ..domain import pdl as pdl_rules
from ..domain import questions as rules
from ..domain import rehab
from ..models import CareUnit
from ..render import flash_notice, page_or_fragment
from ..repository import questions as qstore
from ..repository import rehab as store
from . import (
    _clock,
    _pdl,
    _person_facts,
    _registry,
    _settings,
    _viewer,
    bp,
    may_open_patient,
    own_case_certificates,
    patient_token,
    pdl_audit,
    readable_certificates,
    unit_rows,
)

ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Row:
    """One open question as the list shows it."""

    listed: qstore.ListedQuestion
    name: str
    masked: bool
    token: str | None  # a link to the patient view, when this user may open it

    @property
    def question(self) -> rules.Question:
        return self.listed.question

    @property
    def certificate(self) -> qstore.CertificateFacts:
        return self.listed.certificate


def _name(person: rehab.PersonFacts | None) -> tuple[str, bool]:
    """(name to show, masked): the one display-name rule (a protected patient's name never leaves it)."""
    return rehab.display_name(person)


def _resource(type_code: str) -> str:
    ctype = _registry().get(type_code)
    return pdl_rules.LAKARUTLATANDE if ctype is not None and ctype.rehab == "lakarutlatande" else pdl_rules.INTYG


def _shown_type(type_code: str) -> bool:
    ctype = _registry().get(type_code)
    return ctype is not None and ctype.rehab != "none"


def _visible_open_questions() -> list[Row]:
    """The unit's open questions this user may see (raises PatientsUnavailable)."""
    session = db.session()
    scope = store.unit_scope(session, current_user.unit_id)
    listed = [lq for lq in qstore.open_unit_questions(session, scope, current_user.provider_id, _clock().today())
              if _shown_type(lq.certificate.type_code)]
    facts = _person_facts({lq.certificate.patient_pnr for lq in listed})
    viewer = _viewer()
    own_cases: set[str] = set()
    listed_patients: set[str] | None = None  # a doctor's: the patients of their list (the patient view's gate)
    if not viewer.is_coordinator:
        own_rows = unit_rows(_settings())
        own_cases = {cid for row in own_rows for cid in row.case.certificate_ids}
        listed_patients = {row.patient_pnr for row in own_rows}
    rows = []
    for lq in listed:
        pnr = lq.certificate.patient_pnr
        person = facts.get(pnr)
        if rules.may_see(person, viewer, certificate_staff_id=lq.certificate.staff_id,
                         certificate_id=lq.certificate.id, own_case_certificate_ids=own_cases):
            name, masked = _name(person)
            link = listed_patients is None or pnr in listed_patients
            rows.append(Row(lq, name, masked, patient_token(pnr) if link else None))
    return rows


def patient_questions(pnr: str, person: rehab.PersonFacts | None, cases, unit_ids) -> list[rules.Question]:
    """The patient's open questions on this unit that the user may see (for the patient view; the caller
    has already checked the patient with the person service)."""
    viewer = _viewer()
    own = {cid for c in cases if c.doctor_id == viewer.hsa_id for cid in c.certificate_ids}
    listed = qstore.open_unit_questions(db.session(), list(unit_ids), current_user.provider_id, _clock().today(),
                                        patient_pnr=pnr)
    return [lq.question for lq in listed if _shown_type(lq.certificate.type_code)
            and rules.may_see(person, viewer, certificate_staff_id=lq.certificate.staff_id,
                              certificate_id=lq.certificate.id, own_case_certificate_ids=own)]


@bp.get("/fragor")
@staff_required
def questions():
    subjects, errors = rules.parse_subjects(request.args.getlist("amne"))
    rows = _visible_open_questions()
    shown = [r for r in rows if not subjects or r.question.subject in subjects]
    for resource in (pdl_rules.INTYG, pdl_rules.LAKARUTLATANDE):
        _pdl([(r.certificate.patient_pnr, r.certificate.unit_id) for r in shown
              if _resource(r.certificate.type_code) == resource], resource)
    counts = {s: sum(1 for r in rows if r.question.subject == s) for s in rules.SUBJECTS}
    return page_or_fragment("rehab/questions.html", "results", rows=shown, total=len(rows), subjects=subjects,
                            errors=errors, counts=counts, all_subjects=rules.SUBJECTS, registry=_registry(),
                            today=_clock().today()), (400 if errors else 200)


# --- one question ------------------------------------------------------------------------------------

def _load(question_id: str) -> dict:
    """The question and everything its page shows, if this user may see it; else 404. Raises
    PatientsUnavailable when the person service cannot answer."""
    session = db.session()
    found = qstore.one(session, question_id)
    if found is None:
        abort(404)
    q, cert = found
    scope = set(store.unit_scope(session, current_user.unit_id))
    if (not rules.reachable(q, _clock().today()) or cert.unit_id not in scope or q.unit_id not in scope
            or cert.provider_id != current_user.provider_id or cert.revoked_at is not None
            or not _shown_type(cert.type_code)):
        abort(404)
    person = _person_facts([cert.patient_pnr]).get(cert.patient_pnr)
    viewer = _viewer()
    if not rehab.may_see_patient(person, viewer):
        abort(404)
    if not viewer.is_coordinator and cert.staff_id != viewer.hsa_id:
        if not rules.may_see(person, viewer, certificate_staff_id=cert.staff_id, certificate_id=cert.id,
                             own_case_certificate_ids=own_case_certificates(cert.patient_pnr)):
            abort(404)
    thread = rules.thread(q, qstore.certificate_messages(session, cert.id))
    name, masked = _name(person)
    complementing = [c for c in qstore.complementing(session, cert.id)
                     if c.revoked_at is None and c.provider_id == current_user.provider_id]
    staff_ids = {cert.staff_id} | {t.question.handled_by for t in (thread, *thread.earlier) if t.question.handled_by}
    names = store.staff_names(session, staff_ids)
    unit = session.get(CareUnit, cert.unit_id)
    unit_name = unit.name if unit is not None else cert.unit_id
    sends = qstore.sends_of_answers(session, [a.id for a in thread.answers])
    readable = readable_certificates(cert.patient_pnr, [cert, *complementing])
    return {"q": q, "cert": cert, "ctype": _registry()[cert.type_code], "thread": thread, "name": name,
            "masked": masked, "pnr": cert.patient_pnr, "token": patient_token(cert.patient_pnr),
            "readable": readable, "patient_link": may_open_patient(cert.patient_pnr),
            "complementing": complementing, "own_units": scope, "staff_names": names, "unit_name": unit_name,
            "sends": sends, "answer_refusal": rules.answer_refusal(q, thread.answered),
            "handle_refusal": rules.handle_refusal(q, thread.answered),
            "undo_refusal": rules.undo_refusal(q, thread.answered), "today": _clock().today()}


def _page(ctx: dict, status: int = 200, **extra):
    """The question page, in any state (errors and refusals included): it shows the patient, so it is
    PDL-logged ("Läsa") before it is rendered."""
    _pdl([(ctx["pnr"], ctx["cert"].unit_id)], _resource(ctx["cert"].type_code))
    values: dict[str, object] = {"errors": [], "answer_text": "", "answer_id": uuid.uuid4().hex, "refused": None}
    values.update(extra)
    return render_template("rehab/question.html", **ctx, **values), status


def _with_question(view):
    """Load and authorize the question (404 / 503), then call the view with its context."""
    from functools import wraps

    @wraps(view)
    def wrapper(question_id: str):
        return view(_load(question_id))

    return wrapper


@bp.get("/fragor/<question_id>")
@staff_required
@_with_question
def question(ctx: dict):
    return _page(ctx)


def _audit(ctx: dict):
    """The write's "Skriva" record, stored in the write's own transaction."""
    return pdl_audit([(ctx["pnr"], ctx["cert"].unit_id)], _resource(ctx["cert"].type_code))


def _done(ctx: dict, message: str):
    flash_notice("question", message)
    return redirect(url_for("rehab.question", question_id=ctx["q"].id), code=303)


@bp.post("/fragor/<question_id>/svar")
@staff_required
@_with_question
def answer(ctx: dict):
    q = ctx["q"]
    form_id = request.form.get("svar_id", "")
    raw_text = request.form.get("svar", "")
    if not ANSWER_ID.match(form_id):
        return _page(ctx, 400, errors=[("svar", "form")], answer_text=raw_text)
    answer_id = f"svar-{form_id}"
    if any(a.id == answer_id for a in ctx["thread"].answers):
        return redirect(url_for("rehab.question", question_id=q.id), code=303)  # a double submit: answered once
    if ctx["answer_refusal"]:
        return _page(ctx, 409, refused=ctx["answer_refusal"])
    text, errors = rules.validate_answer(raw_text)
    if errors:
        return _page(ctx, 400, errors=errors, answer_text=raw_text, answer_id=form_id)
    outcome = qstore.answer(db.session(), question=q, answer_id=answer_id, text=text, staff_id=current_user.hsa_id,
                            now=_clock().now(), audit=_audit(ctx))
    if outcome == qstore.NOT_OPEN:
        return _page(_load(q.id), 409, refused=rules.ALREADY_HANDLED)
    if outcome == qstore.DUPLICATE:
        return redirect(url_for("rehab.question", question_id=q.id), code=303)
    return _done(ctx, "answered")


@bp.post("/fragor/<question_id>/hanterad")
@staff_required
@_with_question
def mark_handled(ctx: dict):
    q = ctx["q"]
    refusal = ctx["handle_refusal"]
    if refusal == rules.ALREADY_HANDLED:
        return redirect(url_for("rehab.question", question_id=q.id), code=303)  # already so: nothing to do
    if refusal:
        return _page(ctx, 409, refused=refusal)
    if not qstore.mark_handled(db.session(), q.id, current_user.hsa_id, _clock().now(), audit=_audit(ctx)):
        return redirect(url_for("rehab.question", question_id=q.id), code=303)
    return _done(ctx, "handled")


@bp.post("/fragor/<question_id>/ej-hanterad")
@staff_required
@_with_question
def undo_handled(ctx: dict):
    q = ctx["q"]
    refusal = ctx["undo_refusal"]
    if refusal == rules.NOT_HANDLED:
        return redirect(url_for("rehab.question", question_id=q.id), code=303)  # already open
    if refusal:
        return _page(ctx, 409, refused=refusal)
    if not qstore.undo_handled(db.session(), q.id, audit=_audit(ctx)):
        return redirect(url_for("rehab.question", question_id=q.id), code=303)
    return _done(ctx, "reopened")



def a11y_examples(app, coordinator: tuple[str, str], doctor: tuple[str, str]) -> list[tuple[dict, str]]:
    """Question pages for the accessibility crawl, in each state (open administrative, open komplettering,
    answered, handled, complemented), as the crawl's coordinator and doctor ((hsa_id, unit_id) each) see them."""
    from sqlalchemy import select

    from ..models import Certificate, Message, Person

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
