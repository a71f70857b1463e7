"""The sick-leave engine against the 49 reference cases and the rules they do not cover.

The reference file is read from the shared folder next to the repository
(``../shared/reference/sjukfall_cases.json``) or from ``$PORTAL_SHARED_DIR/reference/``; it is
never copied into the project.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import pytest

from portal.domain.sick_leave import (
    CertificateRecord,
    Period,
    Settings,
    SickLeaveCertificate,
    chain_certificates,
    clean_diagnosis_code,
    counting,
    covered_days,
    from_reference,
    is_active,
    patient_cases,
    run_reference_case,
    to_reference,
    unit_cases,
)


def _shared_dir() -> Path:
    override = os.environ.get("PORTAL_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


REFERENCE_FILE = _shared_dir() / "reference" / "sjukfall_cases.json"


def _load_reference_cases() -> list[dict]:
    if not REFERENCE_FILE.is_file():
        raise FileNotFoundError(
            f"sick-leave reference cases not found at {REFERENCE_FILE}; "
            "put the shared folder next to the repository or set PORTAL_SHARED_DIR")
    return json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))["cases"]


REFERENCE_CASES = _load_reference_cases()


def _comparable(entry: dict, fields: list[str]) -> dict:
    picked = {name: entry[name] for name in fields}
    if "certificate_ids" in picked:
        picked["certificate_ids"] = set(picked["certificate_ids"])
    return picked


def _order(entries: list[dict], mode: str) -> list[dict]:
    # Patient view: the reference's order (newest first) is part of the result.
    # Unit list: at most one entry per patient; its order is not significant.
    if mode == "patient":
        return entries
    return sorted(entries, key=lambda e: e.get("patient_id", ""))


def assert_matches_reference(case: dict, result: dict) -> None:
    """The result ({"sjukfall": [...]}) matches the case's expected entries on the fields they carry."""
    mode = case["mode"]
    expected = _order(case["expected"]["sjukfall"], mode)
    actual = _order(result["sjukfall"], mode)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert _comparable(got, list(want)) == _comparable(want, list(want))


def test_reference_file_holds_49_cases():
    assert len(REFERENCE_CASES) == 49
    assert len({case["id"] for case in REFERENCE_CASES}) == 49


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[c["id"] for c in REFERENCE_CASES])
def test_reference_case(case):
    assert_matches_reference(case, run_reference_case(case))


@pytest.mark.parametrize("case", [c for c in REFERENCE_CASES if c.get("corrected")],
                         ids=lambda c: c["id"])
def test_corrected_case_differs_from_national_engine(case):
    mode = case["mode"]
    national = _order(case["national_engine_result"]["sjukfall"], mode)
    actual = _order(run_reference_case(case)["sjukfall"], mode)
    fields = list(national[0])
    assert [_comparable(e, fields) for e in actual] != [_comparable(e, fields) for e in national]


# --- Focused rules -----------------------------------------------------------------------------

TODAY = date(2024, 3, 15)


def cert(cert_id: str, *periods: tuple[str, str, int] | tuple[str, str], patient: str = "P1",
         signed: str | None = None, diagnosis: str | None = "F32", doctor: str = "DOC-1",
         unit: str = "UNIT-A") -> SickLeaveCertificate:
    """A certificate from ("YYYY-MM-DD", "YYYY-MM-DD"[, degree]) periods."""
    parsed = tuple(Period(date.fromisoformat(p[0]), date.fromisoformat(p[1]),
                          p[2] if len(p) > 2 else 100) for p in periods)
    return SickLeaveCertificate(
        id=cert_id, patient_id=patient,
        signed=datetime.fromisoformat(signed) if signed else datetime.combine(
            parsed[0].start, datetime.min.time()),
        periods=parsed, diagnosis=diagnosis, doctor_id=doctor, unit_id=unit)


def test_certificates_with_identical_dates_are_two_certificates():
    first = cert("a", ("2024-03-01", "2024-03-31"), signed="2024-03-01T09:00")
    second = cert("b", ("2024-03-01", "2024-03-31"), signed="2024-03-01T10:00")

    [case] = unit_cases([first, second], TODAY, Settings())

    assert case.certificate_count == 2
    assert set(case.certificate_ids) == {"a", "b"}
    assert case.days == 31
    assert case.deciding.id == "b"
    assert [c.certificate_count for c in patient_cases([first, second], TODAY, Settings())] == [2]


def test_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        Period(date(2024, 3, 10), date(2024, 3, 9), 100)


def test_certificate_without_periods_is_refused():
    with pytest.raises(ValueError):
        SickLeaveCertificate(id="x", patient_id="P1", signed=datetime(2024, 3, 1), periods=(),
                             diagnosis="F32")


