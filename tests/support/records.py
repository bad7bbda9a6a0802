"""Test records made through the real services: accounts and patients whose incidental fields
(display name, birth date, sex) no test cares about, so each test names only what it checks."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from app.core.domain import Principal, Role
from app.services import admin, auth, patients
from app.services.context import AppContext, cli_actor

PASSWORD = "correct horse battery"


def add_user(ctx: AppContext, username: str, role: Role, password: str = PASSWORD) -> None:
    """Create an account as the CLI (IT at the workstation) would."""
    admin.create_user(
        ctx, cli_actor(), username=username, display_name=username, role=role, password=password
    )


def make_user(ctx: AppContext, username: str, role: Role, password: str = PASSWORD) -> Principal:
    """Create an account and sign it in."""
    add_user(ctx, username, role, password)
    return auth.login(ctx, username, password)


def add_patient(
    ctx: AppContext,
    by: Principal,
    mrn: str,
    *,
    given_name: str = "Test",
    family_name: str = "Patient",
    birth_date: date = date(1980, 1, 1),
    sex: str = "other",
) -> str:
    """Create a patient record as `by` (who becomes its care team); returns its id."""
    return patients.create_patient(
        ctx,
        by,
        mrn=mrn,
        given_name=given_name,
        family_name=family_name,
        birth_date=birth_date,
        sex=sex,
    )


def row_counts(ctx: AppContext, *models: type) -> tuple[int, ...]:
    """Rows in each table, read in one transaction: equal before and after means a refused
    write stored nothing."""
    return ctx.store.read(
        lambda s: tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in models)
    )


def row_count(ctx: AppContext, model: type) -> int:
    """Rows in one table."""
    return row_counts(ctx, model)[0]
