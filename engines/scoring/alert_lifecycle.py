"""Alert lifecycle as a pure state machine: new → acknowledged → resolved | dismissed.

Each transition records who, when and (for resolve / dismiss) why, so the service can persist
and audit it. Invalid transitions raise; nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from engines.errors import InputError
from engines.scoring.alerts import RESPONSE_WINDOW, AlertCandidate

STATES = ("new", "acknowledged", "resolved", "dismissed")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged"}),
    "acknowledged": frozenset({"resolved", "dismissed"}),
    "resolved": frozenset(),
    "dismissed": frozenset(),
}
REASON_REQUIRED = frozenset({"resolved", "dismissed"})


@dataclass(frozen=True)
class Transition:
    """One audited status change."""

    from_status: str
    to_status: str
    by: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class AlertState:
    """The current status of one alert plus its full transition history."""

    alert_id: str
    rule_id: str
    severity: str
    patient_id: str
    created_at: datetime
    status: str = "new"
    history: tuple[Transition, ...] = ()

    @property
    def due_at(self) -> datetime | None:
        """When the alert must have been acted on (critical 1 h, warning 24 h, info never)."""
        window: timedelta | None = RESPONSE_WINDOW[self.severity]
        return None if window is None else self.created_at + window

    def is_overdue(self, now: datetime) -> bool:
        """True while the alert is still 'new' past its response deadline."""
        due = self.due_at
        return self.status == "new" and due is not None and now > due

    @property
    def is_open(self) -> bool:
        """Open = not yet resolved or dismissed."""
        return self.status in ("new", "acknowledged")


def new_alert(candidate: AlertCandidate, *, alert_id: str, created_at: datetime) -> AlertState:
    """Start the lifecycle for a candidate the service has decided to store."""
    return AlertState(
        alert_id=alert_id,
        rule_id=candidate.rule_id,
        severity=candidate.severity,
        patient_id=candidate.patient_id,
        created_at=created_at,
    )


def transition(
    state: AlertState, to_status: str, *, by: str, at: datetime, reason: str = ""
) -> AlertState:
    """Return the alert in ``to_status``; InputError for an invalid move or missing who/why."""
    if to_status not in STATES:
        raise InputError(f"alert {state.alert_id}: unknown status '{to_status}'")
    if to_status not in TRANSITIONS[state.status]:
        raise InputError(
            f"alert {state.alert_id}: cannot go from '{state.status}' to '{to_status}'"
        )
    if not by or not by.strip():
        raise InputError(f"alert {state.alert_id}: 'by' (user id) is required")
    if to_status in REASON_REQUIRED and not reason.strip():
        raise InputError(f"alert {state.alert_id}: a reason is required for '{to_status}'")
    if at < (state.history[-1].at if state.history else state.created_at):
        raise InputError(f"alert {state.alert_id}: transition time is before the last one")
    step = Transition(state.status, to_status, by, at, reason.strip())
    return replace(state, status=to_status, history=(*state.history, step))


def acknowledge(state: AlertState, *, by: str, at: datetime, note: str = "") -> AlertState:
    """new → acknowledged."""
    return transition(state, "acknowledged", by=by, at=at, reason=note)


def resolve(state: AlertState, *, by: str, at: datetime, reason: str) -> AlertState:
    """acknowledged → resolved (reason required)."""
    return transition(state, "resolved", by=by, at=at, reason=reason)


def dismiss(state: AlertState, *, by: str, at: datetime, reason: str) -> AlertState:
    """acknowledged → dismissed (reason required, e.g. false positive)."""
    return transition(state, "dismissed", by=by, at=at, reason=reason)
