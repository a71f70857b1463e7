"""Rehabstöd's list rules: visibility and masking per role, FK question counts, filters, sorting,
degrees, settings and the overview.

The data is one care unit on 23 November 2026: ten patients' FK7804 certificates run through the
sick-leave engine (``sick_leave.unit_cases``), as the blueprint does, and PU-tjänsten's answer
for them (two protected, two unknown, one deceased, one valideringsperson).
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, datetime, time, timedelta

import pytest

from portal.domain import rehab
from portal.domain.access import LAKARE, REHABKOORDINATOR
from portal.domain.demo import make_pnr
from portal.domain.persons import luhn_check_digit
from portal.domain.rehab import (
    MASKED,
    UNKNOWN_NAME,
    CaseRow,
    Filters,
    PersonFacts,
    Viewer,
    apply_filters,
    degree_steps,
    overview,
    parse_filters,
    question_counts,
    sort_rows,
    validate_settings,
    visible_rows,
)
from portal.domain.sick_leave import Period, Settings, SickLeaveCertificate, unit_cases

TODAY = date(2026, 11, 23)
UNIT = "TSTNMT2321000156-VE10"
DR_A = "TSTNMT2321000156-L001"  # Dr Ahlgren
DR_B = "TSTNMT2321000156-L002"  # Dr Berg
COORDINATOR = "TSTNMT2321000156-R001"
DOCTOR_NAMES = {DR_A: "Sara Ahlgren", DR_B: "Per Berg"}
SETTINGS = Settings(max_days_between_certificates=5, max_days_since_sjukfall_end=5)

# serial 98x: the third serial digit gives the gender (odd: M, even: F)
ANNA = make_pnr(date(1985, 3, 14), 982)
BERTIL = make_pnr(date(1962, 7, 2), 981)
CECILIA = make_pnr(date(1990, 1, 20), 984)  # protected, Dr A's
DAVID = make_pnr(date(1978, 9, 9), 983)  # protected, Dr B's
ERIK = make_pnr(date(1995, 5, 5), 985)  # unknown to PU, Dr A's
FRIDA = make_pnr(date(2000, 2, 29), 986)  # unknown to PU, Dr B's
GUSTAV = make_pnr(date(1950, 12, 1), 987)  # deceased, Dr A's
HELENA = make_pnr(date(1970, 10, 10), 988)  # valideringsperson, Dr A's
INGRID = make_pnr(date(1958, 11, 23), 990)  # recently ended, Dr B's, 68 today
JOHAN = make_pnr(date(1970, 4, 4), 991)  # over a year, Dr A's
LISA = make_pnr(date(1980, 6, 15), 992)  # exactly 90 days, Dr A's

# Real names of the protected and unknown patients: must never reach a coordinator, and a
# protected one's name must never reach anyone.
CECILIA_NAME = "Aase Aalto"  # would sort first by real name
DAVID_NAME = "David Döljsson"


def period(start: str, end: str, degree: int) -> Period:
    return Period(date.fromisoformat(start), date.fromisoformat(end), degree)


def certificate(cid: str, pnr: str, *periods: Period, diagnosis: str, doctor: str,
                signed: datetime | None = None,
                occupation: tuple[str, ...] = ("NUVARANDE_ARBETE",)) -> SickLeaveCertificate:
    return SickLeaveCertificate(
        id=cid, patient_id=pnr, periods=periods, diagnosis=diagnosis, doctor_id=doctor,
        signed=signed or datetime.combine(periods[0].start - timedelta(days=1), time(10, 30)),
        unit_id=UNIT, care_provider_id="TSTNMT2321000156-VG01", occupation=occupation)


CERTIFICATES = [
    certificate("c-anna-1", ANNA, period("2026-10-01", "2026-10-31", 100),
                period("2026-11-01", "2026-12-15", 50), diagnosis="F43.2", doctor=DR_A),
    certificate("c-bertil-1", BERTIL, period("2026-05-04", "2026-07-31", 100),
                diagnosis="M54.5", doctor=DR_B),
    certificate("c-bertil-2", BERTIL, period("2026-08-01", "2026-12-31", 75),
                diagnosis="M54.5", doctor=DR_B, occupation=("ARBETSSOKANDE",)),
    certificate("c-cecilia-1", CECILIA, period("2026-11-10", "2026-12-07", 100),
                diagnosis="F32.1", doctor=DR_A),
    certificate("c-david-1", DAVID, period("2026-11-01", "2026-11-30", 25),
                diagnosis="J06.9", doctor=DR_B),
    certificate("c-erik-1", ERIK, period("2026-11-20", "2026-12-04", 100),
                diagnosis="S82.1", doctor=DR_A),
    certificate("c-frida-1", FRIDA, period("2026-11-15", "2026-11-29", 50),
                diagnosis="R53", doctor=DR_B),
    certificate("c-gustav-1", GUSTAV, period("2026-11-01", "2026-12-31", 100),
                diagnosis="C61", doctor=DR_A),
    certificate("c-helena-1", HELENA, period("2026-11-01", "2026-12-01", 100),
                diagnosis="M54.5", doctor=DR_A),
    certificate("c-ingrid-1", INGRID, period("2026-10-20", "2026-11-20", 100),
                diagnosis="Z73.0", doctor=DR_B),
    certificate("c-johan-1", JOHAN, period("2025-09-01", "2026-03-31", 100),
                diagnosis="F33.1", doctor=DR_B),
    certificate("c-johan-2", JOHAN, period("2026-04-01", "2026-12-20", 50),
                diagnosis="F33.1", doctor=DR_A, occupation=("NUVARANDE_ARBETE", "STUDIER")),
    certificate("c-lisa-1", LISA, period("2026-09-01", "2026-10-15", 100),
                period("2026-10-16", "2026-11-29", 25), diagnosis="F41.1", doctor=DR_A),
]

PERSONS = {
    ANNA: PersonFacts(ANNA, "Anna Andersson"),
    BERTIL: PersonFacts(BERTIL, "Bertil Åberg"),
    CECILIA: PersonFacts(CECILIA, CECILIA_NAME, protected=True),
    DAVID: PersonFacts(DAVID, DAVID_NAME, protected=True),
    GUSTAV: PersonFacts(GUSTAV, "Gustav Gran", deceased=True),
    HELENA: PersonFacts(HELENA, "Helena Validering", validation_person=True),
    INGRID: PersonFacts(INGRID, "Ingrid Isaksson"),
    JOHAN: PersonFacts(JOHAN, "Johan Öberg"),
    LISA: PersonFacts(LISA, "Lisa Zetterlund"),
    # ERIK and FRIDA: unknown to PU-tjänsten
}

MESSAGES_SENT = datetime(2026, 11, 10, 14, 0)
QUESTIONS = {"c-anna-1": (1, 0), "c-bertil-1": (0, 1), "c-bertil-2": (1, 2),
             "c-cecilia-1": (1, 1), "c-not-in-any-case": (5, 5)}

CASES = unit_cases(CERTIFICATES, TODAY, SETTINGS)

COORDINATOR_VIEWER = Viewer(COORDINATOR, REHABKOORDINATOR, UNIT)
DR_A_VIEWER = Viewer(DR_A, LAKARE, UNIT)
DR_B_VIEWER = Viewer(DR_B, LAKARE, UNIT)


def rows_for(viewer: Viewer, persons=None, questions=None) -> list[CaseRow]:
    return visible_rows(CASES, PERSONS if persons is None else persons, viewer, TODAY,
                        doctor_names=DOCTOR_NAMES,
                        questions=QUESTIONS if questions is None else questions)


def by_pnr(rows: list[CaseRow]) -> dict[str, CaseRow]:
    return {row.patient_pnr: row for row in rows}


def display_fields(row: CaseRow) -> str:
    """Every field of a row except the engine's case, as text."""
    return " ".join(str(getattr(row, f.name)) for f in fields(row) if f.name != "case")


