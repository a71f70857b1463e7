"""The data model (SQLAlchemy 2.0 typed models).

Only the patient's personnummer is stored with a certificate: never a name or an address (names
come from the person service when shown). Certificates are immutable once signed; revocation is
recorded on the row, replacement and complement as relations.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

HSA = String(64)
PNR = String(12)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}
    if TYPE_CHECKING:  # every model here is mapped to a Table (for Core inserts: insert(Model.__table__))
        __table__: ClassVar[Table]


class CareProvider(Base):
    """Vårdgivare."""

    __tablename__ = "care_providers"
    hsa_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class CareUnit(Base):
    """Vårdenhet, or a sub-unit (mottagning) when parent_id is set."""

    __tablename__ = "care_units"
    hsa_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[str] = mapped_column(ForeignKey("care_providers.hsa_id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("care_units.hsa_id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    # län: the county code of HSA's countyCode ("17" Värmland; domain/counties.py), for the national statistics
    county: Mapped[str | None] = mapped_column(String(2))
    # bumped whenever the unit's certificates, revocations or relations change (repository.intake):
    # Rehabstöd's cache of computed sick-leave cases is keyed on it
    data_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    provider: Mapped[CareProvider] = relationship()
    parent: Mapped[CareUnit | None] = relationship(remote_side="CareUnit.hsa_id")


class UnitChange(Base):
    """One bump of a unit's data_version, with the patients whose certificates it changed (a JSON list, or
    NULL when not known). A process that has the unit's computed cases for an older version brings them up to
    date by recomputing only these patients (repository.rehab.unit_input) instead of the whole unit. Rows
    older than a week (repository.rehab.UNIT_CHANGES_KEEP) are deleted by `portal purge-sessions`; a gap means a
    full recompute."""

    __tablename__ = "unit_changes"
    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    patients: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Staff(Base):
    """A staff member as the HSA directory describes them."""

    __tablename__ = "staff"
    hsa_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    # legitimerade yrkesgrupper, e.g. ["Läkare"]
    professions: Mapped[list[Any]] = mapped_column(default=list)
    # befattningskoder with their gruppförskrivarkod: [{"code": "204010", "group_prescription_code": null}]
    position_codes: Mapped[list[Any]] = mapped_column(default=list)
    # hsaSystemRole values, e.g. ["INTYG;Rehab-SE2321000016-0002"]
    system_roles: Mapped[list[Any]] = mapped_column(default=list)
    # for Intygsstatistik's reports by the doctors' gender and age group (HSA has them; no personnummer kept)
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)

    commissions: Mapped[list[Commission]] = relationship(back_populates="staff")

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Commission(Base):
    """Medarbetaruppdrag: a staff member's commission on a unit for a purpose."""

    __tablename__ = "commissions"
    __table_args__ = (UniqueConstraint("staff_id", "unit_id", "purpose"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.hsa_id"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("care_units.hsa_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    staff: Mapped[Staff] = relationship(back_populates="commissions")
    unit: Mapped[CareUnit] = relationship()


class Person(Base):
    """The local stand-in for PU-tjänsten (the person data service)."""

    __tablename__ = "persons"
    personnummer: Mapped[str] = mapped_column(PNR, primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    validation_person: Mapped[bool] = mapped_column(Boolean, default=False)


class Certificate(Base):
    """A signed certificate. `content` is validated against the type definition at intake.

    sick_leave_start/end and main_diagnosis are derived from the content at intake so that the
    Rehabstöd lists can find a unit's ongoing certificates by index.
    """

    __tablename__ = "certificates"
    __table_args__ = (
        # Mina intyg: a citizen's certificates, newest first
        Index("ix_certificates_patient_signed", "patient_pnr", "signed_at"),
        # Rehabstöd: a unit's certificates of a type that end on or after a day
        Index("ix_certificates_unit_type_end", "unit_id", "type_code", "sick_leave_end"),
        # Rehabstöd patient view and chaining: a patient's certificates within a provider
        Index("ix_certificates_provider_patient", "provider_id", "patient_pnr"),
        # Läkarutlåtanden: a unit's certificates of a type by signing time
        Index("ix_certificates_unit_type_signed", "unit_id", "type_code", "signed_at"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(20))
    type_version: Mapped[str] = mapped_column(String(10))
    patient_pnr: Mapped[str] = mapped_column(PNR)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.hsa_id"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("care_units.hsa_id"))
    provider_id: Mapped[str] = mapped_column(ForeignKey("care_providers.hsa_id"))
    signed_at: Mapped[datetime] = mapped_column(DateTime)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(500))
    sick_leave_start: Mapped[date | None] = mapped_column(Date)
    sick_leave_end: Mapped[date | None] = mapped_column(Date)
    main_diagnosis: Mapped[str | None] = mapped_column(String(10))
    # what the sick-leave engine reads, compact (periods, diagnoses, occupation): see domain.certificate_types
    engine_data: Mapped[str | None] = mapped_column(Text)
    # the API client (journal system, Webcert) that registered it; None for `portal load`. Only that
    # client may revoke it, record its sends or read its status through the API.
    registered_by: Mapped[str | None] = mapped_column(String(64))

    staff: Mapped[Staff] = relationship()
    unit: Mapped[CareUnit] = relationship()
    provider: Mapped[CareProvider] = relationship()


class CertificateRelation(Base):
    """`from_id` REPLACES or COMPLEMENTS `to_id` (the newer certificate points at the older)."""

    __tablename__ = "certificate_relations"
    __table_args__ = (UniqueConstraint("from_id", "to_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    to_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # REPLACES | COMPLEMENTS
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Send(Base):
    """A send of a certificate (or an answer) to a recipient: the durable outbox row."""

    __tablename__ = "sends"
    __table_args__ = (
        Index("ix_sends_due", "state", "next_attempt_at"),
        Index("ix_sends_certificate", "certificate_id", "recipient"),
        # At most one live (pending or delivered) send of a certificate to a recipient: two racing
        # requests cannot both win, and a FAILED send does not block a new one. Answers (kind ANSWER)
        # are many per certificate, so the rule is for kind CERTIFICATE only.
        Index("ux_sends_live", "certificate_id", "recipient", "kind", unique=True,
              sqlite_where=text("kind = 'CERTIFICATE' AND state IN ('PENDING', 'DELIVERED')"),
              postgresql_where=text("kind = 'CERTIFICATE' AND state IN ('PENDING', 'DELIVERED')")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"))
    recipient: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="CERTIFICATE")  # CERTIFICATE | ANSWER
    payload_ref: Mapped[str | None] = mapped_column(String(64))  # e.g. the answer's message id
    # not unique: a retry of a failed send that may have reached the recipient carries the same key (a new row,
    # the old one kept as history); ux_sends_live still allows one live row per certificate and recipient
    idempotency_key: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING|DELIVERED|FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))  # REFUSED: the refusal code
    failure: Mapped[str | None] = mapped_column(String(20))  # FAILED: REJECTED | REFUSED | GAVE_UP
    # an attempt timed out or got no clear answer (or the send retries one that did): the recipient may have it
    maybe_received: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class CareSend(Base):
    """Care (the doctor, with the patient's consent) sent the certificate to a recipient at a time, as
    reported through the API or `portal load`. Mina intyg shows it as sent and offers no second send."""

    __tablename__ = "care_sends"
    __table_args__ = (UniqueConstraint("certificate_id", "recipient"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(20))  # FK | TS
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class SimDelivery(Base):
    """What the recipient simulator (development and tests only) has received: one row per
    idempotency key, so a repeated delivery is acknowledged without a second record."""

    __tablename__ = "sim_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class CertificateEvent(Base):
    """What happened to a certificate that the citizen sees: archived, restored, sent."""

    __tablename__ = "certificate_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str | None] = mapped_column(String(64))


class ArchiveMark(Base):
    """The citizen's archive mark: present = archived."""

    __tablename__ = "archive_marks"
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    archived_at: Mapped[datetime] = mapped_column(DateTime)


class Message(Base):
    """Ärendekommunikation: a question from FK about a certificate, or the care unit's answer.

    sender FK = a question (or reminder) from Försäkringskassan; sender CARE = an answer. A CARE message
    without ``in_reply_to`` is the care unit's own question to FK; an FK message ``in_reply_to`` a CARE
    question is FK's answer to it.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_unit_open", "unit_id", "handled_at", "sender"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("care_units.hsa_id"))
    patient_pnr: Mapped[str] = mapped_column(PNR)
    subject: Mapped[str] = mapped_column(String(10))  # KOMPLT AVSTMN KONTKT OVRIGT PAMINN
    sender: Mapped[str] = mapped_column(String(10))  # FK | CARE
    heading: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(DateTime)
    last_answer_date: Mapped[date | None] = mapped_column(Date)
    in_reply_to: Mapped[str | None] = mapped_column(ForeignKey("messages.id"), index=True)
    reminder_of: Mapped[str | None] = mapped_column(ForeignKey("messages.id"), index=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    # who wrote it: the staff member (HSA id) of a CARE message; FK's handläggare's name, if given, of FK's
    author_id: Mapped[str | None] = mapped_column(String(64))
    author_name: Mapped[str | None] = mapped_column(String(200))


class QuestionForward(Base):
    """A question forwarded to a colleague on the unit (vidarebefordrad); the newest row is where it is now."""

    __tablename__ = "question_forwards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    unit_id: Mapped[str] = mapped_column(String(64))
    to_staff_id: Mapped[str] = mapped_column(String(64), index=True)
    by_staff_id: Mapped[str] = mapped_column(String(64))
    forwarded_at: Mapped[datetime] = mapped_column(DateTime)


class PdlRecord(Base):
    """One PDL audit record; append-only (on PostgreSQL a trigger refuses UPDATE and DELETE), chained by a keyed
    hash (domain/pdl.py, repository/pdl.py)."""

    __tablename__ = "pdl_records"
    __table_args__ = (
        # a patient's log extract
        Index("ix_pdl_patient", "patient_pnr"),
        # once per login session: what this session has logged about these patients
        Index("ix_pdl_session_patient", "session_key", "patient_pnr"),
        # the chain cannot fork: at most one record follows each record
        Index("ux_pdl_prev_hash", "prev_hash", unique=True),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    activity: Mapped[str] = mapped_column(String(20))  # Läsa | Skriva | Utskrift
    purpose: Mapped[str] = mapped_column(String(50))
    user_hsa_id: Mapped[str] = mapped_column(HSA)
    user_title: Mapped[str] = mapped_column(String(100))
    user_unit_id: Mapped[str] = mapped_column(HSA)
    user_unit_name: Mapped[str] = mapped_column(String(200))
    user_provider_id: Mapped[str] = mapped_column(HSA)
    user_provider_name: Mapped[str] = mapped_column(String(200))
    patient_pnr: Mapped[str] = mapped_column(PNR)
    resource_type: Mapped[str] = mapped_column(String(30))
    data_unit_id: Mapped[str] = mapped_column(HSA)
    session_key: Mapped[str] = mapped_column(String(64))
    # how `hash` was made (domain.pdl): 1 = sha256 without a key (records written before issue 12),
    # 2 = HMAC-SHA256 with PDL_CHAIN_KEY
    chain_version: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class UserSettings(Base):
    """Rehabstöd settings per staff member."""

    __tablename__ = "user_settings"
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.hsa_id"), primary_key=True)
    max_days_between_certificates: Mapped[int] = mapped_column(Integer, default=5)
    max_days_since_end: Mapped[int] = mapped_column(Integer, default=0)
    default_unit_id: Mapped[str | None] = mapped_column(ForeignKey("care_units.hsa_id"))


class AuthSession(Base):
    """A logged-in session, kept server-side. The cookie carries only a random id (its hash is the key),
    so a session can be ended (logout, idle timeout) and never outlives the server's word. An ended or
    expired session's row is deleted (ID token and name with it): at the request that finds it expired,
    at every login, and by `portal purge-sessions` (idle: last_activity_at; absolute lifetime: created_at)."""

    __tablename__ = "auth_sessions"
    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # citizen | staff
    subject: Mapped[str] = mapped_column(String(64))  # personnummer or HSA-id
    display_name: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[str | None] = mapped_column(String(64))  # staff: the chosen care unit
    role: Mapped[str | None] = mapped_column(String(30))  # staff: LAKARE | REHABKOORDINATOR
    broker: Mapped[str] = mapped_column(String(20))
    id_token: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    # staff: when the rights (commission on the unit, system role) were last checked in the HSA directory
    rights_checked_at: Mapped[datetime | None] = mapped_column(DateTime)


class RateLimit(Base):
    """One fixed-window counter of the rate limiter (flask-limiter through `limits`), in the database so every
    app process counts together (portal/auth/rate_store.py). The key names the limit and the client (the
    address, or the API client). Expired rows are worth nothing and are deleted now and then."""

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC: the end of the window


class ExportJob(Base):
    """A Rehabstöd list export too big to make within the request (portal/rehab/exports.py), built in the
    background by the delivery worker (repository/export_jobs.py). The request decides what is in the file
    (the table, already filtered, masked and in the user's language, as JSON in `table_json`) and writes its
    PDL "Utskrift" records in the same transaction as this row; the worker makes the file and stores it in
    `content` (and empties `table_json`). The row belongs to one staff member on one unit in one login session
    (`session_key`: AuthSession.sid_hash) and is found by a random token whose hash only is kept. It is deleted
    when it expires, or once its login session has ended (by the worker and by `portal purge-sessions`)."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_state_lease", "state", "lease_until"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the URL's token
    state: Mapped[str] = mapped_column(String(10))  # PENDING | DONE | FAILED
    list_name: Mapped[str] = mapped_column(String(20))  # sjukfall | lakarutlatanden
    file_format: Mapped[str] = mapped_column(String(4))  # pdf | xlsx
    language: Mapped[str] = mapped_column(String(5))
    filename: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)  # the list's query string (the way back, and "try again")
    row_count: Mapped[int] = mapped_column(Integer)
    table_json: Mapped[str | None] = mapped_column(Text)  # what goes in the file; emptied when it is made
    content: Mapped[bytes | None] = mapped_column()  # the file (LargeBinary)
    content_size: Mapped[int | None] = mapped_column(Integer)
    staff_id: Mapped[str] = mapped_column(HSA)
    unit_id: Mapped[str] = mapped_column(HSA)
    session_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)  # a builder holds it until then
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    failure: Mapped[str | None] = mapped_column(String(200))  # why it failed (no personal data)


class Share(Base):
    """A link a citizen gave the employer to one copy of one certificate (domain/sharing.py,
    repository/shares.py). Found by the SHA-256 of the link's token; the token and the optional code are kept
    sealed with a key derived from the app's secret, so the citizen can copy them again. The owner is the
    certificate's patient (no personnummer here)."""

    __tablename__ = "shares"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("certificates.id"), index=True)
    variant: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(String(200), default="")
    code_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime)


class ShareOpening(Base):
    """One opening of a share by the employer: when, and what (the page or the PDF). Nothing else is kept
    about who opened it (no address, no browser)."""

    __tablename__ = "share_openings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("shares.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(10))  # PAGE | PDF


class StatCaseMonth(Base):
    """Intygsstatistik: one sick-leave case in one month (domain/statistics.py `CaseMonth`), de-identified: the
    patient is only a keyed hash (`patient_key`, for the daily job to replace their rows), with gender and age
    group; no personnummer, no name, no certificate id."""

    __tablename__ = "stat_case_months"
    __table_args__ = (Index("ix_stat_case_months_unit_month", "unit_id", "month"),
                      Index("ix_stat_case_months_provider_month", "provider_id", "month"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_key: Mapped[str] = mapped_column(String(32), index=True)
    month: Mapped[date] = mapped_column(Date, index=True)
    provider_id: Mapped[str] = mapped_column(HSA)
    unit_id: Mapped[str] = mapped_column(HSA)
    doctor_id: Mapped[str | None] = mapped_column(HSA)
    gender: Mapped[str] = mapped_column(String(1))
    age_group: Mapped[str] = mapped_column(String(8))
    chapter: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(10))
    degree: Mapped[int] = mapped_column(Integer)
    length_bucket: Mapped[str] = mapped_column(String(10))
    started: Mapped[bool] = mapped_column(Boolean)
    arrived: Mapped[bool] = mapped_column(Boolean)
    ended: Mapped[bool] = mapped_column(Boolean)


class StatCertificateMonth(Base):
    """Intygsstatistik: certificates signed in a month on a unit, by type, and how many of them got a
    komplettering request from FK (valideringspersoner's and revoked certificates not counted)."""

    __tablename__ = "stat_certificate_months"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    type_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA)
    certificates: Mapped[int] = mapped_column(Integer)
    with_komplettering: Mapped[int] = mapped_column(Integer)


class StatQuestionMonth(Base):
    """Intygsstatistik: FK's questions (reminders included) sent in a month about a unit's certificates, by
    subject (valideringspersoner's not counted)."""

    __tablename__ = "stat_question_months"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    subject: Mapped[str] = mapped_column(String(10), primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA)
    questions: Mapped[int] = mapped_column(Integer)


class StatState(Base):
    """Intygsstatistik's job: what it has done (the unit_changes it has taken in, its last runs)."""

    __tablename__ = "stat_state"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StatCaseCube(Base):
    """Intygsstatistik: the case-months counted by everything a report splits or filters by (rebuilt by the job from
    stat_case_months), so a report sums a few thousand rows instead of counting a million."""

    __tablename__ = "stat_case_cube"
    __table_args__ = (Index("ix_stat_case_cube_provider_month", "provider_id", "month"),
                      Index("ix_stat_case_cube_unit_month", "unit_id", "month"))
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length_bucket: Mapped[str] = mapped_column(String(10), primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class StatNationalCube(Base):
    """Intygsstatistik: stat_case_cube summed over the units (the national reports read it: a row per month and
    dimension combination, not per unit as well)."""

    __tablename__ = "stat_national_cube"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length_bucket: Mapped[str] = mapped_column(String(10), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class StatCategoryCube(Base):
    """Intygsstatistik: the case-months by ICD-10 category ("F32") with the filters' dimensions, per unit (the
    reports within one chapter and comparing chosen diagnoses read it; rebuilt by the job)."""

    __tablename__ = "stat_category_cube"
    __table_args__ = (Index("ix_stat_category_cube_provider_month", "provider_id", "month"),
                      Index("ix_stat_category_cube_unit_month", "unit_id", "month"))
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chapter: Mapped[str] = mapped_column(String(10))
    provider_id: Mapped[str] = mapped_column(HSA)
    cases: Mapped[int] = mapped_column(Integer)


class StatCategoryNational(Base):
    """Intygsstatistik: stat_category_cube summed over the units (the national reports)."""

    __tablename__ = "stat_category_national"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chapter: Mapped[str] = mapped_column(String(10))
    cases: Mapped[int] = mapped_column(Integer)


class StatCountyCube(Base):
    """Intygsstatistik: the case-months by the county (län) of the deciding certificate's unit ("" unknown), with
    the filters' dimensions (the national report by region)."""

    __tablename__ = "stat_county_cube"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    county: Mapped[str] = mapped_column(String(2), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(Integer)


class StatDoctor(Base):
    """Intygsstatistik: what the reports by doctor need of each signing doctor, taken from the HSA directory by the
    job: the position group (domain/statistics.py DOCTOR_POSITIONS), gender and birth year (or None)."""

    __tablename__ = "stat_doctors"
    doctor_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    position: Mapped[str] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_year: Mapped[int | None] = mapped_column(Integer)


class StatDoctorCube(Base):
    """Intygsstatistik: the case-months by the deciding doctor's position, gender and age group that month, per
    unit, with the filters' dimensions (a care provider's reports by doctor)."""

    __tablename__ = "stat_doctor_cube"
    __table_args__ = (Index("ix_stat_doctor_cube_provider_month", "provider_id", "month"),
                      Index("ix_stat_doctor_cube_unit_month", "unit_id", "month"))
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    position: Mapped[str] = mapped_column(String(10), primary_key=True)
    doctor_gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    doctor_age: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[str] = mapped_column(HSA)
    cases: Mapped[int] = mapped_column(Integer)


class RegionFile(Base):
    """Regionsstatistik: the listing file a region (a care provider) last uploaded: who, when, which file."""

    __tablename__ = "region_files"
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)
    uploaded_by: Mapped[str] = mapped_column(HSA)


class RegionListing(Base):
    """Regionsstatistik: one care unit of a region's file and its number of listed patients (listade)."""

    __tablename__ = "region_listings"
    provider_id: Mapped[str] = mapped_column(ForeignKey("region_files.provider_id", ondelete="CASCADE"),
                                             primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    listed: Mapped[int] = mapped_column(Integer)


class StatPublished(Base):
    """Intygsstatistik: a statistics table as it may be published (domain/suppression.py's result), under the
    SHA-256 of the table's counts and published sums. The suppression is a pure function of those, so any process
    may reuse what any other computed; the job empties it when it runs (and fills it for the default reports)."""

    __tablename__ = "stat_published"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[str] = mapped_column(Text)


class StatProviderCube(Base):
    """Intygsstatistik: stat_case_cube summed over each care provider's units (a provider's reports not split or
    limited by unit read it)."""

    __tablename__ = "stat_provider_cube"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length_bucket: Mapped[str] = mapped_column(String(10), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class StatNationalShort(Base):
    """Intygsstatistik: stat_national_cube without the length (a fifth of its rows): the national reports not split
    by length read it."""

    __tablename__ = "stat_national_short"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class StatProviderShort(Base):
    """Intygsstatistik: stat_provider_cube without the length: a provider's reports not split by length read it."""

    __tablename__ = "stat_provider_short"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class StatCategoryProvider(Base):
    """Intygsstatistik: stat_category_cube summed over each care provider's units."""

    __tablename__ = "stat_category_provider"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    category: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chapter: Mapped[str] = mapped_column(String(10))
    cases: Mapped[int] = mapped_column(Integer)


class StatPositionCube(Base):
    """Intygsstatistik: stat_doctor_cube summed over each care provider's units and the doctors' gender and age."""

    __tablename__ = "stat_position_cube"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    position: Mapped[str] = mapped_column(String(10), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(Integer)


class StatDoctorAgeCube(Base):
    """Intygsstatistik: stat_doctor_cube summed over each care provider's units and the doctors' positions."""

    __tablename__ = "stat_doctor_age_cube"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    doctor_gender: Mapped[str] = mapped_column(String(1), primary_key=True)
    doctor_age: Mapped[str] = mapped_column(String(8), primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(Integer)


class StatUnitCube(Base):
    """Intygsstatistik: stat_case_cube without gender and length (a fourteenth of its rows): the reports by unit, a
    region's cases per 1 000 listed and the flows of units read it."""

    __tablename__ = "stat_unit_cube"
    __table_args__ = (Index("ix_stat_unit_cube_provider_month", "provider_id", "month"),
                      Index("ix_stat_unit_cube_unit_month", "unit_id", "month"))
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[str] = mapped_column(HSA, primary_key=True)
    chapter: Mapped[str] = mapped_column(String(10), primary_key=True)
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)
    degree: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider_id: Mapped[str] = mapped_column(HSA)
    cases: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)
    arrived: Mapped[int] = mapped_column(Integer)
    ended: Mapped[int] = mapped_column(Integer)


class AccessibilityFeedback(Base):
    """A report of an accessibility problem from the accessibility statement's form (issue 16): the problem in
    the reporter's words, the page (a local path, never anything personal), how to reach them and a format they
    want, if they said; `reference` is the receipt number they were given ("TG-2026-000123"). Deleted
    KEEP_DAYS after it came in (domain/a11y_feedback.py, `portal purge-sessions`)."""

    __tablename__ = "accessibility_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)  # set in the insert's transaction
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    language: Mapped[str] = mapped_column(String(2))
    problem: Mapped[str] = mapped_column(Text)
    page: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    format_wanted: Mapped[str | None] = mapped_column(String(20))


class UnitSettings(Base):
    """A care unit's own Rehabstöd settings, set by a rehab coordinator of the unit (issue 17): the address that is
    told by e-mail when Försäkringskassan writes (`notice_email`, NULL: no notices). Who changed it last, and when."""

    __tablename__ = "unit_settings"
    unit_id: Mapped[str] = mapped_column(ForeignKey("care_units.hsa_id"), primary_key=True)
    notice_email: Mapped[str | None] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(HSA)


class MailNotice(Base):
    """The mail outbox: one e-mail notice to a unit that Försäkringskassan has written (issue 17), delivered by the
    delivery worker with the same claim and lease as `sends` (repository/notices.py). It holds no patient data: the
    unit, the kind of message (QUESTION | REMINDER | ANSWER) and how many arrived (`count`: notices to the unit of
    one kind within MAIL_COALESCE_SECONDS make one mail). The address is read from the unit's settings when the mail
    goes, and kept in `sent_to` once it went."""

    __tablename__ = "mail_notices"
    __table_args__ = (
        Index("ix_mail_notices_due", "state", "next_attempt_at"),
        Index("ix_mail_notices_unit", "unit_id", "kind", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("care_units.hsa_id"))
    kind: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING | SENT | FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # PENDING: when it is due (first: after the coalescing window; claimed: the lease's end; failed: the backoff's)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime)
    failure: Mapped[str | None] = mapped_column(String(20))  # FAILED: GAVE_UP | REJECTED | NO_ADDRESS
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_to: Mapped[str | None] = mapped_column(String(254))
