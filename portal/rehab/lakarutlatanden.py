"""Rehabstöd: the unit's läkarutlåtanden (FK7800, FK7801, FK7802).

Same rules as the ongoing list (domain.lakarutlatanden on top of domain.rehab): the person service is
asked at view time and nothing about patients is shown when it cannot answer; a coordinator never
sees a protected or unknown patient; a doctor sees the läkarutlåtanden they signed, protected patients
masked. Every patient shown is PDL-logged as "Läsa" / "Läkarutlåtande".
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import request
from flask_login import current_user

from .. import db
from ..auth.guards import staff_required
from ..domain import access, diagnosis, rehab
from ..domain import lakarutlatanden as rules
from ..domain import pdl as pdl_rules
from ..render import page_or_fragment
from ..repository import lakarutlatanden as lu_store
from ..repository import rehab as store
from . import PAGE_SIZE, _clock, _pdl, _person_facts, _registry, _viewer, bp, page_of, patient_token


def lakarutlatande_types() -> tuple[str, ...]:
    """The registry's läkarutlåtanden types (rehab = "lakarutlatande"), in code order."""
    registry = _registry()
    return tuple(sorted(code for code in registry.codes() if registry[code].rehab == "lakarutlatande"))


@dataclass(frozen=True)
class LakarutlatandenList:
    """The list as the user asked for it: every matching row in the on-screen order, the visible
    columns, how many the user may see in all, and the doctor filter's choices."""

    filters: rules.Filters
    rows: list[rules.Row]
    total: int
    columns: list[str]
    doctors: list[tuple[str, str]]


def list_filters() -> tuple[rules.Filters, list[tuple[str, str]]]:
    return rules.parse_filters(request.args.to_dict(flat=False), lakarutlatande_types())


def list_rows(filters: rules.Filters) -> LakarutlatandenList:
    """The rows and columns the page and both exports show (raises PatientsUnavailable)."""
    session = db.session()
    today = _clock().today()
    viewer = _viewer()
    scope = store.unit_scope(session, current_user.unit_id)
    stored = lu_store.unit_lakarutlatanden(
        session, unit_ids=scope, provider_id=current_user.provider_id, type_codes=lakarutlatande_types(),
        doctor_id=None if viewer.is_coordinator else current_user.hsa_id)
    facts = _person_facts({s.patient_pnr for s in stored}) if stored else {}
    questions = rehab.question_counts(store.fk_messages(session, {s.id for s in stored}, today, unit_ids=scope),
                                      today) if stored else {}
    names = store.staff_names(session, {s.doctor_id for s in stored})
    shown, visible = rules.list_rows(stored, facts, viewer, today, filters, doctor_names=names,
                                     questions=questions)
    doctors = sorted({(r.doctor_id, r.doctor_name) for r in visible}, key=lambda d: rehab.swedish_key(d[1]))
    return LakarutlatandenList(filters, shown, len(visible), rules.columns(viewer, filters.show_personal), doctors)


def type_names() -> dict[str, str]:
    from ..i18n import current_language

    registry, lang = _registry(), current_language()
    return {code: registry[code].name.get(lang) or registry[code].name.get("sv") or code
            for code in lakarutlatande_types()}


def column_labels() -> dict[str, str]:
    """The columns' headings (the page's and the exports')."""
    from flask_babel import gettext as _

    return {"personnummer": _("Personnummer"), "alder": _("Ålder"), "namn": _("Namn"), "kon": _("Kön"),
            "intygstyp": _("Intygstyp"), "diagnos": _("Diagnos"), "signerad": _("Signeringsdatum"),
            "arenden": _("Ärenden"), "lakare": _("Läkare")}


def error_texts() -> dict[str, str]:
    from flask_babel import gettext as _

    date_text = _("Ange ett datum som ÅÅÅÅ-MM-DD")
    return {rules.PARAMS["signed_from"]: date_text, rules.PARAMS["signed_to"]: date_text}


def error_messages(errors: list[tuple[str, str]]) -> dict[str, str]:
    """One message per field in error, saying how to fix it."""
    from flask_babel import gettext as _

    texts = error_texts()
    out: dict[str, str] = {}
    for field, code in errors:
        if code == rehab.FROM_AFTER_TO:
            out.setdefault(field, _("Datumet i Från får inte vara efter datumet i Till"))
        out.setdefault(field, texts.get(field) or _("Kontrollera värdet"))
    return out


@bp.get("/lakarutlatanden")
@staff_required
def lakarutlatanden():
    filters, errors = list_filters()
    result = list_rows(filters)
    shown = result.rows
    page_rows, number, count = page_of(shown)
    _pdl([(r.patient_pnr, r.unit_id) for r in page_rows], pdl_rules.LAKARUTLATANDE)
    return page_or_fragment(
        "rehab/lakarutlatanden.html", "results", rows=page_rows, total=result.total, matched=len(shown),
        filters=filters, errors=errors, messages=error_messages(errors), columns=result.columns,
        labels=column_labels(),
        doctors=result.doctors, show_personal=filters.show_personal, chapters=diagnosis.CHAPTERS,
        types=type_names(), page_number=number, page_count=count, page_size=PAGE_SIZE,
        token=patient_token, coordinator=current_user.role == access.REHABKOORDINATOR,
    ), 400 if errors else 200
