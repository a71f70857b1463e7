"""`portal purge-sessions`: delete expired login sessions (with their ID tokens and names), ended
rate-limit counters, week-old records of which patients a unit's data change touched (unit_changes), expired
background exports, and share links that stopped working more than 90 days ago (with their openings).
The app deletes sessions and counters too as it goes; this is for a scheduler (e.g. every 5 minutes), so
nothing expired outlives a quiet night."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import db
from ..domain import sharing
from ..repository import a11y_feedback, export_jobs, shares
from ..repository import rehab as rehab_store
from . import rate_store, sessions


@click.command("purge-sessions")
@with_appcontext
def purge_sessions_command() -> None:
    """Delete expired login sessions, ended rate-limit counters and old unit change records."""
    with db.new_session(current_app) as s:
        ended = sessions.purge_expired(s)
        counters = rate_store.purge_expired(s)
        changes = rehab_store.purge_unit_changes(s, datetime.now(timezone.utc).replace(tzinfo=None))
        s.commit()
        exports = export_jobs.purge(s, current_app.extensions["clock"].now())  # expired, or session ended
        links = shares.purge(s, current_app.extensions["clock"].now())
        reports = a11y_feedback.purge(s, current_app.extensions["clock"].now())  # older than 2 years
    click.echo(f"purge-sessions: {ended} expired session(s), {counters} ended rate-limit counter(s) and "
               f"{changes} old unit change record(s) deleted")
    click.echo(f"purge-sessions: {exports} background export(s) deleted (expired, or their login session ended)")
    click.echo(f"purge-sessions: {links} share link(s) deleted that stopped working more than "
               f"{sharing.KEEP_ENDED_DAYS} days ago")
    click.echo(f"purge-sessions: {reports} accessibility report(s) deleted, older than 2 years")
