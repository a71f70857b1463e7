"""Rehabstöd: the care unit's sick-leave cases, for rehab coordinators and doctors.

Every patient shown goes through domain.rehab (roles, protected identity, masking) after the person
service has answered; if it cannot answer, nothing about patients is shown. Every patient shown is
PDL-logged. Patients are reached by an opaque token bound to the login session, never by their
personnummer in the URL.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .. import db
from ..adapters.hsa import lookup as hsa_lookup
from ..adapters.person_service import PersonServiceUnavailable
from ..auth.guards import staff_required
from ..domain import access, diagnosis, persons, rehab, sick_leave
from ..domain import pdl as pdl_rules
from ..models import CareUnit, Certificate, UserSettings
from ..render import page_or_fragment
from ..repository import pdl as pdl_store
from ..repository import rehab as store

log = logging.getLogger(__name__)
bp = Blueprint("rehab", __name__, url_prefix="/rehabstod")
PAGE_SIZE = 100


def _registry():
    return current_app.extensions["certificate_types"]


def _clock():
    return current_app.extensions["clock"]


def _viewer() -> rehab.Viewer:
    return rehab.Viewer(hsa_id=current_user.hsa_id, role=current_user.role, unit_id=current_user.unit_id)


def _settings() -> sick_leave.Settings:
    row = db.session().get(UserSettings, current_user.hsa_id)
    if row is None:
        return sick_leave.Settings()
    return sick_leave.Settings(row.max_days_between_certificates, row.max_days_since_end)


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

def _fernet() -> Fernet:
    """The key of patient links: bound to the login session and to the unit in use, so a link stops
    working at logout and at "Byt vårdenhet"."""
    sid = g.auth_row.sid_hash if g.get("auth_row") is not None else ""
    unit = current_user.unit_id or ""
    digest = hashlib.sha256(f"{current_app.config['SECRET_KEY']}:patient-link:{sid}:{unit}".encode()).digest()
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


# --- PDL ------------------------------------------------------------------------------------------

def _pdl_entries(patients: list[tuple[str, str]], resource: str, activity: str) -> list:
    user = {"user_hsa_id": current_user.hsa_id, "user_title": access.ROLE_TITLES.get(current_user.role, ""),
            "user_unit_id": current_user.unit_id, "user_unit_name": current_user.unit_name,
            "user_provider_id": current_user.provider_id, "user_provider_name": current_user.provider_name}
    return pdl_rules.entries_for(user, patients, activity, resource)


def _pdl(patients: list[tuple[str, str]], resource: str, activity: str = pdl_rules.LASA) -> None:
    """Log what this page shows (commits it before the page is sent: no record, no page)."""
    entries = _pdl_entries(patients, resource, activity)
    if entries:
        pdl_store.log(db.session(), entries, session_key=g.auth_row.sid_hash, now=_clock().now())


def pdl_audit(patients: list[tuple[str, str]], resource: str, activity: str = pdl_rules.SKRIVA):
    """The PDL records of a write, for the write to add to its own transaction (repository.questions)."""
    entries = _pdl_entries(patients, resource, activity)
    session_key, now = g.auth_row.sid_hash, _clock().now()

    def audit(session) -> None:
        pdl_store.append(session, entries, session_key=session_key, now=now)

    return audit


# --- the unit's ongoing cases -----------------------------------------------------------------------

class PatientsUnavailable(Exception):
    """The person service cannot answer: nothing about patients may be shown (fail closed)."""


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


def _person_facts(pnrs) -> dict[str, rehab.PersonFacts]:
    try:
        found = current_app.extensions["person_service"].lookup(pnrs)
    except PersonServiceUnavailable as err:
        log.warning("person service unavailable: %s", err)
        raise PatientsUnavailable() from None
    return {p: rehab.PersonFacts(i.personnummer, i.name, i.protected, i.deceased, i.validation_person)
            for p, i in found.items()}


def unit_rows(settings: sick_leave.Settings) -> list[rehab.CaseRow]:
    """The ongoing cases the logged-in user may see on their unit, as display rows (raises
    PatientsUnavailable when the person service cannot answer).

    The engine's input and its cases are reused between requests while the units' data versions are
    unchanged (repository.rehab.ComputedCache); PU-tjänsten, FK's questions and the access rules are
    asked afresh on every request."""
    today = _clock().today()
    session = db.session()
    cache = current_app.extensions["rehab_cache"]
    scope = store.unit_scope(session, current_user.unit_id)
    since = today - timedelta(days=settings.max_days_since_sjukfall_end)
    base = (store.scope_versions(session, scope), current_user.provider_id, since)
    data = cache.get(("input",) + base, lambda: store.unit_certificates(
        session, _registry(), unit_ids=scope, provider_id=current_user.provider_id, since=since))
    facts = _person_facts(data.patients)
    validation = frozenset(p for p, f in facts.items() if f.validation_person)
    doctor = current_user.hsa_id if current_user.role == access.LAKARE else None

    def compute():
        records = [r if r.certificate.patient_id not in validation
                   else sick_leave.CertificateRecord(r.certificate, r.type_code, r.revoked, r.replaced_by, True)
                   for r in data.records]
        return sick_leave.unit_cases(sick_leave.counting(records), today, settings, doctor_id=doctor)

    cases = cache.get(("cases",) + base + (today, settings, doctor, validation), compute)
    ids = {c for case in cases for c in case.certificate_ids}
    counts = rehab.question_counts(store.fk_messages(session, ids, today, unit_ids=scope), today)
    names = store.staff_names(session, {case.doctor_id for case in cases})
    return rehab.visible_rows(cases, facts, _viewer(), today, doctor_names=names, questions=counts)


@dataclass(frozen=True)
class OngoingList:
    """The ongoing list as the user asked for it: every matching row in the on-screen order (the page
    shows 100 of them at a time, the exports all), the visible columns, and the doctor filter's choices."""

    filters: rehab.Filters
    rows: list[rehab.CaseRow]
    total: int
    columns: list[str]
    doctors: list[tuple[str | None, str]]


