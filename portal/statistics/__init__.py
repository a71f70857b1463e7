"""Intygsstatistik: the public national statistics (issue 15). Anyone may read them, without a login.

`/statistik/` lists the reports; `/statistik/nationell/<report>` shows one for the chosen months (the last 18 by
default), filters and comparison in the URL (a GET form that works without JavaScript; htmx swaps the report),
as a chart with the same figures as a table; `.xlsx` downloads it. The figures are read from the statistics
tables (repository/statistics.py; the job `portal statistics` fills them) and published through
domain/suppression.py: a count below 5 shows as "färre än 5", and so does any cell a total would give away.

No PDL record is written anywhere here: the statistics show no patient (domain.md: "Statistics views are not
logged"), only counts of de-identified case-months.
"""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _

from .. import db
from ..domain import statistics as st
from ..i18n import current_language
from ..render import page_or_fragment
from ..repository import statistics as store
from . import tables

bp = Blueprint("statistics", __name__, url_prefix="/statistik")
NATION = store.Scope()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _today() -> date:
    return current_app.extensions["clock"].today()


@bp.get("/")
def index():
    with_run = store.last_run(db.session())
    return render_template("statistics/index.html", reports=st.REPORTS, last_run=with_run)


def _report_or_404(report_id: str) -> st.Report:
    rep = st.report(report_id)
    if rep is None:
        abort(404)
    return rep


def _built(rep: st.Report):
    filters, errors = st.parse_filters(request.args.to_dict(flat=False), _today())
    built = tables.build(db.session(), rep, NATION, filters, current_language(),
                         current_app.extensions["certificate_types"])
    return filters, errors, built


@bp.get("/nationell/<report_id>")
def national(report_id: str):
    rep = _report_or_404(report_id)
    filters, errors, built = _built(rep)
    body = page_or_fragment("statistics/report.html", "report", rep=rep, reports=st.REPORTS, filters=filters,
                            errors=errors, built=built, scope_name=_("Hela landet"),
                            month_choices=_month_choices(), last_run=store.last_run(db.session()),
                            xlsx_url=_xlsx_url(report_id), suppression_note=tables.NOTE(), **_filter_choices())
    return body, 400 if errors else 200


def _filter_choices() -> dict:
    from ..domain import diagnosis

    lang = current_language()
    return {"chapters": [(c.id, diagnosis.label(c, lang)) for c in diagnosis.CHAPTERS],
            "age_groups": st.AGE_GROUPS, "degrees": st.DEGREES}


def _xlsx_url(report_id: str) -> str:
    from flask import url_for

    query = request.query_string.decode("ascii", "replace")
    return url_for("statistics.national_xlsx", report_id=report_id) + (f"?{query}" if query else "")


def _month_choices() -> list[tuple[str, str]]:
    """The months a period can start or end in (the last MAX_MONTHS + 12: a year earlier can be compared)."""
    from ..i18n import month_name

    found = st.last_months(_today(), st.MAX_MONTHS + 12)
    return [(m.strftime("%Y-%m"), month_name(m)) for m in reversed(found)]


@bp.get("/nationell/<report_id>.xlsx")
def national_xlsx(report_id: str):
    from .. import export

    rep = _report_or_404(report_id)
    filters, errors, built = _built(rep)
    if errors:
        abort(400)
    table = tables.as_export(built, rep, filters, current_language(), _("Hela landet"),
                             current_app.extensions["clock"].now())
    data = export.to_xlsx(table)
    response = current_app.response_class(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="intygsstatistik-{rep.id}-{filters.first:%Y-%m}-{filters.last:%Y-%m}.xlsx"')
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)


__all__ = ["bp", "datetime", "init_app"]
