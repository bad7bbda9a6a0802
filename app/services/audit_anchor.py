"""Verify the local audit chain against its signed heads in the Object Lock audit bucket.

The HMAC chain (app.core.security.audit) catches anyone who edits the store without the keyring's
audit key. Anchors (sync.anchors), written on every sync and by `verify-audit --anchor`,
catch a rewrite even by someone who holds that key: the bucket keeps the old heads.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import ConfigError, KeyringUnavailableError
from app.core.security import audit
from app.services.context import AppContext
from app.services.sync_service import endpoint_from
from sync import anchors, identity, membership
from sync.transport import Transport, TransportError


@dataclass(frozen=True)
class AnchorCheck:
    checked: int
    problems: list[str]
    written: str  # object key of the anchor written now ('' if none)


def check_and_anchor(
    ctx: AppContext, local: audit.AuditReport, *, anchor: bool, transport: Transport | None = None
) -> AnchorCheck | None:
    """Compare the chain with every anchor of this device; anchor the head if asked and sound.

    None when this workstation cannot anchor (not enrolled, or no audit bucket) and no anchor
    was asked for; ConfigError when one was asked for and cannot be written.
    """
    ident = ctx.store.read(membership.identity)
    if ident is None or not ctx.settings.audit_bucket:
        if anchor:
            raise ConfigError(
                "This workstation cannot anchor its audit chain: "
                + ("it is not enrolled in a clinic." if ident is None else "no audit bucket."),
                hint="Enrol with 'novamind sync enrol'; IT sets audit_bucket in the site policy.",
            )
        return None
    try:
        dk = identity.load_device_keys(ctx.settings.keyring_service, ctx.settings.db_path)
    except KeyringUnavailableError:
        if anchor:
            raise
        return None
    target = transport or Transport(
        endpoint_from(ctx.settings, ident.device_id, bucket=ctx.settings.audit_bucket)
    )
    try:
        held, problems = anchors.read_all(target, ident, dk.sign_public)
        problems += ctx.store.read(lambda s: anchors.check(s, held))
        written = ""
        if anchor and local.ok and not problems:
            written = anchors.write(ctx.store, target, ident, dk)
    except TransportError as exc:
        raise ConfigError(
            f"The audit bucket could not be reached: {exc}", hint="Check the network and proxy."
        ) from None
    return AnchorCheck(len(held), problems, written)
