"""The PDL audit log's commands.

    portal pdl-verify        checks the keyed chain from its first record to its last against every checkpoint in
                             PDL_CHECKPOINT_FILE; prints "PDL-loggen är hel: N poster" (and what it compared) and
                             exits 0, or one line per problem (naming the record id and the kind of tampering,
                             never a personnummer) and exits 1
    portal pdl-checkpoint    appends a signed checkpoint of the log's head to PDL_CHECKPOINT_FILE (cron it; the app
                             also writes one every PDL_CHECKPOINT_EVERY records)
    portal pdl-extract PNR   writes a patient's log extract (loggutdrag) as a PDF and a CSV
"""
from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from . import db
from .domain import pdl as rules
from .domain import persons
from .pdl_checkpoints import PdlKeysMissing, PdlSettings, describe_missing
from .repository import pdl as store

log = logging.getLogger(__name__)


def _settings() -> PdlSettings:
    try:
        return PdlSettings.from_config(current_app.config)
    except PdlKeysMissing as err:
        click.echo(f"PDL-loggen kan inte kontrolleras: {err}", err=True)
        sys.exit(2)


@click.command("pdl-verify")
@with_appcontext
def pdl_verify_command() -> None:
    """Check the PDL audit log: the keyed hash chain and the signed checkpoints."""
    settings = _settings()
    with db.new_session(current_app) as session:
        check, file_problems = store.check_log(session, settings=settings)
    notes = check.notes if check.checkpoints else check.notes + [describe_missing(settings.checkpoint_file)]
    problems = file_problems + check.problems
    if problems:
        click.echo(f"PDL-loggen är inte hel: {len(problems)} problem i {rules.posts(check.count)}", err=True)
        for line in problems:
            click.echo(f"  {line}", err=True)
        for line in notes:
            click.echo(f"  ({line})", err=True)
        sys.exit(1)
    click.echo(f"PDL-loggen är hel: {rules.posts(check.count)}")
    for line in notes:
        click.echo(f"  ({line})")


@click.command("pdl-checkpoint")
@with_appcontext
def pdl_checkpoint_command() -> None:
    """Append a signed checkpoint of the PDL audit log's head to PDL_CHECKPOINT_FILE."""
    settings = _settings()
    with db.new_session(current_app) as session:
        found = store.checkpoint(session, now=current_app.extensions["clock"].now(), settings=settings)
    click.echo(f"Kontrollpunkt skriven i {settings.checkpoint_file}: post {found.last_id}, {rules.posts(found.count)}, "
               f"{rules.when(found.at)}")


def _day(value: datetime | None):
    return value.date() if value is not None else None


@click.command("pdl-extract")
@click.argument("personnummer")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The first day (YYYY-MM-DD); default: the first record.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The last day (YYYY-MM-DD); default: today.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder to write the PDF and the CSV to.")
@click.option("--provider", "provider_id", default=None, help="Only this care provider's staff (HSA-id).")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@with_appcontext
def pdl_extract_command(personnummer: str, start: datetime | None, end: datetime | None, out_dir: Path,
                        provider_id: str | None, lang: str) -> None:
    """Write a patient's log extract (loggutdrag): who in care read, wrote or printed their data, when, from which
    care unit and care provider, as a PDF and a CSV (never names the personnummer in its output)."""
    from . import pdl_extract

    pnr = persons.normalize(personnummer)
    if pnr is None:  # the value is not repeated: it may be a personnummer with a typo
        click.echo("Ogiltigt personnummer: ange det med 12 siffror, ÅÅÅÅMMDD-NNNN.", err=True)
        sys.exit(2)
    first, last = _day(start), _day(end)
    if first is not None and last is not None and first > last:
        click.echo("--from är senare än --to.", err=True)
        sys.exit(2)
    now = current_app.extensions["clock"].now()
    with db.new_session(current_app) as session:
        extract = pdl_extract.build(session, pnr, start=first, end=last, provider_id=provider_id, now=now)
    pdf_path, csv_path = pdl_extract.write(extract, out_dir, lang)
    log.info("PDL log extract written: %d records, %s", len(extract.rows), pdf_path.name)
    click.echo(f"Loggutdrag med {rules.posts(len(extract.rows))}: {pdf_path} och {csv_path}")
