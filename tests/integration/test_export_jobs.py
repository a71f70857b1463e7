"""Big Rehabstöd exports made in the background (issue 13): an export with more rows than EXPORT_INLINE_ROWS
(PDF) or EXPORT_INLINE_ROWS_XLSX (Excel) is decided, masked and PDL-logged in the request, stored as a job with
its table, and answered with a 303 to a progress page; the delivery worker makes the file; the page then links
it. The file holds exactly what the same export made within the request holds. Only the login session, user and
unit that asked see the job; jobs expire and are deleted; two builders never make the same job; a build that
fails says so and offers to try again. On SQLite and PostgreSQL (the `demo` fixture)."""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from conftest import NOW, session_login
from portal import db, export
from portal.domain import demo as demo_data
from portal.models import AuthSession, ExportJob, PdlRecord
from portal.rehab import exports
from portal.repository import export_jobs as jobs
from portal.worker import deliver_due

from .test_rehab import PNR_RE
from .test_rehab_exports import COORDINATOR, EXPORTS, LISTS, VE10, login, pdf_pnrs_in_order, read_pdf, read_xlsx
from .test_rehab_exports import utskrift as utskrift_records

L001, VE20 = demo_data.hsa("L001"), demo_data.hsa("VE20")
JOB_URL = re.compile(r"^/rehabstod/export/([A-Za-z0-9_-]{43})$")
QUERIES = {"sjukfall": "?sortera=alder&ordning=asc&personuppgifter=1", "lakarutlatanden": "?typ=FK7800&typ=FK7801"}


def in_background(app, rows: int = 1) -> None:
    """Make every export with more than `rows` rows in the background."""
    app.config.update(EXPORT_INLINE_ROWS=rows, EXPORT_INLINE_ROWS_XLSX=rows)


def ask(client, name: str, fmt: str, query: str = "") -> str:
    """Ask for a big export: the progress page's path (after the 303)."""
    response = client.get(f"{LISTS[name][0]}/export.{fmt}{query}")
    assert response.status_code == 303, response.status_code
    assert "Content-Disposition" not in response.headers
    location = response.headers["Location"]
    assert JOB_URL.match(location), location
    return location


def job_rows(app) -> list[ExportJob]:
    with db.new_session(app) as s:
        return list(s.scalars(select(ExportJob).order_by(ExportJob.id)))


def in_file(data: bytes, fmt: str) -> list[str]:
    if fmt == "xlsx":
        heads, rows, _ws = read_xlsx(data)
        return [r[heads.index("Personnummer")].replace("-", "") for r in rows]
    return pdf_pnrs_in_order(read_pdf(data))


def status_block(html: str) -> str:
    return html[html.index('<div id="export-status"'):]


# --- asking: the 303, the progress page, the PDL records ------------------------------------------------------

@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_a_big_export_is_answered_with_its_progress_page_and_logged_at_once(demo, client, name, fmt):
    in_background(demo)
    login(client, demo)
    path = ask(client, name, fmt)
    # what is in the file was decided now: one Utskrift record per patient, before anything is made
    records = utskrift_records(demo)
    assert records and len({r.patient_pnr for r in records}) == len(records)
    assert {(r.resource_type, r.user_hsa_id, r.user_unit_id) for r in records} == {(LISTS[name][1], COORDINATOR, VE10)}
    [job] = job_rows(demo)
    assert (job.state, job.list_name, job.file_format, job.language) == ("PENDING", name, fmt, "sv")
    assert job.row_count > 1 and job.content is None and job.table_json
    assert job.token_hash != path.rsplit("/", 1)[1] and len(job.token_hash) == 64  # only the token's hash is kept
    assert job.expires_at == NOW + timedelta(hours=1)
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Filen skapas…" in html and f"Listan har {job.row_count} rader" in html
    assert f"som {'PDF' if fmt == 'pdf' else 'Excel'}</h1>" in html
    block = status_block(html)
    assert f'href="{path}">Uppdatera</a>' in block  # works without JavaScript
    assert block.count('id="export-action"') == 1 and block.count('id="export-back"') == 1
    assert f'hx-get="{path}"' in block and 'hx-trigger="load delay:2s"' in block and 'hx-swap="outerHTML"' in block
    assert "http-equiv" not in html and "data-app-focus" not in block and "data-app-announce" not in block
    assert f'href="{LISTS[name][0]}"' in block  # back to the list
    assert "/fil" not in html and not PNR_RE.search(html)  # no file yet, and no patient on the page
    assert len(utskrift_records(demo)) == len(records)  # the page itself logs nothing


