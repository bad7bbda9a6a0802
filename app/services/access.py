"""What the signed-in user may do, for the UI to show or hide its menus and tabs.

The UI never compares roles: it asks `permissions(principal)` (or `may(principal, Feature.X)`),
and the answer comes from the role's permissions in `app.core.security.rbac` (the same table the
services enforce), so a policy change there changes the screens too. Showing a menu is a
courtesy; every service still checks.
"""

from __future__ import annotations

from enum import StrEnum

from app.core.domain import Action, Principal
from app.core.security import rbac


class Feature(StrEnum):
    CLINICAL = "clinical"  # patient list, alert inbox, caseload, open by MRN
    BREAK_GLASS = "break_glass"  # offer emergency access when a record is refused
    PATIENT_AUDIT = "patient_audit"  # the audit tab of a patient's record
    REVOKE_BREAK_GLASS = "revoke_break_glass"
    BACKUPS = "backups"  # backup and restore dialog
    CLINIC_DASHBOARD = "clinic_dashboard"  # View → Clinic dashboard (some page of it)
    DASHBOARD_CLINICAL = "dashboard_clinical"  # its clinical pages (identifiable or de-identified)
    DASHBOARD_OPERATIONS = "dashboard_operations"  # its Health and System alerts pages


_ALL_OF: dict[Feature, frozenset[Action]] = {
    Feature.CLINICAL: frozenset({Action.LIST_PATIENTS, Action.READ_PHI}),
    Feature.BREAK_GLASS: frozenset({Action.BREAK_GLASS, Action.READ_PHI}),
    Feature.PATIENT_AUDIT: frozenset({Action.VIEW_AUDIT, Action.READ_PHI}),
    Feature.REVOKE_BREAK_GLASS: rbac.REVOKE_BREAK_GLASS,
    Feature.DASHBOARD_OPERATIONS: frozenset({Action.MONITOR_OPERATIONS}),
}
_ANY_OF: dict[Feature, frozenset[Action]] = {
    Feature.BACKUPS: frozenset({Action.OPERATE_SYSTEM, Action.MANAGE_USERS}),
    Feature.CLINIC_DASHBOARD: frozenset(
        {Action.LIST_PATIENTS, Action.READ_DEIDENTIFIED, Action.MONITOR_OPERATIONS}
    ),
    Feature.DASHBOARD_CLINICAL: frozenset({Action.LIST_PATIENTS, Action.READ_DEIDENTIFIED}),
}


def capabilities(principal: Principal) -> frozenset[Action]:
    """Every action the principal's role allows (care-team scope still applies per patient)."""
    return rbac.capabilities(principal)


def _allows(caps: frozenset[Action], feature: Feature) -> bool:
    if feature in _ANY_OF:
        return bool(_ANY_OF[feature] & caps)
    return _ALL_OF[feature] <= caps


def permissions(principal: Principal | None) -> frozenset[Feature]:
    """Every feature the UI should offer the principal (none when signed out)."""
    if principal is None:
        return frozenset()
    caps = capabilities(principal)
    return frozenset(f for f in Feature if _allows(caps, f))


def may(principal: Principal | None, feature: Feature) -> bool:
    """Whether the UI should offer this feature to the principal (False when signed out)."""
    return feature in permissions(principal)
