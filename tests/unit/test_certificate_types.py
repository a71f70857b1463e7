"""Certificate types as data: the registry, the definitions' faithfulness, the validator, definition
errors, a type added without code, and the helpers that read a certificate's main parts.

References: /work/shared/domain.md (the certificate types table), /work/shared/forms.md (each form's
sections and questions) and docs/certificate-types.md (the definition format).
"""
from __future__ import annotations

import textwrap
from datetime import date

import pytest
import yaml

from portal.domain import certificate_types as ct
from portal.domain.certificate_types import DefinitionError, load_registry, parse_definition, validate

SIGNED = date(2026, 11, 23)


@pytest.fixture(scope="module")
def registry() -> ct.Registry:
    return load_registry()


def paths(problems: list[ct.Problem]) -> list[str]:
    return [p.path for p in problems]


def only_problem(problems: list[ct.Problem]) -> ct.Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- the registry against domain.md's table ---------------------------------------------------

# code: (Swedish name, electronic recipient, recipient at signing, in Mina intyg, counts for sick leave,
#        Rehabstöd, employer copy)
DOMAIN_TYPES = {
    "FK7804": ("Läkarintyg för sjukpenning", "FK", None, True, True, "list", False),
    "FK7263": ("Läkarintyg FK 7263", None, None, True, True, "patient_view", False),
    "FK7800": ("Läkarutlåtande för sjukersättning", "FK", None, True, False, "lakarutlatande", False),
    "FK7801": ("Läkarutlåtande för aktivitetsersättning vid nedsatt arbetsförmåga", "FK", None, True, False,
               "lakarutlatande", False),
    "FK7802": ("Läkarutlåtande för aktivitetsersättning vid förlängd skolgång", "FK", None, True, False,
               "lakarutlatande", False),
    "FK7809": ("Läkarutlåtande för merkostnadsersättning", "FK", None, True, False, "patient_view", False),
    "FK3226": ("Läkarutlåtande för närståendepenning", "FK", None, True, False, "patient_view", False),
    "FK7210": ("Intyg om graviditet", "FK", None, True, False, "patient_view", False),
    "FK7472": ("Intyg om tillfällig föräldrapenning", "FK", None, False, False, "patient_view", False),
    "TSTRK1007": ("Transportstyrelsens läkarintyg, högre körkortsbehörigheter, taxiförarlegitimation och på "
                  "begäran av Transportstyrelsen", "TS", None, True, False, "none", False),
    "TSTRK1031": ("Transportstyrelsens läkarintyg diabetes", "TS", None, True, False, "none", False),
    "AG7804": ("Läkarintyg om arbetsförmåga – arbetsgivaren", None, None, True, False, "patient_view", True),
    "AG1-14": ("Läkarintyg om arbetsförmåga – sjuklöneperioden", None, None, True, False, "patient_view", True),
    "DB": ("Dödsbevis", None, "SKV", False, False, "none", False),
    "DOI": ("Dödsorsaksintyg", None, "SOS", False, False, "none", False),
}


def test_registry_holds_exactly_the_fifteen_types_of_the_domain(registry):
    assert registry.codes() == sorted(DOMAIN_TYPES)


@pytest.mark.parametrize("code", sorted(DOMAIN_TYPES))
def test_type_flags_match_the_domain_table(registry, code):
    t = registry[code]
    actual = (t.name.sv, t.recipient, t.recipient_at_signing, t.citizen_visible, t.sick_leave, t.rehab,
              t.employer_copy)
    assert actual == DOMAIN_TYPES[code]


def test_only_fk7804_and_fk7263_count_for_sick_leave(registry):
    assert registry.sick_leave_codes() == ["FK7263", "FK7804"]


def test_citizens_see_every_type_except_death_certificates_and_the_childs_certificate(registry):
    assert set(registry.codes()) - set(registry.citizen_codes()) == {"DB", "DOI", "FK7472"}


def _all_questions(t: ct.CertificateType):
    for q in t.questions():
        yield q
        yield from q.fields


