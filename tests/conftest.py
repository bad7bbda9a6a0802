"""Shared fixtures: a real encrypted store in a temp dir, keys in a test keyring."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

import keyring
import pytest

from app.core.config import Settings, load_settings
from app.core.domain import Role
from app.services.context import AppContext
from tests.support.keyring_backends import MemoryKeyring, allow_test_backends
from tests.support.records import PASSWORD, add_patient, make_user

__all__ = ["PASSWORD", "REPO", "cli_env", "make_user"]  # imported by tests

REPO = Path(__file__).resolve().parents[1]
# The suite is a development run (NOVAMIND_DEV=1: NOVAMIND_POLICY and env overrides honoured)
# whose environment allows the test keyrings by name; children inherit it through cli_env.
allow_test_backends()

NO_DISPLAY = "no display: run under xvfb-run (README test command)"
# Fixtures that create a QApplication: without a display Qt aborts the whole process.
QT_FIXTURES = {"qapp", "qtbot", "qtmodeltester", "qtlog"}


def display_available(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether Qt can open its platform plugin here (an X/Wayland display, or an explicit
    headless plugin such as QT_QPA_PLATFORM=offscreen; macOS and Windows always can)."""
    if not sys.platform.startswith("linux"):
        return True
    platform = environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform and platform not in ("xcb", "wayland", "wayland-egl"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def ui_required(environ: Mapping[str, str] = os.environ) -> bool:
    """CI (CI=true) and the README test command (NOVAMIND_REQUIRE_UI=1) must run every UI test."""
    return environ.get("NOVAMIND_REQUIRE_UI") == "1" or environ.get("CI", "").lower() == "true"


def needs_display(item: pytest.Item) -> bool:
    """A test under tests/ui, or any test that asks pytest-qt for a QApplication."""
    in_ui = (REPO / "tests" / "ui") in item.path.parents
    return in_ui or bool(QT_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say up front, once, why the Qt tests will be skipped."""
    return None if display_available() else f"UI tests skipped: {NO_DISPLAY}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a display, skip the Qt tests with one reason instead of letting Qt abort the
    run; where UI tests are required (CI), a missing display is an error."""
    if display_available():
        return
    ui_items = [item for item in items if needs_display(item)]
    if not ui_items:
        return
    if ui_required():
        raise pytest.UsageError(
            f"{len(ui_items)} UI tests need a display but there is none (CI / "
            "NOVAMIND_REQUIRE_UI=1 must not skip them): run under xvfb-run as scripts/setup.sh "
            "test does"
        )
    skip = pytest.mark.skip(reason=NO_DISPLAY)
    for item in ui_items:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets a fresh in-memory keyring (the Secret Service test overrides this)."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment pointing the app at a temp data dir and no site policy."""
    return {
        "NOVAMIND_DATA_DIR": str(tmp_path / "data"),
        "NOVAMIND_POLICY": str(tmp_path / "policy.toml"),
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = AppContext.open(settings)
    yield context
    context.close()


@pytest.fixture
def clinic(ctx: AppContext) -> dict[str, object]:
    """Two clinicians, one patient each, plus one user of every other role."""
    users = {
        role: make_user(ctx, f"user.{role.value}", role)
        for role in (Role.CLINICIAN, Role.SUPERVISOR, Role.RESEARCHER, Role.ADMIN, Role.IT)
    }
    other = make_user(ctx, "user.other", Role.CLINICIAN)
    me = users[Role.CLINICIAN]
    mine = add_patient(
        ctx, me, "T-1", family_name="Assigned", birth_date=date(1980, 5, 1), sex="female"
    )
    theirs = add_patient(
        ctx, other, "T-2", family_name="Unassigned", birth_date=date(1975, 2, 3), sex="male"
    )
    return {"users": users, "other": other, "mine": mine, "theirs": theirs}


def cli_env(env: dict[str, str], keyring_file: Path) -> dict[str, str]:
    """Environment for running the real `novamind` CLI in a child process."""
    out = dict(os.environ)
    out.update(env)
    out["PYTHONPATH"] = str(REPO)
    out["PYTHON_KEYRING_BACKEND"] = "tests.support.keyring_backends.FileKeyring"
    out["NOVAMIND_TEST_KEYRING_FILE"] = str(keyring_file)
    return out