def pnrs(rows: list[CaseRow]) -> list[str]:
    return [row.patient_pnr for row in rows]


@pytest.fixture
def coordinator_rows() -> list[CaseRow]:
    return rows_for(COORDINATOR_VIEWER)


# --- The engine gives a case to every patient (so hiding is this module's doing) ----------------


def test_the_engine_lists_every_patient_of_the_unit():
    assert {case.patient_id for case in CASES} == {
        ANNA, BERTIL, CECILIA, DAVID, ERIK, FRIDA, GUSTAV, HELENA, INGRID, JOHAN, LISA}


# --- Coordinator -------------------------------------------------------------------------------


def test_coordinator_sees_the_whole_unit_except_protected_unknown_deceased_and_validation(
        coordinator_rows):
    assert sorted(pnrs(coordinator_rows)) == sorted([ANNA, BERTIL, INGRID, JOHAN, LISA])


def test_coordinator_rows_never_contain_a_protected_or_unknown_patient_anywhere(coordinator_rows):
    hidden = [CECILIA, DAVID, ERIK, FRIDA, CECILIA_NAME, DAVID_NAME, MASKED, UNKNOWN_NAME]
    for row in coordinator_rows:
        text = repr(row)  # every field, the engine's case and its certificates included
        for secret in hidden:
            assert secret not in text
            assert secret[:8] + "-" + secret[8:] not in text


def test_coordinator_sees_other_doctors_cases_with_the_doctors_name(coordinator_rows):
    rows = by_pnr(coordinator_rows)
    assert rows[BERTIL].doctor_id == DR_B and rows[BERTIL].doctor_name == "Per Berg"
    assert rows[ANNA].doctor_name == "Sara Ahlgren"


def test_coordinator_does_not_see_a_known_patient_when_pu_knows_nobody():
    assert rows_for(COORDINATOR_VIEWER, persons={}) == []


# --- Doctor ------------------------------------------------------------------------------------