def test_a_small_export_is_still_made_within_the_request(demo, client):
    login(client, demo)
    for name, fmt in EXPORTS:
        response = client.get(f"{LISTS[name][0]}/export.{fmt}")
        assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert job_rows(demo) == []


def test_no_job_is_stored_when_the_pdl_records_cannot_be_written(demo, client, monkeypatch):
    from portal.repository import pdl as pdl_store

    in_background(demo)
    login(client, demo)

    def failing(*_args, **_kw):
        raise RuntimeError("the audit log cannot be written")

    monkeypatch.setattr(pdl_store, "append", failing)
    response = client.get("/rehabstod/sjukfall/export.pdf")
    assert response.status_code == 500 and "Location" not in response.headers
    assert job_rows(demo) == [] and utskrift_records(demo) == []


def test_with_the_person_service_down_no_job_and_no_record(demo, client):
    in_background(demo)
    login(client, demo)
    demo.extensions["person_service"].mode = "fail"
    for name, fmt in EXPORTS:
        response = client.get(f"{LISTS[name][0]}/export.{fmt}")
        assert response.status_code == 503 and not PNR_RE.search(response.get_data(as_text=True))
    assert job_rows(demo) == [] and utskrift_records(demo) == []


def test_bad_filter_input_is_still_a_400_and_no_job(demo, client):
    in_background(demo)
    login(client, demo)
    assert client.get("/rehabstod/sjukfall/export.pdf?alder_fran=abc").status_code == 400
    assert job_rows(demo) == []


# --- building: the worker makes the file, the page links it, the file is the inline export's ------------------

@pytest.mark.parametrize("name, fmt", EXPORTS)
def test_the_worker_makes_the_file_and_it_holds_what_the_inline_export_holds(demo, client, name, fmt):
    login(client, demo)
    query = QUERIES[name]
    inline = client.get(f"{LISTS[name][0]}/export.{fmt}{query}")
    assert inline.status_code == 200
    in_background(demo)
    path = ask(client, name, fmt, query)
    assert client.get(path + "/fil").headers["Location"] == path  # not made yet: back to the page
    counts = deliver_due(demo)  # the delivery worker's pass makes it
    assert counts == {"delivered": 0, "retried": 0, "failed": 0}
    [job] = job_rows(demo)
    assert job.state == "DONE" and job.table_json is None and job.content_size == len(job.content)
    html = client.get(path).get_data(as_text=True)
    block = status_block(html)
    assert "Filen är klar" in html
    assert f'<a id="export-action" class="app-download" href="{path}/fil">Ladda ner filen</a>' in block
    assert "hx-get" not in block and "Uppdatera" not in block
    response = client.get(path + "/fil")
    assert response.status_code == 200 and response.mimetype == inline.mimetype
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == inline.headers["Content-Disposition"]
    if fmt == "xlsx":
        heads, rows, ws = read_xlsx(response.data)
        inline_heads, inline_rows, inline_ws = read_xlsx(inline.data)
        assert (heads, rows) == (inline_heads, inline_rows) and rows
        assert [ws[c].value for c in ("A1", "A2", "A3")] == [inline_ws[c].value for c in ("A1", "A2", "A3")]
        for r in range(6, 6 + len(rows)):  # typed cells alike (dates as dates)
            assert [c.data_type for c in ws[r]] == [c.data_type for c in inline_ws[r]]
    else:
        assert read_pdf(response.data) == read_pdf(inline.data) and pdf_pnrs_in_order(read_pdf(response.data))
    assert in_file(response.data, fmt) == in_file(inline.data, fmt)
    assert client.get(path + "/fil").data == response.data  # fetched again while it is kept


