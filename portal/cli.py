"""The `portal` command: `.venv/bin/portal --help`.

    portal run                      serve the portal (embedded default: http://127.0.0.1:5000)
    portal load FILE.json           load providers, units, staff, persons, certificates, ... (docs/loading.md)
    portal demo-data --size small   make the fictional demo data set (large: 1 million certificates)
    portal sick-leave FILE.json     compute the sick-leave cases of one case in the reference format
    portal worker [--once]          deliver the outbox's sends
    portal pdl-verify               check the PDL audit log's hash chain
    portal pdl-checkpoint           append a signed checkpoint of the PDL log's head to PDL_CHECKPOINT_FILE
    portal pdl-extract PNR          write a patient's PDL log extract (PDF and CSV)
    portal purge-sessions           delete expired login sessions and rate-limit counters (for a scheduler)
    portal statistics [--full]      bring Intygsstatistik's tables up to date (daily; incremental by default)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from . import create_app, db


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False)
def main() -> None:
    """Intygsportalen."""


@main.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def load_command(file: Path) -> None:
    """Load a JSON document (see docs/loading.md). All or nothing."""
    from .repository import intake as store

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        click.echo(f"{file}: not valid JSON: {err}", err=True)
        sys.exit(2)
    except (RecursionError, ValueError):  # nested past the parser's depth, or a number with thousands of digits
        click.echo(f"{file}: not valid JSON: nested too deeply or a number too long to read", err=True)
        sys.exit(2)
    with db.new_session(current_app) as session:
        problems, plan = store.load(session, doc, current_app.extensions["certificate_types"])
    if problems:
        click.echo(f"{file}: refused, nothing was stored. {len(problems)} problem(s):", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
        sys.exit(1)
    click.echo(f"{file}: loaded. {plan.summary()}")
    if current_app.config.get("STATISTICS_AFTER_LOAD"):
        _run_statistics(full=False)  # Intygsstatistik takes in what changed (incremental)


@main.command("demo-data")
@click.option("--size", type=click.Choice(["small", "large"]), default="small", show_default=True)
@click.option("--seed", type=int, default=20261123, show_default=True)
@click.option("--certificates", "target", type=int, default=None,
              help="Certificates to reach (large; default 1 000 000).")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already holds certificates.")
@with_appcontext
def demo_data_command(size: str, seed: int, target: int | None, if_empty: bool) -> None:
    """Make the fictional demo data set (idempotent for small)."""
    from sqlalchemy import exists, select

    from .domain import demo
    from .models import Certificate
    from .repository import demo as demo_store
    from .repository import intake as store

    registry = current_app.extensions["certificate_types"]
    today = current_app.extensions["clock"].today()
    started = time.perf_counter()
    with db.new_session(current_app) as session:
        if if_empty and session.scalar(select(exists().where(Certificate.id.is_not(None)))):
            click.echo("demo data: the database already holds certificates; nothing to do")
            session.close()
            _run_statistics(full=False)  # brings statistics up to date (e.g. made before they existed)
            return
        if size == "small":
            doc = demo.small(today=today, seed=seed, registry=registry)
            problems, plan = store.load(session, doc, registry)
            if problems:  # a bug in the generator: say so loudly
                for p in problems[:50]:
                    click.echo(p, err=True)
                sys.exit(1)
            click.echo(f"demo data (small): {plan.summary()}")
        else:
            count = demo_store.load_large(session, registry, today=today, seed=seed, target=target or 1_000_000,
                                          progress=lambda n: click.echo(f"  {n} certificates ..."))
            click.echo(f"demo data (large): {count} certificates")
    click.echo(f"took {time.perf_counter() - started:.1f} s")
    _run_statistics(full=False)


def _run_statistics(full: bool) -> None:
    from .repository import statistics as stats

    with db.new_session(current_app) as session:
        result = stats.run(session, current_app.extensions["certificate_types"],
                           stats.statistics_key(current_app.config), current_app.extensions["clock"].now(), full=full)
    click.echo(f"statistics: {result.kind} run, {result.patients} patient(s), {result.case_months} case-month(s) "
               f"written, took {result.seconds:.1f} s")
    from .statistics import tables

    started = time.perf_counter()
    with db.new_session(current_app) as session, current_app.test_request_context():
        built = tables.prewarm(session, current_app.extensions["certificate_types"],
                               current_app.extensions["clock"].today())
    pages = _render_national_pages()
    click.echo(f"statistics: {built} default reports published ahead and {pages} national pages rendered, took "
               f"{time.perf_counter() - started:.1f} s")


def _render_national_pages() -> int:
    """The national reports' default pages in each language, asked for once (through the app, as a visitor would),
    so the first visitors after the job read them rendered (portal/statistics `_page`)."""
    from .domain import statistics as st

    client = current_app.test_client()
    done = 0
    for rep in st.reports_for(st.NATION):
        for lang in current_app.config["LANGUAGES"]:
            client.set_cookie("lang", lang)
            with current_app.app_context():  # its own `g` (the command's would keep the first request's language)
                done += client.get(f"/statistik/nationell/{rep.id}").status_code == 200
    return done


@main.command("statistics")
@click.option("--full", is_flag=True, help="Recompute every patient (not only those whose certificates changed).")
@with_appcontext
def statistics_command(full: bool) -> None:
    """Bring Intygsstatistik's tables up to date (a daily job for a scheduler; incremental by default)."""
    _run_statistics(full)


@main.command("sick-leave")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sick_leave_command(file: Path) -> None:
    """Print {"sjukfall": [...]} for one case in the reference format (mode, today, settings, certificates)."""
    from .domain import sick_leave

    case = json.loads(file.read_text(encoding="utf-8"))
    try:
        result = sick_leave.run_reference_case(case)
    except (KeyError, ValueError, TypeError) as err:
        click.echo(f"{file}: cannot compute: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


from .worker import worker_command  # noqa: E402

main.add_command(worker_command)

from .pdl_cli import pdl_verify_command  # noqa: E402

main.add_command(pdl_verify_command)

from .pdl_cli import pdl_checkpoint_command, pdl_extract_command  # noqa: E402

main.add_command(pdl_checkpoint_command)
main.add_command(pdl_extract_command)

from .auth.commands import purge_sessions_command  # noqa: E402

main.add_command(purge_sessions_command)

from .topology import serve_production_command  # noqa: E402

main.add_command(serve_production_command)


if __name__ == "__main__":  # pragma: no cover
    main()
