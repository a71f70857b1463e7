"""ICD-10 chapters and overview groups: matched on letter + two digits, inclusive ranges."""

from __future__ import annotations

import pytest

from portal.domain import diagnosis
from portal.domain.diagnosis import CHAPTERS, GROUPS, UTAN, chapter_of, group_of, in_range

CHAPTER_RANGES = ["A00-B99", "C00-D48", "D50-D89", "E00-E90", "F00-F99", "G00-G99", "H00-H59",
                  "H60-H95", "I00-I99", "J00-J99", "K00-K93", "L00-L99", "M00-M99", "N00-N99",
                  "O00-O99", "P00-P96", "Q00-Q99", "R00-R99", "S00-T98", "U00-U99", "V01-Y98",
                  "Z00-Z99"]


def test_chapters_are_domain_md_chapters_in_order_then_without_code():
    assert [c.id for c in CHAPTERS] == CHAPTER_RANGES + [UTAN]


def test_chapter_labels_are_the_standard_names_with_their_range():
    first = CHAPTERS[0]
    assert first == ("A00-B99", "A00-B99 Vissa infektionssjukdomar och parasitsjukdomar",
                     "A00-B99 Certain infectious and parasitic diseases")
    by_id = {c.id: c for c in CHAPTERS}
    assert by_id["C00-D48"].sv == "C00-D48 Tumörer"
    assert by_id["D50-D89"].en.startswith("D50-D89 Diseases of the blood")
    assert by_id["H00-H59"].sv == "H00-H59 Sjukdomar i ögat och närliggande organ"
    assert by_id["H60-H95"].en == "H60-H95 Diseases of the ear and mastoid process"
    assert by_id["F00-F99"].sv == "F00-F99 Psykiska sjukdomar och syndrom samt beteendestörningar"
    assert by_id[UTAN] == (UTAN, "Utan giltig diagnoskod", "Without a valid diagnosis code")
    for chapter in CHAPTERS[:-1]:
        assert chapter.sv.startswith(chapter.id + " ") and chapter.en.startswith(chapter.id + " ")


@pytest.mark.parametrize("code, chapter", [
    ("F43.8", "F00-F99"),
    ("M545", "M00-M99"),
    ("m54.5 ", "M00-M99"),
    ("A00", "A00-B99"),
    ("B99.9", "A00-B99"),
    ("C50.9", "C00-D48"),
    ("D48.1", "C00-D48"),   # the split at D48/D50
    ("D50.0", "D50-D89"),
    ("D89", "D50-D89"),
    ("E90", "E00-E90"),
    ("H59.0", "H00-H59"),   # the split at H59/H60
    ("H60.1", "H60-H95"),
    ("H95.8", "H60-H95"),
    ("K93", "K00-K93"),
    ("P96.9", "P00-P96"),
    ("S82.1", "S00-T98"),
    ("T98.3", "S00-T98"),   # inclusive upper bound
    ("U07.1", "U00-U99"),
    ("V01", "V01-Y98"),
    ("Y98", "V01-Y98"),
    ("Z73.0", "Z00-Z99"),
])
def test_chapter_of_matches_letter_and_two_digits(code, chapter):
    assert chapter_of(code) == chapter


@pytest.mark.parametrize("code", [
    None, "", "   ", "F4", "F", "43.8", "4F3", "Ö12", "FF43",
    "D49",   # between C00-D48 and D50-D89
    "E91", "H96", "K94", "P97",
    "T99",   # S00-T98 stops at T98
    "V00",   # V01-Y98 starts at V01
    "Y99",
])
def test_invalid_missing_or_uncovered_codes_are_without_valid_code(code):
    assert chapter_of(code) == UTAN
    assert group_of(code) == UTAN


@pytest.mark.parametrize("code, group", [
    ("A09", "SOMATISKA"), ("C50.9", "SOMATISKA"), ("D50", "SOMATISKA"), ("E11.9", "SOMATISKA"),
    ("G43.9", "SOMATISKA"), ("H81.1", "SOMATISKA"), ("I21.9", "SOMATISKA"), ("J06.9", "SOMATISKA"),
    ("K35.8", "SOMATISKA"), ("L40.0", "SOMATISKA"), ("N39.0", "SOMATISKA"),
    ("M54.5", "MUSKULOSKELETALA"), ("M79.7", "MUSKULOSKELETALA"),
    ("F43.2", "PSYKISKA"), ("F32.1", "PSYKISKA"),
    ("O26.8", "GRAVIDITET"),
    ("R53", "SYMTOM"),
    ("Z73.0", "FAKTORER"),
    ("P07.3", "OVRIGT"), ("Q65.0", "OVRIGT"), ("S82.1", "OVRIGT"), ("T14.9", "OVRIGT"),
    ("U07.1", "OVRIGT"), ("X59", "OVRIGT"),
])
def test_group_of(code, group):
    assert group_of(code) == group


def test_groups_are_domain_md_groups_with_labels_and_ranges():
    assert [(g.sv, g.ranges) for g in GROUPS] == [
        ("Somatiska sjukdomar", ("A00-E90", "G00-L99", "N00-N99")),
        ("Muskuloskeletala sjukdomar", ("M00-M99",)),
        ("Psykiska sjukdomar", ("F00-F99",)),
        ("Graviditet och förlossning", ("O00-O99",)),
        ("Symtomdiagnoser", ("R00-R99",)),
        ("Faktorer av betydelse för hälsotillståndet", ("Z00-Z99",)),
        ("Övrigt", ("P00-P96", "Q00-Q99", "S00-Y98")),
        ("Utan giltig diagnoskod", ()),
    ]
    assert all(g.en for g in GROUPS)


def test_every_chapter_lies_in_exactly_one_group():
    for chapter in CHAPTER_RANGES:
        low, high = chapter.split("-")
        assert group_of(low) == group_of(high) != UTAN, chapter


def test_in_range_is_inclusive_on_letter_and_two_digits():
    assert in_range("S00", "S00-T98")
    assert in_range("T98.9", "S00-T98")
    assert not in_range("T99", "S00-T98")
    assert not in_range("R99", "S00-T98")
    assert not in_range(None, "S00-T98")
    with pytest.raises(ValueError):
        in_range("S00", "S00")


def test_label_picks_the_language():
    chapter = CHAPTERS[0]
    assert diagnosis.label(chapter, "en") == chapter.en
    assert diagnosis.label(chapter, "sv") == chapter.sv
    assert diagnosis.label(GROUPS[0], "de") == "Somatiska sjukdomar"