def test_the_utskrift_records_name_exactly_the_patients_in_the_built_file(demo, client):
    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "xlsx")
    assert exports.build_due(demo) == "done"
    data = client.get(path + "/fil").data
    assert sorted(r.patient_pnr for r in utskrift_records(demo)) == sorted(set(in_file(data, "xlsx")))


def test_the_htmx_fragment_is_the_status_block_and_announces_the_file_once_made(demo, client):
    in_background(demo)
    login(client, demo)
    path = ask(client, "lakarutlatanden", "pdf")
    pending = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert pending.lstrip().startswith('<div id="export-status"') and "<html" not in pending
    assert 'hx-trigger="load delay:2s"' in pending and "data-app-announce" not in pending
    exports.build_due(demo)
    done = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert done.lstrip().startswith('<div id="export-status"') and "<html" not in done
    assert 'data-app-announce="Filen är klar att ladda ner."' in done and "hx-trigger" not in done
    assert "data-app-focus" not in done and "autofocus" not in done  # the focus stays where the user has it


def test_the_page_stops_asking_by_itself_after_ten_minutes_but_keeps_the_update_link(demo, client, clock):
    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "pdf")
    clock.advance(minutes=9, seconds=59)
    assert "hx-trigger" in client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    clock.advance(seconds=1)  # each ask counts as activity: it must not keep an idle login alive for an hour
    block = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-get" not in block and "hx-trigger" not in block and f'href="{path}">Uppdatera</a>' in block
    assert "Filen skapas…" in block


def test_the_file_is_made_in_the_language_the_user_asked_in(demo, client):
    in_background(demo)
    login(client, demo)
    client.set_cookie("lang", "en")
    path = ask(client, "sjukfall", "pdf")
    client.set_cookie("lang", "sv")  # the language when asking counts, not when fetching
    exports.build_due(demo)
    response = client.get(path + "/fil")
    assert 'filename="sick-leave-cases-2026-11-23.pdf"' in response.headers["Content-Disposition"]
    text = " ".join(read_pdf(response.data).split())
    assert "Personal identity number" in text and "Personnummer" not in text


def test_a_failed_build_says_so_and_offers_to_try_again(demo, client, monkeypatch):
    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "pdf", "?kapitel=F00-F99&personuppgifter=0")

    def broken(*_args, **_kw):
        raise ValueError("19850314-9828 broke it")  # an error's text never reaches the job or the page

    monkeypatch.setattr(export, "to_pdf", broken)
    assert exports.build_due(demo) == "failed"
    [job] = job_rows(demo)
    assert job.state == "FAILED" and job.failure == "error: ValueError" and job.table_json is None
    html = client.get(path).get_data(as_text=True)
    block = status_block(html)
    assert "Filen kunde inte skapas" in html and "hx-get" not in block
    assert ('<a id="export-action" href="/rehabstod/sjukfall/export.pdf?kapitel=F00-F99&amp;personuppgifter=0">'
            'Försök igen</a>') in block
    assert "9828" not in html and "ValueError" not in html
    fragment = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-app-announce="Filen kunde inte skapas."' in fragment
    assert client.get(path + "/fil").status_code == 303  # no file
    monkeypatch.undo()
    again = ask(client, "sjukfall", "pdf", "?kapitel=F00-F99&personuppgifter=0")  # "Försök igen"
    assert again != path and exports.build_due(demo) == "done"


# --- who sees a job ------------------------------------------------------------------------------------------

