"""First start of a workstation: is there anyone to sign in as, and create the first admin.

First run exists only for a store that is empty AND not enrolled in a clinic: an enrolled
workstation gets its accounts from the clinic through sync, so an admin created locally before
the first sync would be an account the clinic never issued.
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.core.domain import Role, UserRecord
from app.core.errors import ValidationError
from app.core.store.models import User
from app.core.store.store import Actor
from app.services import admin
from app.services.context import AppContext
from sync import state


def has_accounts(ctx: AppContext) -> bool:
    """True once any account exists."""
    return bool(ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(User))))


def is_enrolled(ctx: AppContext) -> bool:
    """True once this store was enrolled into a clinic (any sync format, even before the
    first sync brought its accounts)."""
    return bool(ctx.store.read(lambda s: state.get(s, state.CLINIC_ID)))


def first_run_allowed(ctx: AppContext) -> bool:
    """The GUI shows the first-run page (create the first admin, or the demo) only here;
    otherwise the sign-in page."""
    return not has_accounts(ctx) and not is_enrolled(ctx)


def require_first_run(ctx: AppContext) -> None:
    """Raise a clear error unless this store may get its first administrator locally."""
    if is_enrolled(ctx):
        raise ValidationError(
            "This workstation is enrolled in a clinic: its accounts come from the clinic "
            "through sync, so no administrator can be created here.",
            hint="Run 'novamind sync run' (or wait for the next sync), then sign in.",
        )
    if has_accounts(ctx):
        raise ValidationError("This store already has accounts; sign in instead.")


def create_first_admin(
    ctx: AppContext, *, username: str, display_name: str, password: str
) -> UserRecord:
    """Create the clinic's first administrator; refused once any account exists or the
    workstation is enrolled."""
    require_first_run(ctx)
    return admin.create_user(
        ctx,
        Actor(id="first-run", role="it"),
        username=username,
        display_name=display_name or username,
        role=Role.ADMIN,
        password=password,
    )
