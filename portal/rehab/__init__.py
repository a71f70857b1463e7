"""Rehabstöd: the care unit's sick-leave cases, for rehab coordinators and doctors.

Every route gets patient data through the patient-data gateway (`portal.patient_data`, built per request
by `gateway()`): the person service first (fail closed: one error handler, 503), the access rules of the
role and unit, masking, and the PDL record of what is shown. Views parse the request, call the gateway
and render; they query no patient data themselves. Patients are reached by an opaque token bound to the
login session and the unit, never by their personnummer in the URL.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import db, list_view
from ..adapters.hsa import lookup as hsa_lookup
from ..auth.guards import staff_required
from ..domain import access, diagnosis, filter_params, list_model, persons, rehab, rehab_settings, sick_leave
from ..errors import render_error
from ..patient_data import NotVisible, PatientData, PatientsUnavailable, StaffUser
from ..render import flash_notice, page_or_fragment
from ..repository import settings as settings_store

log = logging.getLogger(__name__)
bp = Blueprint("rehab", __name__, url_prefix="/rehabstod")
__all__ = ["bp", "gateway", "PatientsUnavailable", "patient_token", "patient_from_token", "patient_name",
           "patient_name_text"]


def _registry():
    return current_app.extensions["certificate_types"]


def _clock():
    return current_app.extensions["clock"]


def _settings() -> sick_leave.Settings:
    return settings_store.sick_leave_settings(db.session(), current_user.hsa_id)


def gateway() -> PatientData:
    """The patient-data gateway for this request and user."""
    if "patient_data" not in g:
        user = StaffUser(hsa_id=current_user.hsa_id, role=current_user.role, unit_id=current_user.unit_id,
                         unit_name=current_user.unit_name, provider_id=current_user.provider_id,
                         provider_name=current_user.provider_name, session_key=g.auth_row.sid_hash)
        g.patient_data = PatientData(db.session(), user=user, person_service=current_app.extensions["person_service"],
                                     registry=_registry(), clock=_clock(), cache=current_app.extensions["rehab_cache"],
                                     settings=_settings())
    return g.patient_data


@bp.app_template_filter("error_item")
def error_item(field: str, texts: dict) -> dict:
    """An error summary entry for a field, with the page's own wording."""
    from flask_babel import gettext

    return {"field": field, "message": texts.get(field) or gettext("Kontrollera värdet")}


def patient_name_text(name: str | None, masked: bool) -> str:
    """What a page or file says for a patient's name: the name, or "Sekretessmarkerad uppgift" for a
    protected patient, or "Namn okänt" for one the person service does not know (both translated)."""
    from flask_babel import gettext

    if masked:
        return gettext("Sekretessmarkerad uppgift")
    if not (name or "").strip() or name == rehab.UNKNOWN_NAME:
        return gettext("Namn okänt")
    return name or ""


@bp.app_template_filter("patient_name")
def patient_name(name: str | None, masked: bool = False):
    """The one display-name rule for templates: `{{ row.name | patient_name(row.masked) }}` (the two
    stand-in texts in italics, so they are not taken for a name)."""
    from markupsafe import Markup, escape

    stand_in = masked or not (name or "").strip() or name == rehab.UNKNOWN_NAME
    text = patient_name_text(name, masked)
    return Markup("<em>{}</em>").format(text) if stand_in else escape(text)


@bp.app_template_filter("occupation_name")
def occupation_name(code: str) -> str:
    from ..i18n import current_language

    q = _registry()["FK7804"].with_role("occupation") if "FK7804" in _registry() else None
    return q.option_label(code, current_language()) if q else code


# --- patient links: an opaque, session-bound token instead of the personnummer ----------------------

