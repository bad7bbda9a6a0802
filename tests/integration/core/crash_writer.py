"""Child process for the crash test: commits patients in a loop, reporting each commit.

Each line on stdout names a transaction that `Store.write` has returned from, i.e. committed.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from app.core.store.models import Encounter, Patient, utcnow
from app.core.store.store import SYSTEM, Store, UnitOfWork


def main() -> None:
    path, key_hex, audit_hex = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    store = Store.open(path, bytes.fromhex(key_hex), audit_key=bytes.fromhex(audit_hex))
    i = 0
    while True:

        def write(uow: UnitOfWork, i: int = i) -> str:
            p = Patient(
                mrn=f"C-{i}",
                given_name="Crash",
                family_name=f"Test{i}",
                birth_date=date(1990, 1, 1),
                sex="other",
            )
            uow.session.add(p)
            uow.session.flush()
            for _ in range(20):
                uow.session.add(Encounter(patient_id=p.id, kind="visit", start=utcnow()))
            uow.audit(SYSTEM, "patient.create", patient_id=p.id)
            return p.mrn

        mrn = store.write(write)
        print(mrn, flush=True)
        i += 1


if __name__ == "__main__":
    main()
