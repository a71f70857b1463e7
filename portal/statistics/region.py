"""Regionsstatistik (seed 000 "Administration av Regionsstatistik"): a region's development lead uploads an Excel
file with the region's care units and their number of listed patients; the report "Sjukfall per 1 000 listade
patienter" then counts with it.

`/statistik/verksamhet/vardgivare/<HSA-id>/regionsstatistik` shows the current file and an upload form; a POST
with a good file replaces the whole listing (repository/region.py, one transaction) and redirects back (303) with a
confirmation; a file with any problem changes nothing and comes back (400; 413 when too large) with every problem
(row, column, what to do) in an error summary. `.../regionsstatistik/mall.xlsx` is an example file with the care
provider's own units. Reading and checking the file is domain/region_listing.py.

Who: a care provider's statistics scope (the system role INTYG;Statistik-<provider>, `access.statistics_scopes`,
asked again on every request); any other provider, a unit's statistician or a doctor get a 404.

No PDL record: the listing holds care units and counts, no patient (domain.md: "Statistics views are not logged").
"""
from __future__ import annotations

import logging

from flask import abort, current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from portal import db
from portal.auth import sessions
from portal.auth.guards import statistics_staff_required
from portal.domain import access
from portal.domain import region_listing as rl
from portal.errors import render_error
from portal.i18n import number
from portal.render import flash_notice
from portal.repository import region as store
from portal.security import no_store
from portal.statistics import XLSX, _my_scopes, bp

log = logging.getLogger(__name__)

PAGE = "/verksamhet/vardgivare/<provider_id>/regionsstatistik"
FIELD = "fil"  # the file input's name and id: the error summary links to it
#: problems listed in the error summary (role="alert" reads it all out); more are listed in a table below the form
SUMMARY_PROBLEMS = 10


def _provider_or_404(provider_id: str) -> access.StatisticsScope:
    """The user's statistics scope for this care provider (its system role), or 404."""
    found = next((s for s in _my_scopes() if s.kind == access.PROVIDER_SCOPE and s.id == provider_id), None)
    if found is None:
        abort(404)
    return found


@bp.get(PAGE)
@statistics_staff_required
def staff_region(provider_id: str):
    return _page(_provider_or_404(provider_id))


@bp.post(PAGE)
@statistics_staff_required
def staff_region_upload(provider_id: str):
    scope = _provider_or_404(provider_id)
    upload = request.files.get(FIELD)
    if upload is None or not upload.filename:
        return _page(scope, rl.Parsed(problems=(rl.Problem(rl.NO_FILE),)))
    parsed = rl.parse(upload.stream.read(rl.MAX_FILE_BYTES + 1))
    if parsed.ids:
        parsed = rl.with_known(parsed, store.known_units(db.session(), rl.unit_ids(parsed)))
    if not parsed.ok:
        return _page(scope, parsed)
    file_name = rl.display_file_name(upload.filename)
    store.replace(db.session(), scope.id, file_name, parsed.rows, current_user.hsa_id,
                  current_app.extensions["clock"].now())
    log.info("region listing replaced: provider=%s units=%d", scope.id, len(parsed.rows))
    flash_notice("region_saved", file_name)
    return redirect(url_for("statistics.staff_region", provider_id=scope.id), 303)


@bp.get(PAGE + "/mall.xlsx")
@statistics_staff_required
def staff_region_example(provider_id: str):
    scope = _provider_or_404(provider_id)
    body = rl.example_workbook(store.provider_units(db.session(), scope.id))
    response = current_app.response_class(body, mimetype=XLSX)
    response.headers["Content-Disposition"] = 'attachment; filename="regionsstatistik-mall.xlsx"'
    return response


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(err: RequestEntityTooLarge):
    """A request over MAX_CONTENT_LENGTH is refused before the view (and before the CSRF check) runs: on the
    upload, the page says so like any other problem with the file, for a user who may see it; anywhere else,
    and for anyone else, the usual error page. Nothing was read or changed."""
    provider_id = (request.view_args or {}).get("provider_id")
    if request.endpoint != "statistics.staff_region_upload" or not provider_id or not _may_see(provider_id):
        return render_error(413)
    no_store()
    return _page(_provider_or_404(provider_id), rl.Parsed(problems=(rl.Problem(rl.TOO_LARGE),)))


def _may_see(provider_id: str) -> bool:
    """Whether the signed-in user has this provider's scope, asked from the error handler: the request was refused
    in the CSRF check, which reads the form and runs before the login session is looked up, so that is done here
    as on every other request (a session that has ended is no user)."""
    if "auth_row" not in g:
        sessions.check_request(request.endpoint)
    if not current_user.is_authenticated or current_user.kind != "staff":
        return False
    return any(s.kind == access.PROVIDER_SCOPE and s.id == provider_id for s in _my_scopes())


