"""Rehabstöd: exports of the lists as the user sees them (PDF and Excel), PDL-logged as Utskrift.

An export takes the list's own query string (and, for the ongoing list, the free-text search this login
keeps server-side: it is never in a URL, see ``portal.rehab.search``) and goes through the very function its
page uses (``gateway().ongoing`` / ``gateway().lakarutlatanden``), so it holds exactly the page's rows (all
pages of them, in the on-screen order), columns, masking and "Visa personuppgifter" choice. Bad filter input
gives a 400 page and no file; when the person service cannot answer, a 503 page and no file. The PDL
records ("Utskrift", one per patient in the file) are written before the file is sent; a file whose
records cannot be written is not sent.

**Big exports** (more rows than EXPORT_INLINE_ROWS, 100, for a PDF; EXPORT_INLINE_ROWS_XLSX, 5 000, for Excel:
WeasyPrint takes about 11 ms a row, openpyxl a fifth of a millisecond) are not made within the request. The
request still decides everything that is in the file (filters, the gateway's rows, masking, the translated
table) and, in one transaction, writes the PDL records and an export job holding that table
(``repository.export_jobs``); then it sends the browser to the job's progress page (303). The delivery worker
makes the file (``build_due``, one job a pass) and stores it; the page (which polls with htmx, and has an
"Uppdatera" link without JavaScript) then links it. A job is seen only in the login session, by the user and
on the unit that asked for it (anyone else: 404), and is deleted when it expires (EXPORT_KEEP_SECONDS) or its
login session ends.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import db, export, list_view
from ..auth.guards import staff_required
from ..domain import lakarutlatanden as lu_rules
from ..domain import pdl as pdl_rules
from ..domain import rehab
from ..i18n import current_language, format_pnr
from ..render import page_or_fragment
from ..repository import export_jobs as jobs
from . import SEARCH_PARAM, _clock, bp, gateway, occupation_name, ongoing_filters, patient_name_text
from . import lakarutlatanden as lu

MIMETYPES = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
STEMS = {"sjukfall": {"sv": "sjukfall", "en": "sick-leave-cases"},
         "lakarutlatanden": {"sv": "lakarutlatanden", "en": "medical-statements"}}
#: the list page and the export endpoints of each list
LIST_ENDPOINTS = {"sjukfall": "rehab.ongoing", "lakarutlatanden": "rehab.lakarutlatanden"}
EXPORT_ENDPOINTS = {("sjukfall", "pdf"): "rehab.ongoing_pdf", ("sjukfall", "xlsx"): "rehab.ongoing_xlsx",
                    ("lakarutlatanden", "pdf"): "rehab.lakarutlatanden_pdf",
                    ("lakarutlatanden", "xlsx"): "rehab.lakarutlatanden_xlsx"}
LIST_TITLES = {"sjukfall": _l("Pågående sjukfall"), "lakarutlatanden": _l("Läkarutlåtanden")}
FORMAT_NAMES = {"pdf": "PDF", "xlsx": "Excel"}

#: the most rows made within the request, by format (EXPORT_INLINE_ROWS, EXPORT_INLINE_ROWS_XLSX). Measured on
#: 2 cores: WeasyPrint takes about 11 ms a row (100 rows 1.0-1.4 s, 150 rows 1.7-2.2 s, 2 000 rows 23-28 s),
#: openpyxl 0.2 ms (5 000 rows 0.8-0.9 s); with the gateway and the PDL records an inline export stays under 2 s
DEFAULT_INLINE_ROWS = {"pdf": 100, "xlsx": 5000}
DEFAULT_KEEP_SECONDS = 3600  # EXPORT_KEEP_SECONDS: how long a background export (and its file) is kept
DEFAULT_LEASE_SECONDS = 600  # EXPORT_LEASE_SECONDS: a builder's hold on a job (longer than any build)
MAX_ATTEMPTS = 3  # builders that died on a job (their lease ended) before it counts as failed
PURGE_EVERY = timedelta(seconds=60)  # the builder deletes expired jobs at most this often per process
#: how long the progress page asks again by itself (each ask counts as activity for the login session's idle
#: timeout, so it must not go on for as long as the job is kept); after that the "Uppdatera" link is there
POLL_FOR = timedelta(minutes=10)

log = logging.getLogger(__name__)


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
    if row.waiting:
        parts.append(_("Väntar på svar från FK (%(n)s)", n=row.waiting))
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


def inline_limit(fmt: str) -> int:
    """The most rows of this format made within the request."""
    key = "EXPORT_INLINE_ROWS" if fmt == "pdf" else "EXPORT_INLINE_ROWS_XLSX"
    return int(current_app.config.get(key, DEFAULT_INLINE_ROWS[fmt]))


def _file_response(data: bytes, fmt: str, name: str):
    response = current_app.response_class(data, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _send(table: export.Table, fmt: str, list_name: str, query: str, log_printed):
    lang = current_language()
    name = export.filename(STEMS[list_name]["en" if lang == "en" else "sv"], _clock().today(), fmt)
    if len(table.rows) > inline_limit(fmt):
        return _in_background(table, fmt, list_name, query, name, log_printed)
    data = export.to_pdf(table, lang) if fmt == "pdf" else export.to_xlsx(table)
    log_printed()  # "Utskrift" for every patient in the file, before anything leaves; raises if it cannot be
    return _file_response(data, fmt, name)


def _owner() -> jobs.Owner:
    return jobs.Owner(staff_id=current_user.hsa_id, unit_id=current_user.unit_id, session_key=g.auth_row.sid_hash)


def _in_background(table: export.Table, fmt: str, list_name: str, query: str, name: str, log_printed):
    """Store the job (what goes in the file) and write the PDL records in one transaction, then send the
    browser to its progress page. The gateway's `log_printed` commits the request's database session (the
    records and the job added to it); if the records cannot be written it rolls back and raises: no job."""
    token = jobs.new_token()
    keep = timedelta(seconds=int(current_app.config.get("EXPORT_KEEP_SECONDS", DEFAULT_KEEP_SECONDS)))
    jobs.add(db.session(), token=token, owner=_owner(), list_name=list_name, file_format=fmt,
             language=current_language(), filename=name, query=query, table_json=table_to_json(table),
             row_count=len(table.rows), now=_clock().now(), keep=keep)
    log_printed()
    db.session().commit()  # (already committed with the records; nothing is left pending if none were new)
    return redirect(url_for("rehab.export_job", token=token), 303)


def _ongoing_export(fmt: str):
    if SEARCH_PARAM in request.args:  # an old link with a search in it: the same file's address without it
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != SEARCH_PARAM]
        return redirect(url_for(request.endpoint or "rehab.ongoing") + ("?" + urlencode(rest) if rest else ""), 303)
    filters, errors = ongoing_filters()
    if errors:
        return _invalid(list_view.messages(rehab.MODEL, errors), "rehab.ongoing")
    data = gateway()
    result = data.ongoing(filters)
    return _send(ongoing_table(result), fmt, "sjukfall", _query(filters),
                 lambda: data.cases_shown(result.rows, pdl_rules.UTSKRIFT))


def _lakarutlatanden_export(fmt: str):
    filters, errors = lu.list_filters()
    if errors:
        return _invalid(list_view.messages(lu_rules.MODEL, errors), "rehab.lakarutlatanden")
    data = gateway()
    result = data.lakarutlatanden(filters)
    return _send(lakarutlatanden_table(result), fmt, "lakarutlatanden", _query(filters),
                 lambda: data.statements_shown(result.rows, pdl_rules.UTSKRIFT))


def _query(filters) -> str:
    """The list's query string for these filters (never the free-text search, which is kept server-side)."""
    return urlencode([pair for pair in filters.as_query() if pair[0] != SEARCH_PARAM])


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


