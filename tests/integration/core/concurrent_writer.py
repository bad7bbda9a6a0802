"""Child process for the concurrent-writers test: writes patients as fast as it can.

It opens the workstation's store the way the desktop does (AppContext from the environment)
and, until the deadline, makes one small write after another: like a service it reads first
(the patient it wrote last), then adds a patient and an audit link. Each id is appended to the
acknowledgement file only after `Store.write` returned, i.e. after the commit; a failed write
appends its error class and message (ids only, no stored values) to the error file.
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

from app.core.config import load_settings
from app.core.store.models import Patient
from app.core.store.store import SYSTEM, UnitOfWork
from app.services.context import AppContext


def main() -> None:
    seconds, tag = float(sys.argv[1]), sys.argv[4]
    acks, errors = Path(sys.argv[2]), Path(sys.argv[3])
    ctx = AppContext.open(load_settings())
    last: list[str] = []
    deadline = time.monotonic() + seconds
    i = 0
    with acks.open("a", encoding="utf-8") as ack, errors.open("a", encoding="utf-8") as err:
        while time.monotonic() < deadline:

            def write(uow: UnitOfWork, i: int = i) -> str:
                if last:  # a read before the write, as services do (RBAC, audit head)
                    uow.session.get(Patient, last[-1])
                p = Patient(
                    mrn=f"{tag}-{i:06d}",
                    given_name="Writer",
                    family_name=tag,
                    birth_date=date(1980, 1, 1),
                    sex="other",
                    is_synthetic=True,
                )
                uow.session.add(p)
                uow.session.flush()
                uow.audit(SYSTEM, "patient.create", patient_id=p.id)
                return p.id

            try:
                pid = ctx.store.write(write)
            except Exception as exc:  # noqa: BLE001  # every failure is counted, none hidden
                first = (str(exc).splitlines() or [""])[0]
                err.write(f"{type(exc).__name__}: {first}\n")
                err.flush()
            else:
                last.append(pid)
                ack.write(pid + "\n")
                ack.flush()
            i += 1
    ctx.close()


if __name__ == "__main__":
    main()