def test_only_the_login_session_user_and_unit_that_asked_see_the_job(demo, client):
    in_background(demo)
    session_login(client, demo, "staff", L001, unit_id=VE10, role="LAKARE", name="Anna Berglund")
    path = ask(client, "sjukfall", "xlsx")
    exports.build_due(demo)
    assert client.get(path).status_code == 200 and client.get(path + "/fil").status_code == 200
    before = (len(job_rows(demo)), demo_records(demo))
    others = {
        "another user on the unit": ("staff", COORDINATOR, VE10, "REHABKOORDINATOR"),
        "the same user in another login session": ("staff", L001, VE10, "LAKARE"),
        "the same user on another unit": ("staff", L001, VE20, "LAKARE"),
    }
    for who, (kind, subject, unit, role) in others.items():
        other = demo.test_client()
        session_login(other, demo, kind, subject, unit_id=unit, role=role)
        for url in (path, path + "/fil"):
            response = other.get(url)
            assert response.status_code == 404, (who, url, response.status_code)
            assert "Content-Disposition" not in response.headers and not PNR_RE.search(response.get_data(as_text=True))
    citizen = demo.test_client()
    session_login(citizen, demo, "citizen", demo_data.demo_citizens(NOW.date())[0].personnummer)
    assert citizen.get(path).status_code == 403 and citizen.get(path + "/fil").status_code == 403
    assert demo.test_client().get(path).status_code == 302  # logged out: to the login
    # "Byt vårdenhet" in the same login session: the job stays with the unit it was made on
    with client.session_transaction() as sess:
        sid = sess["_user_id"]
    from portal.auth import sessions

    with db.new_session(demo) as s:
        s.execute(update(AuthSession).where(AuthSession.sid_hash == sessions._hash(sid)).values(unit_id=VE20))
        s.commit()
    assert client.get(path).status_code == 404 and client.get(path + "/fil").status_code == 404
    assert (len(job_rows(demo)), demo_records(demo)) == before  # nothing changed


def demo_records(app) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(PdlRecord))


@pytest.mark.parametrize("token", ["nope", "x" * 43 + "x", "%00" * 3, "A" * 43, "..%2F..%2Fetc", "%ED%A0%80"])
def test_an_unknown_or_malformed_token_is_a_404(demo, client, token):
    login(client, demo)
    assert client.get(f"/rehabstod/export/{token}").status_code == 404
    assert client.get(f"/rehabstod/export/{token}/fil").status_code == 404


# --- expiry and purging -----------------------------------------------------------------------------------------

def test_an_expired_job_is_gone_and_purged(demo, client, clock):
    from portal.auth.commands import purge_sessions_command

    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "pdf")
    exports.build_due(demo)
    for _ in range(2):  # still logged in (a request every 20 minutes), the file kept for an hour
        clock.advance(minutes=20)
        assert client.get(path).status_code == 200
    clock.advance(minutes=19, seconds=59)
    assert client.get(path + "/fil").status_code == 200
    clock.advance(seconds=1)
    assert client.get(path).status_code == 404 and client.get(path + "/fil").status_code == 404
    result = demo.test_cli_runner().invoke(purge_sessions_command)
    assert result.exit_code == 0, result.output
    assert "1 background export(s) deleted" in result.output
    assert job_rows(demo) == []


def test_the_builder_deletes_expired_jobs_and_those_whose_login_session_ended(demo, client):
    in_background(demo)
    login(client, demo)
    ask(client, "sjukfall", "pdf")
    kept = demo.test_client()
    login(kept, demo)
    ask(kept, "lakarutlatanden", "xlsx")
    with client.session_transaction() as sess:
        sid = sess["_user_id"]
    from portal.auth import sessions

    with db.new_session(demo) as s:  # the first login session ends (logout, timeout)
        s.execute(delete(AuthSession).where(AuthSession.sid_hash == sessions._hash(sid)))
        s.commit()
    exports.build_due(demo)  # deletes the ended session's job, then makes the other
    assert [(j.list_name, j.state) for j in job_rows(demo)] == [("lakarutlatanden", "DONE")]
    exports.build_due(demo, NOW + timedelta(hours=2))  # an hour after it expired (and a minute since the last purge)
    assert job_rows(demo) == []


def test_an_expired_pending_job_is_never_built(demo, client):
    in_background(demo)
    login(client, demo)
    ask(client, "sjukfall", "pdf")
    with db.new_session(demo) as s:
        assert jobs.claim(s, NOW + timedelta(hours=1), timedelta(minutes=10)) is None


