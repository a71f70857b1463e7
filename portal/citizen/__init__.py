"""Mina intyg: the citizen reads, filters, downloads, sends and archives their own certificates.

Every route that takes a certificate id answers 404, and changes nothing, unless the certificate is
the logged-in citizen's own and visible to citizens (certificates.visible_to_citizen).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from .. import db, list_view, recipient_name
from ..adapters.person_service import PersonServiceUnavailable
from ..auth.guards import citizen_required
from ..domain import certificates as rules
from ..domain import list_model
from ..i18n import current_language
from ..render import flash_notice, page_or_fragment
from ..repository import certificates as store

bp = Blueprint("citizen", __name__, url_prefix="/mina-intyg")


def _registry():
    return current_app.extensions["certificate_types"]


def _today():
    return current_app.extensions["clock"].today()


def _type_name(code: str) -> str:
    ctype = _registry().get(code)
    return ctype.name.get(current_language()) if ctype else code


@bp.app_template_global()
def answer_text(q, value) -> str:
    """One answer as short text (for list lines)."""
    from ..i18n import long_date, parse_date

    lang = current_language()
    if isinstance(value, list):
        return ", ".join(q.option_label(v, lang) if q.options else str(v) for v in value)
    if q.options:
        return q.option_label(value, lang)
    if q.kind == "date":
        return long_date(parse_date(value))
    if isinstance(value, bool):
        from flask_babel import gettext

        return gettext("Ja") if value else gettext("Nej")
    return str(value)


def own_certificate(certificate_id: str) -> rules.CertificateView:
    """The logged-in citizen's own, visible certificate, or 404."""
    cert = store.one(db.session(), certificate_id)
    if cert is None or cert.patient_pnr != current_user.personnummer or not rules.visible_to_citizen(_registry(), cert):
        abort(404)
    return cert


def _list(archived: bool):
    from dataclasses import replace

    certs = store.for_patient(db.session(), current_user.personnummer, with_content=False)
    args = request.args.to_dict(flat=False)
    mine = rules.in_list(_registry(), certs, archived=archived)
    choices = rules.filter_choices(mine, _type_name)
    filters = rules.parse_filters(args, choices)
    result = rules.citizen_list(mine, filters, choices, page=list_model.page_number(args))
    # the content only for the page's items that need it (a purpose line; periods come from the row)
    need = [c.id for c in result.page_items if not c.sick_leave_start]
    found = store.contents(db.session(), need)
    result.page_items = [replace(c, content=found.get(c.id, c.content)) for c in result.page_items]
    archived_count = len(mine) if archived else len(rules.in_list(_registry(), certs, archived=True))
    opened = [] if archived else _recent_openings()
    return page_or_fragment("citizen/list.html", "results", result=result, filters=filters, archived=archived,
                            tags=list_view.tags(filters, request.path, result.choices.labels()),
                            sorts=[(s.key, gettext(s.label)) for s in rules.MODEL.named_sorts],
                            sent_labels=list_view.value_labels(rules.MODEL, "sent"),
                            year_options=[(str(y), str(y)) for y in result.choices.years],
                            archived_count=archived_count, today=_today(), registry=_registry(),
                            summary_line=rules.summary_line, badges=rules.badges, opened=opened)


def _recent_openings():
    """The citizen's share links the employer opened in the last days (the start page says so)."""
    from datetime import timedelta

    from ..domain import sharing
    from ..repository import shares

    since = current_app.extensions["clock"].now() - timedelta(days=sharing.RECENT_OPENINGS_DAYS)
    return shares.recent_openings(db.session(), current_user.personnummer, since)


@bp.get("/")
@citizen_required
def start():
    return _list(archived=False)


@bp.get("/arkiverade")
@citizen_required
def archived():
    return _list(archived=True)


@bp.get("/intyg/<certificate_id>")
@citizen_required
def read(certificate_id: str):
    cert = own_certificate(certificate_id)
    ctype = _registry()[cert.type_code]
    from .. import pdf
    from ..domain import copies
    from ..repository import shares

    share_copies = copies.employer_copies(ctype)
    return render_template("citizen/read.html", cert=cert, ctype=ctype, events=rules.events(cert),
                           variants=pdf.variants_for(ctype), badges=rules.badges(cert, _today()),
                           sending=_sending_state(cert, ctype), share_copies=share_copies,
                           shares=shares.for_patient(db.session(), current_user.personnummer,
                                                     current_app.extensions["clock"].now(), cert.id)
                           if share_copies else [])


