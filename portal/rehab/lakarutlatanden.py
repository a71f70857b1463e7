"""Rehabstöd: the unit's läkarutlåtanden (FK7800, FK7801, FK7802)."""
from __future__ import annotations

from flask import render_template

from ..auth.guards import staff_required
from . import bp


@bp.get("/lakarutlatanden")
@staff_required
def lakarutlatanden():
    return render_template("rehab/lakarutlatanden.html")
