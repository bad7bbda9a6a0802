"""Caseload by risk at clinic scale, through the service the caseload dialog's click calls.

A 10,000-patient store (NOVAMIND_BENCH_PATIENTS) filled with bulk SQL (tests.bench.filler): six
months of fortnightly PHQ-9/GAD-7 with encounters and signed notes each, and every other model
input family for a realistic share (intakes, medications with stop reasons, admissions,
accepted note findings, actigraphy); one clinician has every patient on their care team.
Times (median of 5 after a warm-up): ``caseload.score_visible`` and its parts (list_patients,
set-based feature assembly, scoring), ``list_patients`` unfiltered and searched, and the patient
list's filter in the UI (typing into the search box of a 10,000-row list, offscreen Qt). The
old per-patient assembly (issue 21's oracle, tests/integration/core/test_features_many.py)
runs once through the same service in the same process for the ratio.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import keyring

from app.core.config import load_settings
from app.core.domain import Role
from app.services import caseload, model_inputs, patients, predictions
from app.services.context import AppContext
from engines.xgb.predict import score_caseload
from tests.bench.filler import fill
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import make_user

RUNS = 5
VISITS = 13  # six months, fortnightly


def _median_ms(fn: Callable[[], Any], runs: int = RUNS) -> float:
    fn()  # warm-up (statement cache, page cache)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _ui_filter_ms(rows: list) -> tuple[float, float]:
    """Median ms to type a search into a 10,000-row patient list, and to clear it again."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415 — only this part needs Qt

    from ui.patients import PatientListPanel  # noqa: PLC0415

    app = QApplication.instance() or QApplication([])
    panel = PatientListPanel()
    panel.resize(900, 700)
    panel.show()
    panel.model.set_rows(rows)
    app.processEvents()
    typed, cleared = [], []
    for _ in range(RUNS + 1):
        t0 = time.perf_counter()
        panel.search.setText("Family12")
        app.processEvents()
        typed.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        panel.search.setText("")
        app.processEvents()
        cleared.append((time.perf_counter() - t0) * 1000)
    panel.close()
    return statistics.median(typed[1:]), statistics.median(cleared[1:])


def main() -> None:
    n = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/none.toml"})
        ctx = AppContext.open(settings)
        me = make_user(ctx, "bench.clinician", Role.CLINICIAN)
        t0 = time.perf_counter()
        rows = fill(ctx, n, visits=VISITS, inputs=True, assign_to=me.user_id)
        filled = time.perf_counter() - t0
        visible = patients.list_patients(ctx, me)
        ids = [p.id for p in visible]
        now = datetime.now(UTC)
        model = predictions.active_model("relapse_6m", settings)
        allowed = frozenset(settings.allowed_demographics)
        features = ctx.store.read(lambda s: model_inputs.build_features_many(s, ids, now))

        service = _median_ms(lambda: caseload.score_visible(ctx, me))
        listing = _median_ms(lambda: patients.list_patients(ctx, me))
        assembly = _median_ms(
            lambda: ctx.store.read(lambda s: model_inputs.build_features_many(s, ids, now))
        )
        scoring = _median_ms(lambda: score_caseload(model, features, allowed_demographics=allowed))
        search = _median_ms(lambda: patients.list_patients(ctx, me, search="Family12"))
        typed, cleared = _ui_filter_ms(visible)

        from tests.integration.core.test_features_many import (  # noqa: PLC0415
            old_build_features,
        )

        per_patient = model_inputs.build_features_many

        def old_many(session: Any, pids: Any, when: datetime) -> list[dict]:  # noqa: ANN401
            return [old_build_features(session, pid, when) for pid in pids]

        model_inputs.build_features_many = old_many  # type: ignore[assignment]
        try:
            t0 = time.perf_counter()
            caseload.score_visible(ctx, me)
            old_service = (time.perf_counter() - t0) * 1000
        finally:
            model_inputs.build_features_many = per_patient  # type: ignore[assignment]
        ctx.close()
    print(f"{n:,} patients visible to one clinician; store filled with {rows:,} rows by bulk SQL")
    print(f"in {filled:.0f} s (setup only). Median of {RUNS} after a warm-up; old path: 1 run.\n")
    print("| step | set-based (ms) | old per-patient (ms) | ratio | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(
        f"| caseload.score_visible (the dialog's click) | {service:.0f} | {old_service:,.0f} "
        f"| {old_service / service:.0f}× | ≤ 150 ms (moonshot ≤ 50) |"
    )
    print(f"| — list_patients inside it | {listing:.0f} | | | |")
    print(f"| — feature assembly (build_features_many) | {assembly:.0f} | | | |")
    print(f"| — scoring (score_caseload: matrix + XGBoost) | {scoring:.0f} | | | |")
    print(f"| list_patients unfiltered | {listing:.0f} | | | ≤ 50 ms |")
    print(f"| list_patients searched ('Family12') | {search:.0f} | | | |")
    print(f"| UI filter: type 'Family12' into the list | {typed:.0f} | | | ≤ 30 ms |")
    print(f"| UI filter: clear the search | {cleared:.0f} | | | ≤ 30 ms |")


if __name__ == "__main__":
    main()
