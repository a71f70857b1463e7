"""Personnummer rules: validation (by the `personnummer` library), age, gender, display."""
from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from personnummer import personnummer as _lib

_DIGITS = re.compile(r"^([0-9]{8})-?([0-9]{4})$")

MIN_CITIZEN_AGE = 16


def normalize(value: object) -> str | None:
    """The 12-digit form YYYYMMDDNNNN of a valid personnummer or samordningsnummer, else None.

    Only the 12-digit forms (with or without the hyphen) are accepted: a 10-digit number leaves
    the century to guessing.
    """
    if not isinstance(value, str):
        return None
    m = _DIGITS.match(value.strip())
    if not m:
        return None
    digits = m.group(1) + m.group(2)
    try:
        _lib.parse(digits)
    except _lib.PersonnummerException:
        return None
    return digits


def is_valid(value: object) -> bool:
    return normalize(value) is not None


@lru_cache(maxsize=65536)
def _facts(pnr: str) -> tuple[date, bool, bool]:
    """(birth date, male, samordningsnummer) of a valid number; parsed once (lists show thousands)."""
    parsed = _lib.parse(pnr)
    return parsed.get_date(), parsed.is_male(), parsed.is_coordination_number()


def birth_date(pnr: str) -> date:
    return _facts(pnr)[0]


def age(pnr: str, today: date) -> int:
    born = birth_date(pnr)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def gender(pnr: str) -> str:
    """"M" or "F" from the second-to-last digit."""
    return "M" if _facts(pnr)[1] else "F"


def is_coordination_number(pnr: str) -> bool:
    return _facts(pnr)[2]


def display(pnr: str) -> str:
    return f"{pnr[:8]}-{pnr[8:]}" if len(pnr) == 12 else pnr


def luhn_check_digit(first_nine: str) -> int:
    """The check digit for YYMMDDNNN (used by the demo-data generator to make valid numbers)."""
    total = 0
    for i, ch in enumerate(first_nine):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return (10 - total % 10) % 10
