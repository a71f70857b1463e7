"""Rehabstöd: exports of the lists as the user sees them (PDF and Excel), PDL-logged as Utskrift.

An export takes the list's own query string (and, for the ongoing list, the free-text search this login
keeps server-side: it is never in a URL, see ``portal.rehab.search``) and goes through the very function its
page uses (``gateway().ongoing`` / ``gateway().lakarutlatanden``), so it holds exactly the page's rows (all
pages of them, in the on-screen order), columns, masking and "Visa personuppgifter" choice. Bad filter input
gives a 400 page and no file; when the person service cannot answer, a 503 page and no file. The PDL
records ("Utskrift", one per patient in the file) are written before the file is sent; a file whose
records cannot be written is not sent.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import export, list_view
from ..auth.guards import staff_required
from ..domain import lakarutlatanden as lu_rules
from ..domain import pdl as pdl_rules
from ..domain import rehab
from ..i18n import current_language, format_pnr
from . import SEARCH_PARAM, _clock, bp, gateway, occupation_name, ongoing_filters, patient_name_text
from . import lakarutlatanden as lu

MIMETYPES = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
STEMS = {"sjukfall": {"sv": "sjukfall", "en": "sick-leave-cases"},
         "lakarutlatanden": {"sv": "lakarutlatanden", "en": "medical-statements"}}


# --- what a cell shows (the same words as the pages) -------------------------------------------------

def _name(row) -> str:
    return patient_name_text(row.name, row.masked)


def _gender(code: str) -> str:
    return _("Kvinna") if code == "F" else _("Man")


def _questions(row) -> str:
    parts = []
    if row.komplettering:
        parts.append(_("Komplettering (%(n)s)", n=row.komplettering))
    if row.administrative:
        parts.append(_("Administrativ fråga (%(n)s)", n=row.administrative))
    return " ".join(parts)


def _degrees(row: rehab.CaseRow) -> str:
    return " → ".join(f"{degree} %" for degree in row.degrees)


# --- the two lists as tables ------------------------------------------------------------------------

def _ongoing_cell(key: str, number: int, row: rehab.CaseRow):
    return {
        "nr": lambda: number,
        "personnummer": lambda: format_pnr(row.patient_pnr),
        "alder": lambda: row.age,
        "namn": lambda: _name(row),
        "kon": lambda: _gender(row.gender),
        "diagnos": lambda: row.diagnosis or _("Saknas"),
        "sysselsattning": lambda: ", ".join(occupation_name(code) for code in row.occupation),
        "start": lambda: row.start,
        "slut": lambda: row.end,
        "langd": lambda: row.days,
        "antal": lambda: row.certificate_count,
        "grad": lambda: _degrees(row),
        "arenden": lambda: _questions(row),
        "lakare": lambda: row.doctor_name or row.doctor_id or "",
    }[key]()


def _meta(title: str, count_text: str, show_personal: bool, columns, rows) -> export.Table:
    extra = [] if show_personal else [_("Personnummer och namn visas inte (Visa personuppgifter är avstängt).")]
    return export.Table(title=title, unit_name=current_user.unit_name or current_user.unit_id,
                        printed_at=_clock().now(), printed_by=current_user.name or current_user.hsa_id,
                        count_text=count_text, columns=columns, rows=rows, extra_text=extra)


def ongoing_table(result) -> export.Table:
    columns = list_view.export_columns(rehab.MODEL, result.columns)
    rows = [[_ongoing_cell(c.key, i, row) for c in columns] for i, row in enumerate(result.rows, start=1)]
    count = _("Visar %(shown)s av %(total)s sjukfall", shown=len(result.rows), total=result.total)
    return _meta(_("Pågående sjukfall"), count, result.filters.show_personal, columns, rows)


def _lu_cell(key: str, row, types: dict[str, str]):
    return {
        "personnummer": lambda: format_pnr(row.patient_pnr),
        "alder": lambda: row.age,
        "namn": lambda: _name(row),
        "kon": lambda: _gender(row.gender),
        "intygstyp": lambda: f"{types.get(row.type_code, row.type_code)} ({row.type_code})",
        "diagnos": lambda: row.diagnosis or _("Saknas"),
        "signerad": lambda: row.signed,
        "arenden": lambda: _questions(row),
        "lakare": lambda: row.doctor_name,
    }[key]()


def lakarutlatanden_table(result) -> export.Table:
    types = lu.type_names()
    columns = list_view.export_columns(lu_rules.MODEL, result.columns)
    rows = [[_lu_cell(c.key, row, types) for c in columns] for row in result.rows]
    count = _("Visar %(shown)s av %(total)s läkarutlåtanden", shown=len(result.rows), total=result.total)
    return _meta(_("Läkarutlåtanden"), count, result.filters.show_personal, columns, rows)


# --- responses ---------------------------------------------------------------------------------------

def _invalid(messages: dict[str, str], list_endpoint: str):
    list_url = url_for(list_endpoint) + ("?" + request.query_string.decode("ascii", "replace")
                                         if request.query_string else "")
    return render_template("rehab/export/invalid.html", messages=messages, list_url=list_url), 400


def _send(table: export.Table, fmt: str, list_name: str, log_printed):
    lang = current_language()
    data = export.to_pdf(table, lang) if fmt == "pdf" else export.to_xlsx(table)
    log_printed()  # "Utskrift" for every patient in the file, before anything leaves; raises if it cannot be
    name = export.filename(STEMS[list_name]["en" if lang == "en" else "sv"], _clock().today(), fmt)
    response = current_app.response_class(data, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _ongoing_export(fmt: str):
    if SEARCH_PARAM in request.args:  # an old link with a search in it: the same file's address without it
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != SEARCH_PARAM]
        return redirect(url_for(request.endpoint or "rehab.ongoing") + ("?" + urlencode(rest) if rest else ""), 303)
    filters, errors = ongoing_filters()
    if errors:
        return _invalid(list_view.messages(rehab.MODEL, errors), "rehab.ongoing")
    data = gateway()
    result = data.ongoing(filters)
    return _send(ongoing_table(result), fmt, "sjukfall", lambda: data.cases_shown(result.rows, pdl_rules.UTSKRIFT))


def _lakarutlatanden_export(fmt: str):
    filters, errors = lu.list_filters()
    if errors:
        return _invalid(list_view.messages(lu_rules.MODEL, errors), "rehab.lakarutlatanden")
    data = gateway()
    result = data.lakarutlatanden(filters)
    return _send(lakarutlatanden_table(result), fmt, "lakarutlatanden",
                 lambda: data.statements_shown(result.rows, pdl_rules.UTSKRIFT))


@bp.get("/sjukfall/export.pdf")
@staff_required
def ongoing_pdf():
    return _ongoing_export("pdf")


@bp.get("/sjukfall/export.xlsx")
@staff_required
def ongoing_xlsx():
    return _ongoing_export("xlsx")


@bp.get("/lakarutlatanden/export.pdf")
@staff_required
def lakarutlatanden_pdf():
    return _lakarutlatanden_export("pdf")


@bp.get("/lakarutlatanden/export.xlsx")
@staff_required
def lakarutlatanden_xlsx():
    return _lakarutlatanden_export("xlsx")