def _fernet(purpose: str = "patient-link") -> Fernet:
    """The key of patient links (and of the kept search, its own key): bound to the login session and to the
    unit in use, so a link stops working at logout and at "Byt vårdenhet"."""
    sid = g.auth_row.sid_hash if g.get("auth_row") is not None else ""
    unit = current_user.unit_id or ""
    digest = hashlib.sha256(f"{current_app.config['SECRET_KEY']}:{purpose}:{sid}:{unit}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def patient_token(pnr: str) -> str:
    return _fernet().encrypt(pnr.encode()).decode()


def patient_from_token(token: str) -> str:
    try:
        pnr = _fernet().decrypt(token.encode(), ttl=12 * 3600).decode()
    except (InvalidToken, ValueError):
        abort(404)
    if persons.normalize(pnr) is None:
        abort(404)
    return pnr


# --- the person service down, and objects this user may not see ------------------------------------

# the heading of the "could not be fetched" page, by the page that could not be shown (endpoint prefix)
UNAVAILABLE_HEADINGS = (
    ("rehab.lakarutlatanden", _l("Läkarutlåtanden för enheten kunde inte hämtas")),
    ("rehab.question", _l("Frågor från Försäkringskassan kunde inte hämtas")),
    ("rehab.answer", _l("Frågor från Försäkringskassan kunde inte hämtas")),
    ("rehab.mark_handled", _l("Frågor från Försäkringskassan kunde inte hämtas")),
    ("rehab.undo_handled", _l("Frågor från Försäkringskassan kunde inte hämtas")),
    ("rehab.patient", _l("Patientens uppgifter kunde inte hämtas")),
    ("rehab.certificate", _l("Patientens uppgifter kunde inte hämtas")),
)


@bp.errorhandler(PatientsUnavailable)
def patients_unavailable(_error):
    """Every Rehabstöd route: the person service down is one page, 503, with the page's own heading, and
    nothing about patients (no PDL record either: nothing was shown)."""
    endpoint = request.endpoint or ""
    heading = next((str(h) for prefix, h in UNAVAILABLE_HEADINGS if endpoint.startswith(prefix)), None)
    return render_template("rehab/unavailable.html", heading=heading), 503


@bp.errorhandler(NotVisible)
def not_visible(_error):
    """Another unit's or another doctor's patient, certificate or question: the same 404 as none at all."""
    return render_error(404)


# --- the free-text search: kept for the login session, never in a URL ----------------------------------
#
# What a user types to find a patient (a personnummer, a name) is personal data: it must not sit in a URL,
# where browser history, the login's `next`, Referer headers and access logs would keep it. The search is a
# POST (CSRF-checked, refused cross-site like every change); the term is kept in the session cookie (signed,
# HttpOnly), encrypted with a key made like the patient links' (bound to this login and this care unit), so it
# ends at logout, at the idle timeout and at "Byt vårdenhet", and cannot be read from the cookie. The list, its
# htmx fragment, its "Sök: …" tag and its exports read it from there; every other filter stays in the query
# string (no personal data).

SEARCH_PARAM = rehab.PARAMS["text"]  # "fritext": the form field's name, never a query parameter
_SEARCH = "rehab_search"  # the session key of the kept term
_SEARCH_REFUSED = "rehab_search_refused"  # a refused term, shown once with its error (then dropped)


def _seal(text: str) -> str:
    return _fernet("rehab-search").encrypt(text.encode()).decode()


def _unseal(key: str, *, keep: bool = True) -> str | None:
    token = session.get(key) if keep else session.pop(key, None)
    if not token:
        return None
    try:
        return _fernet("rehab-search").decrypt(str(token).encode(), ttl=12 * 3600).decode()
    except (InvalidToken, ValueError):  # another login's or another unit's: not this search
        session.pop(key, None)
        return None


def stored_search() -> str:
    """The free text this login searched the ongoing list for ("" for none)."""
    return _unseal(_SEARCH) or ""


def store_search(text: str) -> None:
    """Keep the search for this login session ("" ends it)."""
    if text:
        session[_SEARCH] = _seal(text)
    else:
        session.pop(_SEARCH, None)


def url_filters() -> tuple[rehab.Filters, list[tuple[str, str]]]:
    """The list's filters from the query string: everything but the free text (kept server-side)."""
    args = request.args.to_dict(flat=False)
    args.pop(SEARCH_PARAM, None)
    return rehab.parse_filters(args)


def ongoing_filters() -> tuple[rehab.Filters, list[tuple[str, str]]]:
    """The filters the list applies, and the query string's errors (shared by the page and its exports): the
    query string's and this login's search."""
    filters, errors = url_filters()
    return dataclasses.replace(filters, text=stored_search()), errors


def ongoing_url(filters: rehab.Filters, endpoint: str = "rehab.ongoing") -> str:
    """The list's address with these filters and sort, never the free text."""
    query = [pair for pair in filters.as_query() if pair[0] != SEARCH_PARAM]
    return url_for(endpoint) + ("?" + urlencode(query) if query else "")


def page_of(rows: list, model: list_model.ListModel) -> tuple[list, list_model.Page]:
    """The rows of the page the query string asks for (?sida=, the model's page size)."""
    return list_model.paginate(rows, list_model.page_number(request.args.to_dict(flat=False)), model.page_size)


def chapter_labels() -> dict[str, str]:
    """The filter tag's words for a chapter that has no code of its own ("Utan giltig diagnoskod")."""
    from ..i18n import current_language

    english = current_language() == "en"
    return {cid: en if english else sv for cid, sv, en in diagnosis.CHAPTERS if cid == diagnosis.UTAN}


def list_context(model: list_model.ListModel, filters, errors: list[tuple[str, str]], href: str,
                 value_labels: dict[str, dict[str, str]]) -> dict:
    """What a Rehabstöd list's page reads from its model: the field errors and their summary, the column
    headings and the removable filter tags."""
    messages = list_view.messages(model, errors)
    return {"filters": filters, "messages": messages, "errors": list_view.error_summary(messages),
            "headings": list_view.headings(model), "list_url": href,
            "tags": list_view.tags(filters, href, {"chapters": chapter_labels(), **value_labels})}


def _ongoing_page(filters: rehab.Filters, errors: list[tuple[str, str]]):
    """The ongoing list (the page, or its results block for htmx) by the query string's filters and this
    login's search. `filters` hold no free text: every link the page makes comes from them."""
    search = stored_search()
    refused = _unseal(_SEARCH_REFUSED, keep=False)
    if refused is not None:
        errors = [*errors, (SEARCH_PARAM, filter_params.TOO_LONG)]
    data = gateway()
    result = data.ongoing(dataclasses.replace(filters, text=search))
    page_rows, page = page_of(result.rows, rehab.MODEL)
    data.cases_shown(page_rows)
    context = list_context(rehab.MODEL, filters, errors, url_for("rehab.ongoing"),
                           {"doctors": {d: n for d, n in result.doctors if d}})
    if search:
        context["tags"].append({"text": list_view.tag_text(rehab.MODEL.field("text"), search, {}),
                                "href": ongoing_url(filters, "rehab.clear_search")})
    return page_or_fragment(
        "rehab/ongoing.html", "results", rows=page_rows, total=result.total, matched=len(result.rows),
        columns=result.columns, doctors=result.doctors, show_personal=filters.show_personal,
        chapters=diagnosis.CHAPTERS, length_labels=list_view.value_labels(rehab.MODEL, "lengths"),
        page=page, today=_clock().today(), token=patient_token, degree_steps=rehab.degree_steps,
        search=search, search_value=search if refused is None else refused, **context,
    ), 400 if errors else 200


@bp.get("/sjukfall")
@staff_required
def ongoing():
    if SEARCH_PARAM in request.args:  # an old link or bookmark with a search in it: never applied or echoed
        return redirect(ongoing_url(url_filters()[0]), 303)
    return _ongoing_page(*url_filters())


@bp.route("/sjukfall/sok", methods=["GET", "POST"])
@staff_required
def search():
    """Search the ongoing list: keep the term for this login and show the list by it, at an address without it.
    The form also sends the list's other filters and sort (hidden fields). Without JavaScript: 303 to the list;
    with htmx: the results block, and the address bar gets the list's address (the same filters, no term)."""
    if request.method == "GET":  # a GET here (back from choosing a unit, say) just shows the list
        return redirect(url_for("rehab.ongoing"), 303)
    form = {k: v for k, v in request.form.to_dict(flat=False).items() if k != "csrf_token"}
    filters, errors = rehab.parse_filters(form)
    target = ongoing_url(filters)
    refused = any(param == SEARCH_PARAM for param, _code in errors)
    store_search("" if refused else filters.text)
    if refused:  # shown once with its error, in the field, to be shortened (a cookie has room for 4 kB)
        typed = " ".join((form.get(SEARCH_PARAM) or [""])[0].split())
        session[_SEARCH_REFUSED] = _seal(typed[:2 * rehab.MAX_FREE_TEXT])
    if request.headers.get("HX-Request") != "true":
        return redirect(target, 303)
    if refused:  # the whole page shows the error summary and focuses it, as without JavaScript
        return "", 200, {"HX-Redirect": target}
    body, status = _ongoing_page(dataclasses.replace(filters, text=""), [])
    return body, status, {"HX-Replace-Url": target}


@bp.get("/sjukfall/sok/rensa")
@staff_required
def clear_search():
    """End the search (the "Sök: …" tag, "Rensa filter") and show the list by the query string's filters."""
    store_search("")
    return redirect(ongoing_url(url_filters()[0]), 303)


# --- the patient view ------------------------------------------------------------------------------

@bp.get("/patient/<token>")
@staff_required
def patient(token: str):
    from ..domain.questions import case_counts

    tab = "lakarutlatanden" if request.args.get("flik") == "lakarutlatanden" else "intyg"
    view = gateway().patient(patient_from_token(token), tab)
    return render_template("rehab/patient.html", person=view.person, pnr=view.pnr, cases=view.cases,
                           certificates=view.certificates, today=_clock().today(), unit_names=view.unit_names,
                           token=token, masked=view.person.protected, doctor_names=view.doctor_names,
                           age=view.age, gender=view.gender, registry=_registry(), own_units=view.own_units, tab=tab,
                           statements=view.statements, open_questions=view.open_questions, case_counts=case_counts,
                           readable=view.readable)


@bp.get("/patient/<token>/intyg/<certificate_id>")
@staff_required
def certificate(token: str, certificate_id: str):
    cert, person, patient_link = gateway().certificate(patient_from_token(token), certificate_id)
    return render_template("rehab/certificate.html", cert=cert, ctype=_registry()[cert.type_code], person=person,
                           token=token, patient_link=patient_link)


# --- settings ----------------------------------------------------------------------------------------

def _settings_page(*, values: dict | None = None, errors: list[tuple[str, str]] | None = None, saved: bool = False,
                   notice_email: str | None = None):
    """The settings page in any state: the user's own settings (`values`, `saved`) and the unit's notice address
    (`notice_email`: the form's value after a refused save; else the stored one). 400 with any error."""
    session = db.session()
    info = hsa_lookup(session, current_user.hsa_id)
    units = access.units_offered(info, _clock().today()) if info else []
    if values is None:
        current = settings_store.stored(session, current_user.hsa_id)
        values = {"max_days_between": str(current.max_days_between),
                  "max_days_since_end": str(current.max_days_since_end), "default_unit": current.default_unit or ""}
    stored_email = settings_store.unit_notice_address(session, current_user.unit_id)
    errors = errors or []
    page = render_template("rehab/settings.html", values=values, errors=errors, units=units, saved=saved,
                           unit_name=current_user.unit_name, stored_email=stored_email,
                           notice_email=stored_email if notice_email is None else notice_email,
                           may_edit_unit=rehab_settings.may_edit_unit_settings(current_user.role))
    return page, (400 if errors else 200)


@bp.route("/installningar", methods=["GET", "POST"])
@staff_required
def settings():
    if request.method == "GET":
        return _settings_page()
    session = db.session()
    info = hsa_lookup(session, current_user.hsa_id)
    units = access.units_offered(info, _clock().today()) if info else []
    values = {k: request.form.get(k, "") for k in ("max_days_between", "max_days_since_end", "default_unit")}
    clean, errors = rehab.validate_settings(values["max_days_between"], values["max_days_since_end"])
    if values["default_unit"] and values["default_unit"] not in {u.unit_id for u in units}:
        errors.append(("default_unit", "unknown_unit"))
    if errors:
        return _settings_page(values=values, errors=errors)
    settings_store.save(session, current_user.hsa_id, max_days_between=clean["max_days_between"],
                        max_days_since_end=clean["max_days_since_end"], default_unit=values["default_unit"] or None)
    return _settings_page(values=values, saved=True)


@bp.post("/installningar/enhet")
@staff_required
def unit_settings():
    """The unit's own settings, for a rehab coordinator of the unit (anyone else: 403, nothing changes): the
    address told by e-mail when Försäkringskassan writes. An empty field or "Ta bort" removes it."""
    if not rehab_settings.may_edit_unit_settings(current_user.role):
        return render_error(403, str(_l("Bara en rehabkoordinator på vårdenheten kan ändra vårdenhetens "
                                        "inställningar.")))
    raw = "" if request.form.get("action") == "remove" else request.form.get("notice_email", "")
    address, error = rehab_settings.validate_notice_address(raw)
    if error:
        return _settings_page(errors=[("notice_email", error)], notice_email=raw)
    session = db.session()
    before = settings_store.unit_notice_address(session, current_user.unit_id)
    settings_store.save_unit_notice_address(session, current_user.unit_id, address, by=current_user.hsa_id,
                                            now=_clock().now())
    log.info("unit %s: notice address %s by %s", current_user.unit_id,
             "removed" if address is None else ("set" if before is None else "changed"), current_user.hsa_id)
    flash_notice("unit_settings", "removed" if address is None else "saved")
    return redirect(url_for("rehab.settings", _anchor="enhet"), code=303)


# the other Rehabstöd pages, each area in its own module (routes on this blueprint)
from . import exports, lakarutlatanden, overview, questions  # noqa: E402,F401