# --- builders: claims, leases, crashes ------------------------------------------------------------------------

def test_two_builders_claiming_at_once_never_both_get_the_job(demo, client):
    in_background(demo)
    login(client, demo)
    ask(client, "sjukfall", "xlsx")
    barrier = threading.Barrier(4)
    claimed: list = []
    errors: list = []

    def claimer():
        try:
            with db.new_session(demo) as s:
                barrier.wait()
                claimed.append(jobs.claim(s, NOW, timedelta(minutes=10)))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len([c for c in claimed if c is not None]) == 1 and len(claimed) == 4


def test_two_workers_at_once_make_the_file_once(demo, client, monkeypatch):
    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "xlsx")
    made: list[int] = []
    real = export.to_xlsx

    def counting(table):
        made.append(len(table.rows))
        return real(table)

    monkeypatch.setattr(export, "to_xlsx", counting)
    barrier = threading.Barrier(2)
    outcomes: list = []

    def worker():
        barrier.wait()
        outcomes.append(exports.build_due(demo))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(str, outcomes)) == ["None", "done"] and len(made) == 1
    assert client.get(path + "/fil").status_code == 200


def test_a_crashed_builders_job_is_taken_again_when_its_lease_ends_and_given_up_in_the_end(demo, client):
    in_background(demo)
    login(client, demo)
    path = ask(client, "sjukfall", "pdf")
    lease = timedelta(seconds=exports.DEFAULT_LEASE_SECONDS)
    with db.new_session(demo) as s:
        first = jobs.claim(s, NOW, lease)  # a builder that takes it and dies
    assert first is not None and first.attempts == 1
    assert exports.build_due(demo, NOW + lease - timedelta(seconds=1)) is None  # still held
    with db.new_session(demo) as s:  # the dead builder's late outcome would change nothing once overtaken
        second = jobs.claim(s, NOW + lease, lease)
        assert second is not None and second.attempts == 2
        assert not jobs.record_done(s, first, b"late", NOW + lease)
    for attempt in range(3, exports.MAX_ATTEMPTS + 1):  # more builders die on it
        with db.new_session(demo) as s:
            assert jobs.claim(s, NOW + lease * (attempt - 1), lease).attempts == attempt
    assert exports.build_due(demo, NOW + lease * exports.MAX_ATTEMPTS) == "failed"
    [job] = job_rows(demo)
    assert job.state == "FAILED" and job.content is None and job.failure.startswith("gave up")
    assert "Filen kunde inte skapas" in client.get(path).get_data(as_text=True)


def test_a_job_whose_lease_ended_while_building_is_made_by_the_next_builder(demo, client):
    in_background(demo)
    login(client, demo)
    ask(client, "sjukfall", "xlsx")
    lease = timedelta(seconds=exports.DEFAULT_LEASE_SECONDS)
    with db.new_session(demo) as s:
        assert jobs.claim(s, NOW, lease) is not None
    assert exports.build_due(demo, NOW + lease) == "done"
    [job] = job_rows(demo)
    assert job.state == "DONE" and job.attempts == 2


# --- the table as JSON -----------------------------------------------------------------------------------------

def test_the_table_survives_its_json_with_typed_cells(app):
    columns = [export.Column("nr", "#", export.NUMBER), export.Column("namn", "Namn"),
               export.Column("start", "Startdatum", export.DATE), export.Column("signerad", "Signerad", export.DATE),
               export.Column("langd", "Längd", export.DAYS)]
    table = export.Table(title="Pågående sjukfall", unit_name='Enhet "Ö"', printed_at=datetime(2026, 11, 23, 10, 5),
                         printed_by="Lena", count_text="Visar 2 av 2 sjukfall",
                         columns=columns,
                         rows=[[1, "=HYPERLINK(\"x\")", date(2026, 1, 2), datetime(2026, 3, 4, 9, 30), 12],
                               [2, "", None, None, None]],
                         extra_text=["Personnummer och namn visas inte."])
    assert exports.table_from_json(exports.table_to_json(table)) == table
