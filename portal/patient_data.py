"""The patient-data gateway: the one way Rehabstöd's routes get patient data.

Every call asks the person service first (fail closed: `PatientsUnavailable`, and nothing is shown),
applies the access rules of the viewer's role and unit (`domain.rehab`, `domain.questions`: each rule
once, in the pure domain), masks protected identity, and writes the PDL records of what it hands back
(`repository.pdl`; a write's "Skriva" record goes into the write's own transaction). Views get back
only what may be shown; `NotVisible` means "no such thing for this user" (a 404, never a hint).

Plain Python: its collaborators (database session, person service, certificate types, clock, case
cache, the user and their settings) are passed in; it imports no Flask. The blueprint builds one per
request (`portal.rehab.gateway()`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from .adapters.person_service import PersonServiceUnavailable
from .domain import access, persons, rehab, sick_leave
from .domain import lakarutlatanden as lu_rules
from .domain import pdl as pdl_rules
from .domain import questions as q_rules
from .domain.certificate_types import Registry
from .repository import certificates as cert_store
from .repository import lakarutlatanden as lu_store
from .repository import pdl as pdl_store
from .repository import questions as q_store
from .repository import rehab as store

log = logging.getLogger(__name__)


class PatientsUnavailable(Exception):
    """The person service cannot answer: nothing about patients may be shown (fail closed)."""


class NotVisible(Exception):
    """The object does not exist for this user (another unit's, another doctor's, or none at all)."""


@dataclass(frozen=True)
class StaffUser:
    """Who is looking: what the access rules and the PDL record need."""

    hsa_id: str
    role: str
    unit_id: str
    unit_name: str
    provider_id: str
    provider_name: str
    session_key: str  # the login session (AuthSession.sid_hash): PDL's once-per-session key

    @property
    def viewer(self) -> rehab.Viewer:
        return rehab.Viewer(hsa_id=self.hsa_id, role=self.role, unit_id=self.unit_id)

    @property
    def is_doctor(self) -> bool:
        return self.role == access.LAKARE


@dataclass(frozen=True)
class OngoingList:
    """The ongoing list as the user asked for it: every matching row in the on-screen order, the visible
    columns, how many cases the user may see in all, and the doctor filter's choices."""

    filters: rehab.Filters
    rows: list[rehab.CaseRow]
    total: int
    columns: list[str]
    doctors: list[tuple[str | None, str]]


@dataclass(frozen=True)
class LakarutlatandenList:
    filters: lu_rules.Filters
    rows: list[lu_rules.Row]
    total: int
    columns: list[str]
    doctors: list[tuple[str, str]]


@dataclass(frozen=True)
class QuestionRow:
    """One open question as the list shows it; `patient_link` when the user may open the patient view."""

    listed: q_store.ListedQuestion
    name: str
    masked: bool
    patient_link: bool

    @property
    def question(self) -> q_rules.Question:
        return self.listed.question

    @property
    def certificate(self) -> q_store.CertificateFacts:
        return self.listed.certificate


@dataclass
class PatientPage:
    person: rehab.PersonFacts
    pnr: str
    cases: list
    certificates: list
    statements: list
    open_questions: list[q_rules.Question]
    unit_names: dict[str, str]
    doctor_names: dict[str, str]
    readable: set[str]
    own_units: set[str]
    age: int
    gender: str


@dataclass
class QuestionPage:
    q: q_rules.Question
    cert: q_store.CertificateFacts
    thread: Any
    name: str
    masked: bool
    pnr: str
    complementing: list
    readable: set[str]
    patient_link: bool
    own_units: set[str]
    staff_names: dict[str, str]
    unit_name: str
    sends: dict
    extra: dict = field(default_factory=dict)

    def context(self) -> dict:
        """What the question page's template takes."""
        thread = self.thread
        return {"q": self.q, "cert": self.cert, "thread": thread, "name": self.name, "masked": self.masked,
                "pnr": self.pnr, "complementing": self.complementing, "readable": self.readable,
                "patient_link": self.patient_link, "own_units": self.own_units, "staff_names": self.staff_names,
                "unit_name": self.unit_name, "sends": self.sends,
                "answer_refusal": q_rules.answer_refusal(self.q, thread.answered),
                "handle_refusal": q_rules.handle_refusal(self.q, thread.answered),
                "undo_refusal": q_rules.undo_refusal(self.q, thread.answered)}


