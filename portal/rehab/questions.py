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
from functools import wraps

from flask import redirect, render_template, request, url_for

from ..auth.guards import staff_required
from ..domain import questions as rules
from ..patient_data import QuestionPage
from ..render import flash_notice, page_or_fragment
from ..repository import questions as qstore
from . import _clock, _registry, bp, gateway, patient_token

ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")


@bp.get("/fragor")
@staff_required
def questions():
    subjects, errors = rules.parse_subjects(request.args.getlist("amne"))
    data = gateway()
    rows = data.open_questions()
    shown = [r for r in rows if not subjects or r.question.subject in subjects]
    data.questions_shown(shown)
    counts = {s: sum(1 for r in rows if r.question.subject == s) for s in rules.SUBJECTS}
    return page_or_fragment("rehab/questions.html", "results", rows=shown, total=len(rows), subjects=subjects,
                            errors=errors, counts=counts, all_subjects=rules.SUBJECTS, registry=_registry(),
                            today=_clock().today(), token=patient_token), (400 if errors else 200)


# --- one question ------------------------------------------------------------------------------------

def _page(page: QuestionPage, status: int = 200, **extra):
    """The question page, in any state (errors and refusals included): it shows the patient, so it is
    PDL-logged ("Läsa") before it is rendered."""
    gateway().question_shown(page)
    values: dict[str, object] = {"errors": [], "answer_text": "", "answer_id": uuid.uuid4().hex, "refused": None}
    values.update(extra)
    return render_template("rehab/question.html", **page.context(), ctype=_registry()[page.cert.type_code],
                           token=patient_token(page.pnr), today=_clock().today(), **values), status


def _with_question(view):
    """Load and authorize the question through the gateway (404 / 503), then call the view with it."""

    @wraps(view)
    def wrapper(question_id: str):
        return view(gateway().question(question_id))

    return wrapper


def _back(page: QuestionPage):
    return redirect(url_for("rehab.question", question_id=page.q.id), code=303)


@bp.get("/fragor/<question_id>")
@staff_required
@_with_question
def question(page: QuestionPage):
    return _page(page)


def _done(page: QuestionPage, message: str):
    flash_notice("question", message)
    return _back(page)


@bp.post("/fragor/<question_id>/svar")
@staff_required
@_with_question
def answer(page: QuestionPage):
    form_id = request.form.get("svar_id", "")
    raw_text = request.form.get("svar", "")
    if not ANSWER_ID.match(form_id):
        return _page(page, 400, errors=[("svar", "form")], answer_text=raw_text)
    answer_id = f"svar-{form_id}"
    if any(a.id == answer_id for a in page.thread.answers):
        return _back(page)  # a double submit: answered once
    refusal = rules.answer_refusal(page.q, page.thread.answered)
    if refusal:
        return _page(page, 409, refused=refusal)
    text, errors = rules.validate_answer(raw_text)
    if errors:
        return _page(page, 400, errors=errors, answer_text=raw_text, answer_id=form_id)
    outcome = gateway().answer(page, answer_id, text)
    if outcome == qstore.NOT_OPEN:
        return _page(gateway().question(page.q.id), 409, refused=rules.ALREADY_HANDLED)
    if outcome == qstore.DUPLICATE:
        return _back(page)
    return _done(page, "answered")


@bp.post("/fragor/<question_id>/hanterad")
@staff_required
@_with_question
def mark_handled(page: QuestionPage):
    refusal = rules.handle_refusal(page.q, page.thread.answered)
    if refusal == rules.ALREADY_HANDLED:
        return _back(page)  # already so: nothing to do
    if refusal:
        return _page(page, 409, refused=refusal)
    if not gateway().mark_handled(page):
        return _back(page)
    return _done(page, "handled")


@bp.post("/fragor/<question_id>/ej-hanterad")
@staff_required
@_with_question
def undo_handled(page: QuestionPage):
    refusal = rules.undo_refusal(page.q, page.thread.answered)
    if refusal == rules.NOT_HANDLED:
        return _back(page)  # already open
    if refusal:
        return _page(page, 409, refused=refusal)
    if not gateway().undo_handled(page):
        return _back(page)
    return _done(page, "reopened")
