"""Mina intyg: the citizen's own certificates."""
from __future__ import annotations

from flask import Blueprint, render_template

from ..auth.guards import citizen_required

bp = Blueprint("citizen", __name__, url_prefix="/mina-intyg")


@bp.get("/")
@citizen_required
def start():
    return render_template("citizen/start.html")
