"""Mina intyg: share a certificate's employer copy with a link (domain/sharing.py), see the links and their
openings, withdraw one. Every route answers 404 for a certificate or share that is not the citizen's own.

The share form has three steps on one URL, each a plain form post that works without JavaScript: choose
(the copy, how long, a note, a code or not), review (exactly the page the employer will see, and consent),
create (then the link's own page, where the link and the code can be copied).
"""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from .. import db
from ..auth.guards import citizen_required
from ..domain import copies, sharing
from ..render import flash_notice
from ..repository import shares as store
from . import _registry, bp, own_certificate


def _now():
    return current_app.extensions["clock"].now()


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


@bp.app_template_global("copy_hidden")
def copy_hidden(ctype, variant: str) -> set[str]:
    """The questions a copy leaves out (for the review step's preview of the employer's page)."""
    return copies.hidden_questions(ctype, variant)


def link_for(token: str) -> str:
    """The link the citizen gives the employer: the portal's public address and the token, nothing else."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + url_for("employer.view", token=token)


def _shareable(certificate_id: str):
    cert = own_certificate(certificate_id)
    ctype = _registry()[cert.type_code]
    offered = copies.employer_copies(ctype)
    if not offered:
        abort(404)
    return cert, ctype, offered


@bp.route("/intyg/<certificate_id>/dela", methods=["GET", "POST"])
@citizen_required
def share(certificate_id: str):
    cert, ctype, offered = _shareable(certificate_id)

    def page(step: str, form: sharing.ChoiceForm, status: int = 200, **extra):
        return render_template("citizen/share.html", cert=cert, ctype=ctype, copies=offered, step=step, form=form,
                               durations=sharing.DURATIONS, note_max=sharing.NOTE_MAX, **extra), status

    if cert.replaced_by:
        return page("refused", sharing.ChoiceForm({}), 409 if request.method == "POST" else 200, refusal="REPLACED")
    if request.method == "GET":
        first = {"variant": offered[0] if len(offered) == 1 else "", "days": str(sharing.DEFAULT_DAYS), "note": "",
                 "code": ""}
        return page("choose", sharing.ChoiceForm(first))
    form = sharing.parse_choice(request.form, offered)
    step = request.form.get("step", "")
    if step not in ("review", "create", "edit"):
        return page("choose", form, 400, bad_step=True)
    if step == "edit" or form.choice is None:
        return page("choose", form, 400 if form.errors and step != "edit" else 200)
    if step == "review":
        return page("review", form)
    if request.form.get("consent") != "yes":
        return page("review", form, 400, consent_error=True)
    try:
        share_id, _token, _code = store.create(db.session(), certificate_id=cert.id, choice=form.choice, now=_now(),
                                               secret=_secret())
    except store.TooManyShares:
        return page("choose", form, 409, too_many=True)
    flash_notice("share_created", str(share_id))
    return redirect(url_for("citizen.share_detail", share_id=share_id), code=303)


@bp.get("/delningar")
@citizen_required
def shares():
    found = store.for_patient(db.session(), current_user.personnummer, _now())
    return render_template("citizen/shares.html", shares=found, registry=_registry())


def _own_share(share_id: int) -> store.ShareView:
    found = store.one_for_patient(db.session(), share_id, current_user.personnummer, _now())
    if found is None:
        abort(404)
    return found


@bp.get("/delningar/<int:share_id>")
@citizen_required
def share_detail(share_id: int):
    found = _own_share(share_id)
    token = sharing.unseal(_secret(), found.token_sealed) if found.active else None
    code = sharing.unseal(_secret(), found.code_sealed) if found.active else None
    return render_template("citizen/share_detail.html", share=found, ctype=_registry()[found.type_code],
                           link=link_for(token) if token else None, code=code, attempts=sharing.CODE_ATTEMPTS)


@bp.post("/delningar/<int:share_id>/aterkalla")
@citizen_required
def withdraw_share(share_id: int):
    found = _own_share(share_id)
    if store.withdraw(db.session(), found.id, _now()):
        flash_notice("share_withdrawn", str(found.id))
    return redirect(url_for("citizen.share_detail", share_id=found.id), code=303)
