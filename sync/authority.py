"""Who may author what: the table x authority rules checked before a bundle writes anything.

- Clinical tables come only from devices whose certificate allows `clinical`.
- Accounts and access (`users`, `care_team`, `break_glass`) come only from devices whose
  certificate allows `admin`, and only when the record is authored by an active admin or IT
  account, or by IT at that admin workstation's console (`first-run`, `demo`, `os:<account>`).
- A signed note must match its content hash.
- A remote record never moves a local record to another patient.
- Every reference (patient, user, note, series, ...) names a record this workstation holds or
  one in the same bundle: a dangling one would fail the whole pull at commit.

A violation is an attack or a broken device: the whole bundle is quarantined (reason names
the table only, never a value), and nothing of it is merged.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import note_content_hash
from app.store.models import User
from sync import records
from sync.envelope import BundleError

ADMIN_TABLES = frozenset({"users", "care_team", "break_glass"})
ADMIN_ACCOUNT_ROLES = frozenset({"admin", "it"})
CONSOLE_AUTHORS = frozenset({"first-run", "demo"})
CONSOLE_PREFIX = "os:"


def may_send(roles: frozenset[str], table: str) -> bool:
    """May a device with these certificate roles author records of `table`?"""
    return ("admin" if table in ADMIN_TABLES else "clinical") in roles


def _admin_accounts(session: Session) -> set[str]:
    q = select(User.id).where(
        User.role.in_(ADMIN_ACCOUNT_ROLES), User.active.is_(True), User.deleted_at.is_(None)
    )
    return set(session.scalars(q))


def _console(author: str) -> bool:
    return author in CONSOLE_AUTHORS or author.startswith(CONSOLE_PREFIX)


def check(session: Session, entries: list[dict[str, Any]], roles: frozenset[str]) -> None:
    """Raise BundleError for the first record outside the authoring device's authority."""
    admins: set[str] | None = None
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: (records.ORDER[e["t"]], str(e["v"].get("created_at")))):
        table, values = e["t"], e["v"]
        by_table[table].append(e)
        if not may_send(roles, table):
            needed = "admin" if table in ADMIN_TABLES else "clinical"
            raise BundleError(f"{table} record from a device not certified for {needed}")
        if table in ADMIN_TABLES:
            if admins is None:
                admins = _admin_accounts(session)
            author = str(values.get("author_id") or "")
            if author not in admins and not _console(author):
                raise BundleError(f"{table} record not authored by an admin or IT account")
            if (
                table == "users"
                and values.get("role") in ADMIN_ACCOUNT_ROLES
                and values.get("active")
                and not values.get("deleted_at")
            ):
                admins.add(e["id"])
        if table == "clinical_notes" and values.get("status") == "signed":
            expected = note_content_hash(str(values.get("title")), str(values.get("body")))
            if values.get("content_sha256") != expected:
                raise BundleError("signed clinical_notes record does not match its content hash")
    for table, batch in by_table.items():
        _check_patient_unchanged(session, table, batch)
        _check_references(session, table, batch, by_table)


def _existing(session: Session, table: str, ids: set[str]) -> set[str]:
    t = records.TABLES[table]
    found: set[str] = set()
    todo = sorted(ids)
    for i in range(0, len(todo), 500):
        found.update(session.scalars(select(t.c.id).where(t.c.id.in_(todo[i : i + 500]))))
    return found


def _check_references(
    session: Session,
    table: str,
    batch: list[dict[str, Any]],
    by_table: dict[str, list[dict[str, Any]]],
) -> None:
    for fk in records.TABLES[table].foreign_keys:
        target = fk.column.table.name
        if target not in records.TABLES:
            continue
        wanted = {str(e["v"][fk.parent.name]) for e in batch if e["v"].get(fk.parent.name)}
        wanted -= {e["id"] for e in by_table.get(target, [])}
        if wanted - _existing(session, target, wanted):
            raise BundleError(f"{table} record refers to a {target} record not held here")


def _check_patient_unchanged(session: Session, table: str, batch: list[dict[str, Any]]) -> None:
    t = records.TABLES[table]
    if "patient_id" not in t.c:
        return
    ids = [e["id"] for e in batch]
    local: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        q = select(t.c.id, t.c.patient_id).where(t.c.id.in_(ids[i : i + 500]))
        local.update({rid: pid for rid, pid in session.execute(q)})
    for e in batch:
        have = local.get(e["id"])
        if have is not None and e["v"].get("patient_id") != have:
            raise BundleError(f"{table} record would move to another patient")