def _page(scope: access.StatisticsScope, parsed: rl.Parsed | None = None):
    problems = [_worded(p) for p in parsed.problems] if parsed else []
    status = 200
    if parsed is not None:
        status = 413 if any(p.code == rl.TOO_LARGE for p in parsed.problems) else 400
    body = render_template("statistics/region_upload.html", scope=scope, current=store.current(db.session(), scope.id),
                           problems=problems, more=parsed.more if parsed else 0, field_error=_field_error(parsed),
                           summary_limit=SUMMARY_PROBLEMS, field=FIELD, max_rows=rl.MAX_ROWS,
                           max_mb=rl.MAX_FILE_BYTES // (1024 * 1024))
    return make_response(body, status)


def _field_error(parsed: rl.Parsed | None) -> str | None:
    """The message next to the file field: the problem itself when it is about the whole file, else a count."""
    if parsed is None or not parsed.problems:
        return None
    if len(parsed.problems) == 1 and parsed.problems[0].row is None:
        return _message(parsed.problems[0])
    count = len(parsed.problems) + parsed.more
    return _("Filen har %(n)s problem. Inget har ändrats. Rätta filen och ladda upp den igen.", n=count)


def _worded(problem: rl.Problem) -> dict:
    """A problem as the page shows it: where (row and column, as Excel shows them) and what to do."""
    if problem.row is not None and problem.letter:
        where = _("Rad %(row)s, kolumn %(letter)s (%(column)s)", row=problem.row, letter=problem.letter,
                  column=problem.column)
    elif problem.row is not None:
        where = _("Rad %(row)s", row=problem.row)
    else:
        where = ""
    return {"where": where, "column": problem.column or "", "letter": problem.letter or "", "row": problem.row,
            "message": _message(problem), "text": f"{where}: {_message(problem)}" if where else _message(problem)}


def _message(p: rl.Problem) -> str:
    columns = ", ".join(rl.COLUMNS)
    messages = {
        rl.NO_FILE: lambda: _("Välj en Excel-fil att ladda upp"),
        rl.EMPTY_FILE: lambda: _("Filen är tom. Välj filen med vårdenheterna och antalet listade."),
        rl.TOO_LARGE: lambda: _("Filen är för stor. Den får vara högst %(mb)s MB.",
                                mb=rl.MAX_FILE_BYTES // (1024 * 1024)),
        rl.OLD_EXCEL: lambda: _("Filen är i det gamla Excel-formatet (.xls) eller skyddad med lösenord. Spara den "
                                "som Excel-arbetsbok (.xlsx) utan lösenord och ladda upp den igen."),
        rl.NOT_EXCEL: lambda: _("Filen är inte en Excel-fil. Spara den som Excel-arbetsbok (.xlsx) och ladda upp "
                                "den igen."),
        rl.NOT_READABLE: lambda: _("Filen kunde inte läsas. Öppna den i Excel, spara den som Excel-arbetsbok "
                                   "(.xlsx) och ladda upp den igen."),
        rl.EMPTY_SHEET: lambda: _("Det första bladet i filen är tomt. Det ska ha rubrikerna %(columns)s på "
                                  "första raden och en rad per vårdenhet under.", columns=columns),
        rl.MISSING_COLUMN: lambda: _("Kolumnen %(column)s saknas. Rubrikraden ska ha kolumnerna %(columns)s.",
                                     column=p.column, columns=columns),
        rl.DUPLICATE_COLUMN: lambda: _("Kolumnen %(column)s finns två gånger (även i kolumn %(letter)s). Ta bort "
                                       "den ena.", column=p.column, letter=p.letter),
        rl.HSA_MISSING: lambda: _("Ange vårdenhetens HSA-id."),
        rl.HSA_FORMAT: lambda: _("”%(value)s” är inte ett HSA-id. Ett HSA-id ser ut som SE2321000016-0001.",
                                 value=p.value),
        rl.HSA_DUPLICATE: lambda: _("Vårdenheten %(value)s finns redan på rad %(row)s. Ta med varje vårdenhet en "
                                    "gång.", value=p.value, row=p.first_row),
        rl.UNKNOWN_UNIT: lambda: _("Det finns ingen vårdenhet med HSA-id %(value)s i HSA-katalogen. Kontrollera "
                                   "HSA-id:t.", value=p.value),
        rl.NAME_MISSING: lambda: _("Ange vårdenhetens namn."),
        rl.NAME_TOO_LONG: lambda: _("Namnet är för långt. Det får vara högst %(n)s tecken.", n=rl.MAX_NAME),
        rl.LISTED_MISSING: lambda: _("Ange antalet listade patienter som ett heltal, till exempel 1200."),
        rl.LISTED_NOT_INTEGER: lambda: _("”%(value)s” är inte ett heltal. Ange antalet listade patienter som ett "
                                         "heltal, till exempel 1200.", value=p.value),
        rl.LISTED_NEGATIVE: lambda: _("Antalet listade kan inte vara negativt. Ange 0 eller mer."),
        rl.LISTED_TOO_LARGE: lambda: _("Antalet listade är för stort. Det får vara högst %(n)s.",
                                       n=number(rl.MAX_LISTED)),
        rl.NO_UNITS: lambda: _("Filen har inga vårdenheter. Fyll i en rad per vårdenhet under rubrikraden."),
        rl.TOO_MANY_ROWS: lambda: _("Filen har för många vårdenheter. Den får ha högst %(n)s.",
                                    n=number(rl.MAX_ROWS)),
    }
    return messages[p.code]()
