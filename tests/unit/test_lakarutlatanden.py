"""The läkarutlåtanden list's rules (domain.lakarutlatanden): who sees which, masking, filters, sorting
and columns — without a request or a database."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from portal.domain import lakarutlatanden as lu
from portal.domain import rehab
from portal.domain.demo import make_pnr

TODAY = date(2026, 11, 23)
COORD = rehab.Viewer("R1", "REHABKOORDINATOR", "VE10")
DOC_A = rehab.Viewer("DA", "LAKARE", "VE10")

P_PLAIN = make_pnr(date(1980, 5, 17), 982)  # woman (even second-to-last digit)
P_MAN = make_pnr(date(1999, 2, 3), 991)
P_PROTECTED = make_pnr(date(1975, 9, 1), 984)
P_UNKNOWN = make_pnr(date(1990, 1, 1), 986)
P_DECEASED = make_pnr(date(1950, 3, 3), 988)
P_VALIDATION = make_pnr(date(1970, 7, 7), 998)

PERSONS = {
    P_PLAIN: rehab.PersonFacts(P_PLAIN, "Alma Demosson"),
    P_MAN: rehab.PersonFacts(P_MAN, "Örjan Åkesson"),
    P_PROTECTED: rehab.PersonFacts(P_PROTECTED, "Hemlig Person", protected=True),
    P_DECEASED: rehab.PersonFacts(P_DECEASED, "Avliden Person", deceased=True),
    P_VALIDATION: rehab.PersonFacts(P_VALIDATION, "Validera Person", validation_person=True),
}
NAMES = {"DA": "Anna Berglund", "DB": "Bertil Ek"}


def stored(cid, pnr, doctor="DA", code="FK7800", signed=datetime(2026, 5, 1, 10), diagnosis="F32"):
    return lu.Stored(id=cid, type_code=code, patient_pnr=pnr, signed_at=signed, unit_id="VE10", doctor_id=doctor,
                     diagnosis=diagnosis)


ALL = [
    stored("c1", P_PLAIN, "DA", "FK7800", datetime(2026, 5, 1, 10), "F32"),
    stored("c2", P_MAN, "DB", "FK7801", datetime(2026, 9, 1, 9), "M54"),
    stored("c3", P_PROTECTED, "DA", "FK7802", datetime(2026, 1, 10, 8), "F41"),
    stored("c4", P_UNKNOWN, "DA", "FK7800", datetime(2025, 12, 24, 8), None),
    stored("c5", P_DECEASED, "DA", "FK7800", datetime(2026, 2, 2, 8), "I21"),
    stored("c6", P_VALIDATION, "DB", "FK7800", datetime(2026, 3, 3, 8), "J45"),
]


def rows_for(viewer, data=ALL, questions=None):
    return lu.visible_rows(data, PERSONS, viewer, TODAY, doctor_names=NAMES, questions=questions)


def test_a_coordinator_never_sees_protected_unknown_deceased_or_validation_patients():
    rows = rows_for(COORD)
    assert [r.certificate_id for r in rows] == ["c1", "c2"]
    assert all(not r.masked and not r.unknown for r in rows)


def test_a_doctor_sees_only_their_own_with_a_protected_patient_masked_and_an_unknown_one_unnamed():
    rows = {r.certificate_id: r for r in rows_for(DOC_A)}
    assert set(rows) == {"c1", "c3", "c4"}  # not DB's c2; never the deceased or the valideringsperson
    assert rows["c3"].masked and rows["c3"].name == rehab.MASKED
    assert all("Hemlig" not in repr(r) for r in rows.values())  # the real name never enters a row
    assert rows["c4"].unknown and rows["c4"].name == rehab.UNKNOWN_NAME


def test_row_facts_age_gender_chapter_doctor_and_question_counts():
    row = {r.certificate_id: r for r in rows_for(COORD, questions={"c1": (1, 2)})}
    assert (row["c1"].age, row["c1"].gender, row["c1"].chapter) == (46, "F", "F00-F99")
    assert (row["c2"].gender, row["c2"].doctor_name) == ("M", "Bertil Ek")
    assert (row["c1"].komplettering, row["c1"].administrative, row["c1"].unanswered) == (1, 2, 3)
    assert row["c2"].unanswered == 0
    assert row["c1"].signed == date(2026, 5, 1)


def test_an_unknown_role_fails_closed():
    with pytest.raises(ValueError):
        rows_for(rehab.Viewer("X", "SJUKSKOTERSKA", "VE10"))
    with pytest.raises(ValueError):
        lu.columns(rehab.Viewer("X", "SJUKSKOTERSKA", "VE10"))


def test_columns_follow_role_and_the_personal_data_switch():
    assert lu.columns(COORD) == ["personnummer", "alder", "namn", "kon", "intygstyp", "diagnos", "signerad",
                                 "arenden", "lakare"]
    assert "lakare" not in lu.columns(DOC_A)
    assert lu.columns(COORD, show_personal=False) == ["alder", "kon", "intygstyp", "diagnos", "signerad",
                                                      "arenden", "lakare"]


def test_parse_filters_reads_types_chapters_doctors_and_dates_and_drops_unknown_values():
    f, errors = lu.parse_filters({"typ": ["FK7801", "FK7804", "FK7800"], "kapitel": ["F00-F99", "X"],
                                  "lakare": ["DA"], "signerad_fran": ["2026-01-01"], "signerad_till": ["2026-06-30"],
                                  "sortera": ["namn"], "ordning": ["asc"]})
    assert errors == []
    assert f.types == ("FK7800", "FK7801")  # registry order; FK7804 is not a läkarutlåtande
    assert f.chapters == ("F00-F99",) and f.doctors == ("DA",)
    assert (f.signed_from, f.signed_to) == (date(2026, 1, 1), date(2026, 6, 30))
    assert (f.sort, f.order, f.show_personal) == ("namn", "asc", True)
    assert lu.parse_filters(dict(_pairs(f.as_query())))[0] == f  # links give back the same filters


def _pairs(query):
    out: dict[str, list[str]] = {}
    for k, v in query:
        out.setdefault(k, []).append(v)
    return out


@pytest.mark.parametrize("args, error", [
    ({"signerad_fran": ["2026-13-01"]}, ("signerad_fran", rehab.NOT_A_DATE)),
    ({"signerad_till": ["23/11/2026"]}, ("signerad_till", rehab.NOT_A_DATE)),
    ({"signerad_fran": ["2026-06-01"], "signerad_till": ["2026-01-01"]}, ("signerad_fran", rehab.FROM_AFTER_TO)),
])
def test_bad_dates_are_errors_and_left_out_of_the_filters(args, error):
    f, errors = lu.parse_filters(args)
    assert errors == [error]
    assert f.signed_from is None and f.signed_to is None


def test_the_personal_data_switch_takes_the_last_value():
    assert lu.parse_filters({"personuppgifter": ["0"]})[0].show_personal is False
    assert lu.parse_filters({"personuppgifter": ["0", "1"]})[0].show_personal is True
    assert lu.parse_filters({})[0].show_personal is True


def test_filters_by_type_chapter_doctor_and_inclusive_signing_dates():
    rows = rows_for(COORD)
    ids = lambda f: [r.certificate_id for r in lu.apply_filters(rows, f)]  # noqa: E731
    assert ids(lu.Filters(types=("FK7801",))) == ["c2"]
    assert ids(lu.Filters(chapters=("F00-F99",))) == ["c1"]
    assert ids(lu.Filters(doctors=("DB",))) == ["c2"]
    assert ids(lu.Filters(signed_from=date(2026, 5, 1), signed_to=date(2026, 5, 1))) == ["c1"]
    assert ids(lu.Filters(signed_from=date(2026, 5, 2))) == ["c2"]
    assert ids(lu.Filters(types=("FK7800", "FK7801"), chapters=("M00-M99",))) == ["c2"]


def test_sorted_newest_first_by_default_and_by_any_column_with_missing_values_last():
    rows = rows_for(DOC_A)
    assert [r.certificate_id for r in lu.sort_rows(rows)] == ["c1", "c3", "c4"]
    assert [r.certificate_id for r in lu.sort_rows(rows, "signerad", "asc")] == ["c4", "c3", "c1"]
    # no diagnosis: last either way
    assert [r.certificate_id for r in lu.sort_rows(rows, "diagnos", "asc")][-1] == "c4"
    assert [r.certificate_id for r in lu.sort_rows(rows, "diagnos", "desc")][-1] == "c4"
    # masked rows sort by their masking text, never by the real name
    by_name = [r.name for r in lu.sort_rows(rows, "namn", "asc")]
    assert by_name == sorted(by_name, key=rehab.swedish_key)


def test_swedish_names_sort_after_z():
    rows = rows_for(COORD)
    assert [r.name for r in lu.sort_rows(rows, "namn", "asc")] == ["Alma Demosson", "Örjan Åkesson"]


def test_header_links_toggle_the_order_and_dates_start_newest_first():
    f = lu.Filters()
    assert dict(f.sort_query("signerad")).get("ordning") == "asc"  # already newest first: the other way
    assert dict(f.sort_query("namn"))["ordning"] == "asc"
    assert f.sort_state("signerad") == "descending" and f.sort_state("namn") is None
    g = lu.Filters(sort="namn", order="asc")
    assert "ordning" not in dict(g.sort_query("namn"))  # desc is the default, left out of the link


def test_list_rows_gives_the_shown_rows_and_everything_visible():
    shown, visible = lu.list_rows(ALL, PERSONS, COORD, TODAY, lu.Filters(types=("FK7800",)), doctor_names=NAMES)
    assert [r.certificate_id for r in shown] == ["c1"] and len(visible) == 2