def ongoing_filters() -> tuple[rehab.Filters, list[tuple[str, str]]]:
    """The list's filters from the query string, and the errors (shared by the page and its exports)."""
    filters, errors = rehab.parse_filters(request.args.to_dict(flat=False))
    # the form's checkbox sends personuppgifter=0 (a hidden field) and then 1 when ticked: the last counts
    show_personal = "0" not in request.args.getlist("personuppgifter")[-1:]
    return replace(filters, show_personal=show_personal), errors


def ongoing_list(filters: rehab.Filters) -> OngoingList:
    """The rows and columns the page and both exports show (raises PatientsUnavailable)."""
    rows = unit_rows(_settings())
    doctors = sorted({(r.doctor_id, r.doctor_name) for r in rows}, key=lambda d: d[1] or "")
    shown = rehab.sort_rows(rehab.apply_filters(rows, filters), filters.sort, filters.order)
    return OngoingList(filters, shown, len(rows), rehab.columns(_viewer(), filters.show_personal), doctors)


def page_of(rows: list) -> tuple[list, int, int]:
    """The rows of the page the query string asks for (?sida=, 100 a page): (rows, number, count)."""
    page = request.args.get("sida", "1")
    count = max(1, -(-len(rows) // PAGE_SIZE))
    number = min(max(int(page) if page.isdigit() else 1, 1), count)
    return rows[(number - 1) * PAGE_SIZE: number * PAGE_SIZE], number, count


@bp.get("/sjukfall")
@staff_required
def ongoing():
    filters, errors = ongoing_filters()
    result = ongoing_list(filters)
    shown = result.rows
    page_rows, number, count = page_of(shown)
    _pdl([(r.patient_pnr, r.case.unit_id) for r in page_rows], pdl_rules.SJUKFALL)
    status = 400 if errors else 200
    return page_or_fragment("rehab/ongoing.html", "results", rows=page_rows, total=result.total, matched=len(shown),
                            filters=filters, errors=errors, doctors=result.doctors, show_personal=filters.show_personal,
                            chapters=diagnosis.CHAPTERS,
                            page_number=number, page_count=count, today=_clock().today(),
                            token=patient_token, degree_steps=rehab.degree_steps), status


# --- the patient view ------------------------------------------------------------------------------

def own_case_certificates(pnr: str) -> set[str]:
    """The certificates of the logged-in doctor's own sick-leave cases of this patient (any time): the
    cases whose deciding certificate they signed."""
    data = store.patient_sick_leave(db.session(), _registry(), pnr, current_user.provider_id)
    cases = sick_leave.patient_cases(sick_leave.counting(data.records), _clock().today(), _settings())
    return {cid for c in cases if c.doctor_id == current_user.hsa_id for cid in c.certificate_ids}


def may_open_patient(pnr: str) -> bool:
    """The patient view's gate beyond the identity rules: a coordinator, or a doctor whose list shows the
    patient (a case whose deciding certificate they signed: the list's rule, not any certificate)."""
    if current_user.role != access.LAKARE:
        return True
    return any(row.patient_pnr == pnr for row in unit_rows(_settings()))


def readable_certificates(pnr: str, certificates) -> set[str]:
    """The ids among these certificates (of this patient) whose content this user may open."""
    viewer = _viewer()
    scope = store.unit_scope(db.session(), current_user.unit_id)
    own = own_case_certificates(pnr) if not viewer.is_coordinator else set()
    return {c.id for c in certificates
            if rehab.may_read_certificate(viewer, unit_id=c.unit_id, staff_id=c.staff_id, certificate_id=c.id,
                                          unit_scope=scope, own_case_certificate_ids=own)}


def _patient_or_404(pnr: str) -> rehab.PersonFacts:
    """The patient, if this user may see them at all (same rules as the list), else 404 (raises
    PatientsUnavailable when the person service cannot answer)."""
    person = _person_facts([pnr]).get(pnr)
    if not rehab.may_see_patient(person, _viewer()):
        abort(404)
    # a doctor's patient unknown to the person service: shown without a name
    return person or rehab.PersonFacts(pnr, rehab.UNKNOWN_NAME)


@bp.get("/patient/<token>")
@staff_required
def patient(token: str):
    pnr = patient_from_token(token)
    person = _patient_or_404(pnr)
    session = db.session()
    today = _clock().today()
    data = store.patient_sick_leave(session, _registry(), pnr, current_user.provider_id)
    scope = set(store.unit_scope(session, current_user.unit_id))
    rows = store.patient_certificates(session, pnr, current_user.provider_id)
    if not any(r.unit_id in scope for r in rows):
        abort(404)  # not a patient of this unit: another unit's patients are not reachable from here
    counting = sick_leave.counting(data.records) if not person.validation_person else []
    if not may_open_patient(pnr):
        abort(404)  # a doctor sees the patients of their own cases only, as the list
    cases = sick_leave.patient_cases(counting, today, _settings()) if counting else []
    registry = _registry()
    certificates = [r for r in rows if r.revoked_at is None and registry.get(r.type_code)
                    and registry[r.type_code].rehab != "none"]
    # läkarutlåtanden have a tab of their own (?flik=lakarutlatanden; a plain link, no script needed)
    tab = "lakarutlatanden" if request.args.get("flik") == "lakarutlatanden" else "intyg"
    statements = [c for c in certificates if registry[c.type_code].rehab == "lakarutlatande"]
    certificates = [c for c in certificates if registry[c.type_code].rehab != "lakarutlatande"]
    from .questions import patient_questions
    open_questions = patient_questions(pnr, person, cases, scope)
    # one record per kind of data and unit that owns it: the cases, every unit whose certificates are
    # listed (other units' too, with limited information), and the läkarutlåtanden on their tab
    _pdl([(pnr, current_user.unit_id)], pdl_rules.SJUKFALL)
    _pdl([(pnr, unit) for unit in sorted({c.unit_id for c in certificates})], pdl_rules.INTYG)
    if tab == "lakarutlatanden" and statements:
        _pdl([(pnr, unit) for unit in sorted({c.unit_id for c in statements})], pdl_rules.LAKARUTLATANDE)
    unit_names = dict(session.execute(select(CareUnit.hsa_id, CareUnit.name).where(
        CareUnit.hsa_id.in_({c.unit_id for c in certificates + statements}))).all())
    from ..domain.questions import case_counts
    return render_template("rehab/patient.html", person=person, pnr=pnr, cases=cases, certificates=certificates,
                           today=today, unit_names=unit_names,
                           token=token, masked=person.protected,
                           doctor_names=store.staff_names(session, {c.staff_id for c in certificates + statements}),
                           age=persons.age(pnr, today), gender=persons.gender(pnr), registry=registry,
                           own_units=scope, tab=tab, statements=statements, open_questions=open_questions,
                           case_counts=case_counts, readable=readable_certificates(pnr, certificates + statements))


@bp.get("/patient/<token>/intyg/<certificate_id>")
@staff_required
def certificate(token: str, certificate_id: str):
    from ..repository import certificates as cert_store

    pnr = patient_from_token(token)
    person = _patient_or_404(pnr)
    cert = cert_store.one(db.session(), certificate_id)
    registry = _registry()
    row = db.session().get(Certificate, certificate_id) if cert is not None else None
    if (cert is None or row is None or cert.patient_pnr != pnr or cert.revoked_at is not None
            or row.provider_id != current_user.provider_id or registry[cert.type_code].rehab == "none"
            or cert.id not in readable_certificates(pnr, [row])):
        abort(404)  # another unit's certificate, or (for a doctor) another doctor's outside their own cases
    resource = pdl_rules.LAKARUTLATANDE if registry[cert.type_code].rehab == "lakarutlatande" else pdl_rules.INTYG
    _pdl([(pnr, cert.unit_id)], resource)
    return render_template("rehab/certificate.html", cert=cert, ctype=registry[cert.type_code], person=person,
                           token=token, patient_link=may_open_patient(pnr))


# --- settings ----------------------------------------------------------------------------------------

@bp.route("/installningar", methods=["GET", "POST"])
@staff_required
def settings():
    session = db.session()
    row = session.get(UserSettings, current_user.hsa_id)
    info = hsa_lookup(session, current_user.hsa_id)
    units = access.units_offered(info, _clock().today()) if info else []
    errors: list[tuple[str, str]] = []
    values = {"max_days_between": str(row.max_days_between_certificates if row else 5),
              "max_days_since_end": str(row.max_days_since_end if row else 0),
              "default_unit": (row.default_unit_id if row else None) or ""}
    saved = False
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in values}
        clean, errors = rehab.validate_settings(values["max_days_between"], values["max_days_since_end"])
        if values["default_unit"] and values["default_unit"] not in {u.unit_id for u in units}:
            errors.append(("default_unit", "unknown_unit"))
        if not errors:
            if row is None:
                row = UserSettings(staff_id=current_user.hsa_id)
                session.add(row)
            row.max_days_between_certificates = clean["max_days_between"]
            row.max_days_since_end = clean["max_days_since_end"]
            row.default_unit_id = values["default_unit"] or None
            session.commit()
            saved = True
    return render_template("rehab/settings.html", values=values, errors=errors, units=units, saved=saved), (
        400 if errors else 200)


# the other Rehabstöd pages, each area in its own module (routes on this blueprint)
from . import exports, lakarutlatanden, overview, questions  # noqa: E402,F401
