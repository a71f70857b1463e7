"""Personnummer rules: the 12-digit form, samordningsnummer, age, gender and display.

The numbers are made up, most with Skatteverket's test serials 980–999.
"""
from __future__ import annotations

from datetime import date

import pytest

from portal.domain import persons

PNR_MALE = "198004129832"  # born 1980-04-12, serial 983 (odd: male)
PNR_FEMALE = "197508309908"  # born 1975-08-30, serial 990 (even: female)
SAMORDNING = "198004729839"  # samordningsnummer: day 12 + 60


@pytest.mark.parametrize("value", ["198004129832", "19800412-9832", " 19800412-9832 "])
def test_twelve_digits_with_or_without_hyphen_normalise_to_twelve_digits(value):
    assert persons.normalize(value) == "198004129832"
    assert persons.is_valid(value)


@pytest.mark.parametrize("value", ["8004129832", "800412-9832", "800412+9832"])
def test_ten_digit_forms_are_refused_as_the_century_would_be_a_guess(value):
    assert persons.normalize(value) is None


@pytest.mark.parametrize("value", ["198004129833", "19800412-9831", "197508309900"])
def test_a_wrong_check_digit_is_refused(value):
    assert persons.normalize(value) is None


@pytest.mark.parametrize("value", ["198002309832", "198013019834", "198004929835"],
                         ids=["30 February", "month 13", "samordningsnummer day 32+60"])
def test_an_impossible_date_is_refused_even_with_a_valid_check_digit(value):
    assert persons.normalize(value) is None


@pytest.mark.parametrize("value", [198004129832, None, ["198004129832"], b"198004129832", 1.98e11])
def test_a_value_that_is_not_a_string_is_refused(value):
    assert persons.normalize(value) is None
    assert not persons.is_valid(value)


@pytest.mark.parametrize("value", ["", "1980041298", "1980-04-12-9832", "19800412 9832", "19800412-98321",
                                   "abcdefghijkl"])
def test_malformed_strings_are_refused(value):
    assert persons.normalize(value) is None


def test_full_width_digits_are_not_a_twelve_digit_personnummer():
    assert persons.normalize("１９８００４１２９８３２") in (None, "198004129832")


def test_a_samordningsnummer_is_accepted_and_known_as_one():
    assert persons.normalize("19800472-9839") == SAMORDNING
    assert persons.is_coordination_number(SAMORDNING)
    assert not persons.is_coordination_number(PNR_MALE)


def test_a_samordningsnummer_is_born_on_the_day_minus_sixty():
    assert persons.birth_date(SAMORDNING) == date(1980, 4, 12)
    assert persons.age(SAMORDNING, date(2026, 4, 12)) == 46


def test_age_changes_on_the_birthday_not_the_day_before():
    assert persons.birth_date(PNR_MALE) == date(1980, 4, 12)
    assert persons.age(PNR_MALE, date(2026, 4, 11)) == 45
    assert persons.age(PNR_MALE, date(2026, 4, 12)) == 46
    assert persons.age(PNR_MALE, date(2026, 12, 31)) == 46


def test_a_child_turns_sixteen_on_the_sixteenth_birthday():
    child = "201411249822"  # born 2014-11-24
    assert persons.age(child, date(2030, 11, 23)) == persons.MIN_CITIZEN_AGE - 1
    assert persons.age(child, date(2030, 11, 24)) == persons.MIN_CITIZEN_AGE


def test_gender_comes_from_the_second_to_last_digit():
    assert persons.gender(PNR_MALE) == "M"
    assert persons.gender(PNR_FEMALE) == "F"
    assert persons.gender("198004129840") == "F"  # serial 984: even


def test_a_personnummer_is_displayed_with_a_hyphen_before_the_last_four():
    assert persons.display(PNR_MALE) == "19800412-9832"
    assert persons.display(SAMORDNING) == "19800472-9839"


def test_the_check_digit_is_the_luhn_digit_of_the_ten_digit_form():
    assert persons.luhn_check_digit("800412983") == 2
    assert persons.luhn_check_digit("750830990") == 8
