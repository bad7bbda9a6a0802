"""`novamind admin ...`: accounts, care teams, audit, keys and backups, behind a sign-in.

Every action signs in an admin or IT account first (app.services.auth.login: lockout, TOTP
and audit as in the GUI) and runs as that Principal, so the services check its role and the
audit trail names the person, not the OS account. Credentials: `--user NAME` (or a prompt),
the password from a prompt or, for scripts, the first line of stdin (`--password-stdin`), and
the authenticator code from `--totp CODE` or a prompt. The one exception is `bootstrap`, which
creates the first administrator of an empty store that is not enrolled in a clinic.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.config import load_settings
from app.core.domain import Principal, Role
from app.core.errors import AuthenticationError, PermissionDeniedError, ValidationError

if TYPE_CHECKING:
    from typing import TypeAlias

    from app.core.store.store import Actor
    from app.services.context import AppContext

    # argparse's subparsers object is generic only in typeshed, not at run time
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Handler = Callable[[argparse.Namespace], int]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ADMIN_ROLES = (Role.ADMIN, Role.IT)


def read_line() -> str:
    """One line of stdin without its newline (passwords and passphrases for scripts)."""
    return sys.stdin.readline().rstrip("\n")


def open_context() -> AppContext:
    """The store for one command; imported lazily to keep `--help` fast."""
    from app.services.context import AppContext

    return AppContext.open(load_settings())


def add_action(
    sub: Subparsers, name: str, help_text: str, func: Handler, *positionals: str
) -> argparse.ArgumentParser:
    """One `novamind ... ACTION` subcommand: its help, its positional arguments and handler."""
    p = sub.add_parser(name, help=help_text)
    for arg in positionals:
        p.add_argument(arg)
    p.set_defaults(func=func)
    return p


def add_signin_options(p: argparse.ArgumentParser) -> None:
    """The sign-in options shared by `admin` and `train`."""
    p.add_argument("--user", dest="signin_user", default="", help="your admin or IT account")
    p.add_argument(
        "--password-stdin",
        dest="signin_stdin",
        action="store_true",
        help="read your password from the first line of stdin",
    )
    p.add_argument("--totp", default="", help="your authenticator code, if your account needs one")


def sign_in(
    ctx: AppContext,
    args: argparse.Namespace,
    roles: tuple[Role, ...] = ADMIN_ROLES,
) -> Principal:
    """Sign in through auth.login (audited, lockout, TOTP) and require one of `roles`."""
    from app.services import auth

    interactive = sys.stdin.isatty()
    username = args.signin_user
    if not username:
        if args.signin_stdin or not interactive:
            raise ValidationError("sign in with --user NAME (an admin or IT account)")
        username = input("Your admin or IT user name: ").strip()
    password = read_line() if args.signin_stdin else getpass.getpass(f"Password for {username}: ")
    try:
        principal = auth.login(ctx, username, password, args.totp or None)
    except auth.SecondFactorRequiredError:
        if args.signin_stdin or not interactive:
            raise AuthenticationError(
                "This account needs its authenticator code.", hint="Pass --totp CODE."
            ) from None
        principal = auth.login(ctx, username, password, input("Authenticator code: ").strip())
    if principal.role not in roles:
        raise PermissionDeniedError(
            f"'{username}' is a {principal.role.value} account; this command needs "
            + " or ".join(r.value for r in roles)
            + "."
        )
    return principal


def _signed_in(
    fn: Callable[[argparse.Namespace, AppContext, Principal], int],
) -> Handler:
    """Open the store, sign in, run `fn(args, ctx, principal)`, close the store."""

    def run(args: argparse.Namespace) -> int:
        ctx = open_context()
        try:
            return fn(args, ctx, sign_in(ctx, args))
        finally:
            ctx.close()

    run.__doc__ = fn.__doc__
    return run


def _new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return read_line()
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat new password: "):
        raise ValidationError("the two passwords differ")
    return first


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """The first administrator of an empty store that is not enrolled (no sign-in exists)."""
    from app.services import firstrun

    ctx = open_context()
    try:
        firstrun.require_first_run(ctx)
        password = _new_password(args)
        user = firstrun.create_first_admin(
            ctx, username=args.username, display_name=args.display_name, password=password
        )
    finally:
        ctx.close()
    print(f"created the first administrator '{user.username}'; sign in with --user to go on")
    return EXIT_OK


@_signed_in
def cmd_create_user(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    password = _new_password(args)
    user = admin.create_user(
        ctx,
        who,
        username=args.username,
        display_name=args.display_name or args.username,
        role=Role(args.role),
        password=password,
    )
    if args.mfa:
        secret = admin.enrol_totp(ctx, who, user.username)
        print(f"TOTP secret (enter in the authenticator app, shown once): {secret}")
    print(f"created {user.role.value} account '{user.username}'")
    return EXIT_OK


@_signed_in
def cmd_assign(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.assign_care_team(
        ctx, who, username=args.username, patient_id=args.patient_id, active=not args.remove
    )
    print("care team updated")
    return EXIT_OK


@_signed_in
def cmd_reset_lockout(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.reset_lockout(ctx, who, args.username)
    print(f"'{args.username}' unlocked")
    return EXIT_OK


@_signed_in
def cmd_deactivate(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.deactivate_user(ctx, who, args.username)
    print(f"'{args.username}' deactivated: it can no longer sign in")
    return EXIT_OK


@_signed_in
def cmd_reset_password(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.reset_password(ctx, who, args.username, _new_password(args))
    print(f"password of '{args.username}' reset")
    return EXIT_OK


@_signed_in
def cmd_verify_audit(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    report = admin.verify_audit(ctx, who, anchor=args.anchor)
    print(report.summary())
    for problem in report.problems:
        print(f"  - {problem}")
    return EXIT_OK if report.ok else EXIT_FAILED


@_signed_in
def cmd_rotate_key(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.rotate_db_key(ctx, who)
    print("store re-encrypted under a new key; the keyring holds the new key")
    return EXIT_OK


@_signed_in
def cmd_backup(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import backup

    m = backup.create_backup(ctx, who)
    print(
        f"backup {m.backup_id} written and verified ({m.size / 1e6:.1f} MB, "
        f"{sum(m.counts.values())} records, wrapped with the {m.wrap} key)"
    )
    if m.wrap == "local":
        print("note: not enrolled into a clinic, so only this workstation can restore it")
    return EXIT_OK


@_signed_in
def cmd_backups(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import backup

    for m in backup.list_backups(ctx.settings):
        d = backup.describe(m)
        print(
            f"{d['backup']}  {d['created']}  schema {d['schema']}  {d['patients']} patients  "
            f"{d['records']} records  ({d['wrapped with']})"
        )
    return EXIT_OK


@_signed_in
def cmd_set_role(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import admin

    admin.change_role(ctx, who, args.username, Role(args.role))
    print(f"'{args.username}' is now {args.role}; a session of theirs ends at its next check")
    return EXIT_OK


def _when(value: str) -> date | datetime:
    """A report bound: a date (local midnight) or an ISO 8601 time with its offset."""
    try:
        if "T" not in value and " " not in value:
            return date.fromisoformat(value)
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"'{value}' is not a date (YYYY-MM-DD) or an ISO time") from None
    if when.tzinfo is None:
        raise ValidationError(f"'{value}': give the time with its UTC offset (e.g. +00:00)")
    return when


@_signed_in
def cmd_access_report(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    """The security rules' hits and per-user access counts since a date (audited)."""
    import json

    from app.services import security_monitoring

    report = security_monitoring.access_report(
        ctx,
        who,
        since=_when(args.since),
        until=_when(args.until) if args.until else None,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return EXIT_OK
    print(f"access report {report.since.isoformat()} .. {report.until.isoformat()}")
    print(f"\nrule hits: {len(report.hits)}")
    for h in report.hits:
        print(
            f"  [{h.severity}] {h.rule}  {h.subject}  {h.summary()}  "
            f"{h.first_at.isoformat()} .. {h.last_at.isoformat()}  "
            f"evidence: {len(h.evidence)} audit event(s), first {', '.join(h.evidence[:3])}"
        )
    print(f"\nper user: {len(report.users)}")
    print("  subject  user  role  events  charts  unassigned  exports  failed-sign-ins  glass")
    for u in report.users:
        print(
            f"  {u.subject}  {u.username or '-'}  {u.role}  {u.events}  {u.charts}  "
            f"{u.unassigned_charts}  {u.exports}  {u.failed_signins}  {u.break_glass}"
        )
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Signed in against the current store, which the restore then sets aside. A store with
    no accounts at all (a lost or damaged store re-created empty, a replacement before its
    first sync) has nobody to sign in as and nothing to protect: there the backup's own key,
    held in this OS account's keyring, is the credential, and the audit names the OS user."""
    from app.services import backup, firstrun
    from app.services.context import cli_actor

    ctx = open_context()
    try:
        who: Principal | Actor = sign_in(ctx, args) if firstrun.has_accounts(ctx) else cli_actor()
        settings = ctx.settings
    finally:
        ctx.close()
    manifest = Path(args.manifest)
    report = backup.verify(settings, manifest)
    for k, v in backup.describe(report.manifest).items():
        print(f"  {k}: {v}")
    if not report.ok:
        for p in report.problems:
            print(f"  problem: {p}")
        return EXIT_FAILED
    if args.verify_only:
        print("backup verified")
        return EXIT_OK
    out = backup.restore(settings, manifest, who)
    print(
        f"restored backup {out.backup_id} (schema {out.schema_before} -> {out.schema_after}); "
        f"the previous store is kept in {out.previous_store}"
    )
    print(f"when satisfied: novamind admin confirm-restore {out.previous_store}")
    return EXIT_OK


@_signed_in
def cmd_confirm_restore(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import backup

    backup.confirm_restore(ctx.settings, Path(args.previous), who)
    print("previous store destroyed")
    return EXIT_OK


@_signed_in
def cmd_retention(args: argparse.Namespace, ctx: AppContext, who: Principal) -> int:
    from app.services import backup

    n = backup.apply_retention(ctx, who)
    print(f"local copies of {n} discharged patient(s) removed")
    return EXIT_OK


def cmd_decommission(args: argparse.Namespace) -> int:
    from app.services import backup

    if args.confirm != "DESTROY":
        print(
            "novamind: refusing without --confirm DESTROY (this cannot be undone)", file=sys.stderr
        )
        return EXIT_USAGE
    ctx = open_context()
    removed = backup.decommission(ctx, sign_in(ctx, args))
    print(
        f"workstation decommissioned: keys destroyed, {len(removed)} backup file(s) deleted; "
        "the local store can no longer be opened"
    )
    return EXIT_OK


def _new_password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the new password from stdin (after your own, when you sign in that way)",
    )


def add_parser(sub: Subparsers) -> None:
    """`novamind admin [--user NAME] [--password-stdin] [--totp CODE] ACTION ...`."""
    admin = sub.add_parser(
        "admin",
        help="accounts, care teams, audit and keys (sign in as admin or IT)",
        description="Each action signs in an admin or IT account first (except bootstrap).",
    )
    add_signin_options(admin)
    asub = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    p = add_action(
        asub,
        "bootstrap",
        "create the first administrator of a new store",
        cmd_bootstrap,
        "username",
    )
    p.add_argument("--display-name", default="")
    _new_password_option(p)
    p = add_action(asub, "create-user", "create an account", cmd_create_user, "username")
    p.add_argument("--role", choices=[r.value for r in Role], required=True)
    p.add_argument("--display-name", default="")
    p.add_argument("--mfa", action="store_true", help="enrol a TOTP authenticator")
    _new_password_option(p)
    add_action(
        asub, "deactivate-user", "stop an account from signing in", cmd_deactivate, "username"
    )
    p = add_action(
        asub, "reset-password", "set a new password for an account", cmd_reset_password, "username"
    )
    _new_password_option(p)
    p = add_action(
        asub,
        "assign",
        "assign (or --remove) a clinician to a patient's care team",
        cmd_assign,
        "username",
        "patient_id",
    )
    p.add_argument("--remove", action="store_true")
    add_action(
        asub,
        "reset-lockout",
        "unlock an account after failed sign-ins",
        cmd_reset_lockout,
        "username",
    )
    p = add_action(asub, "set-role", "give an account another role", cmd_set_role, "username")
    p.add_argument("--role", choices=[r.value for r in Role], required=True)
    p = add_action(
        asub,
        "access-report",
        "security-rule hits and per-user access counts since a date",
        cmd_access_report,
    )
    p.add_argument("--since", required=True, help="YYYY-MM-DD (local midnight) or ISO time")
    p.add_argument("--until", default="", help="YYYY-MM-DD or ISO time (default: now)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(asub, "verify-audit", "verify the audit hash chain", cmd_verify_audit)
    p.add_argument("--anchor", action="store_true", help="also check the signed remote anchors")
    add_action(asub, "rotate-key", "re-encrypt the store under a new key", cmd_rotate_key)
    add_action(asub, "backup", "take and verify an encrypted backup now", cmd_backup)
    add_action(asub, "backups", "list backups", cmd_backups)
    p = add_action(asub, "restore", "verify a backup and restore it into a new store", cmd_restore)
    p.add_argument("manifest", help="the backup's .json manifest")
    p.add_argument("--verify-only", action="store_true")
    add_action(
        asub,
        "confirm-restore",
        "destroy the store kept by a restore",
        cmd_confirm_restore,
        "previous",
    )
    add_action(
        asub,
        "retention",
        "apply the policy's retention to discharged patients",
        cmd_retention,
    )
    p = add_action(
        asub,
        "decommission",
        "crypto-erase this workstation's store and backups",
        cmd_decommission,
    )
    p.add_argument("--confirm", default="", help="type DESTROY")
