"""Issue 17 item 5: the UI asks the service layer what the principal may do
(`app.services.access.may`), never compares roles itself.

The shell tests change the permission table in `app.core.security.rbac` (the one the services
enforce) and show that the menus and tabs follow it — a role check in the UI would not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.domain import Action, Role
from app.core.errors import PermissionDeniedError
from app.core.security import rbac
from app.services.access import Feature, may, permissions
from tests.conftest import PASSWORD, REPO, make_user
from tests.ui.shell_driver import idle, signed_in

ROLE_CHECKS = [
    re.compile(r"\bRole\.(CLINICIAN|SUPERVISOR|RESEARCHER|ADMIN|IT)\b"),
    re.compile(r"\.role\s*(?:not\s+in|in|is\s+not|is|==|!=)\s"),
    re.compile(r"\b(?:CLINICAL|ADMIN|IT)_ROLES\b"),
]


def ui_files() -> list[Path]:
    return sorted((REPO / "ui").rglob("*.py"))


def role_comparisons(text: str) -> list[str]:
    return [m.group(0) for pat in ROLE_CHECKS for m in pat.finditer(text)]


def test_ui_has_no_role_comparisons_left() -> None:
    found = {
        str(p.relative_to(REPO)): hits
        for p in ui_files()
        if (hits := role_comparisons(p.read_text()))
    }
    assert found == {}


def test_the_grep_catches_role_comparisons() -> None:
    assert role_comparisons("if principal.role not in (Role.IT, Role.ADMIN):")
    assert role_comparisons("clinical = principal.role in CLINICAL_ROLES")
    assert role_comparisons("if who.role is Role.SUPERVISOR:")
    assert not role_comparisons('label.setText(f"{principal.role.value}")')


def test_may_follows_the_permission_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.domain import Principal

    clin = Principal("u", "u", "u", Role.CLINICIAN)
    assert may(clin, Feature.CLINICAL) and not may(clin, Feature.PATIENT_AUDIT)
    assert not may(clin, Feature.BACKUPS) and not may(None, Feature.CLINICAL)
    monkeypatch.setitem(rbac.PERMISSIONS, Role.CLINICIAN, frozenset({Action.OPERATE_SYSTEM}))
    assert not may(clin, Feature.CLINICAL) and may(clin, Feature.BACKUPS)


def test_permissions_lists_the_features_the_role_table_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.domain import Principal

    it = Principal("i", "i", "i", Role.IT)
    assert Feature.BACKUPS in permissions(it) and Feature.CLINICAL not in permissions(it)
    assert permissions(None) == frozenset()
    clin = Principal("u", "u", "u", Role.CLINICIAN)
    assert permissions(clin) == {f for f in Feature if may(clin, f)}
    monkeypatch.setitem(rbac.PERMISSIONS, Role.CLINICIAN, frozenset({Action.OPERATE_SYSTEM}))
    assert permissions(clin) == {Feature.BACKUPS}


def test_the_shell_hides_clinical_menus_when_the_service_says_no(
    qtbot, ctx, make_shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(ctx, "dr.limited", Role.CLINICIAN)
    monkeypatch.setitem(rbac.PERMISSIONS, Role.CLINICIAN, frozenset({Action.READ_DEIDENTIFIED}))
    w = make_shell()
    signed_in(qtbot, w, "dr.limited", PASSWORD)
    idle(qtbot, w)
    assert w.main_page.currentWidget() is w.no_clinical
    assert not w.act_alerts.isEnabled() and not w.act_open_mrn.isEnabled()


def test_the_shell_shows_clinical_menus_and_audit_tab_when_the_service_says_yes(
    qtbot, ctx, make_shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(ctx, "it.clinical", Role.IT)
    monkeypatch.setitem(
        rbac.PERMISSIONS,
        Role.IT,
        frozenset({Action.LIST_PATIENTS, Action.READ_PHI, Action.VIEW_AUDIT}),
    )
    w = make_shell()
    signed_in(qtbot, w, "it.clinical", PASSWORD)
    idle(qtbot, w)
    assert w.main_page.currentWidget() is not w.no_clinical
    assert w.act_alerts.isEnabled() and w.act_open_mrn.isEnabled()
    assert "Audit" in w.workspace.tab_titles()
    monkeypatch.setitem(
        rbac.PERMISSIONS, Role.IT, frozenset({Action.LIST_PATIENTS, Action.READ_PHI})
    )
    w.workspace.set_principal(w.principal)
    assert "Audit" not in w.workspace.tab_titles()


def test_a_supervisor_revokes_break_glass_from_the_audit_tab(
    qtbot, ctx, clinic, make_shell
) -> None:
    from app.services import patients

    me, sup = clinic["users"][Role.CLINICIAN], clinic["users"][Role.SUPERVISOR]
    patients.break_glass(ctx, me, clinic["theirs"], "Patient arrived in crisis, on-call")
    w = make_shell()
    signed_in(qtbot, w, sup.username, PASSWORD)
    idle(qtbot, w)
    w.open_patient(clinic["theirs"])
    qtbot.waitUntil(lambda: w.workspace.patient_id == clinic["theirs"], timeout=15000)
    tab = w.workspace.audit
    w.workspace.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.revoke_button.isVisible(), timeout=15000)
    qtbot.mouseClick(tab.revoke_button, Qt.MouseButton.LeftButton)
    idle(qtbot, w)
    assert patients.active_break_glass(ctx, sup, clinic["theirs"]) == []
    with pytest.raises(PermissionDeniedError):
        patients.get_patient(ctx, me, clinic["theirs"])
    assert not tab.revoke_button.isVisible()
