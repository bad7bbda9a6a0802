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

import gc
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
from app.services import (
    caseload,
    feature_assembly,
    feature_rows,
    model_inputs,
    patients,
    predictions,
)
from app.services.context import AppContext
from engines.xgb.features import assemble_matrix
from engines.xgb.predict import score_caseload_matrix
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


def _used_bytes(ctx: AppContext) -> int:
    """Bytes of the store's pages in use (page count less the free list)."""
    from sqlalchemy import text  # noqa: PLC0415

    with ctx.store.engine.connect() as conn:
        pages, free, size = (
            int(conn.execute(text(f"PRAGMA {name}")).scalar_one())
            for name in ("page_count", "freelist_count", "page_size")
        )
    return (pages - free) * size


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
        # fill() built the feature rows after its bulk SQL: drop them, add the stale rows that
        # migration 0010 adds to an existing store, and time building them all again; the
        # store's pages in use before and after give the table's size
        from sqlalchemy import text  # noqa: PLC0415

        with ctx.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM patient_feature_rows"))
        empty = _used_bytes(ctx)
        with ctx.store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patient_feature_rows (patient_id, stale) "
                    "SELECT id, 1 FROM patients"
                )
            )
        before = _used_bytes(ctx)
        t0 = time.perf_counter()
        rebuilt = ctx.store.write(lambda uow: feature_rows.rebuild(uow.session))
        rebuild_s = time.perf_counter() - t0
        total = _used_bytes(ctx)
        grown, seeded = total - empty, before - empty
        visible = patients.list_patients(ctx, me)
        ids = [p.id for p in visible]
        now = datetime.now(UTC)
        model = predictions.active_model("relapse_6m", settings)
        allowed = frozenset(settings.allowed_demographics)
        specs = model.card.features
        x = ctx.store.read(lambda s: model_inputs.feature_matrix_many(s, ids, now, specs))

        service = _median_ms(lambda: caseload.score_visible(ctx, me))
        # what the cyclic GC's full collections of the long-lived heap cost the call: the same
        # call with that heap frozen (gc.freeze(), an app start-up option not taken here)
        gc.collect()
        gc.freeze()
        try:
            frozen = _median_ms(lambda: caseload.score_visible(ctx, me))
        finally:
            gc.unfreeze()
        listing = _median_ms(lambda: patients.list_patients(ctx, me))
        assembly = _median_ms(
            lambda: ctx.store.read(lambda s: model_inputs.feature_matrix_many(s, ids, now, specs))
        )
        dicts = _median_ms(
            lambda: ctx.store.read(lambda s: model_inputs.build_features_many(s, ids, now))
        )
        from_records = _median_ms(
            lambda: ctx.store.read(lambda s: feature_assembly.assemble_many(s, ids, now)), runs=3
        )
        scoring = _median_ms(
            lambda: score_caseload_matrix(model, x, ids, allowed_demographics=allowed)
        )
        search = _median_ms(lambda: patients.list_patients(ctx, me, search="Family12"))
        typed, cleared = _ui_filter_ms(visible)

        from tests.integration.core.test_features_many import (  # noqa: PLC0415
            old_build_features,
        )

        per_patient = model_inputs.feature_matrix_many

        def old_many(session: Any, pids: Any, when: datetime, specs: Any) -> Any:  # noqa: ANN401
            return assemble_matrix([old_build_features(session, pid, when) for pid in pids], specs)

        model_inputs.feature_matrix_many = old_many
        try:
            t0 = time.perf_counter()
            caseload.score_visible(ctx, me)
            old_service = (time.perf_counter() - t0) * 1000
        finally:
            model_inputs.feature_matrix_many = per_patient
        ctx.close()
    print(f"{n:,} patients visible to one clinician; store filled with {rows:,} rows by bulk SQL")
    print(f"in {filled:.0f} s (setup only). Median of {RUNS} after a warm-up; old path: 1 run.\n")
    print("| step | set-based (ms) | old per-patient (ms) | ratio | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(
        f"| caseload.score_visible (the dialog's click) | {service:.0f} | {old_service:,.0f} "
        f"| {old_service / service:.0f}× | ≤ 150 ms (moonshot ≤ 50) |"
    )
    print(f"| — the same call after gc.freeze() (not in the app) | {frozen:.0f} | | | |")
    print(f"| — list_patients inside it | {listing:.0f} | | | |")
    print(f"| — features (feature_matrix_many: rows as the model matrix) | {assembly:.0f} | | | |")
    print(f"| — scoring (score_caseload_matrix: checks + XGBoost) | {scoring:.0f} | | | |")
    print(f"| feature dicts from the rows (build_features_many) | {dicts:.0f} | | | |")
    print(f"| feature dicts assembled from the records (before 0010) | {from_records:.0f} | | | |")
    print(f"| list_patients unfiltered | {listing:.0f} | | | ≤ 50 ms |")
    print(f"| list_patients searched ('Family12') | {search:.0f} | | | |")
    print(f"| UI filter: type 'Family12' into the list | {typed:.0f} | | | ≤ 30 ms |")
    print(f"| UI filter: clear the search | {cleared:.0f} | | | ≤ 30 ms |")
    print(
        f"\nfeature rows: {rebuilt:,} rebuilt in {rebuild_s:.1f} s; the table takes "
        f"{grown / 1e6:.1f} MB of the store's {total / 1e6:.1f} MB ({seeded / 1e6:.1f} MB as "
        "the migration's stale rows)"
    )


if __name__ == "__main__":
    main()
