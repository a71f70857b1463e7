"""Rehabstöd: the unit's unanswered questions from Försäkringskassan, read and answered in place.

    GET  /rehabstod/fragor                      the unit's open questions (filter: amne=KOMPLT|AVSTMN|KONTKT|OVRIGT)
    GET  /rehabstod/fragor/<id>                 one question: its certificate, reminders, answers, earlier questions
    POST /rehabstod/fragor/<id>/svar            answer an administrative question (text; goes to FK by the outbox)
    POST /rehabstod/fragor/<id>/hanterad        mark an administrative question handled
    POST /rehabstod/fragor/<id>/ej-hanterad     undo that
    POST /rehabstod/fragor/<id>/vidarebefordra  forward the question to a colleague on the unit
    GET  /rehabstod/patient/<token>/intyg/<certificate_id>/fraga   the form: ask FK about a certificate
    POST /rehabstod/patient/<token>/intyg/<certificate_id>/fraga   send it (goes to FK by the outbox)

The list shows both directions: FK's open questions, and the care unit's questions that wait for FK's answer
("Väntar på svar från FK (n)"). A question's page shows the certificate's whole conversation with FK in order.

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
from ..patient_data import AskTarget, NotVisible, QuestionPage
from ..render import flash_notice, page_or_fragment
from ..repository import questions as qstore
from . import _clock, _registry, bp, gateway, patient_from_token, patient_token

ANSWER_ID = re.compile(r"^[0-9a-f]{32}$")


@bp.get("/fragor")
@staff_required
def questions():
    subjects, errors = rules.parse_subjects(request.args.getlist("amne"))
    data = gateway()
    rows = data.open_questions()
    shown = [r for r in rows if not subjects or r.question.subject in subjects]
    waiting = data.waiting_questions()
    data.questions_shown(shown + waiting)
    counts = {s: sum(1 for r in rows if r.question.subject == s) for s in rules.SUBJECTS}
    forwards, names = data.forwards([r.question.id for r in shown + waiting])
    return page_or_fragment("rehab/questions.html", "results", rows=shown, total=len(rows), subjects=subjects,
                            errors=errors, counts=counts, all_subjects=rules.SUBJECTS, registry=_registry(),
                            today=_clock().today(), token=patient_token, waiting=waiting, forwards=forwards,
                            forward_names=names), (400 if errors else 200)


# --- one question ------------------------------------------------------------------------------------

def _page(page: QuestionPage, status: int = 200, **extra):
    """The question page, in any state (errors and refusals included): it shows the patient, so it is
    PDL-logged ("Läsa") before it is rendered."""
    data = gateway()
    data.question_shown(page)
    data.conversation(page)
    values: dict[str, object] = {"errors": [], "answer_text": "", "answer_id": uuid.uuid4().hex, "refused": None,
                                 "forward_errors": [], "colleagues": data.forward_candidates(page),
                                 "may_ask": _may_ask(page)}
    values.update(page.extra)
    values.update(extra)
    return render_template("rehab/question.html", **page.context(), ctype=_registry()[page.cert.type_code],
                           token=patient_token(page.pnr), today=_clock().today(), **values), status


def _may_ask(page: QuestionPage) -> bool:
    """Whether the page offers "Ställ en ny fråga" (the ask page itself says why not, if it is reached)."""
    try:
        return gateway().ask_target(page.pnr, page.cert.id).refusal is None
    except NotVisible:
        return False


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


@bp.post("/fragor/<question_id>/vidarebefordra")
@staff_required
@_with_question
def forward(page: QuestionPage):
    """Forward the question to a colleague on the unit who may see it (listed from the HSA directory)."""
    to = request.form.get("till", "").strip()
    candidates = {c.hsa_id for c in gateway().forward_candidates(page)}
    if to not in candidates:
        return _page(page, 400, forward_errors=[("till", rules.MISSING if not to else rules.UNKNOWN_SUBJECT)])
    if not gateway().forward(page, to):
        return _back(page)  # already with that colleague
    return _done(page, "forwarded")


# --- asking FK about a certificate ------------------------------------------------------------------------

QUESTION_ID = ANSWER_ID


def _ask_page(target: AskTarget, token: str, status: int = 200, **extra):
    """The ask form, in any state; PDL-logged ("Läsa") when it shows the patient."""
    gateway().ask_shown(target)
    values: dict[str, object] = {"errors": [], "form": {}, "question_id": uuid.uuid4().hex}
    values.update(extra)
    show = target.refusal != rules.VALIDATION_PERSON
    return render_template("rehab/question_ask.html", target=target, token=token, show_patient=show,
                           ctype=_registry()[target.cert.type_code], subjects=rules.ASK_SUBJECTS,
                           heading_max=rules.HEADING_MAX, text_max=rules.QUESTION_TEXT_MAX, **values), status


def _refusal_status(refusal: str) -> int:
    return 403 if refusal == rules.NOT_ASKER else 409


@bp.get("/patient/<token>/intyg/<certificate_id>/fraga")
@staff_required
def ask_question(token: str, certificate_id: str):
    target = gateway().ask_target(patient_from_token(token), certificate_id)
    if target.refusal:
        return _ask_page(target, token, _refusal_status(target.refusal))
    return _ask_page(target, token)


@bp.post("/patient/<token>/intyg/<certificate_id>/fraga")
@staff_required
def send_question(token: str, certificate_id: str):
    target = gateway().ask_target(patient_from_token(token), certificate_id)
    form = {k: request.form.get(k, "") for k in ("amne", "rubrik", "text")}
    form_id = request.form.get("fraga_id", "")
    if target.refusal:
        return _ask_page(target, token, _refusal_status(target.refusal))
    if not QUESTION_ID.match(form_id):
        return _ask_page(target, token, 400, errors=[("text", "form")], form=form)
    (subject, heading, text), errors = rules.validate_question(form["amne"], form["rubrik"], form["text"])
    if errors:
        return _ask_page(target, token, 400, errors=errors, form=form, question_id=form_id)
    question_id = f"fraga-{form_id}"
    gateway().ask(target, question_id, subject, heading, text)  # ASKED, or DUPLICATE: a double submit, asked once
    flash_notice("question", "asked")
    return redirect(url_for("rehab.question", question_id=question_id), code=303)
