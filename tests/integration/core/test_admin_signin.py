"""`novamind admin` signs in an admin or IT account and audits that person; only `bootstrap`
works without one, on an empty store that is not enrolled. The demo never lands on a real or
enrolled store, and first run is refused on an enrolled workstation. The real CLI, in child
processes, against a real encrypted store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest

from app.core.errors import ValidationError
from app.core.security import keys
from app.core.store.engine import connect_raw
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import firstrun
from app.services.context import AppContext
from sync import state
from tests.conftest import PASSWORD, cli_env
from tests.support.cli import admin, run

NEW = ("create-user", "mallory", "--role", "admin", "--password-stdin")


@pytest.fixture
def cenv(env: dict, tmp_path: Path) -> dict:
    return cli_env(env, tmp_path / "keyring.json")


def _sql(cenv: dict, query: str, *params: object) -> list[tuple]:
    """Read or write the CLI's store through its key (as a test, not as the app)."""
    db = Path(cenv["NOVAMIND_DATA_DIR"]) / "novamind.db"
    entries = json.loads(Path(cenv["NOVAMIND_TEST_KEYRING_FILE"]).read_text())
    conn = connect_raw(db, bytes.fromhex(entries[f"novamind\x00db:{keys.store_id(db)}"]))
    try:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _users(cenv: dict) -> set[str]:
    return {u for (u,) in _sql(cenv, "SELECT username FROM users")}


def test_admin_commands_refuse_without_a_valid_admin_sign_in(cenv: dict) -> None:
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    anonymous = run(cenv, "admin", *NEW, stdin=f"{PASSWORD}\n")
    assert anonymous.returncode == 2 and "--user" in anonymous.stderr
    wrong = admin(cenv, *NEW, password="not the password", stdin=f"{PASSWORD}\n")
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    clinician = admin(cenv, *NEW, user="dr.adams", stdin=f"{PASSWORD}\n")
    assert clinician.returncode == 1 and "needs admin or it" in clinician.stderr
    it_ops = admin(cenv, *NEW, user="it.ops", stdin=f"{PASSWORD}\n")  # IT: no MANAGE_USERS
    assert it_ops.returncode == 1 and "Traceback" not in it_ops.stderr
    assert "mallory" not in _users(cenv)
    for refused in (anonymous, wrong, clinician, it_ops):
        assert PASSWORD not in refused.stderr + refused.stdout


def test_the_audit_trail_names_the_signed_in_admin(cenv: dict) -> None:
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    made = admin(cenv, *NEW, stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    (admin_id,) = _sql(cenv, "SELECT id FROM users WHERE username = 'admin'")[0]
    rows = _sql(cenv, "SELECT actor_id, actor_role FROM audit_events WHERE action = 'user.create'")
    assert rows[-1] == (admin_id, "admin")
    assert not any(a.startswith("os:") for (a,) in _sql(cenv, "SELECT actor_id FROM audit_events"))


def test_totp_is_asked_for_where_the_account_has_it(cenv: dict) -> None:
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    made = admin(cenv, "create-user", "it.two", "--role", "it", "--mfa", "--password-stdin",
                 stdin=f"{PASSWORD}\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    secret = re.search(r"shown once\): (\w+)", made.stdout).group(1)
    no_code = admin(cenv, "verify-audit", user="it.two", password=PASSWORD)
    assert no_code.returncode == 1 and "--totp" in no_code.stderr
    bad = admin(cenv, "verify-audit", user="it.two", password=PASSWORD, totp="000000")
    assert bad.returncode == 1 and "not valid" in bad.stderr
    good = admin(
        cenv, "verify-audit", user="it.two", password=PASSWORD, totp=pyotp.TOTP(secret).now()
    )
    assert good.returncode == 0 and "intact" in good.stdout, good.stderr


def test_bootstrap_only_on_an_empty_unenrolled_store(cenv: dict) -> None:
    first = run(cenv, "admin", "bootstrap", "boss", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert first.returncode == 0, first.stderr
    again = run(cenv, "admin", "bootstrap", "boss2", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert again.returncode == 2 and "already has accounts" in again.stderr
    made = admin(cenv, *NEW, user="boss", password=PASSWORD, stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    assert _users(cenv) == {"boss", "mallory"}


def test_bootstrap_and_first_run_refused_on_an_enrolled_workstation(
    cenv: dict, tmp_path: Path
) -> None:
    assert run(cenv, "doctor").returncode in (0, 1)  # creates nothing; the store comes next
    assert run(cenv, "admin", "bootstrap", "x", "--password-stdin", stdin="\n").returncode == 2
    # an enrolled workstation before its first sync: no accounts yet, but a clinic
    _sql(cenv, "INSERT INTO meta (key, value) VALUES (?, ?)", state.CLINIC_ID, "clinic-1")
    out = run(cenv, "admin", "bootstrap", "boss", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert out.returncode == 2 and "enrolled" in out.stderr
    demo = run(cenv, "demo", "--patients", "2", "--no-model")
    assert demo.returncode == 2 and "enrolled" in demo.stderr
    assert _users(cenv) == set()


def test_first_run_service_refuses_an_enrolled_store(ctx: AppContext) -> None:
    assert firstrun.first_run_allowed(ctx)
    ctx.store.write(lambda uow: state.put(uow.session, state.CLINIC_ID, "clinic-1"))
    assert not firstrun.first_run_allowed(ctx)
    with pytest.raises(ValidationError, match="enrolled"):
        firstrun.create_first_admin(ctx, username="boss", display_name="", password=PASSWORD)
    with pytest.raises(ValidationError, match="enrolled"):
        create_demo_clinic(ctx, patients=2, actigraphy_days=2)
    assert not firstrun.has_accounts(ctx)


def test_demo_refuses_a_store_with_real_people(cenv: dict) -> None:
    assert run(cenv, "admin", "bootstrap", "boss", "--password-stdin", stdin=f"{PASSWORD}\n")
    demo = run(cenv, "demo", "--patients", "2", "--no-model")
    assert demo.returncode == 2 and "non-synthetic" in demo.stderr
    assert _users(cenv) == {"boss"}  # no demo accounts with the published password
    assert DEMO_PASSWORD not in demo.stdout


def test_plaintext_keyring_is_refused_by_the_cli(cenv: dict) -> None:
    cenv["PYTHON_KEYRING_BACKEND"] = "tests.support.plaintext_keyring.PlaintextKeyring"
    out = run(cenv, "demo", "--patients", "2", "--no-model")
    assert out.returncode == 3 and "not the operating system's secure store" in out.stderr
    assert "keyring_backends_allowed" in out.stderr and "Traceback" not in out.stderr
    assert not Path(cenv["NOVAMIND_TEST_KEYRING_FILE"]).exists()  # no key written in clear
    doctor = run(cenv, "doctor")
    assert doctor.returncode == 1 and "[fail] keyring" in doctor.stdout
