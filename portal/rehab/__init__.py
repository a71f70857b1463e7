"""Rehabstöd: the care unit's sick-leave cases, for rehab coordinators and doctors."""
from __future__ import annotations

from flask import Blueprint, render_template

from ..auth.guards import staff_required

bp = Blueprint("rehab", __name__, url_prefix="/rehabstod")


@bp.get("/")
@staff_required
def start():
    return render_template("rehab/start.html")