def test_gap_zero_still_joins_back_to_back_certificates():
    first = cert("a", ("2024-03-01", "2024-03-10"))
    second = cert("b", ("2024-03-11", "2024-03-20"))
    third = cert("c", ("2024-03-22", "2024-03-25"))  # one uncovered day before it

    chains = chain_certificates([third, second, first], max_gap=0)

    assert [[c.id for c in chain] for chain in chains] == [["a", "b"], ["c"]]


@pytest.mark.parametrize(("days_after_end", "listed"), [(0, False), (4, False), (5, True),
                                                         (14, True)])
def test_recently_ended_case_listed_within_the_setting(days_after_end, listed):
    ended = cert("a", ("2024-03-01", "2024-03-10", 50))  # today is 5 days after its end

    cases = unit_cases([ended], TODAY, Settings(max_days_since_sjukfall_end=days_after_end))

    assert [c.deciding.id for c in cases] == (["a"] if listed else [])
    if listed:
        assert cases[0].active_degree is None
        assert cases[0].degrees == (50,)


@pytest.mark.parametrize("values", [
    {"max_days_between_certificates": -1},
    {"max_days_between_certificates": 91},
    {"max_days_since_sjukfall_end": -1},
    {"max_days_since_sjukfall_end": 15},
    {"max_days_between_certificates": "5"},
    {"max_days_since_sjukfall_end": True},
])
def test_settings_out_of_range_are_rejected(values):
    with pytest.raises(ValueError):
        Settings(**values)


def test_settings_range_limits_are_accepted():
    assert Settings(0, 0) == Settings(max_days_between_certificates=0,
                                      max_days_since_sjukfall_end=0)
    assert Settings(90, 14).max_days_between_certificates == 90
    assert Settings() == Settings(5, 0)


def test_chaining_compares_with_the_latest_end_so_far():
    # A covers the gap between B and C: comparing C only with B (the previous certificate)
    # would split them; the latest end so far (A's) keeps all three in one chain.
    long = cert("A", ("2024-01-01", "2024-04-09"))
    short = cert("B", ("2024-01-05", "2024-01-10"))
    later = cert("C", ("2024-01-20", "2024-01-30"))

    chains = chain_certificates([later, short, long], max_gap=5)

    assert [[c.id for c in chain] for chain in chains] == [["A", "B", "C"]]


def test_deciding_certificate_when_none_active_is_the_one_that_ended_latest():
    earlier = cert("A", ("2024-02-20", "2024-03-05", 100), signed="2024-03-09T10:00",
                   diagnosis="F32", doctor="DOC-1")
    later = cert("B", ("2024-03-06", "2024-03-10", 50), signed="2024-03-01T10:00",
                 diagnosis="M54", doctor="DOC-2")

    [case] = unit_cases([earlier, later], TODAY, Settings(max_days_since_sjukfall_end=14))

    assert case.deciding.id == "B"  # ended latest, although signed earlier
    assert (case.diagnosis, case.doctor_id, case.degrees, case.active_degree) == (
        "M54", "DOC-2", (50,), None)


def test_deciding_certificate_tie_on_end_goes_to_the_latest_signed():
    one = cert("A", ("2024-03-01", "2024-03-10"), signed="2024-03-01T10:00")
    two = cert("B", ("2024-03-05", "2024-03-10"), signed="2024-03-05T10:00")

    [case] = unit_cases([one, two], TODAY, Settings(max_days_since_sjukfall_end=14))

    assert case.deciding.id == "B"


def test_active_certificate_signed_latest_decides_over_recently_ended():
    ended = cert("A", ("2024-03-01", "2024-03-14"), signed="2024-03-14T10:00")
    active = cert("B", ("2024-03-10", "2024-03-20", 75), signed="2024-03-10T10:00")

    [case] = unit_cases([ended, active], TODAY, Settings(max_days_since_sjukfall_end=14))

    assert (case.deciding.id, case.active_degree) == ("B", 75)


def test_hole_in_a_certificate_means_not_active():
    holed = cert("a", ("2024-03-01", "2024-03-14"), ("2024-03-16", "2024-03-31", 50))

    assert not is_active(holed, TODAY)
    assert is_active(holed, date(2024, 3, 16))
    assert unit_cases([holed], TODAY, Settings(max_days_since_sjukfall_end=14)) == []
    assert covered_days(holed.periods) == 30


def test_covered_days_counts_overlaps_once_and_skips_uncovered_days():
    periods = [Period(date(2024, 3, 1), date(2024, 3, 10), 100),
               Period(date(2024, 3, 5), date(2024, 3, 12), 50),
               Period(date(2024, 3, 15), date(2024, 3, 15), 25)]

    assert covered_days(periods) == 13


