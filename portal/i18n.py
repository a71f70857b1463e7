"""Languages: Swedish (default) and English through Flask-Babel; dates and personnummer for display."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from flask import Flask, current_app, request
from flask_babel import Babel, format_date, format_datetime, get_locale

from .config import ROOT

LANG_COOKIE = "lang"


def select_locale() -> str:
    wanted = request.cookies.get(LANG_COOKIE, "")
    if wanted in current_app.config["LANGUAGES"]:
        return wanted
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "sv")


def long_date(value: date | datetime | None) -> str:
    """"23 november 2026" / "23 November 2026" (memoised per request: lists show many dates)."""
    from flask import g

    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    cache = g.setdefault("long_dates", {})
    key = (value, str(get_locale()))
    if key not in cache:
        cache[key] = format_date(value, "d MMMM y")
    return cache[key]


def month_name(value: date | datetime) -> str:
    """"november 2026" / "November 2026"."""
    return format_date(value, "LLLL y")


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def date_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, "d MMMM y HH:mm", rebase=False)


def parse_date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def number(value: float | int | None) -> str:
    """12.5 -> "12,5" in Swedish, "12.5" in English."""
    if value is None:
        return ""
    locale = get_locale()
    return _number(value, str(locale) if locale else "sv")


@lru_cache(maxsize=8192)
def _number(value: float | int, locale: str) -> str:
    """Babel's formatting, kept: a statistics table formats a few hundred figures, at ~40 µs each."""
    from babel.numbers import format_decimal as babel_format

    return babel_format(value, locale=locale)


def format_pnr(value: str | None) -> str:
    """YYYYMMDDNNNN shown as YYYYMMDD-NNNN."""
    if not value:
        return ""
    return f"{value[:8]}-{value[8:]}" if len(value) == 12 else value


def init_app(app: Flask) -> Babel:
    babel = Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(ROOT / "i18n"),
    )
    app.jinja_env.filters.update(long_date=long_date, month_name=month_name, short_date=short_date,
                                  date_time=date_time, pnr=format_pnr,
                                  parse_date=parse_date, number=number)
    app.jinja_env.globals.update(current_language=current_language)
    return babel