@pytest.mark.parametrize("code", sorted(DOMAIN_TYPES))
def test_every_name_title_label_and_option_has_swedish_and_english_text(registry, code):
    t = registry[code]
    texts = {"name": t.name}
    texts.update({f"section {s.id}": s.title for s in t.sections})
    for q in _all_questions(t):
        texts[f"question {q.id}"] = q.label
        texts.update({f"question {q.id} option {o.value}": o.label for o in q.options})
    missing = [where for where, text in texts.items()
               if not (isinstance(text.sv, str) and text.sv.strip() and isinstance(text.en, str) and text.en.strip())]
    assert missing == []


@pytest.mark.parametrize("code", sorted(DOMAIN_TYPES))
def test_question_ids_are_unique_within_each_type(registry, code):
    ids = [q.id for q in registry[code].questions()]
    assert len(ids) == len(set(ids))


# --- faithfulness to forms.md -------------------------------------------------------------------

def test_fk7804_sections_are_the_forms_sections_in_order(registry):
    assert [s.title.sv for s in registry["FK7804"].sections] == [
        "Smittbärarpenning", "Grund för medicinskt underlag", "Sysselsättning", "Diagnos", "Funktionsnedsättning",
        "Aktivitetsbegränsning", "Medicinsk behandling", "Bedömning", "Prognos",
        "Åtgärder som kan främja återgången i arbete", "Övrigt", "Kontakt"]


def test_fk7804_takes_one_main_diagnosis_and_up_to_two_more(registry):
    q = registry["FK7804"].first_of_kind("diagnoses")
    assert (q.id, q.required, q.min_items, q.max_items) == ("diagnoses", True, 1, 3)


def test_fk7804_impairment_and_activity_limitation_are_icf_with_text_up_to_4000(registry):
    t = registry["FK7804"]
    for qid in ("functional_impairment", "activity_limitation"):
        q = t.question(qid)
        assert (q.kind, q.required, q.max_length, q.medical) == ("icf", True, 4000, True), qid


def test_fk7804_sick_leave_degrees_are_25_50_75_100(registry):
    q = registry["FK7804"].first_of_kind("sick_leave_periods")
    assert (q.id, tuple(q.degrees), q.required) == ("sick_leave_periods", (25, 50, 75, 100), True)


def test_fk7804_occupation_options_are_the_four_of_the_form(registry):
    q = registry["FK7804"].with_role("occupation")
    assert q.id == "occupation" and q.kind == "multi_choice"
    assert [o.value for o in q.options] == ["NUVARANDE_ARBETE", "ARBETSSOKANDE", "FORALDRALEDIG", "STUDIER"]


def test_ag7804_impairment_and_activity_limitation_are_plain_text_not_icf(registry):
    t = registry["AG7804"]
    assert [t.question(q).kind for q in ("functional_impairment", "activity_limitation")] == ["text", "text"]


def test_fk7472_shares_include_twelve_and_a_half_percent(registry):
    q = registry["FK7472"].first_of_kind("sick_leave_periods")
    assert tuple(q.degrees) == (12.5, 25, 50, 75, 100)


def test_ag114_reduction_is_a_free_percentage_from_1_to_100(registry):
    q = registry["AG1-14"].question("reduction_percent")
    assert (q.kind, q.min, q.max, q.required) == ("integer", 1, 100, True)
    assert q.unit is not None and q.unit.sv == "procent"


def test_fk7809_takes_up_to_five_diagnoses(registry):
    q = registry["FK7809"].first_of_kind("diagnoses")
    assert (q.min_items, q.max_items) == (1, 5)


def test_diagnoses_are_medical_in_every_type_that_has_them(registry):
    with_diagnoses = {t.code: t.first_of_kind("diagnoses").medical for t in registry if t.first_of_kind("diagnoses")}
    assert set(with_diagnoses) == {"FK7804", "FK7263", "FK7800", "FK7801", "FK7802", "FK7809", "FK3226", "AG7804",
                                   "AG1-14"}
    assert all(with_diagnoses.values()), with_diagnoses


def test_employer_copy_types_ask_whether_the_diagnosis_goes_to_the_employer(registry):
    for code in ("AG7804", "AG1-14"):
        t = registry[code]
        consent = t.question("diagnosis_to_employer")
        diagnoses = t.first_of_kind("diagnoses")
        assert consent.kind == "yes_no" and consent.required and not consent.medical
        assert not diagnoses.required
        assert (diagnoses.required_when.question, diagnoses.required_when.equals) == ("diagnosis_to_employer", True)


