"""`portal pdl-verify`: check that the PDL audit log is whole (no record changed, removed or inserted).

    portal pdl-verify      prints "PDL-loggen är hel: N poster" and exits 0, or one line per problem
                           (naming the record id, never a personnummer) and exits 1
"""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from . import db
from .repository import pdl as store


@click.command("pdl-verify")
@with_appcontext
def pdl_verify_command() -> None:
    """Check the PDL audit log's hash chain from its first record to its last."""
    with db.new_session(current_app) as session:
        check = store.check_chain(session)
    if check.problems:
        click.echo(f"PDL-loggen är inte hel: {len(check.problems)} problem i {check.count} poster", err=True)
        for problem in check.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"PDL-loggen är hel: {check.count} poster")