def test_doctor_sees_only_cases_whose_deciding_certificate_they_signed():
    assert sorted(pnrs(rows_for(DR_A_VIEWER))) == sorted([ANNA, CECILIA, ERIK, JOHAN, LISA])
    assert sorted(pnrs(rows_for(DR_B_VIEWER))) == sorted([BERTIL, DAVID, FRIDA, INGRID])
    assert all(row.doctor_id == DR_A for row in rows_for(DR_A_VIEWER))


def test_doctor_who_signed_an_earlier_certificate_only_does_not_see_the_case():
    # Johan's first certificate is Dr B's, the deciding (active) one Dr A's.
    assert JOHAN not in pnrs(rows_for(DR_B_VIEWER))
    assert by_pnr(rows_for(DR_A_VIEWER))[JOHAN].certificate_count == 2


def test_doctor_sees_own_protected_patient_masked_and_never_the_real_name():
    row = by_pnr(rows_for(DR_A_VIEWER))[CECILIA]
    assert row.masked is True
    assert row.name == MASKED == "Sekretessmarkerad uppgift"
    assert row.patient_pnr == CECILIA  # the personnummer stays, for PDL and the patient link
    assert CECILIA_NAME not in repr(row)
    assert "Aase" not in display_fields(row) and "Aalto" not in display_fields(row)


def test_doctor_never_sees_another_doctors_protected_patient():
    rows = rows_for(DR_A_VIEWER)
    assert DAVID not in pnrs(rows)
    assert all(DAVID_NAME not in repr(row) for row in rows)
    assert by_pnr(rows_for(DR_B_VIEWER))[DAVID].name == MASKED


def test_doctor_sees_own_patient_unknown_to_pu_with_name_unknown():
    row = by_pnr(rows_for(DR_A_VIEWER))[ERIK]
    assert row.name == UNKNOWN_NAME == "Namn okänt"
    assert row.masked is False and row.unknown is True


def test_known_patient_without_a_name_is_shown_as_name_unknown():
    persons = {**PERSONS, ANNA: PersonFacts(ANNA, "  ")}
    row = by_pnr(rows_for(COORDINATOR_VIEWER, persons=persons))[ANNA]
    assert row.name == UNKNOWN_NAME and not row.masked


@pytest.mark.parametrize("viewer", [COORDINATOR_VIEWER, DR_A_VIEWER, DR_B_VIEWER])
def test_deceased_and_valideringspersoner_never_appear(viewer):
    rows = rows_for(viewer)
    for pnr, name in ((GUSTAV, "Gustav Gran"), (HELENA, "Helena Validering")):
        assert pnr not in pnrs(rows)
        assert all(name not in repr(row) and pnr not in repr(row) for row in rows)


def test_valideringsperson_never_appears_even_when_protected_and_the_doctors_own():
    persons = {**PERSONS, HELENA: PersonFacts(HELENA, "Helena Validering", protected=True,
                                              validation_person=True)}
    assert HELENA not in pnrs(rows_for(DR_A_VIEWER, persons=persons))


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError):
        rows_for(Viewer(DR_A, "ADMIN", UNIT))
    with pytest.raises(ValueError):
        rehab.may_see_patient(PERSONS[ANNA], Viewer(DR_A, "", UNIT))


@pytest.mark.parametrize("person, coordinator, doctor", [
    (PersonFacts(ANNA, "Anna Andersson"), True, True),
    (PersonFacts(CECILIA, CECILIA_NAME, protected=True), False, True),
    (None, False, True),
    (PersonFacts(GUSTAV, "Gustav Gran", deceased=True), False, False),
    (PersonFacts(HELENA, "Helena Validering", validation_person=True), False, False),
])
def test_may_see_patient(person, coordinator, doctor):
    assert rehab.may_see_patient(person, COORDINATOR_VIEWER) is coordinator
    assert rehab.may_see_patient(person, DR_A_VIEWER) is doctor


# --- A row's figures ---------------------------------------------------------------------------


def test_row_figures_come_from_the_case_and_the_personnummer(coordinator_rows):
    bertil = by_pnr(coordinator_rows)[BERTIL]
    assert (bertil.name, bertil.masked) == ("Bertil Åberg", False)
    assert (bertil.age, bertil.gender) == (64, "M")
    assert bertil.diagnosis == "M545" and bertil.chapter == "M00-M99"
    assert bertil.occupation == ("ARBETSSOKANDE",)  # from the deciding certificate
    assert (bertil.start, bertil.end) == (date(2026, 5, 4), date(2026, 12, 31))
    assert bertil.days == 242 and bertil.certificate_count == 2
    assert bertil.degrees == (75,) and bertil.active_degree == 75
    anna = by_pnr(coordinator_rows)[ANNA]
    assert (anna.age, anna.gender, anna.chapter) == (41, "F", "F00-F99")
    assert anna.degrees == (100, 50) and anna.active_degree == 50