# --- the validator ------------------------------------------------------------------------------

def fk7804_content() -> dict:
    """A realistic FK7804: lumbago, examined in person, current job, 100 % then 50 %."""
    return {
        "basis": [{"type": "UNDERSOKNING_FYSISKT", "date": "2026-11-20"},
                  {"type": "JOURNALUPPGIFTER", "date": "2026-09-14"}],
        "occupation": ["NUVARANDE_ARBETE"],
        "occupation_description": "Lagerarbetare med tunga lyft och truckkörning.",
        "diagnoses": [{"code": "M54.5", "text": "Lumbago"}, {"code": "M51.1", "text": "Diskbråck i ländryggen"}],
        "functional_impairment": {"categories": ["b280", "b710"],
                                  "text": "Smärta i ländryggen vid framåtböjning, nedsatt rörlighet."},
        "activity_limitation": {"categories": ["d430"], "text": "Kan inte lyfta mer än fem kilo."},
        "treatment": "Fysioterapi två gånger i veckan.",
        "sick_leave_periods": [{"start": "2026-11-20", "end": "2026-12-03", "degree": 100},
                               {"start": "2026-12-04", "end": "2026-12-17", "degree": 50}],
        "uneven_working_hours": False,
        "prognosis": "ATER_X_ANTAL_MANADER",
        "prognosis_months": 2,
        "measures": "Arbetsanpassning med lättare arbetsuppgifter.",
        "contact_fk": True,
        "contact_fk_reason": "Vill diskutera arbetsanpassningen.",
    }


@pytest.fixture(scope="module")
def fk7804(registry):
    return registry["FK7804"]


def test_a_realistic_fk7804_is_valid(fk7804):
    assert validate(fk7804, fk7804_content(), SIGNED) == []


def test_a_missing_required_answer_is_refused(fk7804):
    content = fk7804_content()
    del content["prognosis"]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.prognosis", "is required")


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_required_answer_counts_as_missing(fk7804, empty):
    content = fk7804_content()
    content["occupation_description"] = empty  # required: the occupation is NUVARANDE_ARBETE
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.occupation_description", "is required")


def test_an_unknown_key_is_refused(fk7804):
    content = fk7804_content()
    content["favourite_colour"] = "blå"
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.favourite_colour"
    assert "not a question of this type" in p.message


def test_a_text_question_given_a_number_is_refused(fk7804):
    content = fk7804_content()
    content["treatment"] = 42
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.treatment", "must be text")


def test_a_yes_no_question_given_ja_is_refused(fk7804):
    content = fk7804_content()
    content["uneven_working_hours"] = "ja"
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.uneven_working_hours", "must be true or false")


def test_text_over_its_max_length_is_refused(fk7804):
    content = fk7804_content()
    content["treatment"] = "x" * 4001
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.treatment"
    assert "4001" in p.message and "at most 4000" in p.message


def test_text_at_its_max_length_is_accepted(fk7804):
    content = fk7804_content()
    content["treatment"] = "x" * 4000
    assert validate(fk7804, content, SIGNED) == []


def test_icf_text_over_its_max_length_is_refused(fk7804):
    content = fk7804_content()
    content["activity_limitation"]["text"] = "x" * 4001
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.activity_limitation.text" and "at most 4000" in p.message


@pytest.mark.parametrize("value", ["15/03/2027", "2027-02-30", "2027-3-15", "15 mars 2027", 20270315])
def test_a_date_that_is_not_an_iso_date_is_refused(registry, value):
    p = only_problem(validate(registry["FK7210"], {"expected_birth_date": value}, SIGNED))
    assert p.path == "content.expected_birth_date"
    assert "must be a date YYYY-MM-DD" in p.message and repr(value) in p.message


@pytest.mark.parametrize("value", ["20270315", "2027-W11-1"])
def test_a_date_in_another_iso_8601_form_is_refused(registry, value):
    p = only_problem(validate(registry["FK7210"], {"expected_birth_date": value}, SIGNED))
    assert p.path == "content.expected_birth_date"