def _sending_state(cert: rules.CertificateView, ctype) -> dict:
    """What the page and the send page show about sending: the type's recipient; the live send to it
    (pending, or delivered by the citizen or by care: `live.by`); the last failed one if none is live, with
    what is known about it (`notice`: a `sending.failure_notice` code: the recipient may have it, rejected it,
    the rules stopped it, or it never got there); and why the citizen may not send (a `sending` refusal code;
    a send by care is ALREADY_SENT too)."""
    from ..domain import sending

    recipient = ctype.recipient
    live = cert.send_to(recipient) if recipient else None
    failed = next((s for s in reversed(cert.sends) if s.recipient == recipient and s.state == "FAILED"), None)
    if live is not None:
        failed = None
    person = current_app.extensions["person_service"]
    refusal: str | None
    try:
        info = person.one(cert.patient_pnr)
    except PersonServiceUnavailable:
        # fail closed: without the person service we cannot rule out a valideringsperson
        refusal = sending.refusal(ctype, cert, validation_person=False) or "PERSON_SERVICE_UNAVAILABLE"
    else:
        refusal = sending.refusal(ctype, cert, validation_person=bool(info and info.validation_person))
    return {"recipient": recipient, "live": live, "failed": failed, "refusal": refusal,
            "notice": sending.failure_notice(failed) if failed is not None else None}


@bp.post("/intyg/<certificate_id>/arkivera")
@citizen_required
def archive(certificate_id: str):
    cert = own_certificate(certificate_id)
    store.archive(db.session(), cert.id, "CITIZEN", current_app.extensions["clock"].now())
    flash_notice("archived", cert.id)
    return redirect(url_for("citizen.start"), code=303)


@bp.post("/intyg/<certificate_id>/aterstall")
@citizen_required
def restore(certificate_id: str):
    cert = own_certificate(certificate_id)
    store.restore(db.session(), cert.id, "CITIZEN", current_app.extensions["clock"].now())
    flash_notice("restored", cert.id)
    return redirect(url_for("citizen.archived"), code=303)


@bp.get("/intyg/<certificate_id>/pdf/<variant>")
@citizen_required
def download(certificate_id: str, variant: str):
    from .. import pdf

    cert = own_certificate(certificate_id)
    ctype = _registry()[cert.type_code]
    if variant not in pdf.variants_for(ctype):
        abort(404)
    lang = current_language()
    data = pdf.cached_pdf(current_app, ctype, cert, variant, lang)
    response = current_app.response_class(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{pdf.filename(ctype, cert, variant, lang)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/intyg/<certificate_id>/skicka", methods=["GET", "POST"])
@citizen_required
def send(certificate_id: str):
    from ..repository import outbox

    cert = own_certificate(certificate_id)
    ctype = _registry()[cert.type_code]
    state = _sending_state(cert, ctype)
    if state["refusal"]:
        return render_template("citizen/send.html", cert=cert, ctype=ctype, state=state), (
            409 if request.method == "POST" else 200)
    error = None
    if request.method == "POST":
        if request.form.get("consent") != "yes":
            error = "consent"
        else:
            try:
                outbox.request_send(db.session(), certificate_id=cert.id, recipient=ctype.recipient,
                                    requested_by="CITIZEN", now=current_app.extensions["clock"].now())
            except outbox.AlreadySent:
                db.session().rollback()
                cert = own_certificate(certificate_id)
                state = _sending_state(cert, ctype)
                return render_template("citizen/send.html", cert=cert, ctype=ctype, state=state), 409
            flash_notice("sending", recipient_name(ctype.recipient))
            return redirect(url_for("citizen.read", certificate_id=cert.id), code=303)
    return render_template("citizen/send.html", cert=cert, ctype=ctype, state=state, error=error), (
        400 if error else 200)

from . import shares as _shares  # noqa: E402,F401 - the share routes (on this blueprint)
