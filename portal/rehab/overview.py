"""Rehabstöd's start page: the unit overview (counts and charts, no patient, no PDL record)."""
from __future__ import annotations

from flask import render_template

from ..auth.guards import staff_required
from . import bp


@bp.get("/")
@staff_required
def start():
    return render_template("rehab/start.html")