def test_a_period_ending_before_it_starts_is_refused(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"] = [{"start": "2026-11-20", "end": "2026-11-19", "degree": 100}]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.sick_leave_periods[0].end"
    assert p.message == "period end 2026-11-19 is before its start 2026-11-20"


def test_a_one_day_period_is_accepted(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"] = [{"start": "2026-11-20", "end": "2026-11-20", "degree": 100}]
    assert validate(fk7804, content, SIGNED) == []


def test_overlapping_periods_are_refused(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"] = [{"start": "2026-11-20", "end": "2026-12-03", "degree": 100},
                                     {"start": "2026-12-03", "end": "2026-12-17", "degree": 50}]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.sick_leave_periods[1]"
    assert "overlaps" in p.message and "2026-11-20" in p.message and "2026-12-03" in p.message


def test_overlap_is_found_whatever_order_the_periods_are_given_in(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"] = [{"start": "2026-12-01", "end": "2026-12-17", "degree": 50},
                                     {"start": "2026-11-20", "end": "2026-12-03", "degree": 100}]
    assert paths(validate(fk7804, content, SIGNED)) == ["content.sick_leave_periods[0]"]


@pytest.mark.parametrize("degree", [33, 0, "50", True, 12.5])
def test_a_degree_not_allowed_by_the_type_is_refused(fk7804, degree):
    content = fk7804_content()
    content["sick_leave_periods"][0]["degree"] = degree
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.sick_leave_periods[0].degree"
    assert "must be one of 25, 50, 75, 100" in p.message and f"got {degree!r}" in p.message


def test_fk7472_accepts_twelve_and_a_half_percent(registry):
    content = {"symptoms": "Feber och hosta.",
               "care_periods": [{"start": "2026-11-20", "end": "2026-11-23", "degree": 12.5}]}
    assert validate(registry["FK7472"], content, SIGNED) == []


@pytest.mark.parametrize("code", ["54.5", "M5", "m54.5", "Lumbago", "M54..5"])
def test_a_malformed_icd10_code_is_refused(fk7804, code):
    content = fk7804_content()
    content["diagnoses"][0]["code"] = code
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.diagnoses[0].code"
    assert "ICD-10" in p.message and repr(code) in p.message


@pytest.mark.parametrize("code", ["M54.5", "M545", "F32.1", "U07.1", "S82.6"])
def test_well_formed_icd10_codes_are_accepted(fk7804, code):
    content = fk7804_content()
    content["diagnoses"][0]["code"] = code
    assert validate(fk7804, content, SIGNED) == []


def test_a_diagnosis_without_its_text_is_refused(fk7804):
    content = fk7804_content()
    content["diagnoses"][1]["text"] = " "
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.diagnoses[1].text"


def test_more_diagnoses_than_the_type_allows_are_refused(fk7804):
    content = fk7804_content()
    content["diagnoses"] += [{"code": "F43.8", "text": "Stress"}, {"code": "G43.0", "text": "Migrän"}]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.diagnoses" and "has 4 entries; at most 3 allowed" == p.message


@pytest.mark.parametrize("category", ["x280", "B280", "b28a", "280", "b"])
def test_a_malformed_icf_code_is_refused(fk7804, category):
    content = fk7804_content()
    content["functional_impairment"]["categories"] = ["b710", category]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.functional_impairment.categories"
    assert "ICF codes" in p.message


def test_a_choice_outside_the_options_is_refused(fk7804):
    content = fk7804_content()
    content["prognosis"] = "BRA"
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.prognosis"
    assert "must be one of STOR_SANNOLIKHET" in p.message and "got 'BRA'" in p.message


def test_a_multi_choice_outside_the_options_is_refused_at_its_index(fk7804):
    content = fk7804_content()
    content["occupation"] = ["NUVARANDE_ARBETE", "PENSIONAR"]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.occupation[1]" and "got 'PENSIONAR'" in p.message


def test_a_multi_choice_with_the_same_value_twice_is_refused(fk7804):
    content = fk7804_content()
    content["occupation"] = ["NUVARANDE_ARBETE", "NUVARANDE_ARBETE"]
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.occupation", "has the same choice twice")


def test_an_exclusive_choice_cannot_be_combined_with_others(registry):
    t = registry["TSTRK1031"]
    content = {"licence_categories": ["B"], "identity": "KORKORT", "followed_up_by": "PRIMARVARD",
               "diagnosis_year": 2012, "diabetes_type": "TYP2", "has_medication": False, "complications": False,
               "assessment": ["B", "KAN_INTE_TA_STALLNING"]}
    p = only_problem(validate(t, content, SIGNED))
    assert p.path == "content.assessment" and "KAN_INTE_TA_STALLNING cannot be combined" in p.message
    content["assessment"] = ["KAN_INTE_TA_STALLNING"]
    assert validate(t, content, SIGNED) == []


def test_a_dated_choice_after_the_signing_date_is_refused(fk7804):
    content = fk7804_content()
    content["basis"][0]["date"] = "2026-11-24"
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.basis[0].date"
    assert p.message == "2026-11-24 is after the signing date 2026-11-23"


def test_a_dated_choice_on_the_signing_date_is_accepted(fk7804):
    content = fk7804_content()
    content["basis"][0]["date"] = "2026-11-23"
    assert validate(fk7804, content, SIGNED) == []


def test_a_dated_choice_given_twice_is_refused(fk7804):
    content = fk7804_content()
    content["basis"].append({"type": "UNDERSOKNING_FYSISKT", "date": "2026-11-01"})
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.basis[2].type" and "given twice" in p.message


def test_fk7804_basis_annat_makes_its_description_required(fk7804):
    content = fk7804_content()
    content["basis"].append({"type": "ANNAT", "date": "2026-11-19"})
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content.basis_other", "is required")
    content["basis_other"] = "Underlag från fysioterapeut."
    assert validate(fk7804, content, SIGNED) == []


def test_fk7804_occupation_description_is_only_required_for_the_current_job(fk7804):
    content = fk7804_content()
    content["occupation"] = ["ARBETSSOKANDE"]
    del content["occupation_description"]
    assert validate(fk7804, content, SIGNED) == []
    content["occupation"] = ["ARBETSSOKANDE", "NUVARANDE_ARBETE"]
    assert paths(validate(fk7804, content, SIGNED)) == ["content.occupation_description"]


def test_fk7804_prognosis_after_stated_time_requires_the_months(fk7804):
    content = fk7804_content()
    del content["prognosis_months"]
    assert paths(validate(fk7804, content, SIGNED)) == ["content.prognosis_months"]
    content["prognosis_months"] = 100
    p = only_problem(validate(fk7804, content, SIGNED))
    assert p.path == "content.prognosis_months" and "between 1 and 99" in p.message


def ag7804_content(to_employer: bool) -> dict:
    content = fk7804_content()
    for qid in ("functional_impairment", "activity_limitation"):
        content[qid] = content[qid]["text"]  # plain text in AG7804
    del content["contact_fk"], content["contact_fk_reason"]
    content["diagnosis_to_employer"] = to_employer
    if not to_employer:
        del content["diagnoses"]
    return content


def test_ag7804_diagnosis_to_employer_makes_the_diagnoses_required(registry):
    t = registry["AG7804"]
    content = ag7804_content(True)
    assert validate(t, content, SIGNED) == []
    del content["diagnoses"]
    p = only_problem(validate(t, content, SIGNED))
    assert (p.path, p.message) == ("content.diagnoses", "is required")


def test_ag7804_without_diagnosis_to_employer_needs_no_diagnoses(registry):
    assert validate(registry["AG7804"], ag7804_content(False), SIGNED) == []


SMITTBARARPENNING_SKIPS = ["basis", "occupation", "functional_impairment", "activity_limitation", "prognosis"]


def test_fk7804_without_smittbararpenning_requires_what_smittbararpenning_skips(fk7804):
    content = {"diagnoses": [{"code": "A02.0", "text": "Salmonellaenterit"}],
               "sick_leave_periods": [{"start": "2026-11-20", "end": "2026-11-26", "degree": 100}]}
    assert paths(validate(fk7804, content, SIGNED)) == [f"content.{q}" for q in SMITTBARARPENNING_SKIPS]


def test_fk7804_with_smittbararpenning_needs_no_basis_occupation_impairment_limitation_or_prognosis(fk7804):
    content = {"smittbararpenning": True,
               "diagnoses": [{"code": "A02.0", "text": "Salmonellaenterit"}],
               "sick_leave_periods": [{"start": "2026-11-20", "end": "2026-11-26", "degree": 100}]}
    assert validate(fk7804, content, SIGNED) == []


def test_fk7804_with_smittbararpenning_still_needs_the_sick_leave_periods(fk7804):
    content = {"smittbararpenning": True, "diagnoses": [{"code": "A02.0", "text": "Salmonellaenterit"}]}
    assert paths(validate(fk7804, content, SIGNED)) == ["content.sick_leave_periods"]


def test_fk7804_with_smittbararpenning_still_needs_the_main_diagnosis(fk7804):
    content = {"smittbararpenning": True,
               "sick_leave_periods": [{"start": "2026-11-20", "end": "2026-11-26", "degree": 100}]}
    assert paths(validate(fk7804, content, SIGNED)) == ["content.diagnoses"]


def test_fk7804_part_time_sick_leave_requires_the_uneven_working_hours_answer(fk7804):
    content = fk7804_content()  # has a 50 % period
    del content["uneven_working_hours"]
    assert paths(validate(fk7804, content, SIGNED)) == ["content.uneven_working_hours"]


def fk7800_content() -> dict:
    return {
        "basis": [{"type": "UNDERSOKNING", "date": "2026-11-10"}, {"type": "JOURNALUPPGIFTER", "date": "2019-03-01"}],
        "known_since": "2019-03-01",
        "other_investigations": True,
        "underlag": [{"type": "FYSIOTERAPEUT", "date": "2026-09-01", "provider": "Region Demoland, Rehab Norrby"}],
        "diagnoses": [{"code": "M79.7", "text": "Fibromyalgi"}],
        "diagnosis_origin": "Diagnosen ställdes 2019 på Vårdcentralen Norrby.",
        "diagnosis_revision": False,
        "background": "Långvarig generaliserad smärta sedan 2018 trots behandling.",
        "impairment_senses_pain": "Uttalad smärta i nacke och skuldror, stor funktionsnedsättning.",
        "activity_limitation": "Kan inte sitta eller stå mer än 20 minuter i taget.",
        "work_prerequisites": "Ingen förbättring förväntas över tid.",
    }


def test_a_realistic_fk7800_is_valid(registry):
    assert validate(registry["FK7800"], fk7800_content(), SIGNED) == []


def test_rows_fields_are_validated_one_by_one(registry):
    content = fk7800_content()
    content["underlag"] = [
        {"type": "FYSIOTERAPEUT", "date": "2026-13-01", "provider": "Region Demoland"},
        {"type": "TANDLAKARE", "date": "2026-09-01"},
        {"type": "PSYKOLOG", "date": "2026-09-02", "provider": "Region Demoland", "comment": "x"},
    ]
    assert paths(validate(registry["FK7800"], content, SIGNED)) == [
        "content.underlag[0].date", "content.underlag[1].type", "content.underlag[1].provider",
        "content.underlag[2].comment"]
    messages = [p.message for p in validate(registry["FK7800"], content, SIGNED)]
    assert "must be a date YYYY-MM-DD" in messages[0]
    assert "got 'TANDLAKARE'" in messages[1]
    assert messages[2] == "is required"
    assert "not a question of this type" in messages[3]


def test_rows_are_required_when_their_condition_holds(registry):
    content = fk7800_content()
    del content["underlag"]
    assert paths(validate(registry["FK7800"], content, SIGNED)) == ["content.underlag"]
    content["other_investigations"] = False
    assert validate(registry["FK7800"], content, SIGNED) == []


def test_fk7800_needs_at_least_one_impairment_text(registry):
    content = fk7800_content()
    del content["impairment_senses_pain"]
    assert validate(registry["FK7800"], content, SIGNED) != []


@pytest.mark.parametrize("content", [None, [], "basis", 42])
def test_content_that_is_not_an_object_is_refused(fk7804, content):
    p = only_problem(validate(fk7804, content, SIGNED))
    assert (p.path, p.message) == ("content", "must be an object of answers")


def test_a_problem_reads_as_path_then_message(fk7804):
    content = fk7804_content()
    del content["prognosis"]
    assert [str(p) for p in validate(fk7804, content, SIGNED)] == ["content.prognosis: is required"]


# --- definition errors ----------------------------------------------------------------------------

def minimal_definition(**question) -> dict:
    q = {"id": "note", "label": {"sv": "Anteckning", "en": "Note"}, "kind": "text"}
    q.update(question)
    return {"code": "XX1", "name": {"sv": "Testintyg", "en": "Test certificate"},
            "sections": [{"id": "main", "title": {"sv": "Huvud", "en": "Main"}, "questions": [q]}]}


def test_a_minimal_definition_parses():
    t = parse_definition(minimal_definition(), "xx1.yaml")
    assert (t.code, t.version, t.recipient, t.citizen_visible, t.rehab) == ("XX1", "1.0", None, True, "none")


def test_an_unknown_kind_is_refused():
    with pytest.raises(DefinitionError) as err:
        parse_definition(minimal_definition(kind="slider"), "xx1.yaml")
    assert "xx1.yaml" in str(err.value) and "'note'" in str(err.value) and "unknown kind 'slider'" in str(err.value)


def test_a_question_id_used_twice_is_refused():
    raw = minimal_definition()
    raw["sections"].append({"id": "more", "title": {"sv": "Mer", "en": "More"},
                            "questions": [{"id": "note", "label": {"sv": "A", "en": "A"}, "kind": "yes_no"}]})
    with pytest.raises(DefinitionError) as err:
        parse_definition(raw, "xx1.yaml")
    assert "question id 'note' is used twice" in str(err.value)


def test_required_when_pointing_at_an_unknown_question_is_refused():
    with pytest.raises(DefinitionError) as err:
        parse_definition(minimal_definition(required_when={"question": "nope", "equals": True}), "xx1.yaml")
    assert "question 'note' depends on unknown question 'nope'" in str(err.value)


def test_required_unless_pointing_at_an_unknown_question_is_refused():
    with pytest.raises(DefinitionError) as err:
        parse_definition(minimal_definition(required=True, required_unless={"question": "nope", "equals": True}))
    assert "unknown question 'nope'" in str(err.value)


def test_a_label_without_english_is_refused():
    with pytest.raises(DefinitionError) as err:
        parse_definition(minimal_definition(label={"sv": "Anteckning"}), "xx1.yaml")
    assert "'note'" in str(err.value) and "needs both 'sv' and 'en' text" in str(err.value)


def test_a_type_name_without_english_is_refused():
    raw = minimal_definition()
    raw["name"] = {"sv": "Testintyg", "en": ""}
    with pytest.raises(DefinitionError, match="needs both 'sv' and 'en' text"):
        parse_definition(raw, "xx1.yaml")


@pytest.mark.parametrize("kind", ["choice", "multi_choice", "dated_choices"])
def test_a_choice_without_options_is_refused(kind):
    with pytest.raises(DefinitionError) as err:
        parse_definition(minimal_definition(kind=kind), "xx1.yaml")
    assert f"kind {kind} needs options" in str(err.value)


def test_rows_without_fields_are_refused():
    with pytest.raises(DefinitionError, match="kind rows needs fields"):
        parse_definition(minimal_definition(kind="rows"))


def test_an_unknown_rehab_value_is_refused():
    raw = minimal_definition()
    raw["rehab"] = "sometimes"
    with pytest.raises(DefinitionError, match="rehab must be one of"):
        parse_definition(raw)


def test_an_option_without_a_value_is_refused_as_a_definition_error():
    options = [{"label": {"sv": "Ja", "en": "Yes"}}]
    with pytest.raises(DefinitionError, match="'note'"):
        parse_definition(minimal_definition(kind="choice", options=options), "xx1.yaml")


def test_a_section_id_used_twice_is_refused():
    raw = minimal_definition()
    raw["sections"].append({"id": "main", "title": {"sv": "Mer", "en": "More"},
                            "questions": [{"id": "other", "label": {"sv": "A", "en": "A"}, "kind": "yes_no"}]})
    with pytest.raises(DefinitionError, match="main"):
        parse_definition(raw, "xx1.yaml")


# --- a new type as a file, no code ---------------------------------------------------------------

NEW_TYPE = textwrap.dedent("""\
    code: XX9001
    version: "1.0"
    name: {sv: "Intyg om simförmåga", en: "Certificate of swimming ability"}
    recipient: null
    citizen_visible: true
    rehab: none
    sections:
      - id: bedomning
        title: {sv: "Bedömning", en: "Assessment"}
        questions:
          - id: diagnoses
            label: {sv: "Diagnos", en: "Diagnosis"}
            kind: diagnoses
            medical: true
            max_items: 1
          - id: can_swim
            label: {sv: "Kan patienten simma 200 meter?", en: "Can the patient swim 200 metres?"}
            kind: yes_no
            required: true
          - id: restrictions
            label: {sv: "Begränsningar", en: "Restrictions"}
            kind: text
            max_length: 20
            required_when: {question: can_swim, equals: false}
    """)


@pytest.fixture(scope="module")
def with_new_type(tmp_path_factory) -> ct.Registry:
    """The registry with one extra folder holding one new type file (a folder of its own: load_registry
    caches by folder)."""
    folder = tmp_path_factory.mktemp("types")
    (folder / "xx9001.yaml").write_text(NEW_TYPE, encoding="utf-8")
    return load_registry([folder])


def test_a_type_added_as_a_file_is_loaded_next_to_the_built_in_ones(with_new_type):
    assert "XX9001" in with_new_type and len(with_new_type.codes()) == len(DOMAIN_TYPES) + 1
    t = with_new_type["XX9001"]
    assert (t.name.en, t.source, [q.id for q in t.questions()]) == (
        "Certificate of swimming ability", "xx9001.yaml", ["diagnoses", "can_swim", "restrictions"])


def test_a_type_added_as_a_file_validates_good_content_and_refuses_bad(with_new_type):
    t = with_new_type["XX9001"]
    assert validate(t, {"can_swim": True}, SIGNED) == []
    assert validate(t, {"can_swim": False, "restrictions": "Bara i grunt vatten"}, SIGNED) == []
    assert [str(p) for p in validate(t, {"can_swim": False}, SIGNED)] == ["content.restrictions: is required"]
    assert paths(validate(t, {"can_swim": "ja", "diagnoses": [{"code": "X", "text": "?"}]}, SIGNED)) == [
        "content.diagnoses[0].code", "content.can_swim"]


def test_a_malformed_type_file_stops_the_registry_from_loading(tmp_path):
    raw = yaml.safe_load(NEW_TYPE)
    raw["sections"][0]["questions"][1]["kind"] = "slider"
    (tmp_path / "xx9001.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DefinitionError, match="xx9001.yaml .*unknown kind 'slider'"):
        load_registry([tmp_path])


def test_a_type_file_reusing_a_built_in_code_is_refused(tmp_path):
    raw = yaml.safe_load(NEW_TYPE)
    raw["code"] = "FK7804"
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DefinitionError, match="FK7804 is defined twice"):
        load_registry([tmp_path])


# --- reading a certificate's main parts -----------------------------------------------------------

def test_sick_leave_periods_are_returned_in_start_order(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"].reverse()
    assert [p["degree"] for p in ct.sick_leave_periods(fk7804, content)] == [100, 50]


def test_sick_leave_span_runs_from_the_first_start_to_the_last_end(fk7804):
    content = fk7804_content()
    content["sick_leave_periods"].reverse()
    assert ct.sick_leave_span(fk7804, content) == (date(2026, 11, 20), date(2026, 12, 17))


def test_sick_leave_span_uses_the_types_own_periods_question(registry):
    content = {"symptoms": "Feber.", "care_periods": [{"start": "2026-11-20", "end": "2026-11-22", "degree": 50}]}
    assert ct.sick_leave_span(registry["FK7472"], content) == (date(2026, 11, 20), date(2026, 11, 22))


def test_a_type_without_periods_has_no_sick_leave_span(registry, fk7804):
    assert ct.sick_leave_span(registry["FK7210"], {"expected_birth_date": "2027-03-15"}) is None
    assert ct.sick_leave_periods(registry["FK7210"], {"expected_birth_date": "2027-03-15"}) == []
    assert ct.sick_leave_span(fk7804, {"smittbararpenning": True}) is None


def test_main_diagnosis_is_the_first_diagnosis_code(fk7804):
    assert ct.main_diagnosis(fk7804, fk7804_content()) == "M54.5"


def test_main_diagnosis_reads_the_types_own_diagnoses_question(registry):
    assert ct.main_diagnosis(registry["FK7800"], fk7800_content()) == "M79.7"


def test_no_main_diagnosis_without_diagnoses(registry):
    assert ct.main_diagnosis(registry["AG7804"], ag7804_content(False)) is None
    assert ct.main_diagnosis(registry["FK7210"], {"expected_birth_date": "2027-03-15"}) is None
