"""Who may author what: the table x authority rules checked before a bundle writes anything.

- Clinical tables come only from devices whose certificate allows `clinical`.
- Accounts and access (`users`, `care_team`, `break_glass`) come only from devices whose
  certificate allows `admin`, and only when the record is authored by an active admin or IT
  account, or by IT at that admin workstation's console (`first-run`, `demo`, `os:<account>`).
  One exception, so a clinician's new patient travels: a clinical device may send the
  care-team row that assigns a clinician to a patient that same clinician registered
  (user = author = the patient's author). A patient's author never changes (below), so this
  grants nobody access to a patient someone else registered.
- A signed note must match its content hash.
- A remote record never moves a local record to another patient, nor changes its author.
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

from app.core.domain import note_content_hash
from app.core.store.models import User
from sync import records
from sync.envelope import BundleError

ADMIN_TABLES = frozenset({"users", "care_team", "break_glass"})
ADMIN_ACCOUNT_ROLES = frozenset({"admin", "it"})
CONSOLE_AUTHORS = frozenset({"first-run", "demo"})
CONSOLE_PREFIX = "os:"


def may_send(roles: frozenset[str], table: str) -> bool:
    """May a device with these certificate roles author records of `table`?"""
    return ("admin" if table in ADMIN_TABLES else "clinical") in roles


def self_assignment(values: dict[str, Any], patient_author: str | None) -> bool:
    """A care-team row assigning its own author to a patient that author registered."""
    author = values.get("author_id")
    return bool(author) and values.get("user_id") == author and patient_author == author


def may_send_record(
    session: Session, roles: frozenset[str], table: str, values: dict[str, Any]
) -> bool:
    """`may_send`, plus a clinical device's self-assignment to a patient it registered."""
    if may_send(roles, table):
        return True
    if table != "care_team" or "clinical" not in roles:
        return False
    return self_assignment(values, _patient_author(session, values.get("patient_id")))


def _patient_author(session: Session, patient_id: Any) -> str | None:  # noqa: ANN401
    """Who registered a patient held here (no remote record can change it)."""
    patients = records.TABLES["patients"]
    return session.scalar(select(patients.c.author_id).where(patients.c.id == patient_id))


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
        if table == "care_team" and "clinical" in roles and _registered_by(session, e, by_table):
            continue  # the registering clinician's own assignment (module docstring)
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
        _check_unchanged(session, table, batch)
        _check_references(session, table, batch, by_table)


def _registered_by(
    session: Session, e: dict[str, Any], by_table: dict[str, list[dict[str, Any]]]
) -> bool:
    """Is this care-team entry its author's assignment to a patient that author registered?

    The patient's author is read from this bundle or, when the patient is already held here,
    from the local row (which no remote record can change).
    """
    pid = e["v"].get("patient_id")
    local = _patient_author(session, pid)
    if local is None:
        local = next(
            (p["v"].get("author_id") for p in by_table["patients"] if p["id"] == pid), None
        )
    return self_assignment(e["v"], local)


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


def _check_unchanged(session: Session, table: str, batch: list[dict[str, Any]]) -> None:
    """A remote record never moves a local one to another patient or gives it another author."""
    t = records.TABLES[table]
    cols = [c for c in ("patient_id", "author_id") if c in t.c]
    ids = [e["id"] for e in batch]
    local: dict[str, tuple[Any, ...]] = {}
    for i in range(0, len(ids), 500):
        q = select(t.c.id, *(t.c[c] for c in cols)).where(t.c.id.in_(ids[i : i + 500]))
        local.update({row[0]: tuple(row[1:]) for row in session.execute(q)})
    for e in batch:
        have = local.get(e["id"])
        if have is None:
            continue
        for col, value in zip(cols, have, strict=True):
            if e["v"].get(col) != value:
                what = "move to another patient" if col == "patient_id" else "change its author"
                raise BundleError(f"{table} record would {what}")
