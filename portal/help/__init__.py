"""Help for citizens, the contact page and the privacy page: public pages, no login, no personal data.

`/hjalp` lists the topics; `/hjalp/<topic>` answers one question each (how to send a certificate, what
"Skickat" means, how to give the employer a copy, why a certificate is missing, who can see my certificates);
any other topic is a 404. `/kontakt` says who to contact about what; `/personuppgifter` what the portal stores,
for how long, and its cookies.

The pages name the interface's own buttons and statuses through the same message ids as the pages they
describe, and take every number they state (sharing durations, when links and sessions end, the cookies and
how long they live) from the code and configuration that decide it, so the help cannot drift from the portal.
The Mina intyg pages link the topic where its question arises (templates/citizen/), and the footer links the
start page, the contact page and the privacy page (templates/layouts/base.html).
"""
from __future__ import annotations

from dataclasses import dataclass

from babel.lists import format_list
from flask import Blueprint, abort, current_app, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..domain import certificates as certificate_rules
from ..domain import copies, sharing
from ..domain.persons import MIN_CITIZEN_AGE
from ..i18n import LANG_COOKIE, current_language
from ..security import no_store

bp = Blueprint("help", __name__)


@dataclass(frozen=True)
class Topic:
    slug: str  # the URL's part (Swedish, as the other URLs)
    template: str  # templates/help/<template>.html
    title: object  # a lazy string: the page's h1 and the link to it
    summary: object  # one line on the help start page


#: The help topics, in the order of the help start page.
TOPICS: tuple[Topic, ...] = (
    Topic("skicka", "send", _l("Så skickar du ett intyg"),
          _l("Till Försäkringskassan eller Transportstyrelsen: så gör du, och vad som händer sedan.")),
    Topic("skickat", "sent", _l("Vad betyder ”Skickat”?"),
          _l("Vad det betyder när det står ”Skickat” på ett intyg, och vad det inte betyder.")),
    Topic("arbetsgivare", "employer", _l("Så ger du arbetsgivaren en kopia"),
          _l("En PDF eller en länk: du väljer vad arbetsgivaren ser och hur länge.")),
    Topic("saknas", "missing", _l("Varför saknas ett intyg?"),
          _l("De vanligaste orsakerna till att ett intyg inte syns i Mina intyg.")),
    Topic("vem-ser", "who_sees", _l("Vem kan se mina intyg?"),
          _l("Du, vården, mottagare du skickar till och arbetsgivaren om du delar. Allt som vården läser loggas.")),
)
BY_SLUG = {t.slug: t for t in TOPICS}

#: The demo's support: made up, and the contact page says so while DEMO is on (the privacy page then says that no
#: real organisation runs the portal). A deployment puts its own support here and turns DEMO off.
SUPPORT_PHONE = "0771-00 00 00"
SUPPORT_HOURS = _l("Vardagar 8–17")
DEMO = True

#: How long the language cookie lives (portal/main sets it when the reader switches language): the privacy
#: page says so, and tests/integration/test_help_pages.py compares it with the cookie actually set.
LANG_COOKIE_DAYS = 365


@bp.before_request
def _no_store_when_logged_in():
    """The pages hold no personal data, but the header shows a logged-in user's name."""
    if current_user.is_authenticated:
        no_store()


def _registry():
    return current_app.extensions["certificate_types"]


def _or_list(items: list[str]) -> str:
    """"7, 30 eller 90" / "7, 30, or 90"."""
    return format_list(items, style="or", locale=str(get_locale() or "sv"))


def _types_by_recipient() -> dict[str | None, list[str]]:
    """The citizen's certificate types by their electronic recipient (None: none), names in the reader's language."""
    lang = current_language()
    out: dict[str | None, list[str]] = {}
    for ctype in _registry():
        if ctype.citizen_visible:
            out.setdefault(ctype.recipient, []).append(ctype.name.get(lang))
    return {recipient: sorted(names) for recipient, names in out.items()}


def _employer_copy_types() -> list[str]:
    """The types a citizen can give the employer a copy of (a PDF or a share link)."""
    lang = current_language()
    return sorted(t.name.get(lang) for t in _registry() if t.citizen_visible and copies.employer_copies(t))


def _facts() -> dict:
    """The numbers the pages state, from the code and configuration that decide them."""
    config = current_app.config
    return {
        "durations": _or_list([str(d) for d in sharing.DURATIONS]),
        "code_length": sharing.CODE_LENGTH,
        "code_attempts": sharing.CODE_ATTEMPTS,
        "access_minutes": sharing.ACCESS_MINUTES,
        "keep_ended_days": sharing.KEEP_ENDED_DAYS,
        "page_size": certificate_rules.MODEL.page_size,
        "min_age": MIN_CITIZEN_AGE,
        "idle_minutes": int(config["SESSION_IDLE_SECONDS"]) // 60,
        "absolute_hours": int(config["SESSION_ABSOLUTE_SECONDS"]) // 3600,
    }


def cookies() -> list[dict]:
    """The cookies the portal sets, as the privacy page lists them (name, and how long it lives)."""
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    seconds = int(lifetime.total_seconds()) if hasattr(lifetime, "total_seconds") else int(lifetime)
    return [
        {"name": current_app.config.get("SESSION_COOKIE_NAME") or "session", "kind": "session",
         "minutes": seconds // 60},
        {"name": LANG_COOKIE, "kind": "lang", "days": LANG_COOKIE_DAYS},
    ]


@bp.get("/hjalp")
def index():
    return render_template("help/index.html", topics=TOPICS)


@bp.get("/hjalp/<topic>")
def topic(topic: str):
    found = BY_SLUG.get(topic)
    if found is None:
        abort(404)
    return render_template(f"help/{found.template}.html", topic=found, topics=TOPICS, facts=_facts(),
                           types_by_recipient=_types_by_recipient(), employer_copy_types=_employer_copy_types())


@bp.get("/kontakt")
def contact():
    return render_template("help/contact.html", topics=TOPICS, support_phone=SUPPORT_PHONE,
                           support_hours=SUPPORT_HOURS, demo=DEMO)


@bp.get("/personuppgifter")
def privacy():
    return render_template("help/privacy.html", topics=TOPICS, facts=_facts(), cookies=cookies(), demo=DEMO)
