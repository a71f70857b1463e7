"""Route guards: a citizen page is only for a logged-in citizen, a staff page only for staff with a
chosen unit. Citizen and staff sessions never reach each other's pages."""
from __future__ import annotations

from functools import wraps

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from ..security import no_store


def _wrong_area(expected: str):
    return render_template("auth/wrong_area.html", expected=expected), 403


def citizen_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        no_store()
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", broker="bankid"))
        if current_user.kind != "citizen":
            return _wrong_area("citizen")
        return view(*args, **kwargs)

    return wrapper


def staff_required(view=None, *, unit: bool = True):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            no_store()
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", broker="siths"))
            if current_user.kind != "staff":
                return _wrong_area("staff")
            if unit and not current_user.unit_id:
                return redirect(url_for("auth.choose_unit", next=request.path))
            return view(*args, **kwargs)

        return wrapper

    return decorate(view) if view else decorate


def statistics_staff_required(view):
    """The staff statistics: a SITHS login (to the statistics or to Rehabstöd; which scopes it gives is the
    statistics blueprint's question), never a citizen's."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        no_store()
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", broker="siths", tjanst="statistik"))
        if current_user.kind != "staff":
            return _wrong_area("staff")
        return view(*args, **kwargs)

    return wrapper
