"""Domain vocabulary and the frozen records services hand to the UI and the CLI.

Views get these plain values, never ORM objects: they are safe across threads and cannot
lazily reach back into the database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


def note_content_hash(title: str, body: str) -> str:
    """The hash a signed note carries (checked again wherever the note travels)."""
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


class Role(StrEnum):
    CLINICIAN = "clinician"
    SUPERVISOR = "supervisor"
    RESEARCHER = "researcher"  # de-identified data only
    ADMIN = "admin"  # accounts and care teams, no clinical content
    IT = "it"  # operations: sync, keys, diagnostics


class Action(StrEnum):
    LIST_PATIENTS = "list_patients"
    READ_PHI = "read_phi"
    WRITE_CLINICAL = "write_clinical"
    SIGN_NOTE = "sign_note"
    ACT_ON_ALERT = "act_on_alert"
    BREAK_GLASS = "break_glass"
    READ_DEIDENTIFIED = "read_deidentified"
    MANAGE_USERS = "manage_users"
    MANAGE_CARE_TEAMS = "manage_care_teams"
    VIEW_AUDIT = "view_audit"
    OPERATE_SYSTEM = "operate_system"
    MONITOR_OPERATIONS = "monitor_operations"  # system alerts: model drift, security, health


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the service layer sees them."""

    user_id: str
    username: str
    display_name: str
    role: Role
    # the system a call came through on the user's behalf ("gateway-client:<id>"; "" at the
    # desktop): every audit event written for the call names it
    via: str = ""


@dataclass(frozen=True)
class UserRecord:
    id: str
    username: str
    display_name: str
    role: Role
    mfa_enabled: bool
    locked: bool
    active: bool


@dataclass(frozen=True)
class PatientSummary:
    id: str
    mrn: str
    display_name: str
    birth_date: date
    sex: str
    status: str
    is_synthetic: bool
    assigned: bool
    open_alerts: int
    latest_risk_band: str


@dataclass(frozen=True)
class DeidentifiedPatient:
    """What a researcher may see: a study pseudonym and coarse demographics."""

    pseudonym: str
    birth_year: int
    sex: str
    status: str


@dataclass(frozen=True)
class NoteRecord:
    id: str
    patient_id: str
    title: str
    body: str
    status: NoteStatus
    author_id: str | None
    created_at: datetime
    signed_at: datetime | None
    amends_id: str | None
    content_sha256: str | None


@dataclass(frozen=True)
class AlertRecord:
    id: str
    patient_id: str
    rule: str
    severity: str
    status: str
    triggered_at: datetime
    resolution: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    patient_id: str | None
    record_type: str
    record_id: str
