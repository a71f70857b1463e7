"""Rehabstöd: the unit's läkarutlåtanden (FK7800, FK7801, FK7802).

Same rules as the ongoing list (domain.lakarutlatanden on top of domain.rehab): the person service is
asked at view time and nothing about patients is shown when it cannot answer; a coordinator never
sees a protected or unknown patient; a doctor sees the läkarutlåtanden they signed, protected patients
masked. Every patient shown is PDL-logged as "Läsa" / "Läkarutlåtande".
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

from ..auth.guards import staff_required
from ..domain import access, diagnosis, rehab
from ..domain import lakarutlatanden as rules
from ..render import page_or_fragment
from . import PAGE_SIZE, _registry, bp, gateway, page_of, patient_token


def list_filters() -> tuple[rules.Filters, list[tuple[str, str]]]:
    return rules.parse_filters(request.args.to_dict(flat=False), gateway().lakarutlatande_types())


def type_names() -> dict[str, str]:
    from ..i18n import current_language

    registry, lang = _registry(), current_language()
    return {code: registry[code].name.get(lang) or registry[code].name.get("sv") or code
            for code in gateway().lakarutlatande_types()}


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
    data = gateway()
    result = data.lakarutlatanden(filters)
    shown = result.rows
    page_rows, number, count = page_of(shown)
    data.statements_shown(page_rows)
    return page_or_fragment(
        "rehab/lakarutlatanden.html", "results", rows=page_rows, total=result.total, matched=len(shown),
        filters=filters, errors=errors, messages=error_messages(errors), columns=result.columns,
        labels=column_labels(),
        doctors=result.doctors, show_personal=filters.show_personal, chapters=diagnosis.CHAPTERS,
        types=type_names(), page_number=number, page_count=count, page_size=PAGE_SIZE,
        token=patient_token, coordinator=current_user.role == access.REHABKOORDINATOR,
    ), 400 if errors else 200
