"""`novamind it ...`: IT's clinic key, enrolment files, device certificates and revocation.

Passphrases come on stdin, one line each (the keystore's first). These commands touch no
clinical store: they need only IT's keystore file and the bucket named in the site policy.
`gateway-client add` is the exception: it signs IT in and stores the client in this store.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_admin import add_action, add_signin_options, read_line
from app.core.config import load_settings

if TYPE_CHECKING:
    from app.cli_admin import Subparsers
    from sync.it_keystore import ITKeystore
    from sync.transport import Transport

EXIT_OK = 0


def _transport() -> Transport:
    """The clinic bucket named in the site policy (boto3 imported only when needed)."""
    from app.services.sync_service import endpoint_from
    from sync.transport import Transport

    return Transport(endpoint_from(load_settings()))


def _keystore(args: argparse.Namespace) -> ITKeystore:
    from sync.it_keystore import read_it_keystore

    return read_it_keystore(Path(args.keystore), read_line())


def cmd_init(args: argparse.Namespace) -> int:
    from app.services import sync_it

    ks = sync_it.init_clinic(
        Path(args.keystore), read_line(), clinic_id=args.clinic_id, event_bus=args.event_bus
    )
    print(f"IT keystore for clinic {ks.clinic_id} written to {args.keystore}")
    print(f"IT key fingerprint: {ks.fingerprint}")
    print("Keep the file offline; workstations show this fingerprint when they enrol.")
    return EXIT_OK


def cmd_create_enrolment(args: argparse.Namespace) -> int:
    from app.services import sync_it

    ks = _keystore(args)
    info = sync_it.create_enrolment(ks, Path(args.file), read_line())
    print(f"enrolment file for clinic {info.clinic_id} written to {args.file}")
    print(f"IT key fingerprint: {info.fingerprint}")
    return EXIT_OK


def cmd_enrol_device(args: argparse.Namespace) -> int:
    from app.services import sync_it
    from sync.enrolment import read_request

    request = read_request(Path(args.request))
    ks = _keystore(args)
    cert = sync_it.enrol_device(_transport(), ks, request, args.roles.split(","))
    print(
        f"device {cert.device} certified ({', '.join(sorted(cert.roles))}); "
        f"key fingerprint {request.fingerprint}"
    )
    return EXIT_OK


def cmd_revoke_device(args: argparse.Namespace) -> int:
    from app.services import sync_it

    r = sync_it.revoke_device(_transport(), Path(args.keystore), read_line(), args.device)
    print(
        f"device {r.device_id} revoked: its bundles after number {r.last_valid_seq} are refused; "
        f"clinic key rotated to version {r.key_version} for {r.devices_rekeyed} device(s)"
    )
    return EXIT_OK


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from app.services import sync_it

    version, devices = sync_it.rotate_key(_transport(), Path(args.keystore), read_line())
    print(f"clinic key rotated to version {version} for {devices} device(s)")
    return EXIT_OK


def cmd_gateway_client_add(args: argparse.Namespace) -> int:
    """Register an OAuth client of the clinic gateway (IT sign-in); its secret is shown once."""
    from app.cli_admin import open_context, sign_in
    from app.core.domain import Role
    from gateway import clients

    ctx = open_context()
    try:
        it = sign_in(ctx, args, roles=(Role.IT,))
        new = clients.register(
            ctx,
            it,
            args.name,
            role=Role(args.role),
            scopes=[s for s in args.scopes.replace(",", " ").split() if s],
            acts_as=args.care_team_of,
        )
    finally:
        ctx.close()
    c = new.client
    print(f"gateway client '{c.name}' acts as {args.care_team_of} ({c.role.value})")
    print(f"scopes: {' '.join(sorted(c.scopes))}")
    print(f"client_id: {c.client_id}")
    print(f"client_secret: {new.secret}")
    print("The secret is shown only now: hand it to the client system's administrator.")
    return EXIT_OK


def add_parser(sub: Subparsers) -> None:
    """Register `novamind it` and its actions."""
    it = sub.add_parser("it", help="IT: clinic key, enrolment, device certificates, revocation")
    isub = it.add_subparsers(dest="it_command", metavar="ACTION", required=True)
    ks_help = "IT keystore file (passphrase: first line of stdin)"
    p = add_action(
        isub, "init", "create the clinic's IT keystore (signing key, clinic key)", cmd_init
    )
    p.add_argument("keystore", help=ks_help)
    p.add_argument("--clinic-id", default="")
    p.add_argument("--event-bus", default="")
    p = add_action(
        isub, "create-enrolment", "write an enrolment file for workstations", cmd_create_enrolment
    )
    p.add_argument("file", help="the new enrolment file (its passphrase: second stdin line)")
    p.add_argument("--keystore", required=True, help=ks_help)
    p = add_action(
        isub,
        "enrol-device",
        "certify a workstation from its request file",
        cmd_enrol_device,
        "request",
    )
    p.add_argument("--keystore", required=True, help=ks_help)
    p.add_argument("--roles", default="clinical", help="clinical, or clinical,admin")
    p = add_action(
        isub,
        "revoke-device",
        "revoke a lost workstation and rotate the clinic key",
        cmd_revoke_device,
        "device",
    )
    p.add_argument("--keystore", required=True, help=ks_help)
    p = add_action(
        isub, "rotate-key", "new clinic-key version for every active device", cmd_rotate_key
    )
    p.add_argument("--keystore", required=True, help=ks_help)
    gw = isub.add_parser("gateway-client", help="OAuth clients of the clinic gateway")
    gsub = gw.add_subparsers(dest="gateway_client_command", metavar="WHAT", required=True)
    p = add_action(
        gsub, "add", "register a client (prints its secret once)", cmd_gateway_client_add, "name"
    )
    p.add_argument("--role", required=True, choices=["clinician", "supervisor", "researcher"])
    p.add_argument("--scopes", required=True, help="space- or comma-separated SMART scopes")
    p.add_argument(
        "--care-team-of",
        required=True,
        metavar="USER",
        help="the existing account the client acts as (its role and care team)",
    )
    add_signin_options(p)