def test_unit_list_has_at_most_one_case_per_patient():
    old = cert("a", ("2024-01-01", "2024-01-31"))
    current = cert("b", ("2024-03-10", "2024-03-20"))
    other = cert("c", ("2024-03-01", "2024-03-31"), patient="P2")

    cases = unit_cases([old, current, other], TODAY, Settings())

    assert sorted((c.patient_id, c.certificate_ids) for c in cases) == [
        ("P1", ("b",)), ("P2", ("c",))]


def test_doctor_sees_only_cases_whose_deciding_certificate_they_signed():
    mine = cert("a", ("2024-03-01", "2024-03-31"), doctor="DOC-1")
    theirs = cert("b", ("2024-03-01", "2024-03-31"), patient="P2", doctor="DOC-2")

    cases = unit_cases([mine, theirs], TODAY, Settings(), doctor_id="DOC-1")

    assert [c.patient_id for c in cases] == ["P1"]


def test_certificate_without_diagnosis_does_not_count():
    plain = cert("a", ("2024-03-01", "2024-03-31"), diagnosis=None)
    blank = cert("b", ("2024-03-01", "2024-03-31"), diagnosis=" . ")

    assert unit_cases([plain, blank], TODAY, Settings()) == []
    assert patient_cases([plain, blank], TODAY, Settings()) == []


def test_patient_view_drops_cases_starting_after_today_newest_first():
    earlier = cert("a", ("2024-01-01", "2024-01-31"), diagnosis="M54")
    current = cert("b", ("2024-03-01", "2024-03-31"))
    future = cert("c", ("2024-05-01", "2024-05-31"))

    cases = patient_cases([future, earlier, current], TODAY, Settings())

    assert [c.certificate_ids for c in cases] == [("b",), ("a",)]
    assert [c.diagnosis for c in cases] == ["F32", "M54"]


def test_patient_view_diagnosis_from_active_certificate_else_latest_signed():
    active = cert("a", ("2024-03-01", "2024-03-31"), signed="2024-03-01T10:00", diagnosis="F32")
    newer = cert("b", ("2024-03-20", "2024-04-10"), signed="2024-03-14T10:00", diagnosis="M54")

    [case] = patient_cases([active, newer], TODAY, Settings())
    assert case.diagnosis == "F32"

    [later_case] = patient_cases([active, newer], date(2024, 4, 20), Settings())
    assert later_case.diagnosis == "M54"


def test_patient_view_takes_one_patient():
    with pytest.raises(ValueError):
        patient_cases([cert("a", ("2024-03-01", "2024-03-31")),
                       cert("b", ("2024-03-01", "2024-03-31"), patient="P2")], TODAY)


def test_same_certificate_given_twice_is_refused():
    once = cert("a", ("2024-03-01", "2024-03-31"))
    with pytest.raises(ValueError):
        unit_cases([once, once], TODAY)


@pytest.mark.parametrize(("raw", "clean"), [
    ("M54", "M54"), ("m54.5 ", "M545"), ("M.80.01   ", "M8001"), ("M80-P", "M80-P"),
    ("  f32 ", "F32"), (None, None), ("", None),
])
def test_diagnosis_codes_are_cleaned(raw, clean):
    assert clean_diagnosis_code(raw) == clean


def test_counting_keeps_only_sick_leave_certificates_that_stand():
    base = ("2024-03-01", "2024-03-31")
    records = [
        CertificateRecord(cert("ok", base), "FK7804"),
        CertificateRecord(cert("old-type", base), "FK7263"),
        CertificateRecord(cert("ag", base), "AG7804"),
        CertificateRecord(cert("revoked", base), "FK7804", revoked=True),
        CertificateRecord(cert("replaced", base), "FK7804", replaced_by=("ok",)),
        CertificateRecord(cert("replaced-by-revoked", base), "FK7804", replaced_by=("revoked",)),
        CertificateRecord(cert("validation", base), "FK7804", validation_person=True),
        CertificateRecord(cert("smittbarare", base, diagnosis=None), "FK7804"),
    ]

    assert [c.id for c in counting(records)] == ["ok", "old-type", "replaced-by-revoked"]


def test_reference_round_trip_carries_the_modes_fields():
    case = next(c for c in REFERENCE_CASES if c["id"] == "unit-engine-fall-01")
    mode, today, settings, certificates = from_reference(case)

    unit = to_reference(unit_cases(certificates, today, settings), "unit")["sjukfall"]
    patient = to_reference(patient_cases(certificates, today, settings), "patient")["sjukfall"]

    assert list(unit[0]) == list(case["expected"]["sjukfall"][0])
    assert set(patient[0]) == {"start", "end", "days", "certificate_count", "certificate_ids",
                               "diagnosis"}
    with pytest.raises(ValueError):
        to_reference([], "ward")
