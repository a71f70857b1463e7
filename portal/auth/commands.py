"""`portal purge-sessions`: delete expired login sessions (with their ID tokens and names) and ended
rate-limit counters. The app deletes them too as it goes; this is for a scheduler (e.g. every 5 minutes),
so nothing expired outlives a quiet night."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import db
from . import rate_store, sessions


@click.command("purge-sessions")
@with_appcontext
def purge_sessions_command() -> None:
    """Delete expired login sessions and ended rate-limit counters."""
    with db.new_session(current_app) as s:
        ended = sessions.purge_expired(s)
        counters = rate_store.purge_expired(s)
        s.commit()
    click.echo(f"purge-sessions: {ended} expired session(s) and {counters} ended rate-limit counter(s) deleted")
