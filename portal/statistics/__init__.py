"""Intygsstatistik (issue 15): the public national statistics, for anyone without a login, and the staff
statistics of a care unit or a whole care provider.

`/statistik/` lists the reports; `/statistik/nationell/<report>` shows one for the chosen months (the last 18 by
default), filters and comparison in the URL (a GET form that works without JavaScript; htmx swaps the report),
as a chart with the same figures as a table; `.xlsx` downloads it. The figures are read from the statistics
tables (repository/statistics.py; the job `portal statistics` fills them) and published through
domain/suppression.py: a count below 5 shows as "färre än 5", and so does any cell a total would give away.

The staff statistics (`/statistik/verksamhet`, then `/statistik/verksamhet/<enhet|vardgivare>/<HSA-id>/<report>`)
need a SITHS login (`/inloggning/siths?tjanst=statistik`, or a Rehabstöd login) and are for the scopes
`access.statistics_scopes` gives from the HSA directory, asked again on every request: a unit with an active
commission with purpose "Statistik" (with its sub-units), or a care provider by the system role
INTYG;Statistik-<provider>. Any other scope is a 404; a staff member with none gets a page that says why (403).

No PDL record is written anywhere here: the statistics show no patient (domain.md: "Statistics views are not
logged"), only counts of de-identified case-months.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from .. import db
from ..auth.guards import statistics_staff_required
from ..domain import access
from ..domain import statistics as st
from ..i18n import current_language
from ..render import page_or_fragment, render_block
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
    return render_template("statistics/index.html", reports=st.reports_for(st.NATION), last_run=with_run)


def _report_or_404(report_id: str, scope_kind: str) -> st.Report:
    rep = st.report(report_id)
    if rep is None or not rep.offered(scope_kind):
        abort(404)
    return rep


def _unit_choices(scope: store.Scope, scope_kind: str) -> list[tuple[str, str]]:
    """The units a care provider's or a region's reports can be limited to (id, name); none elsewhere."""
    if scope_kind not in (st.PROVIDER, st.REGION):
        return []
    return store.scope_units(db.session(), scope)


def _chosen(rep: st.Report, scope: store.Scope, listing=None, scope_kind: str = st.NATION):
    """The request's filters (and their errors), the scope and listing they limit it to, and the scope's units."""
    units = _unit_choices(scope, scope_kind)
    filters, errors = st.parse_filters(request.args.to_dict(flat=False), _today(), [u for u, _name in units])
    if rep.id == "inom-kapitel":
        st.chapter_within(filters, errors)
    if filters.units:  # the chosen units only (within the scope: they are among its units)
        scope = store.Scope(provider_id=scope.provider_id, unit_ids=filters.units)
        listing = [row for row in listing or [] if row[0] in filters.units] if listing is not None else None
    return filters, errors, scope, listing, units


def _built(rep: st.Report, scope: store.Scope, listing=None, scope_kind: str = st.NATION):
    filters, errors, scope, listing, units = _chosen(rep, scope, listing, scope_kind)
    built = tables.build(db.session(), rep, scope, filters, current_language(),
                         current_app.extensions["certificate_types"], listing)
    return filters, errors, built, units


def _page(rep: st.Report, scope: store.Scope, scope_name: str, href, scope_kind: str = st.NATION, listing=None):
    """The report's page (or its #report fragment for htmx). The report itself (charts, tables, the download link)
    is the same for everyone who asks for it with the same address until the job runs again, so it is kept rendered
    in the statistics tables (store.published_page) and a repeated view reads it instead of counting again."""
    filters, errors, scope, listing, units = _chosen(rep, scope, listing, scope_kind)
    context = dict(rep=rep, reports=st.reports_for(scope_kind), filters=filters,
                   chapter_within=st.chapter_within(filters, {}), errors=errors, scope_name=scope_name,
                   month_choices=_month_choices(), last_run=store.last_run(db.session()),
                   xlsx_url=_with_query(href(rep.id, xlsx=True)), report_href=href,
                   suppression_note=tables.NOTE(), unit_choices=units, **_filter_choices())
    key = None if errors else _page_key(rep, scope, listing)
    report = store.published_page(db.session(), key) if key else None
    if report is None:
        built = tables.build(db.session(), rep, scope, filters, current_language(),
                             current_app.extensions["certificate_types"], listing)
        report = render_block("statistics/report.html", "report", built=built, report_html=None, **context)
        if key:
            store.publish_page(db.session(), key, report)
    body = page_or_fragment("statistics/report.html", "report", report_html=Markup(report), **context)
    return body, 400 if errors else 200


def _page_key(rep: st.Report, scope: store.Scope, listing) -> str:
    """What a rendered report depends on: the templates and catalogues (a new version of the portal renders
    again), the language, the address with its query (the filters, and the download link's), the scope's units and
    a region's listing. The counts are not in it: the job empties what is kept when it runs."""
    import hashlib
    import json

    parts = [_templates_version(), current_language(), request.path, request.query_string.decode("ascii", "replace"),
             rep.id, scope.provider_id or "", list(scope.unit_ids), [list(row) for row in listing or []]]
    return "page:" + hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode("utf-8")).hexdigest()[:59]


