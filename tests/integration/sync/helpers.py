"""Workstations for sync tests: each its own encrypted store, all against one moto S3 server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import boto3
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import load_settings
from app.core.store.models import Patient
from app.core.store.store import UnitOfWork
from app.services import sync_it, sync_service
from app.services.context import AppContext, cli_actor
from sync import records, state
from sync.engine import SyncReport
from sync.enrolment import read_request
from sync.it_keystore import ITKeystore
from sync.transport import Endpoint, Transport

PASSPHRASE = "clinic enrolment passphrase"
IT_PASSPHRASE = "clinic IT keystore passphrase"
CREDS = {"access_key": "testing", "secret_key": "testing"}
ADMIN_DEVICE = ("clinical", "admin")


@dataclass
class Bucket:
    """One clinic's bucket + event bus on the moto server, IT's keystore and enrolment file."""

    url: str
    name: str
    event_bus: str
    enrolment: Path
    keystore_path: Path
    keystore: ITKeystore = field(repr=False)

    def endpoint(self) -> Endpoint:
        return Endpoint(bucket=self.name, endpoint_url=self.url, **CREDS)

    def transport(self) -> Transport:
        return Transport(self.endpoint(), attempts=3, base_delay=0.01)

    def approve(self, request: Path, roles: tuple[str, ...] = ADMIN_DEVICE) -> None:
        """IT certifies a workstation from its request file."""
        sync_it.enrol_device(self.transport(), self.keystore, read_request(request), list(roles))

    def revoke(self, device: str) -> sync_it.Revocation:
        out = sync_it.revoke_device(self.transport(), self.keystore_path, IT_PASSPHRASE, device)
        from sync.it_keystore import read_it_keystore

        self.keystore = read_it_keystore(self.keystore_path, IT_PASSPHRASE)
        return out

    def s3(self) -> Any:  # noqa: ANN401
        return moto_client(self.url, "s3")

    def client(self, service: str) -> Any:  # noqa: ANN401
        """A boto3 client of another service (events, logs, ...) on the same moto server."""
        return moto_client(self.url, service)


def moto_client(url: str, service: str) -> Any:  # noqa: ANN401 — boto3's client of `service`
    """A boto3 client on the moto server with its test credentials."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_bucket(url: str, tmp: Path, *, with_events: bool = True) -> Bucket:
    """A fresh bucket (and EventBridge bus) plus IT's enrolment file for a new clinic."""
    name = f"clinic-{uuid.uuid4().hex[:12]}"
    moto_client(url, "s3").create_bucket(Bucket=name)
    event_bus = f"bus-{name}" if with_events else ""
    if event_bus:
        moto_client(url, "events").create_event_bus(Name=event_bus)
    tmp.mkdir(parents=True, exist_ok=True)
    ks_path = tmp / f"{name}.it-keystore.json"
    ks = sync_it.init_clinic(ks_path, IT_PASSPHRASE, event_bus=event_bus)
    path = tmp / f"{name}.enrol.json"
    sync_it.create_enrolment(ks, path, PASSPHRASE)
    return Bucket(url, name, event_bus, path, ks_path, ks)


@dataclass
class Workstation:
    name: str
    ctx: AppContext
    transport: Transport

    def sync(self) -> SyncReport:
        return sync_service.run_sync(self.ctx, self.transport)

    def close(self) -> None:
        self.ctx.close()


def workstation_env(root: Path, name: str, bucket: Bucket) -> dict[str, str]:
    return {
        "NOVAMIND_DATA_DIR": str(root / name),
        "NOVAMIND_POLICY": str(root / "no-policy.toml"),
        "NOVAMIND_SYNC_ENDPOINT": bucket.url,
        "NOVAMIND_SYNC_BUCKET": bucket.name,
    }


def cli_env(root: Path, name: str, bucket: Bucket) -> dict[str, str]:
    """The environment of a `python -m app.cli` child for one workstation (file keyring)."""
    import os

    from tests.conftest import REPO

    env = dict(os.environ)
    env.update(workstation_env(root, name, bucket))
    env.update(
        PYTHONPATH=str(REPO),
        PYTHON_KEYRING_BACKEND="tests.support.keyring_backends.FileKeyring",
        NOVAMIND_TEST_KEYRING_FILE=str(root / "keyring.json"),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    return env


def open_workstation(
    root: Path,
    name: str,
    bucket: Bucket,
    *,
    enrol: bool = True,
    roles: tuple[str, ...] | None = ADMIN_DEVICE,
) -> Workstation:
    """Open (creating) a workstation's store, enrol it and have IT certify it for `roles`
    (None: enrolled, not yet approved)."""
    ctx = AppContext.open(load_settings(workstation_env(root, name, bucket)))
    if enrol:
        enrol_in(ctx, bucket, roles)
    return Workstation(name, ctx, bucket.transport())


def enrol_in(ctx: AppContext, bucket: Bucket, roles: tuple[str, ...] | None = ADMIN_DEVICE) -> None:
    """Enrol an open store in the bucket's clinic and have IT certify it for `roles`."""
    result = sync_service.enrol_workstation(ctx, cli_actor(), bucket.enrolment, PASSPHRASE)
    if roles is not None:
        bucket.approve(result.request_path, roles)


def device_of(ws: Workstation) -> str:
    return ws.ctx.store.read(lambda s: state.get(s, state.DEVICE_ID))


def add_patients(ws: Workstation, n: int, prefix: str) -> list[str]:
    """Create `n` synthetic patients directly in the store (as an import would)."""

    def do(uow: UnitOfWork) -> list[str]:
        out = []
        for i in range(n):
            p = Patient(
                mrn=f"{prefix}-{i:06d}",
                given_name=f"Given{i}",
                family_name=f"Family{prefix}",
                birth_date=date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
                sex="female" if i % 2 else "male",
                is_synthetic=True,
            )
            uow.session.add(p)
            out.append(p)
        uow.session.flush()
        return [p.id for p in out]

    return ws.ctx.store.write(do)


def edit_patient(ws: Workstation, pid: str, **fields: Any) -> None:  # noqa: ANN401
    """Change fields of a patient through the ORM, as a service would."""

    def do(uow: UnitOfWork) -> None:
        p = uow.session.get(Patient, pid)
        for k, v in fields.items():
            setattr(p, k, v)

    ws.ctx.store.write(do)


def dump(ws: Workstation) -> dict[str, dict[str, dict[str, Any]]]:
    """Every synced record's travelling fields: equal dumps mean converged stores."""

    def read(s: Session) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, table in records.TABLES.items():
            out[name] = {
                r["id"]: records.row_values(name, r) for r in s.execute(select(table)).mappings()
            }
        return out

    return ws.ctx.store.read(read)