def test_age_counts_a_birthday_today_and_a_samordningsnummer():
    assert by_pnr(rows_for(COORDINATOR_VIEWER))[INGRID].age == 68
    nine = "700481981"  # born 21 April 1970: a samordningsnummer has day + 60; serial 981 (M)
    samordning = f"19{nine}{luhn_check_digit(nine)}"
    cert = certificate("c-s-1", samordning, period("2026-11-01", "2026-11-30", 100),
                       diagnosis="F43.2", doctor=DR_A)
    persons = {samordning: PersonFacts(samordning, "Sam Ordning")}
    rows = visible_rows(unit_cases([cert], TODAY), persons, COORDINATOR_VIEWER, TODAY,
                        doctor_names=DOCTOR_NAMES)
    assert rows[0].age == 56 and rows[0].gender == "M"


def test_doctor_name_falls_back_to_the_certificate_then_the_hsa_id():
    rows = visible_rows(CASES, PERSONS, COORDINATOR_VIEWER, TODAY, doctor_names={})
    assert by_pnr(rows)[ANNA].doctor_name == DR_A


def test_rows_keep_the_engines_order(coordinator_rows):
    assert pnrs(coordinator_rows) == [c.patient_id for c in CASES if c.patient_id in
                                      {ANNA, BERTIL, INGRID, JOHAN, LISA}]


def test_question_counts_are_summed_over_the_cases_certificates(coordinator_rows):
    rows = by_pnr(coordinator_rows)
    assert (rows[ANNA].komplettering, rows[ANNA].administrative) == (1, 0)
    assert (rows[BERTIL].komplettering, rows[BERTIL].administrative) == (1, 3)
    assert (rows[LISA].komplettering, rows[LISA].administrative) == (0, 0)
    assert rows[BERTIL].unanswered == 4


def test_questions_default_to_none():
    rows = visible_rows(CASES, PERSONS, COORDINATOR_VIEWER, TODAY, doctor_names=DOCTOR_NAMES)
    assert all(row.unanswered == 0 for row in rows)


# --- FK questions ------------------------------------------------------------------------------


def message(subject="KOMPLT", *, certificate_id="c-anna-1", sender="FK", sent_at=MESSAGES_SENT,
            handled_at=None, answered=False) -> dict:
    return {"certificate_id": certificate_id, "subject": subject, "sender": sender,
            "sent_at": sent_at, "handled_at": handled_at, "answered": answered}


def test_question_counts_komplettering_and_administrative_per_certificate():
    counts = question_counts([
        message("KOMPLT"), message("KOMPLT"), message("AVSTMN"), message("KONTKT"),
        message("OVRIGT", certificate_id="c-bertil-2"),
    ], TODAY)
    assert counts == {"c-anna-1": (2, 2), "c-bertil-2": (0, 1)}


@pytest.mark.parametrize("excluded", [
    message("PAMINN"),
    message("KOMPLT", sender="CARE"),
    message("OVRIGT", sender="CARE"),
    message("KOMPLT", answered=True),
    message("AVSTMN", answered=True),
    message("KOMPLT", handled_at=datetime(2026, 11, 12, 9, 0)),
    message("KONTKT", handled_at=datetime(2026, 11, 12, 9, 0)),
    message("KOMPLT", sent_at=datetime(2026, 8, 24, 23, 59)),  # 91 days ago
    message("XYZ"),
], ids=["reminder", "care-komplt", "care-ovrigt", "answered-komplt", "answered-avstmn",
        "handled-komplt", "handled-kontkt", "older-than-90-days", "unknown-subject"])
def test_question_counts_exclude(excluded):
    assert question_counts([excluded, message("AVSTMN")], TODAY) == {"c-anna-1": (0, 1)}


def test_question_sent_90_days_ago_still_counts():
    sent = datetime.combine(TODAY - timedelta(days=90), time(0, 0))
    assert question_counts([message(sent_at=sent)], TODAY) == {"c-anna-1": (1, 0)}


def test_question_counts_of_nothing():
    assert question_counts([], TODAY) == {}


# --- Degrees -----------------------------------------------------------------------------------


def test_degree_steps_flag_todays_degree(coordinator_rows):
    rows = by_pnr(coordinator_rows)
    assert degree_steps(rows[ANNA]) == [(100, False), (50, True)]
    assert degree_steps(rows[LISA]) == [(100, False), (25, True)]
    assert degree_steps(rows[BERTIL]) == [(75, True)]


def test_degree_steps_flag_nothing_for_a_recently_ended_case(coordinator_rows):
    ingrid = by_pnr(coordinator_rows)[INGRID]
    assert ingrid.active_degree is None
    assert degree_steps(ingrid) == [(100, False)]


def test_degree_steps_flag_one_period_when_a_degree_repeats():
    cert = certificate("c-r-1", ANNA, period("2026-10-01", "2026-10-31", 100),
                       period("2026-11-01", "2026-11-15", 50),
                       period("2026-11-16", "2026-12-31", 100), diagnosis="F43.2", doctor=DR_A)
    row = visible_rows(unit_cases([cert], TODAY), PERSONS, DR_A_VIEWER, TODAY,
                       doctor_names=DOCTOR_NAMES)[0]
    assert degree_steps(row) == [(100, False), (50, False), (100, True)]


