"""ORM tables of the encrypted store.

Every clinical record carries a UUID, created/updated timestamps (UTC), its author and a
version (optimistic concurrency here, the sync unit later). Services never hand these ORM
objects to the UI; they return the frozen records of app.core.domain.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC; naive values are refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class RecordMixin:
    """Columns every synchronisable record has."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    author_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class User(RecordMixin, Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # replay guard, local only


class Patient(RecordMixin, Base):
    __tablename__ = "patients"
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    given_name: Mapped[str] = mapped_column(String(128))
    family_name: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    # the intake history (app.services.history.IntakeHistory as JSON); None = none recorded
    history_json: Mapped[str | None] = mapped_column(Text)


class CareTeamAssignment(RecordMixin, Base):
    __tablename__ = "care_team"
    __table_args__ = (UniqueConstraint("patient_id", "user_id"),)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    team_role: Mapped[str] = mapped_column(String(32), default="treating clinician")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class BreakGlassGrant(RecordMixin, Base):
    __tablename__ = "break_glass"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(36))


class Encounter(RecordMixin, Base):
    __tablename__ = "encounters"
    # admissions among all encounters, for every patient at once (model_inputs)
    __table_args__ = (Index("ix_encounters_kind_patient", "kind", "patient_id"),)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    clinician_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClinicalNote(RecordMixin, Base):
    __tablename__ = "clinical_notes"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    encounter_id: Mapped[str | None] = mapped_column(ForeignKey("encounters.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | signed
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by: Mapped[str | None] = mapped_column(String(36))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    amends_id: Mapped[str | None] = mapped_column(ForeignKey("clinical_notes.id"))


class AssessmentResponse(RecordMixin, Base):
    __tablename__ = "assessment_responses"
    # covering and partial: the feature assembly, dashboard and monitoring read the totals of
    # live administrations from the index, not rows with answers JSON (migration 0011)
    __table_args__ = (
        Index(
            "ix_assessment_responses_live_totals",
            "patient_id",
            "instrument",
            "administered_at",
            "total",
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(32))
    instrument_version: Mapped[str] = mapped_column(String(16), default="1")
    administered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(16), default="self-report")
    answers_json: Mapped[str] = mapped_column(Text)
    total: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(32), default="")
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    scoring_rule: Mapped[str] = mapped_column(Text, default="")


class ActigraphySeries(RecordMixin, Base):
    __tablename__ = "actigraphy_series"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    epoch_s: Mapped[int] = mapped_column(Integer, default=60)
    n_epochs: Mapped[int] = mapped_column(Integer)
    chunk_epochs: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64), default="")
    content_sha256: Mapped[str] = mapped_column(String(64))


class ActigraphyChunk(Base):
    """One compressed block of a series (a day of minutes by default), not a row per minute."""

    __tablename__ = "actigraphy_chunks"
    series_id: Mapped[str] = mapped_column(ForeignKey("actigraphy_series.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_epochs: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Medication(RecordMixin, Base):
    __tablename__ = "medications"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    drug_class: Mapped[str] = mapped_column(String(32))
    dose: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    frequency: Mapped[str] = mapped_column(String(32))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    adherence: Mapped[float | None] = mapped_column(Float)
    stop_reason: Mapped[str | None] = mapped_column(String(32))  # app.services.history.STOP_REASONS


class TreatmentPlan(RecordMixin, Base):
    __tablename__ = "treatment_plans"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    option: Mapped[str] = mapped_column(String(32))
    goals: Mapped[str] = mapped_column(Text, default="")
    start: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")


class Prediction(RecordMixin, Base):
    __tablename__ = "predictions"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    target: Mapped[str] = mapped_column(String(48))
    option: Mapped[str | None] = mapped_column(String(32))
    probability: Mapped[float] = mapped_column(Float)
    interval_low: Mapped[float] = mapped_column(Float)
    interval_high: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    provenance: Mapped[str] = mapped_column(Text)
    contributions_json: Mapped[str] = mapped_column(Text, default="{}")
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NlpAnalysis(RecordMixin, Base):
    __tablename__ = "nlp_analyses"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    note_id: Mapped[str] = mapped_column(ForeignKey("clinical_notes.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    result_json: Mapped[str] = mapped_column(Text)
    review_status: Mapped[str] = mapped_column(String(16), default="unreviewed")


class TwinSnapshot(RecordMixin, Base):
    """Immutable: a new state is a new snapshot with the next snapshot_version."""

    __tablename__ = "twin_snapshots"
    __table_args__ = (UniqueConstraint("patient_id", "snapshot_version"),)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    snapshot_version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    model_version: Mapped[str] = mapped_column(String(32))
    state_json: Mapped[str] = mapped_column(Text)


class Alert(RecordMixin, Base):
    __tablename__ = "alerts"
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="new")
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")
    acted_by: Mapped[str | None] = mapped_column(String(36))
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, default="")


class SystemAlert(Base):
    """A clinic-operations alert (model drift, a security rule, system health): never PHI.

    Local to this workstation (not synced): every node computes the same checks from the synced
    store. `subject` names what it is about (a model target, a user id, a device id); at most one
    open alert per (source, rule, subject).
    """

    __tablename__ = "system_alerts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(16))  # model | security | health
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128), default="")
    severity: Mapped[str] = mapped_column(String(16))  # critical | warning | info
    status: Mapped[str] = mapped_column(String(16), default="new")
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence_json: Mapped[str] = mapped_column(Text, default="[]")
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acted_by: Mapped[str | None] = mapped_column(String(36))
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(Text, default="")


Index("ix_system_alerts_open", SystemAlert.status, SystemAlert.source, SystemAlert.rule)


