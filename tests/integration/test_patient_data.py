"""The patient-data gateway as plain Python: its collaborators are passed in, so a test gives it a person
service of its own. Fail closed, the identity rules, and a PDL record for what it hands back."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import NOW
from portal import db
from portal.adapters.person_service import PersonInfo, PersonServiceUnavailable
from portal.domain import demo as demo_data
from portal.domain import sick_leave
from portal.models import PdlRecord
from portal.patient_data import NotVisible, PatientData, PatientsUnavailable, StaffUser
from tests.integration.test_rehab_defects import NEW_PATIENT, add_patient_with_two_doctors

VE10 = demo_data.hsa("VE10")


class StubPersons:
    """A person service that answers what the test says (or is down)."""

    def __init__(self, down: bool = False, protected: bool = False):
        self.down, self.protected, self.asked = down, protected, 0

    def lookup(self, pnrs):
        self.asked += 1
        if self.down:
            raise PersonServiceUnavailable("down")
        return {p: PersonInfo(p, "Tvåläkar", "Patientsson", self.protected, False, False) for p in pnrs}


def gateway(app, session, persons, role="REHABKOORDINATOR", hsa="R001") -> PatientData:
    from portal.repository.rehab import ComputedCache

    user = StaffUser(hsa_id=demo_data.hsa(hsa), role=role, unit_id=VE10, unit_name="Vårdcentralen Norrby",
                     provider_id=demo_data.hsa("VG1"), provider_name="Region Demoland", session_key="k" * 64)
    return PatientData(session, user=user, person_service=persons, registry=app.extensions["certificate_types"],
                       clock=app.extensions["clock"], cache=ComputedCache(), settings=sick_leave.Settings())


def pdl_count(session) -> int:
    return session.scalar(select(func.count()).select_from(PdlRecord))


def test_the_person_service_down_means_nothing_is_handed_back(demo):
    add_patient_with_two_doctors(demo)
    with db.new_session(demo) as s:
        data = gateway(demo, s, StubPersons(down=True))
        for call in (lambda: data.patient(NEW_PATIENT, "intyg"), data.unit_rows, data.open_questions,
                     lambda: data.certificate(NEW_PATIENT, "defect-l002")):
            with pytest.raises(PatientsUnavailable):
                call()
        assert pdl_count(s) == 0


def test_a_protected_patient_is_not_visible_to_a_coordinator(demo):
    add_patient_with_two_doctors(demo)
    with db.new_session(demo) as s:
        data = gateway(demo, s, StubPersons(protected=True))
        with pytest.raises(NotVisible):
            data.patient(NEW_PATIENT, "intyg")
        assert pdl_count(s) == 0


def test_what_it_hands_back_is_logged_and_the_person_service_asked(demo):
    add_patient_with_two_doctors(demo)
    persons = StubPersons()
    with db.new_session(demo) as s:
        page = gateway(demo, s, persons).patient(NEW_PATIENT, "intyg")
        assert page.person.name == "Tvåläkar Patientsson" and persons.asked >= 1
        assert {"defect-l001", "defect-l002"} <= page.readable and "defect-ve20" not in page.readable
        records = s.scalars(select(PdlRecord).where(PdlRecord.patient_pnr == NEW_PATIENT)).all()
        assert {(r.activity, r.resource_type) for r in records} == {("Läsa", "Sjukfall"), ("Läsa", "Intyg")}
        assert all(r.at == NOW for r in records)
