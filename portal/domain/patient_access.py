"""Who may see which patient and certificate in Rehabstöd, and what name is shown: the identity and access
rules of shared/domain.md ("Rehabstöd"), once. Pure.

- Valideringspersoner never appear; deceased patients are not listed.
- A rehab coordinator (REHABKOORDINATOR) sees the whole unit, except protected patients (skyddade
  personuppgifter) and patients unknown to PU-tjänsten.
- A doctor (LAKARE) sees only cases whose deciding certificate they signed. Their own protected
  patients are shown with the name replaced by ``MASKED``; their patients unknown to PU-tjänsten with
  ``UNKNOWN_NAME``. The real name of a protected patient never leaves ``display_name``.
- A certificate's content is opened only on the unit in use (and its sub-units); a doctor opens the
  ones they signed and the ones of their own cases.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .access import LAKARE, REHABKOORDINATOR

#: Shown instead of a protected patient's name (to the doctor who signed their case). The
#: template translates it.
MASKED = "Sekretessmarkerad uppgift"

#: Shown instead of the name of a patient that PU-tjänsten does not know (doctors only).
UNKNOWN_NAME = "Namn okänt"


# --- Inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonFacts:
    """What PU-tjänsten says about a patient (the blueprint converts the adapter's answer)."""

    personnummer: str
    name: str | None
    protected: bool = False
    deceased: bool = False
    validation_person: bool = False


@dataclass(frozen=True)
class Viewer:
    """The logged-in staff member: HSA-id, role on the unit (``LAKARE`` or ``REHABKOORDINATOR``)
    and the care unit they are logged in on."""

    hsa_id: str
    role: str
    unit_id: str

    @property
    def is_coordinator(self) -> bool:
        return self.role == REHABKOORDINATOR


def check_role(viewer: Viewer) -> None:
    # Fail closed: an unknown role is a programming error, never "sees everything".
    if viewer.role not in (LAKARE, REHABKOORDINATOR):
        raise ValueError(f"unknown Rehabstöd role {viewer.role!r}")


def may_see_patient(person: PersonFacts | None, viewer: Viewer) -> bool:
    """The identity rules for one patient, without the doctor's own-case rule.

    Never a valideringsperson or a deceased patient; a coordinator never a protected patient nor
    one unknown to PU-tjänsten (``person`` None). A doctor may see their own protected and unknown
    patients (masked), but only in cases they signed: that check needs the cases and is the
    caller's (``visible_rows`` does it for the list).
    """
    check_role(viewer)
    if person is not None and (person.validation_person or person.deceased):
        return False
    if viewer.is_coordinator:
        return person is not None and not person.protected
    return True


def may_read_certificate(viewer: Viewer, *, unit_id: str, staff_id: str, certificate_id: str,
                         unit_scope: Iterable[str], own_case_certificate_ids: Iterable[str]) -> bool:
    """Whether the viewer may read a certificate's content (the caller has checked the patient with
    `may_see_patient`). Only certificates of the unit the viewer is logged in on (and its sub-units): other
    units' certificates are shown with limited information in the patient view, never opened. A
    coordinator reads every one of those; a doctor the ones they signed and the ones of their own cases
    (cases whose deciding certificate they signed, the list's rule)."""
    check_role(viewer)
    if unit_id not in set(unit_scope):
        return False
    return viewer.is_coordinator or staff_id == viewer.hsa_id or certificate_id in set(own_case_certificate_ids)


def display_name(person: PersonFacts | None) -> tuple[str, bool]:
    """(name to display, masked) for a patient the viewer may see."""
    if person is not None and person.protected:
        return MASKED, True
    if person is None or not (person.name or "").strip():
        return UNKNOWN_NAME, False
    return (person.name or "").strip(), False
