"""ICD-10 diagnosis chapters (Rehabstöd's filter) and diagnosis groups (the unit overview).

Pure data and two look-ups; the rules are those of ``shared/domain.md``, "Diagnosis chapters and
groups":

- A code is matched on its letter and first two digits only, after the sick-leave engine's
  cleaning (upper case, only A-Z, 0-9 and '-'): "F43.8" and "f438" are F43, "M545" is M54.
- Ranges are inclusive at both ends on letter + two digits: "S00-T98" holds S00..S99, T00..T98,
  not T99.
- A missing code, one that does not start with a letter and two digits, or one that falls in no
  chapter (the gaps between chapters, e.g. D49, E91, H96, K94, P97, T99, V00, Y99) is "UTAN",
  "Utan giltig diagnoskod".
- Every chapter lies wholly inside one group, so ``group_of`` is ``UTAN`` exactly when
  ``chapter_of`` is.

Labels are the standard Swedish (ICD-10-SE) and English (WHO ICD-10) chapter names; the templates
pick the label of the user's language.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from .sick_leave import clean_diagnosis_code

__all__ = [
    "CHAPTERS",
    "CHAPTER_IDS",
    "GROUPS",
    "GROUP_IDS",
    "UTAN",
    "Chapter",
    "Group",
    "chapter_of",
    "group_of",
    "in_range",
    "label",
]

#: The id of "Utan giltig diagnoskod" (without a valid diagnosis code), both as chapter and group.
UTAN = "UTAN"

_UTAN_SV = "Utan giltig diagnoskod"
_UTAN_EN = "Without a valid diagnosis code"

_CODE = re.compile(r"^([A-Z])([0-9]{2})")
_RANGE = re.compile(r"^([A-Z])([0-9]{2})-([A-Z])([0-9]{2})$")


class Chapter(NamedTuple):
    """An ICD-10 chapter for the diagnosis filter: id (its range, e.g. "A00-B99") and labels."""

    id: str
    sv: str
    en: str


class Group(NamedTuple):
    """A diagnosis group of the unit overview: id, labels, and the ranges it covers."""

    id: str
    sv: str
    en: str
    ranges: tuple[str, ...]


def _chapter(range_id: str, sv: str, en: str) -> Chapter:
    return Chapter(range_id, f"{range_id} {sv}", f"{range_id} {en}")


#: The filter chapters, in ICD-10 order, then "Utan giltig diagnoskod".
CHAPTERS: tuple[Chapter, ...] = (
    _chapter("A00-B99", "Vissa infektionssjukdomar och parasitsjukdomar",
             "Certain infectious and parasitic diseases"),
    _chapter("C00-D48", "Tumörer", "Neoplasms"),
    _chapter("D50-D89", "Sjukdomar i blod och blodbildande organ samt vissa rubbningar i "
             "immunsystemet",
             "Diseases of the blood and blood-forming organs and certain disorders involving the "
             "immune mechanism"),
    _chapter("E00-E90", "Endokrina sjukdomar, nutritionsrubbningar och ämnesomsättningssjukdomar",
             "Endocrine, nutritional and metabolic diseases"),
    _chapter("F00-F99", "Psykiska sjukdomar och syndrom samt beteendestörningar",
             "Mental and behavioural disorders"),
    _chapter("G00-G99", "Sjukdomar i nervsystemet", "Diseases of the nervous system"),
    _chapter("H00-H59", "Sjukdomar i ögat och närliggande organ",
             "Diseases of the eye and adnexa"),
    _chapter("H60-H95", "Sjukdomar i örat och mastoidutskottet",
             "Diseases of the ear and mastoid process"),
    _chapter("I00-I99", "Cirkulationsorganens sjukdomar", "Diseases of the circulatory system"),
    _chapter("J00-J99", "Andningsorganens sjukdomar", "Diseases of the respiratory system"),
    _chapter("K00-K93", "Matsmältningsorganens sjukdomar", "Diseases of the digestive system"),
    _chapter("L00-L99", "Hudens och underhudens sjukdomar",
             "Diseases of the skin and subcutaneous tissue"),
    _chapter("M00-M99", "Sjukdomar i muskuloskeletala systemet och bindväven",
             "Diseases of the musculoskeletal system and connective tissue"),
    _chapter("N00-N99", "Sjukdomar i urin- och könsorganen",
             "Diseases of the genitourinary system"),
    _chapter("O00-O99", "Graviditet, förlossning och barnsängstid",
             "Pregnancy, childbirth and the puerperium"),
    _chapter("P00-P96", "Vissa perinatala tillstånd",
             "Certain conditions originating in the perinatal period"),
    _chapter("Q00-Q99", "Medfödda missbildningar, deformiteter och kromosomavvikelser",
             "Congenital malformations, deformations and chromosomal abnormalities"),
    _chapter("R00-R99", "Symtom, sjukdomstecken och onormala kliniska fynd och laboratoriefynd "
             "som ej klassificeras på annan plats",
             "Symptoms, signs and abnormal clinical and laboratory findings, not elsewhere "
             "classified"),
    _chapter("S00-T98", "Skador, förgiftningar och vissa andra följder av yttre orsaker",
             "Injury, poisoning and certain other consequences of external causes"),
    _chapter("U00-U99", "Koder för särskilda ändamål", "Codes for special purposes"),
    _chapter("V01-Y98", "Yttre orsaker till sjukdom och död",
             "External causes of morbidity and mortality"),
    _chapter("Z00-Z99", "Faktorer av betydelse för hälsotillståndet och för kontakter med hälso- "
             "och sjukvården",
             "Factors influencing health status and contact with health services"),
    Chapter(UTAN, _UTAN_SV, _UTAN_EN),
)

#: The overview's diagnosis groups, in the order of domain.md, then "Utan giltig diagnoskod".
GROUPS: tuple[Group, ...] = (
    Group("SOMATISKA", "Somatiska sjukdomar", "Somatic diseases",
          ("A00-E90", "G00-L99", "N00-N99")),
    Group("MUSKULOSKELETALA", "Muskuloskeletala sjukdomar", "Musculoskeletal diseases",
          ("M00-M99",)),
    Group("PSYKISKA", "Psykiska sjukdomar", "Mental disorders", ("F00-F99",)),
    Group("GRAVIDITET", "Graviditet och förlossning", "Pregnancy and childbirth", ("O00-O99",)),
    Group("SYMTOM", "Symtomdiagnoser", "Symptom diagnoses", ("R00-R99",)),
    Group("FAKTORER", "Faktorer av betydelse för hälsotillståndet",
          "Factors influencing health status", ("Z00-Z99",)),
    Group("OVRIGT", "Övrigt", "Other", ("P00-P96", "Q00-Q99", "S00-Y98")),
    Group(UTAN, _UTAN_SV, _UTAN_EN, ()),
)

CHAPTER_IDS: tuple[str, ...] = tuple(c.id for c in CHAPTERS)
GROUP_IDS: tuple[str, ...] = tuple(g.id for g in GROUPS)

_Key = tuple[str, int]


def _key(code: str | None) -> _Key | None:
    """(letter, two-digit number) of a code, or None when it has no valid letter + two digits."""
    cleaned = clean_diagnosis_code(code)
    m = _CODE.match(cleaned or "")
    return (m.group(1), int(m.group(2))) if m else None


def _bounds(range_id: str) -> tuple[_Key, _Key]:
    m = _RANGE.match(range_id)
    if not m:
        raise ValueError(f"not a code range: {range_id!r}")
    return (m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))


_CHAPTER_BOUNDS = tuple((c.id, _bounds(c.id)) for c in CHAPTERS if c.id != UTAN)
_GROUP_BOUNDS = tuple((g.id, tuple(_bounds(r) for r in g.ranges)) for g in GROUPS)


def in_range(code: str | None, range_id: str) -> bool:
    """True when the code's letter + two digits lie within the inclusive range, e.g. "S00-T98"."""
    key = _key(code)
    low, high = _bounds(range_id)
    return key is not None and low <= key <= high


@lru_cache(maxsize=4096)
def chapter_of(code: str | None) -> str:
    """The id of the code's ICD-10 chapter ("F43.8" -> "F00-F99"), or ``UTAN``."""
    key = _key(code)
    if key is not None:
        for chapter_id, (low, high) in _CHAPTER_BOUNDS:
            if low <= key <= high:
                return chapter_id
    return UTAN


def group_of(code: str | None) -> str:
    """The id of the code's overview group ("M545" -> "MUSKULOSKELETALA"), or ``UTAN``.

    A code outside every chapter is ``UTAN`` here too, even where a group's wide range would
    cover it (D49 lies inside "A00-E90" but in no chapter).
    """
    key = _key(code)
    if key is None or chapter_of(code) == UTAN:
        return UTAN
    for group_id, bounds in _GROUP_BOUNDS:
        if any(low <= key <= high for low, high in bounds):
            return group_id
    return UTAN  # not reached: every chapter lies inside a group


def label(entry: Chapter | Group, language: str) -> str:
    """The entry's label in ``language`` ("sv" or "en"; anything else gives Swedish)."""
    return entry.en if language == "en" else entry.sv
