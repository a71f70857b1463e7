"""The copies of a certificate a citizen can print or give away: which a type offers and what each leaves out.

- "full": the whole certificate (every type).
- "employer" (types with `employer_copy`: AG7804, AG1-14): the whole certificate, titled as the copy for the
  employer, diagnosis shown.
- "employer_no_diagnosis" (same types): as "employer", with the diagnosis left out at the patient's request.
- "periods" (FK7804): only the sick-leave periods and degrees, plus the administrative header.

The PDFs (portal/pdf.py) and the links a citizen shares with the employer (domain/sharing.py) both use these,
so a copy leaves out the same questions whether it is printed, downloaded or opened by the employer.
"""
from __future__ import annotations

from . import certificate_types as ct

FULL, EMPLOYER, EMPLOYER_NO_DIAGNOSIS, PERIODS = "full", "employer", "employer_no_diagnosis", "periods"
# Types that offer the copy with only the sick-leave periods and degrees (domain.md: FK7804).
PERIODS_COPY_TYPES = frozenset({"FK7804"})
#: the copies meant for the employer (what a share link can show)
EMPLOYER_COPIES = (EMPLOYER, EMPLOYER_NO_DIAGNOSIS, PERIODS)


def variants_for(ctype: ct.CertificateType) -> list[str]:
    """The PDFs a citizen can download for a certificate of this type, "full" first."""
    out = [FULL]
    if ctype.employer_copy:
        out += [EMPLOYER, EMPLOYER_NO_DIAGNOSIS]
    if ctype.code in PERIODS_COPY_TYPES and ctype.first_of_kind("sick_leave_periods") is not None:
        out.append(PERIODS)
    return out


def employer_copies(ctype: ct.CertificateType) -> list[str]:
    """The copies of this type a citizen may give the employer (none: the type cannot be shared)."""
    return [v for v in variants_for(ctype) if v in EMPLOYER_COPIES]


def _diagnosis_questions(ctype: ct.CertificateType) -> set[str]:
    """Every question that shows or reveals the diagnosis: the `diagnoses` questions, every question in
    a section that holds one (e.g. "does the patient want the employer to know the diagnosis", a
    clarification of the diagnosis), and any question about the diagnosis elsewhere (ids with
    "diagnos": its origin, history, revision, year)."""
    ids = {q.id for q in ctype.questions() if q.kind == "diagnoses" or "diagnos" in q.id.lower()}
    for section in ctype.sections:
        if any(q.kind == "diagnoses" for q in section.questions):
            ids |= {q.id for q in section.questions}
    return ids


def hidden_questions(ctype: ct.CertificateType, variant: str) -> set[str]:
    """The question ids the variant leaves out of the certificate body."""
    if variant not in variants_for(ctype):
        raise ValueError(f"{ctype.code} has no PDF variant {variant!r}")
    if variant == EMPLOYER_NO_DIAGNOSIS:
        return _diagnosis_questions(ctype)
    if variant == PERIODS:
        keep = ctype.first_of_kind("sick_leave_periods")
        assert keep is not None  # variants_for offers PERIODS only to types with sick-leave periods
        return {q.id for q in ctype.questions() if q.id != keep.id}
    return set()
