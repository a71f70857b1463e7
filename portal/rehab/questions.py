"""Rehabstöd: the unit's unanswered questions from Försäkringskassan, read and answered in place."""
from __future__ import annotations

from flask import render_template

from ..auth.guards import staff_required
from . import bp


@bp.get("/fragor")
@staff_required
def questions():
    return render_template("rehab/questions.html")
