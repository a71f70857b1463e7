"""The accessibility statement's facts (domain/a11y_status.py) and the feedback form's rules
(domain/a11y_feedback.py), without Flask."""
from __future__ import annotations

import json
import os
from datetime import date, datetime

import pytest

from portal.domain import a11y_feedback as feedback
from portal.domain import a11y_status as status
from portal.security import mask_pnr

GOOD = {"tested_on": "2026-12-01", "assessment": "self", "methods": ["axe", "keyboard"], "status": "full",
        "known_failures": [], "manual_only": []}
FAILURE = {"criterion": "1.4.10", "title_sv": "T", "title_en": "T", "where_sv": "W", "where_en": "W"}


def test_no_known_failure_is_full_any_known_failure_partial():
    assert status.derive_status([]) == status.FULL
    found = status.parse(GOOD | {"known_failures": [FAILURE], "status": "partial"})
    assert found.status == status.PARTIAL and found.consistent
    assert found.known_failures[0].plan == {"sv": "", "en": ""}  # a plan is optional
    assert not status.parse(GOOD | {"known_failures": [FAILURE]}).consistent  # says full, has a failure
    assert not status.parse(GOOD | {"status": "none"}).consistent


def test_updated_on_defaults_to_the_test_date():
    found = status.parse(GOOD)
    assert found.tested_on == found.updated_on == date(2026, 12, 1)


@pytest.mark.parametrize("change,problem", [
    ({"tested_on": "1 dec"}, "tested_on"),
    ({"assessment": "vibes"}, "assessment"),
    ({"methods": []}, "methods"),
    ({"methods": ["axe", "magic"]}, "unknown ['magic']"),
    ({"status": "mostly"}, "status"),
    ({"pages_checked": 0}, "pages_checked"),
    ({"known_failures": [FAILURE | {"criterion": "1.4.6"}]}, "'1.4.6' is not a WCAG 2.1"),  # AAA: not required
    ({"known_failures": [FAILURE | {"criterion": "2.4.11"}]}, "'2.4.11' is not a WCAG 2.1"),  # WCAG 2.2
    ({"known_failures": [{k: v for k, v in FAILURE.items() if k != "where_en"}]}, "known_failures[0].where_en"),
    ({"manual_only": [{"criteria": [], "note_sv": "x", "note_en": "x"}]}, "manual_only[0].criteria"),
])
def test_a_bad_status_file_is_refused_naming_the_problem(change, problem):
    with pytest.raises(status.StatusFileError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        status.parse(GOOD | change)


def test_the_criteria_are_the_fifty_of_wcag_21_a_and_aa():
    assert len(status.WCAG21_A_AA) == 50
    assert {"1.4.10", "1.3.5", "2.5.4", "4.1.3"} <= status.WCAG21_A_AA


def test_the_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "status.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    assert status.load(path).status == status.FULL
    path.write_text(json.dumps(GOOD | {"known_failures": [FAILURE], "status": "partial"}), encoding="utf-8")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    assert status.load(path).status == status.PARTIAL
    with pytest.raises(status.StatusFileError):
        status.load(tmp_path / "missing.json")


ORIGINS = ("https://intyg.example.se",)


@pytest.mark.parametrize("value,expected", [
    ("", ("", "OK")),
    ("/mina-intyg/", ("/mina-intyg/", "OK")),
    ("https://intyg.example.se/mina-intyg/?typ=FK7804#x", ("/mina-intyg/?typ=FK7804", "OK")),
    ("https://intyg.example.se", ("/", "OK")),
    ("https://intyg.example.se.evil.example/", ("", "PAGE_INVALID")),
    ("https://evil.example/", ("", "PAGE_INVALID")),
    ("//evil.example/", ("", "PAGE_INVALID")),
    ("/\\evil.example", ("", "PAGE_INVALID")),
    ("mina-intyg", ("", "PAGE_INVALID")),
    ("/a\nb", ("", "PAGE_INVALID")),
    ("/" + "a" * 300, ("", "PAGE_INVALID")),
    ("/x/19121212-1212", ("", "PAGE_PERSONAL")),
    ("/x?q=191212121212", ("", "PAGE_PERSONAL")),
    ("/x?q=19121212%252D1212", ("", "PAGE_PERSONAL")),
    ("/rehabstod/pagaende?fritext=Anna", ("", "PAGE_PERSONAL")),
    ("/arbetsgivare/" + "A" * 43, ("", "PAGE_PERSONAL")),
    ("/statistik/?ar=2026", ("/statistik/?ar=2026", "OK")),
])
def test_the_page_is_a_local_path_with_nothing_personal(value, expected):
    assert feedback.local_page(value, ORIGINS, mask_pnr) == expected


def parse(**fields):
    return feedback.parse({"problem": "Knappen syns inte"} | fields, language="sv", own_origins=ORIGINS,
                          mask=mask_pnr)


def test_a_valid_report():
    form = parse(email=" anna@example.se ", phone="070-123 45  67", format="braille", page="/mina-intyg/")
    assert form.errors == {}
    assert form.report == feedback.Report("Knappen syns inte", "/mina-intyg/", "anna@example.se", "070-123 45 67",
                                          "braille", "sv")
    assert form.report.reachable
    assert not parse().report.reachable


@pytest.mark.parametrize("phone,ok", [("070-123 45 67", True), ("+46 (0)70 1234567", True), ("12345", False),
                                      ("1" * 16, False), ("070 12 34 56 x", False)])
def test_phone_numbers(phone, ok):
    assert ("phone" not in parse(phone=phone).errors) is ok


def test_asking_for_another_format_needs_a_way_to_reach_the_reporter():
    assert parse(format="easy_read").errors == {"email": "CONTACT_NEEDED"}
    assert parse(format="easy_read", phone="070-123 45 67").errors == {}
    assert parse(format="easy_read", email="bad").errors == {"email": "EMAIL_INVALID"}


def test_the_receipt_number():
    assert feedback.reference(datetime(2026, 12, 1, 10), 123) == "TG-2026-000123"
    assert feedback.REFERENCE_RE.fullmatch(feedback.reference(datetime(2026, 1, 1), 1_234_567))
    assert feedback.purge_before(datetime(2026, 12, 1)) == datetime(2024, 12, 1)