# --- Length buckets ----------------------------------------------------------------------------


@pytest.mark.parametrize("days, bucket", [
    (1, "lt90"), (89, "lt90"), (90, "90-180"), (180, "90-180"), (181, "181-365"),
    (365, "181-365"), (366, "gt365"), (1200, "gt365"),
])
def test_length_bucket_limits(days, bucket):
    assert rehab.length_bucket(days) == bucket


def test_length_bucket_labels_are_domain_mds():
    assert [b.sv for b in rehab.LENGTH_BUCKETS] == ["< 90", "Dag 90–180", "Dag 181–365",
                                                    "> 365 dagar"]


def test_case_lengths_fall_in_their_buckets(coordinator_rows):
    rows = by_pnr(coordinator_rows)
    assert rows[LISA].days == 90 and rows[LISA].length_bucket == "90-180"
    assert rows[JOHAN].days == 476 and rows[JOHAN].length_bucket == "gt365"
    assert rows[ANNA].days == 76 and rows[ANNA].length_bucket == "lt90"


# --- Parsing filters ---------------------------------------------------------------------------


def test_no_parameters_give_no_filters():
    filters, errors = parse_filters({})
    assert filters == Filters() and errors == []
    assert not filters.active and filters.show_personal and filters.sort_key == "slut"


def test_every_filter_parses_from_its_parameter():
    filters, errors = parse_filters({
        "kapitel": ["F00-F99", "M00-M99"], "lakare": [DR_A], "alder_fran": ["30"],
        "alder_till": ["65"], "kon": ["F"], "langd": ["lt90", "gt365"],
        "slut_fran": ["2026-12-01"], "slut_till": ["2026-12-31"], "grad": ["50", "100"],
        "arenden": ["1"], "fritext": ["  anna   andersson "], "sortera": ["namn"],
        "ordning": ["desc"], "personuppgifter": ["0"],
    })
    assert errors == []
    assert filters == Filters(
        chapters=("F00-F99", "M00-M99"), doctors=(DR_A,), age_from=30, age_to=65, genders=("F",),
        lengths=("lt90", "gt365"), end_from=date(2026, 12, 1), end_to=date(2026, 12, 31),
        degrees=(50, 100), with_questions=True, text="anna andersson", sort="namn",
        order="desc", show_personal=False)
    assert filters.active


def test_unknown_choice_values_are_dropped_silently():
    filters, errors = parse_filters({
        "kapitel": ["F00-F99", "X00-X99"], "kon": ["X", "M"], "langd": ["long"],
        "grad": ["60", "abc", "25"], "arenden": ["yes"], "sortera": ["nr"],
        "ordning": ["sideways"], "personuppgifter": ["maybe"],
    })
    assert errors == []
    assert filters == Filters(chapters=("F00-F99",), genders=("M",), degrees=(25,))


def test_empty_values_are_no_filter():
    filters, errors = parse_filters({"alder_fran": [""], "slut_till": [" "], "fritext": [""],
                                     "kapitel": [""]})
    assert filters == Filters() and errors == []


def test_repeated_values_count_once():
    filters, _ = parse_filters({"kon": ["F", "F"], "lakare": [DR_A, DR_A, DR_B]})
    assert filters.genders == ("F",) and filters.doctors == (DR_A, DR_B)


@pytest.mark.parametrize("args, error", [
    ({"alder_fran": ["trettio"]}, ("alder_fran", "not_a_number")),
    ({"alder_fran": ["-1"]}, ("alder_fran", "not_a_number")),
    ({"alder_till": ["4.5"]}, ("alder_till", "not_a_number")),
    ({"alder_till": ["121"]}, ("alder_till", "out_of_range")),
    ({"alder_fran": ["9" * 5000]}, ("alder_fran", "out_of_range")),
    ({"alder_fran": ["60"], "alder_till": ["30"]}, ("alder_fran", "from_after_to")),
    ({"slut_fran": ["2026-13-01"]}, ("slut_fran", "not_a_date")),
    ({"slut_fran": ["20261201"]}, ("slut_fran", "not_a_date")),
    ({"slut_till": ["1 december 2026"]}, ("slut_till", "not_a_date")),
    ({"slut_till": ["2026-02-30"]}, ("slut_till", "not_a_date")),
    ({"slut_fran": ["2026-12-31"], "slut_till": ["2026-12-01"]}, ("slut_fran", "from_after_to")),
    ({"fritext": ["x" * 101]}, ("fritext", "too_long")),
])
def test_parse_errors_are_reported_and_the_value_left_out(args, error):
    filters, errors = parse_filters(args)
    assert errors == [error]
    assert filters == Filters()


def test_valid_filters_stay_when_another_is_invalid():
    filters, errors = parse_filters({"alder_fran": ["abc"], "alder_till": ["40"], "kon": ["F"]})
    assert errors == [("alder_fran", "not_a_number")]
    assert (filters.age_from, filters.age_to, filters.genders) == (None, 40, ("F",))