class AuditLinkColumns:
    """The content of one audit-chain link, shared by this device's chain and the copies of
    other devices' chains (the hash covers these columns, see app.core.security.audit)."""

    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    patient_id: Mapped[str | None] = mapped_column(String(36), index=True)
    record_type: Mapped[str] = mapped_column(String(32), default="")
    record_id: Mapped[str] = mapped_column(String(36), default="")
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEvent(AuditLinkColumns, Base):
    """One link of the audit hash chain (never updated, never deleted)."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """Transactional outbox: written in the same transaction as the change it describes."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    event: Mapped[str] = mapped_column(String(48))
    payload_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_outbox_unsent", OutboxEvent.sent_at, OutboxEvent.seq)


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Draft(RecordMixin, Base):
    """Unsaved work (a note being typed, a form half filled) kept encrypted across lock/logout."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("user_id", "kind", "ref"),)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(32))  # note | assessment | ...
    ref: Mapped[str] = mapped_column(String(64), default="")  # e.g. the draft note's id
    content_json: Mapped[str] = mapped_column(Text)


class ActigraphyResult(RecordMixin, Base):
    """Metrics the PAT engine derived from one series (nightly sleep, circadian, daily, screen)."""

    __tablename__ = "actigraphy_results"
    __table_args__ = (UniqueConstraint("series_id", "kind"),)
    series_id: Mapped[str] = mapped_column(ForeignKey("actigraphy_series.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # nightly | circadian | daily | screen | nonwear
    engine_version: Mapped[str] = mapped_column(String(32))
    data_json: Mapped[str] = mapped_column(Text)


# --- Sync (sync/ package): per-record merge state, outgoing bundles, cursors, conflicts ---


class SyncRecordState(Base):
    """What sync last knew of one record: its field values and per-field HLC clocks.

    A field whose live value differs from `values_json` was edited locally since the last
    capture. `clocks_json` maps field -> [clock, base clock]. `pending` marks records captured
    but not yet packed into a bundle.
    """

    __tablename__ = "sync_record_state"
    table_name: Mapped[str] = mapped_column(String(48), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    values_json: Mapped[str] = mapped_column(Text)
    clocks_json: Mapped[str] = mapped_column(Text)
    pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class SyncOutgoing(Base):
    """A sealed bundle of this device, kept until the bucket has it (resumable push)."""

    __tablename__ = "sync_outgoing"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    records: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncCursor(Base):
    """The last bundle merged from another device (its sequence number and hash)."""

    __tablename__ = "sync_cursors"
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    max_clock: Mapped[str] = mapped_column(String(80), default="")  # newest HLC of that device


class SyncConflict(Base):
    """A concurrent edit of one field on two devices: both values kept until resolved."""

    __tablename__ = "sync_conflicts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    table_name: Mapped[str] = mapped_column(String(48))
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    field: Mapped[str] = mapped_column(String(64))
    local_json: Mapped[str] = mapped_column(Text)
    remote_json: Mapped[str] = mapped_column(Text)
    local_clock: Mapped[str] = mapped_column(String(80))
    remote_clock: Mapped[str] = mapped_column(String(80))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str] = mapped_column(String(16), default="")  # local | remote | auto


class SyncQuarantine(Base):
    """A bundle from the bucket that failed verification; nothing of it was merged."""

    __tablename__ = "sync_quarantine"
    __table_args__ = (UniqueConstraint("object_key", "sha256"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RemoteAuditEvent(AuditLinkColumns, Base):
    """Another workstation's audit event, received in its signed sync bundles (issue 17).

    Kept apart from the local chain (never merged into it) so every workstation holds the
    clinic's whole audit history; each device's events must link by `prev_hash`.
    """

    __tablename__ = "remote_audit_events"
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PatientFeatureRow(Base):
    """One patient's model inputs that do not depend on the prediction time, kept current in the
    write's own transaction (app.services.feature_rows; the triggers of migration 0010 mark a
    row stale on every write to an input table). Local to the workstation, never synced: it is
    derived from synced records. ``packed`` holds the times as integers (UTC microseconds, day
    ordinals) and the static inputs as float32, so a caseload is finished with numpy."""

    __tablename__ = "patient_feature_rows"
    __table_args__ = (
        Index("ix_patient_feature_rows_stale", "stale", sqlite_where=text("stale = 1")),
    )
    patient_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stale: Mapped[int] = mapped_column(Integer, default=1)  # 1: recompute before use
    packed: Mapped[bytes | None] = mapped_column(LargeBinary)  # feature_rows.PACKED
    recent: Mapped[bytes | None] = mapped_column(LargeBinary)  # PHQ-9 (µs, total) of 8 weeks
    static_json: Mapped[str | None] = mapped_column(Text)  # 4 ordered segments of the features


class DashboardSnapshot(Base):
    """One of the clinic dashboard's sorted array sets, packed (app.services.dashboard_cache),
    as of the table's newest rowid and the change log's sequence: a new process loads it and
    catches up instead of re-reading a million index entries. Local, never synced."""

    __tablename__ = "dashboard_snapshots"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_rowid: Mapped[int] = mapped_column(Integer)  # MAX(rowid) of the source table
    change_seq: Mapped[int] = mapped_column(Integer)  # dashboard_changes.seq it includes
    layout: Mapped[int] = mapped_column(Integer)  # dashboard_cache.LAYOUT
    built_at: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class DashboardChange(Base):
    """A patient whose dashboard entries changed other than by an insert (migration 0012's
    triggers on edits and deletions, whoever writes); ``row_id`` is a deleted row's rowid."""

    __tablename__ = "dashboard_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 — a seq is never reused
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # the source table
    patient_id: Mapped[str | None] = mapped_column(String(36))
    row_id: Mapped[int | None] = mapped_column(Integer)
