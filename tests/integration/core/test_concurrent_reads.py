"""Many threads reading while the writer writes: no closed connections, no crashes.

Regression test: an engine built on "sqlite://" silently got SingletonThreadPool, which closes
other threads' connections once more threads than its pool size use it.
"""

from __future__ import annotations

import threading

from app.core.domain import Role
from app.services import notes, patients
from app.services.context import AppContext


def test_eight_reader_threads_and_a_writer(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(15):
                patients.get_patient(ctx, me, clinic["mine"])
                notes.list_notes(ctx, me, clinic["mine"])
        except BaseException as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    def writer() -> None:
        try:
            for i in range(40):
                notes.create_draft(ctx, me, clinic["mine"], f"t{i}", "b")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(notes.list_notes(ctx, me, clinic["mine"])) == 40