def test_age_limits_0_and_120_are_valid():
    filters, errors = parse_filters({"alder_fran": ["0"], "alder_till": ["120"]})
    assert errors == [] and (filters.age_from, filters.age_to) == (0, 120)


def test_as_query_round_trips_and_leaves_out_defaults():
    args = {"kapitel": ["F00-F99"], "alder_fran": ["30"], "slut_till": ["2026-12-31"],
            "grad": ["50"], "arenden": ["1"], "fritext": ["anna"], "sortera": ["alder"],
            "ordning": ["desc"], "personuppgifter": ["0"]}
    filters, _ = parse_filters(args)
    query = filters.as_query()
    assert query == [("kapitel", "F00-F99"), ("alder_fran", "30"), ("slut_till", "2026-12-31"),
                     ("grad", "50"), ("arenden", "1"), ("fritext", "anna"), ("sortera", "alder"),
                     ("ordning", "desc"), ("personuppgifter", "0")]
    again: dict[str, list[str]] = {}
    for name, value in query:
        again.setdefault(name, []).append(value)
    assert parse_filters(again)[0] == filters
    assert Filters().as_query() == []
    assert ("sortera", "alder") not in filters.as_query(sort=False)


def test_without_removes_one_tag_or_a_whole_parameter():
    filters, _ = parse_filters({"kon": ["F", "M"], "fritext": ["anna"]})
    assert filters.without("kon", "F") == [("kon", "M"), ("fritext", "anna")]
    assert filters.without("kon") == [("fritext", "anna")]


def test_sort_query_toggles_the_current_column():
    filters = Filters(genders=("F",))
    assert filters.sort_query("alder") == [("kon", "F"), ("sortera", "alder")]
    assert filters.sort_query("slut") == [("kon", "F"), ("sortera", "slut"), ("ordning", "desc")]
    assert replace(filters, sort="alder", order="desc").sort_query("alder") == [
        ("kon", "F"), ("sortera", "alder")]
    assert filters.sort_state("slut") == "ascending" and filters.sort_state("alder") is None


def test_sort_and_personal_switch_are_not_active_filters():
    assert not Filters(sort="namn", order="desc", show_personal=False).active


# --- Applying filters --------------------------------------------------------------------------


def filtered(rows, **args) -> list[str]:
    filters, errors = parse_filters({k: v if isinstance(v, list) else [v] for k, v in args.items()})
    assert errors == []
    return sorted(pnrs(apply_filters(rows, filters)))


def test_no_filter_keeps_every_row(coordinator_rows):
    assert apply_filters(coordinator_rows, Filters()) == coordinator_rows


def test_filter_by_chapter_several_at_once(coordinator_rows):
    assert filtered(coordinator_rows, kapitel="F00-F99") == sorted([ANNA, JOHAN, LISA])
    assert filtered(coordinator_rows, kapitel=["M00-M99", "Z00-Z99"]) == sorted([BERTIL, INGRID])
    assert filtered(coordinator_rows, kapitel="UTAN") == []


def test_filter_by_doctor(coordinator_rows):
    assert filtered(coordinator_rows, lakare=DR_B) == sorted([BERTIL, INGRID])
    assert filtered(coordinator_rows, lakare=[DR_A, DR_B]) == sorted(pnrs(coordinator_rows))


def test_filter_by_age_range_inclusive(coordinator_rows):
    # ages: Anna 41, Lisa 46, Johan 56, Bertil 64, Ingrid 68
    assert filtered(coordinator_rows, alder_fran="46", alder_till="64") == sorted(
        [LISA, JOHAN, BERTIL])
    assert filtered(coordinator_rows, alder_fran="65") == [INGRID]
    assert filtered(coordinator_rows, alder_till="41") == [ANNA]


def test_filter_by_gender(coordinator_rows):
    assert filtered(coordinator_rows, kon="M") == sorted([BERTIL, JOHAN])
    assert filtered(coordinator_rows, kon=["M", "F"]) == sorted(pnrs(coordinator_rows))


def test_filter_by_length_bucket(coordinator_rows):
    # days: Anna 76, Lisa 90, Bertil 242, Ingrid 32, Johan 476
    assert filtered(coordinator_rows, langd="lt90") == sorted([ANNA, INGRID])
    assert filtered(coordinator_rows, langd="90-180") == [LISA]
    assert filtered(coordinator_rows, langd=["181-365", "gt365"]) == sorted([BERTIL, JOHAN])


def test_filter_by_end_date_range_inclusive(coordinator_rows):
    # ends: Ingrid 11-20, Lisa 11-29, Anna 12-15, Johan 12-20, Bertil 12-31
    assert filtered(coordinator_rows, slut_fran="2026-11-29", slut_till="2026-12-20") == sorted(
        [LISA, ANNA, JOHAN])
    assert filtered(coordinator_rows, slut_till="2026-11-20") == [INGRID]


