"""Rehabstöd's settings per user: checking the settings form. Pure."""
from __future__ import annotations

from .filter_params import MISSING, parse_int
from .sick_leave import DAYS_AFTER_END_RANGE, GAP_RANGE

# --- Settings ----------------------------------------------------------------------------------

SETTING_DEFAULTS = {"max_days_between": 5, "max_days_since_end": 0}
_SETTING_RANGES = {"max_days_between": GAP_RANGE, "max_days_since_end": DAYS_AFTER_END_RANGE}


def validate_settings(max_days_between: str | None,
                      max_days_since_end: str | None) -> tuple[dict[str, int],
                                                                list[tuple[str, str]]]:
    """Check the settings form: "Antal dagar mellan intyg" a whole number 0-90 (default 5) and
    "Visa nyligen avslutade sjukfall" 0-14 (default 0).

    Returns ({"max_days_between": int, "max_days_since_end": int} for the valid fields, errors as
    (field, code)): ``MISSING`` for an empty field, ``NOT_A_NUMBER``, ``OUT_OF_RANGE``. Save only
    when there are no errors. The defaults are in ``SETTING_DEFAULTS``.
    """
    values: dict[str, int] = {}
    errors: list[tuple[str, str]] = []
    for name, raw in (("max_days_between", max_days_between),
                      ("max_days_since_end", max_days_since_end)):
        raw = (raw or "").strip()
        if not raw:
            errors.append((name, MISSING))
            continue
        number = parse_int(raw, name, _SETTING_RANGES[name], errors)
        if number is not None:
            values[name] = number
    return values, errors


# --- the unit's settings (issue 17) ------------------------------------------------------------------

def may_edit_unit_settings(role: str | None) -> bool:
    """Only a rehab coordinator of the unit (the role the login gave on the unit in use: REHABKOORDINATOR, also a
    doctor who has the unit's coordinator system role) changes the unit's own settings; a doctor sees them."""
    from .access import REHABKOORDINATOR

    return role == REHABKOORDINATOR


def validate_notice_address(raw: str | None) -> tuple[str | None, str | None]:
    """The unit's e-mail address for notices when FK writes: (address or None to remove it, None) or
    (None, notices.INVALID). See `notices.validate_address`."""
    from .notices import validate_address

    return validate_address(raw)
