"""Mina intyg's rules: which certificates a citizen sees, how the list is filtered and sorted, the
badges and the events. Pure: takes plain data (CertificateView), returns plain data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import ClassVar

from . import certificate_types as ct
from . import list_model
from .list_model import N_

NEW_DAYS = 14  # "Nytt": signed in the last 14 days

CITIZEN, CARE = "CITIZEN", "CARE"  # who sent: the citizen through the outbox, or care outside the portal


@dataclass(frozen=True)
class SendView:
    """A send of the certificate to a recipient: the citizen's (through the outbox), or care's (the doctor
    sent it with the patient's consent, outside the portal), which is always DELIVERED at its sent time."""

    recipient: str
    state: str  # PENDING | DELIVERED | FAILED
    requested_at: datetime
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    by: str = CITIZEN  # CITIZEN | CARE
    failure: str | None = None  # FAILED: REJECTED | REFUSED | GAVE_UP (domain.sending)
    maybe_received: bool = False  # an attempt timed out or got no clear answer: the recipient may have it
    refusal: str | None = None  # REFUSED: the rule that stopped it (a domain.sending refusal code)

    @classmethod
    def by_care(cls, recipient: str, sent_at: datetime) -> SendView:
        return cls(recipient, "DELIVERED", requested_at=sent_at, delivered_at=sent_at, by=CARE)


@dataclass(frozen=True)
class EventView:
    # ARCHIVED | RESTORED | SENT | SENT_BY_CARE | REPLACED | REPLACES | SEND_REQUESTED | SEND_FAILED | COMPLEMENTED
    kind: str
    at: datetime
    recipient: str | None = None


@dataclass(frozen=True)
class CertificateView:
    """Everything the citizen pages, the PDF and the rules need to know about one certificate."""

    id: str
    type_code: str
    type_version: str
    patient_pnr: str
    signed_at: datetime
    content: dict
    unit_id: str
    unit_name: str
    provider_name: str
    staff_name: str
    unit_address: str | None = None
    unit_postal_code: str | None = None
    unit_city: str | None = None
    unit_phone: str | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None  # a newer, not revoked certificate that replaces this one
    replaced_at: datetime | None = None
    replaces: str | None = None  # the older certificate this one replaces
    sends: tuple[SendView, ...] = ()
    archived: bool = False
    events: tuple[EventView, ...] = ()
    sick_leave_start: date | None = None  # derived at intake: lists need no content for the period
    sick_leave_end: date | None = None

    def send_to(self, recipient: str | None) -> SendView | None:
        """The live send to a recipient, if any: the first delivered one (by the citizen or by care), else a
        pending one. (A citizen's send still pending when care reports its own: the certificate is sent.)"""
        live = [s for s in self.sends if s.recipient == recipient and s.state in ("PENDING", "DELIVERED")]
        delivered = sorted((s for s in live if s.state == "DELIVERED"), key=lambda s: s.delivered_at or s.requested_at)
        return delivered[0] if delivered else (live[0] if live else None)

    @property
    def delivered_to(self) -> list[str]:
        return [s.recipient for s in self.sends if s.state == "DELIVERED"]

    @property
    def sent(self) -> bool:
        return any(s.state == "DELIVERED" for s in self.sends)


def visible_to_citizen(registry: ct.Registry, cert: CertificateView) -> bool:
    """Never revoked ones, never the types hidden from citizens (DB, DOI, FK7472)."""
    ctype = registry.get(cert.type_code)
    return cert.revoked_at is None and ctype is not None and ctype.citizen_visible


def is_new(cert: CertificateView, today: date) -> bool:
    return cert.signed_at.date() > today - timedelta(days=NEW_DAYS)


def badges(cert: CertificateView, today: date) -> list[str]:
    """"Nytt", "Skickat", "Ersatt" as codes: NEW, SENT, SENDING, REPLACED."""
    out = []
    if is_new(cert, today):
        out.append("NEW")
    if cert.sent:
        out.append("SENT")
    elif any(s.state == "PENDING" for s in cert.sends):
        out.append("SENDING")
    if cert.replaced_by:
        out.append("REPLACED")
    return out


#: Mina intyg's list, declared once: the page and its filter tags read it. Every filter offers only
#: values found among the citizen's own certificates (given when parsing); nothing is ever an error.
MODEL = list_model.ListModel(
    name="mina-intyg",
    fields=(
        list_model.Field("types", "typ", list_model.CHOICE, lambda c, v: c.type_code in v, N_("Intygstyp: %(value)s")),
        list_model.Field("units", "enhet", list_model.CHOICE, lambda c, v: c.unit_id in v, N_("Vårdenhet: %(value)s")),
        list_model.Field("years", "ar", list_model.CHOICE, lambda c, v: c.signed_at.year in v, N_("År: %(value)s"),
                         as_int=True),
        list_model.Field("sent", "skickat", list_model.CHOICE, lambda c, v: ("yes" if c.sent else "no") in v,
                         "%(value)s", allowed=("yes", "no"), labels={"yes": N_("Skickade"), "no": N_("Inte skickade")}),
    ),
    named_sorts=(
        list_model.Sort("newest", lambda c: (c.signed_at, c.id), "desc", fixed=True, label=N_("Nyast först")),
        list_model.Sort("oldest", lambda c: (c.signed_at, c.id), "asc", fixed=True, label=N_("Äldst först")),
    ),
    default_sort="newest",
    tie_order=lambda certs: certs,
    page_size=25,
    sort_param="sortering",
    order_param=None,
)
PAGE_SIZE = MODEL.page_size
Page = list_model.Page


@dataclass(frozen=True)
class Filters(list_model.ListFilters):
    """The list's filters (several values each; empty = no filter) and sort ("newest" when None, or
    "oldest"). Lives in the URL (GET form)."""

    MODEL: ClassVar[list_model.ListModel] = MODEL
    types: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    sent: tuple[str, ...] = ()  # "yes" and/or "no"
    sort: str | None = None  # newest | oldest


list_model.check_filters_class(Filters)


def parse_filters(args: dict[str, list[str]], choices: "FilterChoices") -> Filters:
    """Read the filters from query parameters; values that are not offered are dropped (never an error)."""
    filters, _errors = list_model.parse(Filters, args, {"types": [t for t, _ in choices.types],
                                                        "units": [u for u, _ in choices.units],
                                                        "years": [str(y) for y in choices.years]})
    return filters


@dataclass(frozen=True)
class FilterChoices:
    types: tuple[tuple[str, str], ...] = ()  # (code, name)
    units: tuple[tuple[str, str], ...] = ()  # (id, name)
    years: tuple[int, ...] = ()

    def labels(self) -> dict[str, dict[str, str]]:
        """The chosen values' names for the filter tags, by field."""
        return {"types": dict(self.types), "units": dict(self.units)}


def filter_choices(certs: list[CertificateView], type_name) -> FilterChoices:
    """What the filters offer: only values that occur among the citizen's own certificates."""
    types = sorted(((code, type_name(code)) for code in {c.type_code for c in certs}), key=lambda t: t[1])
    units = sorted({(c.unit_id, c.unit_name) for c in certs}, key=lambda u: u[1])
    years = tuple(sorted({c.signed_at.year for c in certs}, reverse=True))
    return FilterChoices(tuple(types), tuple(units), years)


def apply_filters(certs: list[CertificateView], f: Filters) -> list[CertificateView]:
    """The certificates that pass the filters, in the chosen order (newest signed first by default)."""
    return list_model.sort_rows(MODEL, list_model.apply(certs, f), f.sort)


@dataclass
class ListResult:
    shown: list[CertificateView] = field(default_factory=list)  # all that match the filters
    total: int = 0  # all in this list, unfiltered
    choices: FilterChoices = field(default_factory=FilterChoices)
    page_items: list[CertificateView] = field(default_factory=list)  # the matches on this page
    page: list_model.Page = field(default_factory=lambda: list_model.Page(1, 1, MODEL.page_size))


def in_list(registry: ct.Registry, certs: list[CertificateView], *, archived: bool) -> list[CertificateView]:
    """The certificates of the main list (archived=False) or of the archive view."""
    return [c for c in certs if visible_to_citizen(registry, c) and c.archived == archived]


def citizen_list(mine: list[CertificateView], f: Filters, choices: FilterChoices, page: int = 1) -> ListResult:
    """One list (see in_list): filtered, sorted, paged."""
    shown = apply_filters(mine, f)
    items, pg = list_model.paginate(shown, page, MODEL.page_size)
    return ListResult(shown=shown, total=len(mine), choices=choices, page_items=items, page=pg)


def summary_line(ctype: ct.CertificateType, cert: CertificateView) -> tuple[str, object] | None:
    """What a list item says about the certificate: its sick-leave period, or its main purpose."""
    if cert.sick_leave_start and cert.sick_leave_end:
        return ("period", (cert.sick_leave_start, cert.sick_leave_end))
    span = ct.sick_leave_span(ctype, cert.content)
    if span:
        return ("period", span)
    q = ctype.with_role("purpose")
    if q is not None and cert.content.get(q.id) not in (None, "", []):
        return ("purpose", (q, cert.content[q.id]))
    q = ctype.first_of_kind("date_range")
    if q is not None and cert.content.get(q.id):
        r = cert.content[q.id]
        return ("period", (date.fromisoformat(r["start"]), date.fromisoformat(r["end"])))
    return None


def events(cert: CertificateView) -> list[EventView]:
    """The certificate's events for the citizen, newest first."""
    out = list(cert.events)
    for s in cert.sends:
        if s.state == "DELIVERED" and s.delivered_at:
            out.append(EventView("SENT_BY_CARE" if s.by == CARE else "SENT", s.delivered_at, s.recipient))
        elif s.state == "PENDING":
            out.append(EventView("SEND_REQUESTED", s.requested_at, s.recipient))
        elif s.state == "FAILED" and s.failed_at:
            out.append(EventView("SEND_FAILED", s.failed_at, s.recipient))
    if cert.replaced_by and cert.replaced_at:
        out.append(EventView("REPLACED", cert.replaced_at))
    if cert.replaces:
        out.append(EventView("REPLACES", cert.signed_at))
    return sorted(out, key=lambda e: e.at, reverse=True)
