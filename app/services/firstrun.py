"""First start of a workstation: is there anyone to sign in as, and create the first admin."""

from __future__ import annotations

from sqlalchemy import func, select

from app.domain import Role, UserRecord
from app.errors import ValidationError
from app.services import admin
from app.services.context import AppContext
from app.store.models import User
from app.store.store import Actor


def has_accounts(ctx: AppContext) -> bool:
    """True once any account exists (the GUI then shows the login, not the first-run page)."""
    return bool(ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(User))))


def create_first_admin(
    ctx: AppContext, *, username: str, display_name: str, password: str
) -> UserRecord:
    """Create the clinic's first administrator; refused once any account exists."""
    if has_accounts(ctx):
        raise ValidationError("This store already has accounts; sign in instead.")
    return admin.create_user(
        ctx,
        Actor(id="first-run", role="it"),
        username=username,
        display_name=display_name or username,
        role=Role.ADMIN,
        password=password,
    )