# --- big exports: the job's table, its progress page and its file ------------------------------------------

def table_to_json(table: export.Table) -> str:
    """The table as JSON for the job: dates in ISO form (in date columns), every other cell as it is."""
    def cell(column: export.Column, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if column.kind == export.DATE and isinstance(value, (date, datetime)):
            return value.isoformat()
        return str(value)

    return json.dumps({
        "title": str(table.title), "unit_name": str(table.unit_name), "printed_at": table.printed_at.isoformat(),
        "printed_by": str(table.printed_by), "count_text": str(table.count_text),
        "extra_text": [str(t) for t in table.extra_text],
        "columns": [[c.key, str(c.label), c.kind] for c in table.columns],
        "rows": [[cell(c, v) for c, v in zip(table.columns, row, strict=True)] for row in table.rows],
    }, ensure_ascii=False)


def table_from_json(text: str) -> export.Table:
    """The table `table_to_json` stored, with its date cells as dates again."""
    raw = json.loads(text)
    columns = [export.Column(key, label, kind) for key, label, kind in raw["columns"]]

    def cell(column: export.Column, value: Any) -> Any:
        if column.kind == export.DATE and isinstance(value, str) and value:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        return value

    return export.Table(title=raw["title"], unit_name=raw["unit_name"],
                        printed_at=datetime.fromisoformat(raw["printed_at"]), printed_by=raw["printed_by"],
                        count_text=raw["count_text"], columns=columns,
                        rows=[[cell(c, v) for c, v in zip(columns, row, strict=True)] for row in raw["rows"]],
                        extra_text=list(raw["extra_text"]))


def _job(token: str) -> jobs.JobView:
    """The user's own job, or 404 (another user's, another session's or unit's, an expired one, or none)."""
    job = jobs.find(db.session(), token, _owner(), _clock().now())
    db.session().commit()  # end the read (SQLite)
    if job is None:
        abort(404)
    return job


def _list_urls(job: jobs.JobView) -> tuple[str, str]:
    """The list the export was made from, and the export again (with the same filters)."""
    query = ("?" + job.query) if job.query else ""
    return (url_for(LIST_ENDPOINTS[job.list_name]) + query,
            url_for(EXPORT_ENDPOINTS[(job.list_name, job.file_format)]) + query)


@bp.get("/export/<token>")
@staff_required
def export_job(token: str):
    """The progress page of a big export (its htmx fragment, polled while the file is being made)."""
    job = _job(token)
    list_url, retry_url = _list_urls(job)
    poll = job.pending and _clock().now() < job.created_at + POLL_FOR
    return page_or_fragment("rehab/export/progress.html", "status", job=job, poll=poll,
                            list_title=LIST_TITLES[job.list_name],
                            format_name=FORMAT_NAMES[job.file_format], list_url=list_url, retry_url=retry_url,
                            status_url=url_for("rehab.export_job", token=token),
                            file_url=url_for("rehab.export_file", token=token))


@bp.get("/export/<token>/fil")
@staff_required
def export_file(token: str):
    """A big export's file, once it is made (before: back to its progress page)."""
    job = _job(token)
    if not job.done:
        return redirect(url_for("rehab.export_job", token=token), 303)
    data = jobs.content(db.session(), job.id)
    db.session().commit()
    if data is None:  # deleted meanwhile
        abort(404)
    return _file_response(data, job.file_format, job.filename)


# --- big exports: the builder (the delivery worker calls it every pass) ------------------------------------

def build_due(app: Flask, now: datetime | None = None, *, stop: threading.Event | None = None) -> str | None:
    """One pass of the background exports: now and then delete the expired jobs, then make the file of one
    pending job (the oldest). Returns "done", "failed", or None when there was nothing to make. Never raises:
    the delivery worker's pass goes on whatever happens here (a job whose outcome could not be recorded is
    made again when its lease ends)."""
    clock = app.extensions["clock"]
    at = (lambda: now) if now is not None else clock.now
    try:
        _purge_now_and_then(app, at())
        if stop is not None and stop.is_set():
            return None
        lease = timedelta(seconds=int(app.config.get("EXPORT_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))
        with db.new_session(app) as session:
            job = jobs.claim(session, at(), lease)
            if job is None:
                return None
            if job.attempts > MAX_ATTEMPTS:  # builders died on it again and again (its lease kept ending)
                log.error("export job %s: given up after %s attempts", job.id, job.attempts - 1)
                return "failed" if jobs.record_failed(session, job, "gave up: no builder finished it", at()) else None
            return _build(app, session, job, at)
    except Exception:  # noqa: BLE001 - the worker's pass must go on
        log.exception("background exports: the pass failed")
        return None


def _build(app: Flask, session, job: jobs.Claimed, at) -> str | None:
    text = jobs.table_json(session, job)
    if text is None:
        return None
    started = time.perf_counter()
    try:
        with app.app_context(), force_locale(job.language):  # the user's language (headings, dates, page numbers)
            table = table_from_json(text)
            data = export.to_pdf(table, job.language) if job.file_format == "pdf" else export.to_xlsx(table)
    except Exception as err:  # noqa: BLE001 - recorded on the job, shown as "could not be made"
        log.exception("export job %s: the file could not be made", job.id)
        return "failed" if jobs.record_failed(session, job, f"error: {type(err).__name__}", at()) else None
    seconds = time.perf_counter() - started
    if not jobs.record_done(session, job, data, at()):
        log.warning("export job %s: made, but no longer this builder's (its lease ended); not stored", job.id)
        return None
    log.info("export job %s: %s rows as %s made in %.1f s", job.id, len(table.rows), job.file_format, seconds)
    return "done"


def _purge_now_and_then(app: Flask, now: datetime) -> None:
    last = app.extensions.get("export_jobs_purged_at")
    if last is not None and last <= now < last + PURGE_EVERY:
        return
    app.extensions["export_jobs_purged_at"] = now
    with db.new_session(app) as session:
        purged = jobs.purge(session, now)
    if purged:
        log.info("background exports: %s expired or ended export job(s) deleted", purged)