@lru_cache(maxsize=1)
def _templates_version() -> str:
    """A digest of what a report is rendered from besides its figures: its templates and the catalogues."""
    import hashlib

    from ..config import ROOT

    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "templates").rglob("*.html"), *(ROOT / "i18n").rglob("*.mo")]):
        digest.update(path.as_posix().encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _xlsx(rep: st.Report, scope: store.Scope, scope_name: str, stem: str, listing=None, scope_kind: str = st.NATION):
    from .. import export

    filters, errors, built, _units = _built(rep, scope, listing, scope_kind)
    if errors:
        abort(400)
    table = tables.as_export(built, rep, filters, current_language(), scope_name,
                             current_app.extensions["clock"].now())
    response = current_app.response_class(export.to_xlsx(table), mimetype=XLSX)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="intygsstatistik-{stem}-{rep.id}-{filters.first:%Y-%m}-{filters.last:%Y-%m}.xlsx"')
    return response


def _national_href(report_id: str, xlsx: bool = False) -> str:
    return url_for("statistics.national_xlsx" if xlsx else "statistics.national", report_id=report_id)


@bp.get("/nationell/<report_id>")
def national(report_id: str):
    return _page(_report_or_404(report_id, st.NATION), NATION, _("Hela landet"), _national_href)


@bp.get("/nationell/<report_id>.xlsx")
def national_xlsx(report_id: str):
    return _xlsx(_report_or_404(report_id, st.NATION), NATION, _("Hela landet"), "nationell")


# --- the staff statistics ----------------------------------------------------------------------------------------

def _my_scopes() -> list[access.StatisticsScope]:
    """The signed-in staff member's statistics scopes, from the HSA directory now (and a region's listed units for
    a provider that has uploaded its listing: Regionsstatistik)."""
    from ..adapters.hsa import lookup, provider_names

    info = lookup(db.session(), current_user.hsa_id)
    scopes = access.statistics_scopes(info, _today(), provider_names(db.session()))
    return scopes + access.region_scopes(scopes, store.regions_with_listing(db.session()))


def _scope(kind: str, scope_id: str) -> tuple[access.StatisticsScope, store.Scope, list | None]:
    """One of the user's scopes, as the store's filter (and a region's listing), or 404."""
    chosen = next((s for s in _my_scopes() if s.kind == kind and s.id == scope_id), None)
    if chosen is None:
        abort(404)
    if chosen.kind == access.PROVIDER_SCOPE:
        return chosen, store.Scope(provider_id=chosen.id), None
    if chosen.kind == access.REGION_SCOPE:
        listing = store.region_listing(db.session(), chosen.id)
        units = sorted({u for unit, _n, _l in listing for u in store.unit_and_subunits(db.session(), unit)})
        return chosen, store.Scope(unit_ids=tuple(units)), listing
    return chosen, store.Scope(unit_ids=tuple(store.unit_and_subunits(db.session(), chosen.id))), None


@bp.get("/verksamhet")
@statistics_staff_required
def staff_start():
    scopes = _my_scopes()
    if not scopes:
        return render_template("statistics/no_access.html"), 403
    return render_template("statistics/staff.html", scopes=scopes, reports_for=st.reports_for)


@bp.get("/verksamhet/<kind>/<scope_id>/<report_id>")
@statistics_staff_required
def staff_report(kind: str, scope_id: str, report_id: str):
    rep = _report_or_404(report_id, kind)
    chosen, scope, listing = _scope(kind, scope_id)

    def href(rid: str, xlsx: bool = False) -> str:
        return url_for("statistics.staff_xlsx" if xlsx else "statistics.staff_report", kind=kind, scope_id=scope_id,
                       report_id=rid)

    return _page(rep, scope, chosen.name, href, kind, listing)


@bp.get("/verksamhet/<kind>/<scope_id>/<report_id>.xlsx")
@statistics_staff_required
def staff_xlsx(kind: str, scope_id: str, report_id: str):
    rep = _report_or_404(report_id, kind)
    chosen, scope, listing = _scope(kind, scope_id)
    return _xlsx(rep, scope, chosen.name, kind, listing, kind)


def _with_query(url: str) -> str:
    query = request.query_string.decode("ascii", "replace")
    return url + (f"?{query}" if query else "")


def _filter_choices() -> dict:
    from ..domain import diagnosis

    lang = current_language()
    return {"chapters": [(c.id, diagnosis.label(c, lang)) for c in diagnosis.CHAPTERS],
            "age_groups": st.AGE_GROUPS, "degrees": st.DEGREES, "default_diagnoses": st.DEFAULT_DIAGNOSES}


def _month_choices() -> list[tuple[str, str]]:
    """The months a period can start or end in (the last MAX_MONTHS + 12: a year earlier can be compared)."""
    from ..i18n import month_name

    found = st.last_months(_today(), st.MAX_MONTHS + 12)
    return [(m.strftime("%Y-%m"), month_name(m)) for m in reversed(found)]


@bp.app_template_filter("stat_figure")
def stat_figure(value: tables.Figure) -> str:
    return tables.figure_text(value)


def init_app(app) -> None:
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
from . import region  # noqa: E402,F401
