"""Sweden's counties (län) by their code (SCB's länskod, HSA's countyCode), for the units' county and
Intygsstatistik's national report by region. Pure."""
from __future__ import annotations

#: (code, Swedish name, English name), in code order
COUNTIES: tuple[tuple[str, str, str], ...] = (
    ("01", "Stockholms län", "Stockholm County"),
    ("03", "Uppsala län", "Uppsala County"),
    ("04", "Södermanlands län", "Södermanland County"),
    ("05", "Östergötlands län", "Östergötland County"),
    ("06", "Jönköpings län", "Jönköping County"),
    ("07", "Kronobergs län", "Kronoberg County"),
    ("08", "Kalmar län", "Kalmar County"),
    ("09", "Gotlands län", "Gotland County"),
    ("10", "Blekinge län", "Blekinge County"),
    ("12", "Skåne län", "Skåne County"),
    ("13", "Hallands län", "Halland County"),
    ("14", "Västra Götalands län", "Västra Götaland County"),
    ("17", "Värmlands län", "Värmland County"),
    ("18", "Örebro län", "Örebro County"),
    ("19", "Västmanlands län", "Västmanland County"),
    ("20", "Dalarnas län", "Dalarna County"),
    ("21", "Gävleborgs län", "Gävleborg County"),
    ("22", "Västernorrlands län", "Västernorrland County"),
    ("23", "Jämtlands län", "Jämtland County"),
    ("24", "Västerbottens län", "Västerbotten County"),
    ("25", "Norrbottens län", "Norrbotten County"),
)
CODES: tuple[str, ...] = tuple(c[0] for c in COUNTIES)
UNKNOWN = ""  # a unit without a county: "Okänt län"
UNKNOWN_LABEL = ("Okänt län", "Unknown county")


def is_county(code: object) -> bool:
    return isinstance(code, str) and code in CODES


def label(code: str, language: str) -> str:
    """The county's name in `language` ("sv" or "en"), or "Okänt län"."""
    en = language == "en"
    for c, sv, english in COUNTIES:
        if c == code:
            return english if en else sv
    return UNKNOWN_LABEL[en]
