"""Rehabstöd: the unit's läkarutlåtanden (FK7800, FK7801, FK7802).

Same rules as the ongoing list (domain.lakarutlatanden on top of domain.rehab): the person service is
asked at view time and nothing about patients is shown when it cannot answer; a coordinator never
sees a protected or unknown patient; a doctor sees the läkarutlåtanden they signed, protected patients
masked. Every patient shown is PDL-logged as "Läsa" / "Läkarutlåtande".
"""
from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from ..auth.guards import staff_required
from ..domain import access, diagnosis
from ..domain import lakarutlatanden as rules
from ..render import page_or_fragment
from . import _registry, bp, gateway, list_context, page_of, patient_token


def list_filters() -> tuple[rules.Filters, list[tuple[str, str]]]:
    return rules.parse_filters(request.args.to_dict(flat=False), gateway().lakarutlatande_types())


def type_names() -> dict[str, str]:
    from ..i18n import current_language

    registry, lang = _registry(), current_language()
    return {code: registry[code].name.get(lang) or registry[code].name.get("sv") or code
            for code in gateway().lakarutlatande_types()}


@bp.get("/lakarutlatanden")
@staff_required
def lakarutlatanden():
    filters, errors = list_filters()
    data = gateway()
    result = data.lakarutlatanden(filters)
    page_rows, page = page_of(result.rows, rules.MODEL)
    data.statements_shown(page_rows)
    types = type_names()
    return page_or_fragment(
        "rehab/lakarutlatanden.html", "results", rows=page_rows, total=result.total, matched=len(result.rows),
        columns=result.columns, doctors=result.doctors, show_personal=filters.show_personal,
        chapters=diagnosis.CHAPTERS, types=types, page=page, token=patient_token,
        coordinator=current_user.role == access.REHABKOORDINATOR,
        **list_context(rules.MODEL, filters, errors, url_for("rehab.lakarutlatanden"),
                       {"doctors": dict(result.doctors), "types": types}),
    ), 400 if errors else 200