@dataclass
class AskTarget:
    """A certificate the user would ask FK about (issue 17): `refusal` None when they may."""

    cert: q_store.CertificateFacts
    pnr: str
    name: str
    masked: bool
    refusal: str | None
    doctor_name: str
    unit_name: str
    patient_link: bool


@dataclass
class CachedCases:
    """A unit's computed cases at a set of data versions and valideringspersoner, by patient (kept in the
    gateway's cache; the list order is the engine's: by start, then patient)."""

    versions: tuple[tuple[str, int], ...]
    validation: frozenset[str]
    by_patient: dict[str, sick_leave.SickLeaveCase]

    @cached_property
    def cases(self) -> list[sick_leave.SickLeaveCase]:
        return sorted(self.by_patient.values(), key=lambda case: (case.start, case.patient_id))


class PatientData:
    """The gateway for one request: see the module docstring."""

    def __init__(self, session: Session, *, user: StaffUser, person_service, registry: Registry, clock,
                 cache, settings: sick_leave.Settings):
        self.session, self.user, self.person_service = session, user, person_service
        self.registry, self.clock, self.cache, self.settings = registry, clock, cache, settings
        self._scope: list[str] | None = None
        self._own_rows: list[rehab.CaseRow] | None = None

    # --- the parts every call goes through -------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.clock.today()

    @property
    def scope(self) -> list[str]:
        """The user's unit and its sub-units."""
        if self._scope is None:
            self._scope = store.unit_scope(self.session, self.user.unit_id)
        return self._scope

    def facts(self, pnrs: Iterable[str]) -> dict[str, rehab.PersonFacts]:
        """The person service's answer (fail closed: PatientsUnavailable)."""
        pnrs = set(pnrs)
        if not pnrs:
            return {}
        try:
            found = self.person_service.lookup(pnrs)
        except PersonServiceUnavailable as err:
            log.warning("person service unavailable: %s", err)
            raise PatientsUnavailable() from None
        return {p: rehab.PersonFacts(i.personnummer, i.name, i.protected, i.deceased, i.validation_person)
                for p, i in found.items()}

    def _entries(self, patients: Iterable[tuple[str, str]], resource: str, activity: str) -> list:
        u = self.user
        who = {"user_hsa_id": u.hsa_id, "user_title": access.ROLE_TITLES.get(u.role, ""), "user_unit_id": u.unit_id,
               "user_unit_name": u.unit_name, "user_provider_id": u.provider_id,
               "user_provider_name": u.provider_name}
        return pdl_rules.entries_for(who, patients, activity, resource)

    def shown(self, patients: Iterable[tuple[str, str]], resource: str, activity: str = pdl_rules.LASA) -> None:
        """Log what is about to be shown (committed before it is: no record, nothing shown)."""
        entries = self._entries(patients, resource, activity)
        if entries:
            pdl_store.log(self.session, entries, session_key=self.user.session_key, now=self.clock.now())

    def write_audit(self, patients: list[tuple[str, str]], resource: str) -> Callable[[Session], None]:
        """A write's "Skriva" records, for the write to add to its own transaction."""
        entries = self._entries(patients, resource, pdl_rules.SKRIVA)
        session_key, now = self.user.session_key, self.clock.now()

        def audit(session: Session) -> None:
            pdl_store.append(session, entries, session_key=session_key, now=now)

        return audit

    def resource(self, type_code: str) -> str:
        ctype = self.registry.get(type_code)
        return pdl_rules.LAKARUTLATANDE if ctype is not None and ctype.rehab == "lakarutlatande" else pdl_rules.INTYG

    def shown_type(self, type_code: str) -> bool:
        ctype = self.registry.get(type_code)
        return ctype is not None and ctype.rehab != "none"

    # --- the unit's ongoing cases -----------------------------------------------------------------------

    def unit_rows(self) -> list[rehab.CaseRow]:
        """The ongoing cases the user may see on their unit, as display rows (not logged: the caller
        shows a page of them through `shown`). The engine's input and its cases are reused while the
        units' data versions are unchanged; the person service, FK's questions and the access rules are
        asked afresh on every call."""
        if self._own_rows is not None:
            return self._own_rows
        session, settings, today, user = self.session, self.settings, self.today, self.user
        since = today - timedelta(days=settings.max_days_since_sjukfall_end)
        unit_input = store.unit_input(session, self.registry, self.cache, unit_ids=self.scope,
                                      provider_id=user.provider_id, since=since)
        facts = self.facts(unit_input.data.patients)
        validation = frozenset(p for p, f in facts.items() if f.validation_person)
        doctor = user.hsa_id if user.is_doctor else None
        key = ("cases", tuple(sorted(self.scope)), user.provider_id, since, today, settings, doctor)
        cases = self._cases(key, unit_input, validation, doctor)
        ids = {c for case in cases for c in case.certificate_ids}
        counts = rehab.question_counts(store.fk_messages(session, ids, today, unit_ids=self.scope), today)
        waiting = q_store.waiting_counts(session, ids, today, self.scope)
        names = store.staff_names(session, {case.doctor_id for case in cases})
        self._own_rows = rehab.visible_rows(cases, facts, user.viewer, today, doctor_names=names, questions=counts,
                                            waiting=waiting)
        return self._own_rows

    def _cases(self, key: tuple, unit_input: store.UnitInput, validation: frozenset[str],
               doctor: str | None) -> list[sick_leave.SickLeaveCase]:
        """The engine's cases for the unit input, reused from the cache: whole when nothing changed, else
        recomputed only for the patients whose certificates changed since (or whose valideringsperson mark
        did), the others' cases kept (the engine makes each patient's cases from that patient's certificates
        alone)."""
        cached: CachedCases | None = self.cache.peek(key)
        if cached is not None and cached.versions == unit_input.versions and cached.validation == validation:
            return cached.cases
        data = unit_input.data
        changed = (store.changed_patients(self.session, cached.versions, unit_input.versions)
                   if cached is not None else None)
        if cached is not None and changed is not None:
            redo = changed | (validation ^ cached.validation)
            by_patient = {p: c for p, c in cached.by_patient.items() if p not in redo}
            records = [r for r in data.records if r.certificate.patient_id in redo]
        else:
            by_patient, records = {}, data.records
        marked = [r if r.certificate.patient_id not in validation
                  else sick_leave.CertificateRecord(r.certificate, r.type_code, r.revoked, r.replaced_by, True)
                  for r in records]
        for case in sick_leave.unit_cases(sick_leave.counting(marked), self.today, self.settings, doctor_id=doctor):
            by_patient[case.patient_id] = case
        result = CachedCases(unit_input.versions, validation, by_patient)
        self.cache.put(key, result, update=cached is not None and changed is not None)
        return result.cases

    def ongoing(self, filters: rehab.Filters) -> OngoingList:
        """Every matching row (the page shows 100 at a time, the exports all): not logged here."""
        rows = self.unit_rows()
        doctors = sorted({(r.doctor_id, r.doctor_name) for r in rows}, key=lambda d: d[1] or "")
        shown = rehab.sort_rows(rehab.apply_filters(rows, filters), filters.sort, filters.order)
        return OngoingList(filters, shown, len(rows), rehab.columns(self.user.viewer, filters.show_personal),
                           doctors)

    def cases_shown(self, rows: list[rehab.CaseRow], activity: str = pdl_rules.LASA) -> None:
        self.shown([(r.patient_pnr, r.case.unit_id or self.user.unit_id) for r in rows], pdl_rules.SJUKFALL,
                   activity)

    # --- läkarutlåtanden -------------------------------------------------------------------------------------

    def lakarutlatande_types(self) -> tuple[str, ...]:
        return tuple(sorted(c for c in self.registry.codes() if self.registry[c].rehab == "lakarutlatande"))

    def lakarutlatanden(self, filters: lu_rules.Filters) -> LakarutlatandenList:
        session, today, viewer = self.session, self.today, self.user.viewer
        stored = lu_store.unit_lakarutlatanden(
            session, unit_ids=self.scope, provider_id=self.user.provider_id, type_codes=self.lakarutlatande_types(),
            doctor_id=None if viewer.is_coordinator else self.user.hsa_id)
        facts = self.facts({s.patient_pnr for s in stored})
        questions = rehab.question_counts(store.fk_messages(session, {s.id for s in stored}, today,
                                                            unit_ids=self.scope), today) if stored else {}
        waiting = q_store.waiting_counts(session, {s.id for s in stored}, today, self.scope) if stored else {}
        names = store.staff_names(session, {s.doctor_id for s in stored})
        shown, visible = lu_rules.list_rows(stored, facts, viewer, today, filters, doctor_names=names,
                                            questions=questions, waiting=waiting)
        doctors = sorted({(r.doctor_id, r.doctor_name) for r in visible}, key=lambda d: rehab.swedish_key(d[1]))
        return LakarutlatandenList(filters, shown, len(visible), lu_rules.columns(viewer, filters.show_personal),
                                   doctors)

    def statements_shown(self, rows: list[lu_rules.Row], activity: str = pdl_rules.LASA) -> None:
        self.shown([(r.patient_pnr, r.unit_id) for r in rows], pdl_rules.LAKARUTLATANDE, activity)

    # --- one patient -------------------------------------------------------------------------------------

    def own_case_certificates(self, pnr: str) -> set[str]:
        """The certificates of the doctor's own cases of this patient (cases whose deciding certificate
        they signed), any time."""
        data = store.patient_sick_leave(self.session, self.registry, pnr, self.user.provider_id)
        cases = sick_leave.patient_cases(sick_leave.counting(data.records), self.today, self.settings)
        return {cid for c in cases if c.doctor_id == self.user.hsa_id for cid in c.certificate_ids}

    def may_open_patient(self, pnr: str) -> bool:
        """Beyond the identity rules: a coordinator, or a doctor whose list shows the patient."""
        return not self.user.is_doctor or any(row.patient_pnr == pnr for row in self.unit_rows())

    def readable(self, pnr: str, certificates) -> set[str]:
        """The ids among these certificates of the patient whose content this user may open."""
        viewer = self.user.viewer
        own = self.own_case_certificates(pnr) if not viewer.is_coordinator else set()
        return {c.id for c in certificates
                if rehab.may_read_certificate(viewer, unit_id=c.unit_id, staff_id=c.staff_id, certificate_id=c.id,
                                              unit_scope=self.scope, own_case_certificate_ids=own)}

    def _person(self, pnr: str) -> rehab.PersonFacts:
        """The patient, if this user may see them at all (the identity rules), else NotVisible."""
        person = self.facts([pnr]).get(pnr)
        if not rehab.may_see_patient(person, self.user.viewer):
            raise NotVisible()
        return person or rehab.PersonFacts(pnr, rehab.UNKNOWN_NAME)  # a doctor's unknown patient: no name

    def patient(self, pnr: str, tab: str) -> PatientPage:
        """The patient view: cases and certificates within the provider; logged per data unit."""
        person = self._person(pnr)
        session, today = self.session, self.today
        data = store.patient_sick_leave(session, self.registry, pnr, self.user.provider_id)
        rows = store.patient_certificates(session, pnr, self.user.provider_id)
        scope = set(self.scope)
        if not any(r.unit_id in scope for r in rows) or not self.may_open_patient(pnr):
            raise NotVisible()  # not this unit's patient, or (doctor) not a patient of their own cases
        counting = sick_leave.counting(data.records) if not person.validation_person else []
        cases = sick_leave.patient_cases(counting, today, self.settings) if counting else []
        listed = [r for r in rows if r.revoked_at is None and self.shown_type(r.type_code)]
        statements = [c for c in listed if self.registry[c.type_code].rehab == "lakarutlatande"]
        certificates = [c for c in listed if self.registry[c.type_code].rehab != "lakarutlatande"]
        open_questions = self.patient_questions(pnr, person, cases)
        self.shown([(pnr, self.user.unit_id)], pdl_rules.SJUKFALL)
        self.shown([(pnr, unit) for unit in sorted({c.unit_id for c in certificates})], pdl_rules.INTYG)
        if tab == "lakarutlatanden" and statements:
            self.shown([(pnr, unit) for unit in sorted({c.unit_id for c in statements})], pdl_rules.LAKARUTLATANDE)
        return PatientPage(
            person=person, pnr=pnr, cases=cases, certificates=certificates, statements=statements,
            open_questions=open_questions, unit_names=store.unit_names(session, {c.unit_id for c in listed}),
            doctor_names=store.staff_names(session, {c.staff_id for c in listed}),
            readable=self.readable(pnr, listed), own_units=scope, age=persons.age(pnr, today),
            gender=persons.gender(pnr))

    def certificate(self, pnr: str, certificate_id: str):
        """One certificate's whole content, if this user may open it; logged. (view, person, patient_link)"""
        person = self._person(pnr)
        cert = cert_store.one(self.session, certificate_id)
        row = store.certificate_row(self.session, certificate_id) if cert is not None else None
        if (cert is None or row is None or cert.patient_pnr != pnr or cert.revoked_at is not None
                or row.provider_id != self.user.provider_id or not self.shown_type(cert.type_code)
                or cert.id not in self.readable(pnr, [row])):
            raise NotVisible()  # another unit's, or (doctor) another doctor's outside their own cases
        self.shown([(pnr, cert.unit_id)], self.resource(cert.type_code))
        return cert, person, self.may_open_patient(pnr)

    # --- FK's questions ----------------------------------------------------------------------------------

    def open_questions(self) -> list[QuestionRow]:
        """The unit's open questions this user may see (not logged: the caller shows some)."""
        listed = [lq for lq in q_store.open_unit_questions(self.session, self.scope, self.user.provider_id,
                                                           self.today) if self.shown_type(lq.certificate.type_code)]
        return self._question_rows(listed)

    def waiting_questions(self) -> list[QuestionRow]:
        """The care unit's questions to FK that FK has not answered yet ("Väntar på svar från FK"), that this
        user may see (not logged: the caller shows them)."""
        listed = [lq for lq in q_store.waiting_unit_questions(self.session, self.scope, self.user.provider_id,
                                                              self.today) if self.shown_type(lq.certificate.type_code)]
        return self._question_rows(listed)

    def _question_rows(self, listed: list[q_store.ListedQuestion]) -> list[QuestionRow]:
        viewer = self.user.viewer
        facts = self.facts({lq.certificate.patient_pnr for lq in listed})
        own_cases: set[str] = set()
        listed_patients: set[str] | None = None
        if not viewer.is_coordinator and listed:
            own_rows = self.unit_rows()
            own_cases = {cid for row in own_rows for cid in row.case.certificate_ids}
            listed_patients = {row.patient_pnr for row in own_rows}
        out = []
        for lq in listed:
            pnr = lq.certificate.patient_pnr
            person = facts.get(pnr)
            if q_rules.may_see(person, viewer, certificate_staff_id=lq.certificate.staff_id,
                               certificate_id=lq.certificate.id, own_case_certificate_ids=own_cases):
                name, masked = rehab.display_name(person)
                out.append(QuestionRow(lq, name, masked, listed_patients is None or pnr in listed_patients))
        return out

    def forwards(self, question_ids: Iterable[str]) -> tuple[dict[str, q_store.Forward], dict[str, str]]:
        """Where these questions were forwarded last, and the colleagues' names (no patient data: not logged)."""
        found = q_store.forwards_of(self.session, question_ids)
        return found, store.staff_names(self.session, {f.to for f in found.values()})

    def questions_shown(self, rows: list[QuestionRow]) -> None:
        for resource in (pdl_rules.INTYG, pdl_rules.LAKARUTLATANDE):
            self.shown([(r.certificate.patient_pnr, r.certificate.unit_id) for r in rows
                        if self.resource(r.certificate.type_code) == resource], resource)

    def patient_questions(self, pnr: str, person: rehab.PersonFacts | None, cases) -> list[q_rules.Question]:
        """The patient's open questions on this unit that the user may see (for the patient view)."""
        viewer = self.user.viewer
        own = {cid for c in cases if c.doctor_id == viewer.hsa_id for cid in c.certificate_ids}
        listed = q_store.open_unit_questions(self.session, list(self.scope), self.user.provider_id, self.today,
                                             patient_pnr=pnr)
        return [lq.question for lq in listed if self.shown_type(lq.certificate.type_code)
                and q_rules.may_see(person, viewer, certificate_staff_id=lq.certificate.staff_id,
                                    certificate_id=lq.certificate.id, own_case_certificate_ids=own)]

    def question(self, question_id: str) -> QuestionPage:
        """A question and everything its page shows, if this user may see it (not logged: `question_shown`
        logs when the page is shown)."""
        session = self.session
        found = q_store.one(session, question_id)
        if found is None:
            raise NotVisible()
        q, cert = found
        scope = set(self.scope)
        if (not q_rules.reachable(q, self.today) or cert.unit_id not in scope or q.unit_id not in scope
                or cert.provider_id != self.user.provider_id or cert.revoked_at is not None
                or not self.shown_type(cert.type_code)):
            raise NotVisible()
        person = self.facts([cert.patient_pnr]).get(cert.patient_pnr)
        viewer = self.user.viewer
        if not rehab.may_see_patient(person, viewer):
            raise NotVisible()
        if not viewer.is_coordinator and cert.staff_id != viewer.hsa_id:
            if not q_rules.may_see(person, viewer, certificate_staff_id=cert.staff_id, certificate_id=cert.id,
                                   own_case_certificate_ids=self.own_case_certificates(cert.patient_pnr)):
                raise NotVisible()
        thread = q_rules.thread(q, q_store.certificate_messages(session, cert.id))
        name, masked = rehab.display_name(person)
        complementing = [c for c in q_store.complementing(session, cert.id)
                         if c.revoked_at is None and c.provider_id == self.user.provider_id]
        staff_ids = {cert.staff_id} | {t.question.handled_by for t in (thread, *thread.earlier)
                                       if t.question.handled_by}
        return QuestionPage(
            q=q, cert=cert, thread=thread, name=name, masked=masked, pnr=cert.patient_pnr,
            complementing=complementing, readable=self.readable(cert.patient_pnr, [cert, *complementing]),
            patient_link=self.may_open_patient(cert.patient_pnr), own_units=scope,
            staff_names=store.staff_names(session, staff_ids),
            unit_name=store.unit_names(session, {cert.unit_id}).get(cert.unit_id, cert.unit_id),
            sends=q_store.sends_of_answers(session, [a.id for a in thread.answers]))

    def question_shown(self, page: QuestionPage) -> None:
        self.shown([(page.pnr, page.cert.unit_id)], self.resource(page.cert.type_code))

    def question_audit(self, page: QuestionPage) -> Callable[[Session], None]:
        return self.write_audit([(page.pnr, page.cert.unit_id)], self.resource(page.cert.type_code))

    # --- writes: each with its "Skriva" record in its own transaction ------------------------------------

    def answer(self, page: QuestionPage, answer_id: str, text: str) -> str:
        """Store the answer (and its send to FK): q_store.ANSWERED, DUPLICATE or NOT_OPEN."""
        return q_store.answer(self.session, question=page.q, answer_id=answer_id, text=text,
                              staff_id=self.user.hsa_id, now=self.clock.now(), audit=self.question_audit(page))

    def mark_handled(self, page: QuestionPage) -> bool:
        return q_store.mark_handled(self.session, page.q.id, self.user.hsa_id, self.clock.now(),
                                    audit=self.question_audit(page))

    def undo_handled(self, page: QuestionPage) -> bool:
        return q_store.undo_handled(self.session, page.q.id, audit=self.question_audit(page))

    # --- issue 17: the conversation, asking FK, forwarding ----------------------------------------------

    def conversation(self, page: QuestionPage) -> QuestionPage:
        """Add the certificate's whole conversation with FK (both directions, in order), who wrote each
        message, the sends of the care unit's messages, and where the question is forwarded, to the page's
        `extra` (the same patient and certificate as the page: no record of its own)."""
        session = self.session
        messages = q_store.certificate_messages(session, page.cert.id)
        entries = q_rules.conversation(messages)
        forwarded = q_store.forwards_of(session, [page.q.id]).get(page.q.id)
        ids = {e.message.author_id for e in entries if e.message.author_id}
        if forwarded is not None:
            ids |= {forwarded.to, forwarded.by}
        page.staff_names.update(store.staff_names(session, ids - set(page.staff_names)))
        care = [e.message.id for e in entries if not e.from_fk]
        page.extra.update(conversation=entries, forwarded=forwarded,
                          message_sends=q_store.sends_of_answers(session, care))
        return page

    def ask_target(self, pnr: str, certificate_id: str) -> AskTarget:
        """The certificate this user would ask FK about, with why they may not (`refusal`), if they may see the
        patient and read the certificate at all (else NotVisible: a 404). A revoked certificate is found (and
        refused) so that the user is told why."""
        found = self.facts([pnr]).get(pnr)
        validation = found is not None and found.validation_person
        if found is not None and validation:  # never shown, but told why (the page then shows no patient data)
            found = rehab.PersonFacts(found.personnummer, found.name, found.protected, found.deceased, False)
        if not rehab.may_see_patient(found, self.user.viewer):
            raise NotVisible()
        person = found or rehab.PersonFacts(pnr, rehab.UNKNOWN_NAME)
        cert = q_store.certificate_facts(self.session, certificate_id)
        if (cert is None or cert.patient_pnr != pnr or cert.provider_id != self.user.provider_id
                or not self.shown_type(cert.type_code) or cert.id not in self.readable(pnr, [cert])):
            raise NotVisible()
        ctype = self.registry.get(cert.type_code)
        refusal = q_rules.ask_refusal(
            revoked=cert.revoked_at is not None, recipient=ctype.recipient if ctype is not None else None,
            received=q_store.fk_received(self.session, cert.id), validation_person=validation,
            is_coordinator=self.user.viewer.is_coordinator, is_signer=cert.staff_id == self.user.hsa_id)
        name, masked = rehab.display_name(person)
        return AskTarget(cert=cert, pnr=pnr, name=name, masked=masked, refusal=refusal,
                         doctor_name=store.staff_names(self.session, {cert.staff_id}).get(cert.staff_id, ""),
                         unit_name=store.unit_names(self.session, {cert.unit_id}).get(cert.unit_id, cert.unit_id),
                         patient_link=self.may_open_patient(pnr))

    def ask_shown(self, target: AskTarget) -> None:
        if target.refusal == q_rules.VALIDATION_PERSON:
            return  # the page shows no patient data
        self.shown([(target.pnr, target.cert.unit_id)], self.resource(target.cert.type_code))

    def ask(self, target: AskTarget, question_id: str, subject: str, heading: str, text: str) -> str:
        """Store the question to FK and its send, with the "Skriva" record in the same transaction:
        q_store.ASKED or DUPLICATE."""
        audit = self.write_audit([(target.pnr, target.cert.unit_id)], self.resource(target.cert.type_code))
        return q_store.ask(self.session, question_id=question_id, certificate=target.cert, subject=subject,
                           heading=heading, text=text, staff_id=self.user.hsa_id, now=self.clock.now(), audit=audit)

    def forward_candidates(self, page: QuestionPage) -> list[q_rules.Colleague]:
        """The colleagues on the user's unit the question may be forwarded to (who would see it there)."""
        return q_rules.forward_candidates(q_store.colleagues(self.session, self.user.unit_id, self.today),
                                          me=self.user.hsa_id, certificate_staff_id=page.cert.staff_id)

    def forward(self, page: QuestionPage, to_staff_id: str) -> bool:
        """Forward the question, with the "Skriva" record in the same transaction; False if it already was."""
        return q_store.forward(self.session, question_id=page.q.id, unit_id=self.user.unit_id,
                               to_staff_id=to_staff_id, by_staff_id=self.user.hsa_id, now=self.clock.now(),
                               audit=self.question_audit(page))