def test_filter_by_todays_degree(coordinator_rows):
    # today: Anna 50, Johan 50, Lisa 25, Bertil 75, Ingrid none (recently ended)
    assert filtered(coordinator_rows, grad="50") == sorted([ANNA, JOHAN])
    assert filtered(coordinator_rows, grad=["25", "75"]) == sorted([LISA, BERTIL])
    assert filtered(coordinator_rows, grad="100") == []  # Anna and Lisa began at 100 %


def test_filter_with_unanswered_questions(coordinator_rows):
    assert filtered(coordinator_rows, arenden="1") == sorted([ANNA, BERTIL])


def test_free_text_matches_name_personnummer_and_diagnosis(coordinator_rows):
    assert filtered(coordinator_rows, fritext="ANDERSSON") == [ANNA]
    assert filtered(coordinator_rows, fritext="åberg") == [BERTIL]
    assert filtered(coordinator_rows, fritext=BERTIL) == [BERTIL]
    assert filtered(coordinator_rows, fritext=BERTIL[:8] + "-" + BERTIL[8:]) == [BERTIL]
    assert filtered(coordinator_rows, fritext=BERTIL[2:8] + "-" + BERTIL[8:]) == [BERTIL]
    assert filtered(coordinator_rows, fritext="m54.5") == [BERTIL]
    assert filtered(coordinator_rows, fritext="F3") == [JOHAN]
    assert filtered(coordinator_rows, fritext="johan F33") == [JOHAN]  # every word must match
    assert filtered(coordinator_rows, fritext="johan M54") == []


def test_free_text_never_matches_a_masked_or_unknown_name():
    rows = rows_for(DR_A_VIEWER)
    assert filtered(rows, fritext="Aalto") == []
    assert filtered(rows, fritext="Sekretessmarkerad") == []
    assert filtered(rows, fritext="okänt") == []
    assert filtered(rows, fritext=CECILIA) == [CECILIA]  # the doctor sees the personnummer


def test_filters_combine(coordinator_rows):
    assert filtered(coordinator_rows, kapitel="F00-F99", kon="F", grad="50") == [ANNA]


# --- Sorting -----------------------------------------------------------------------------------


def test_default_sort_is_end_date_ascending(coordinator_rows):
    expected = [INGRID, LISA, ANNA, JOHAN, BERTIL]
    assert pnrs(sort_rows(coordinator_rows)) == expected
    assert pnrs(sort_rows(coordinator_rows, None, None)) == expected
    assert pnrs(sort_rows(coordinator_rows, "nr", "asc")) == expected
    assert pnrs(sort_rows(coordinator_rows, "slut", "desc")) == expected[::-1]


def test_sort_keys_are_the_columns_without_nr():
    assert rehab.SORT_KEYS == ("personnummer", "alder", "namn", "kon", "diagnos", "sysselsattning",
                               "start", "slut", "langd", "antal", "grad", "arenden", "lakare")


@pytest.mark.parametrize("key, value", [
    ("personnummer", lambda r: r.patient_pnr),
    ("alder", lambda r: r.age),
    ("kon", lambda r: r.gender),
    ("diagnos", lambda r: r.diagnosis),
    ("sysselsattning", lambda r: ",".join(r.occupation)),
    ("start", lambda r: r.start),
    ("slut", lambda r: r.end),
    ("langd", lambda r: r.days),
    ("antal", lambda r: r.certificate_count),
    ("arenden", lambda r: r.unanswered),
    ("lakare", lambda r: r.doctor_name),
])
def test_every_column_sorts_both_ways(coordinator_rows, key, value):
    ascending = [value(r) for r in sort_rows(coordinator_rows, key, "asc")]
    descending = [value(r) for r in sort_rows(coordinator_rows, key, "desc")]
    assert ascending == sorted(ascending) and descending == sorted(descending, reverse=True)
    assert len(set(ascending)) > 1


def test_sort_by_age(coordinator_rows):
    assert pnrs(sort_rows(coordinator_rows, "alder", "asc")) == [ANNA, LISA, JOHAN, BERTIL, INGRID]
    assert pnrs(sort_rows(coordinator_rows, "alder", "desc")) == [INGRID, BERTIL, JOHAN, LISA, ANNA]


def test_sort_by_name_in_swedish_order(coordinator_rows):
    # Anna Andersson, Bertil Åberg, Ingrid Isaksson, Johan Öberg, Lisa Zetterlund
    assert [r.name for r in sort_rows(coordinator_rows, "namn", "asc")] == [
        "Anna Andersson", "Bertil Åberg", "Ingrid Isaksson", "Johan Öberg", "Lisa Zetterlund"]
    surnames = [PersonFacts(p, n) for p, n in ((ANNA, "Öberg"), (BERTIL, "Zetterlund"),
                                               (INGRID, "Ärlig"), (JOHAN, "Åkesson"),
                                               (LISA, "élan"))]
    persons = {**PERSONS, **{p.personnummer: p for p in surnames}}
    rows = rows_for(COORDINATOR_VIEWER, persons=persons)
    assert [r.name for r in sort_rows(rows, "namn", "asc")] == [
        "élan", "Zetterlund", "Åkesson", "Ärlig", "Öberg"]


