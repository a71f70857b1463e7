"""Who can be chosen on the test login page, and the identity claims each choice gives.

Pure: no Flask. The broker does not validate personnummer or HSA-ids: it passes on what was chosen
or typed, so that the portal's own refusals can be tried.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain import demo
from .provider import COORDINATION_CLAIM, HSA_CLAIM, PNR_CLAIM

OTHER = "other"


@dataclass(frozen=True)
class Choice:
    value: str  # the personnummer or HSA-id, also the radio's value
    given: str
    family: str
    identifier: str  # as shown: YYYYMMDD-NNNN, or the HSA-id
    about: str  # Swedish msgid, translated where shown
    title: str = ""  # staff: the job title (a Swedish msgid)

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


def choices(idp: str, today: date) -> list[Choice]:
    """The demo identities of the issuer: citizens for BankID, staff for SITHS."""
    if idp == "bankid":
        return [Choice(c.personnummer, c.given, c.family, f"{c.personnummer[:8]}-{c.personnummer[8:]}", c.about)
                for c in demo.demo_citizens(today)]
    return [Choice(s.hsa_id, s.given, s.family, s.hsa_id, s.about, s.title) for s in demo.STAFF]


def is_coordination_number(value: str) -> bool:
    """A samordningsnummer: 12 digits whose day of month is 61–91."""
    return len(value) == 12 and value.isascii() and value.isdigit() and int(value[6:8]) > 60


def claims(idp: str, value: str, given: str | None = None, family: str | None = None) -> dict:
    """The identity claims of the ID token for a chosen or typed identity."""
    if idp == "bankid":
        out = {COORDINATION_CLAIM if is_coordination_number(value) else PNR_CLAIM: value}
    else:
        out = {HSA_CLAIM: value}
    if given and family:
        out.update(given_name=given, family_name=family, name=f"{given} {family}")
    return out


def chosen(idp: str, identity: str | None, other_value: str | None, today: date) -> dict | None:
    """The claims for the login form's choice; None when nothing usable was chosen or typed."""
    if identity == OTHER:
        typed = (other_value or "").strip()
        return claims(idp, typed) if typed else None
    for choice in choices(idp, today):
        if choice.value == identity:
            return claims(idp, choice.value, choice.given, choice.family)
    return None
