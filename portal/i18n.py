"""Languages: Swedish (default) and English through Flask-Babel; dates and personnummer for display."""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal
from flask import Flask, current_app, g, has_app_context, request
from flask_babel import Babel, format_datetime, get_locale, get_translations

from .config import ROOT

LANG_COOKIE = "lang"


def select_locale() -> str:
    wanted = request.cookies.get(LANG_COOKIE, "")
    if wanted in current_app.config["LANGUAGES"]:
        return wanted
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "sv")


def _locale_id() -> str:
    locale = get_locale()
    return str(locale) if locale else "sv"


def long_date(value: date | datetime | None) -> str:
    """"23 november 2026" / "23 November 2026" (kept per process: lists show many dates)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return _long_date(value, _locale_id())


@lru_cache(maxsize=16384)
def _long_date(value: date, locale: str) -> str:
    return babel_format_date(value, "d MMMM y", locale=locale)


def month_name(value: date | datetime) -> str:
    """"november 2026" / "November 2026" (kept per process: a statistics page names a month up to a hundred
    times)."""
    return _month_name(value.year, value.month, _locale_id())


@lru_cache(maxsize=4096)
def _month_name(year: int, month: int, locale: str) -> str:
    return babel_format_date(date(year, month, 1), "LLLL y", locale=locale)


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
    return _number(value, _locale_id())


@lru_cache(maxsize=8192)
def _number(value: float | int, locale: str) -> str:
    """Babel's formatting, kept: a statistics table formats a few hundred figures, at ~40 µs each."""
    return format_decimal(value, locale=locale)


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
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # Flask-Babel's, with the request's catalogue looked up once
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    return babel


def _translations():
    """The request's catalogue, as flask_babel.get_translations() gives it, kept on the request for the locale it
    was found for (a page's template translates a few dozen texts, and finding the catalogue costs more than the
    lookup); `force_locale` (PDFs, exports) sets another locale object, so it is found again."""
    if not has_app_context():
        return get_translations()
    ctx = g.get("_flask_babel")
    locale = getattr(ctx, "babel_locale", None)
    kept = g.get("_portal_translations")
    if kept is not None and locale is not None and kept[0] is locale:
        return kept[1]
    found = get_translations()
    g._portal_translations = (get_locale(), found)
    return found