def test_masked_names_sort_by_their_masking_text_never_the_real_name():
    persons = {**PERSONS, LISA: PersonFacts(LISA, "Tora Zetterlund")}
    rows = [r for r in rows_for(DR_A_VIEWER, persons=persons)
            if r.patient_pnr in (ANNA, CECILIA, LISA)]
    # By real name, "Aase Aalto" would come first; masked, it sorts as "Sekretessmarkerad uppgift".
    assert [r.name for r in sort_rows(rows, "namn", "asc")] == [
        "Anna Andersson", MASKED, "Tora Zetterlund"]
    assert [r.name for r in sort_rows(rows, "namn", "desc")] == [
        "Tora Zetterlund", MASKED, "Anna Andersson"]


def test_rows_without_a_degree_today_sort_last_both_ways(coordinator_rows):
    assert pnrs(sort_rows(coordinator_rows, "grad", "asc")) == [LISA, ANNA, JOHAN, BERTIL, INGRID]
    assert pnrs(sort_rows(coordinator_rows, "grad", "desc")) == [BERTIL, ANNA, JOHAN, LISA, INGRID]


def test_ties_keep_end_date_order(coordinator_rows):
    # Anna and Johan both 50 % today; Anna ends first, in either direction.
    for order in ("asc", "desc"):
        fifty = [p for p in pnrs(sort_rows(coordinator_rows, "grad", order)) if p in (ANNA, JOHAN)]
        assert fifty == [ANNA, JOHAN]


# --- Columns and the whole list ----------------------------------------------------------------


def test_columns_per_role_and_personal_data_switch():
    assert rehab.columns(COORDINATOR_VIEWER) == [
        "nr", "personnummer", "alder", "namn", "kon", "diagnos", "sysselsattning", "start", "slut",
        "langd", "antal", "grad", "arenden", "lakare"]
    assert "lakare" not in rehab.columns(DR_A_VIEWER)
    hidden = rehab.columns(COORDINATOR_VIEWER, show_personal=False)
    assert "personnummer" not in hidden and "namn" not in hidden and "alder" in hidden


def test_list_rows_filters_sorts_and_counts_what_the_viewer_may_see():
    filters, _ = parse_filters({"kon": ["F"], "sortera": ["alder"], "ordning": ["desc"]})
    rows, total = rehab.list_rows(CASES, PERSONS, DR_A_VIEWER, TODAY, filters,
                                  doctor_names=DOCTOR_NAMES, questions=QUESTIONS)
    assert total == 5
    assert pnrs(rows) == [LISA, ANNA, CECILIA]  # 46, 41, 36


# --- Settings ----------------------------------------------------------------------------------


def test_validate_settings_accepts_the_ranges():
    assert validate_settings("5", "0") == ({"max_days_between": 5, "max_days_since_end": 0}, [])
    assert validate_settings(" 90 ", "14") == ({"max_days_between": 90, "max_days_since_end": 14},
                                               [])
    assert rehab.SETTING_DEFAULTS == {"max_days_between": 5, "max_days_since_end": 0}


@pytest.mark.parametrize("between, since, errors", [
    ("91", "0", [("max_days_between", "out_of_range")]),
    ("-1", "0", [("max_days_between", "not_a_number")]),
    ("fem", "0", [("max_days_between", "not_a_number")]),
    ("5", "15", [("max_days_since_end", "out_of_range")]),
    ("5", "1.5", [("max_days_since_end", "not_a_number")]),
    ("", "0", [("max_days_between", "missing")]),
    ("5", None, [("max_days_since_end", "missing")]),
    ("100", "x", [("max_days_between", "out_of_range"), ("max_days_since_end", "not_a_number")]),
])
def test_validate_settings_errors(between, since, errors):
    values, found = validate_settings(between, since)
    assert found == errors
    assert not {field for field, _ in errors} & set(values)


# --- Overview ----------------------------------------------------------------------------------


def test_overview_counts(coordinator_rows):
    result = overview(coordinator_rows)
    assert result["total"] == 5
    assert result["gender"] == {"F": 3, "M": 2}
    assert result["groups"] == {"SOMATISKA": 0, "MUSKULOSKELETALA": 1, "PSYKISKA": 3,
                                "GRAVIDITET": 0, "SYMTOM": 0, "FAKTORER": 1, "OVRIGT": 0,
                                "UTAN": 0}
    assert result["degrees"] == {25: 1, 50: 2, 75: 1, 100: 0, None: 1}
    assert result["degree_changes"] == {"one": 3, "several": 2}  # Anna and Lisa change degree
    assert result["lengths"] == {"lt90": 2, "90-180": 1, "181-365": 1, "gt365": 1}


def test_overview_of_nothing_has_every_key_at_zero():
    result = overview([])
    assert result["total"] == 0 and sum(result["groups"].values()) == 0
    assert list(result["lengths"]) == ["lt90", "90-180", "181-365", "gt365"]
