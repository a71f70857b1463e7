"""Rehabstöd's start page: the unit overview (counts and charts, no patient, no PDL record).

The counts are ``domain.rehab.overview`` over exactly the rows the ongoing list shows this user
(the gateway's ``unit_rows``: the same roles, protected-identity and person-service rules; a doctor's own cases
only). The page shows no patient, so it writes no PDL record (domain.md: statistics views are not
logged). When the person service cannot answer it shows no figures at all, like the list.

Each chart is an SVG bar chart (``domain.charts``) with a title and a description, followed by the
same numbers as a table whose rows link to the ongoing list with the matching filter, where the
list has one (gender, diagnosis chapters of the group, today's degree, length).
"""
from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from flask_babel import format_percent
from flask_babel import gettext as _

from ..auth.guards import staff_required
from ..domain import charts, diagnosis, rehab
from ..domain.sick_leave import DEGREES
from ..i18n import current_language
from . import bp, gateway


@bp.app_template_filter("percent")
def percent(share: float) -> str:
    """0.605 -> "61 %" in Swedish, "61%" in English."""
    return format_percent(share)


def _list_link(**params) -> str:
    return url_for("rehab.ongoing", **params)


def _group_chapters(group_id: str) -> list[str]:
    """The filter chapters that make up an overview group (every chapter lies in one group)."""
    return [c.id for c in diagnosis.CHAPTERS if diagnosis.group_of(c.id.split("-")[0]) == group_id]


def _charts(counts: dict) -> list[dict]:
    language = current_language()
    degrees: list[tuple[str, Any, Any, str | None]] = [
        (str(d), format_percent(d / 100), counts["degrees"][d], _list_link(grad=d)) for d in DEGREES]
    if counts["degrees"][None]:
        # only with "Visa nyligen avslutade sjukfall": these cases have no degree today
        degrees.append(("none", _("Ingen grad idag (nyligen avslutade)"), counts["degrees"][None], None))
    return [
        {"id": "kon", "heading": _("Kön"), "title": _("Pågående sjukfall efter kön"),
         "chart": charts.bar_chart([("F", _("Kvinna"), counts["gender"]["F"], _list_link(kon="F")),
                                    ("M", _("Man"), counts["gender"]["M"], _list_link(kon="M"))])},
        {"id": "diagnosgrupp", "heading": _("Diagnosgrupp"), "title": _("Pågående sjukfall efter diagnosgrupp"),
         "chart": charts.bar_chart([(g.id, diagnosis.label(g, language), counts["groups"][g.id],
                                     _list_link(kapitel=_group_chapters(g.id))) for g in diagnosis.GROUPS])},
        {"id": "grad", "heading": _("Sjukskrivningsgrad idag"),
         "title": _("Pågående sjukfall efter sjukskrivningsgrad idag"),
         "chart": charts.bar_chart(degrees)},
        {"id": "grader", "heading": _("En eller flera sjukskrivningsgrader"),
         "title": _("Pågående sjukfall med en eller flera sjukskrivningsgrader"),
         "hint": _("Antal olika sjukskrivningsgrader i det aktuella intyget, till exempel 100 % → 50 % är flera."),
         "chart": charts.bar_chart([("one", _("En sjukskrivningsgrad"), counts["degree_changes"]["one"]),
                                    ("several", _("Flera sjukskrivningsgrader"),
                                     counts["degree_changes"]["several"])])},
        {"id": "langd", "heading": _("Sjukskrivningslängd"), "title": _("Pågående sjukfall efter sjukskrivningslängd"),
         "chart": charts.bar_chart([(b.id, b.en if language == "en" else b.sv, counts["lengths"][b.id],
                                     _list_link(langd=b.id)) for b in rehab.LENGTH_BUCKETS])},
    ]


@bp.get("/")
@staff_required
def start():
    rows = gateway().unit_rows()  # counts only: nothing about a patient is shown, nothing logged
    counts = rehab.overview(rows)
    return render_template("rehab/start.html", total=counts["total"], charts=_charts(counts))
