"""A five-year clinic: the clicks a clinician makes, through the services those clicks call.

Store: NOVAMIND_BENCH_PATIENTS (default 10,000) patients × 5 years of fortnightly PHQ-9/GAD-7,
encounters and signed notes, medications, admissions, note findings, and a year of minute
actigraphy for a tenth of them (NOVAMIND_BENCH_ACTI_SHARE, NOVAMIND_BENCH_ACTI_DAYS), built with
bulk SQL by tests.bench.filler_5y and cached under /tmp/novamind-bench;
NOVAMIND_BENCH_LAYOUT=interleaved writes the visits in time order across patients instead.
One clinician has every patient on their care team. Patients opened: half with a year of
actigraphy, half without.

Each step is timed "first" (the first call for a patient not yet read in a freshly opened
store: SQLite's page cache is cold, the OS page cache is not) and "warm" (median of 5 repeats).
Sign-in ends with the rows shown in the shell's patient list panel, which then stays alive (as
in the shell) while the patients are opened. The twin open needs a display for the widget
(``xvfb-run -a python -m tests.bench clinic5y``); without one that row is skipped.
"""

from __future__ import annotations

import functools
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

RUNS = 5
OPENED = 6  # patients opened per step (first-call figures are their median)


def _ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _first_and_warm(fn: Callable[[str], Any], pids: list[str]) -> tuple[float, float]:
    """Median first call over the given (untouched) patients, and the warm median of RUNS
    repeats on the last of them."""
    first = statistics.median(_ms(functools.partial(fn, p)) for p in pids)
    warm = statistics.median(_ms(lambda: fn(pids[-1])) for _ in range(RUNS))
    return first, warm


def _pick(ctx: Any, n: int) -> tuple[list[list[str]], list[list[str]]]:  # noqa: ANN401
    """Disjoint groups of patients for each step: with and without a year of actigraphy."""
    from sqlalchemy import text  # noqa: PLC0415

    def ids(sql: str) -> list[str]:
        return ctx.store.read(lambda s: [r[0] for r in s.execute(text(sql))])

    with_acti = ids("SELECT patient_id FROM actigraphy_series WHERE n_epochs > 100000 LIMIT 40")
    acti = set(with_acti)
    without = [p for p in ids("SELECT id FROM patients LIMIT 200") if p not in acti][:40]
    half = n // 2
    groups_a = [with_acti[i * half : (i + 1) * half] for i in range(6)]
    groups_b = [without[i * half : (i + 1) * half] for i in range(6)]
    return groups_a, groups_b


Opens = tuple[float, float, float, float, str]


def _twin_open(ctx: Any, who: Any, pids: list[str]) -> Opens | None:  # noqa: ANN401
    """Cold (scene build), first, warm and warm-after-gc.freeze opens of the twin widget to a
    rendered frame, and the host's mode."""
    if not os.environ.get("DISPLAY"):
        return None
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from tests.bench.bench_twinui import SIZE, _open, _wait  # noqa: PLC0415
    from ui.twin import TwinView  # noqa: PLC0415

    app = QApplication.instance() or QApplication([])
    view = TwinView(ctx, who)
    view.resize(*SIZE)
    view.show()
    _wait(app, lambda: view.isVisible())
    cold = _open(app, view, pids[0])
    first = statistics.median(_open(app, view, p) for p in pids[1:])
    warm = statistics.median(
        _open(app, view, pids[k % 2 + (len(pids) - 2)]) for k in range(RUNS)
    )  # alternating two already-opened patients: a switch, as a clinician does
    # Diagnostic, not the app as shipped: the switch's full gc.collect (ui/twin/memory.py)
    # scans every object the imports made; gc.freeze() moves them out of its reach.
    gc.freeze()
    frozen = statistics.median(_open(app, view, pids[k % 2 + (len(pids) - 2)]) for k in range(RUNS))
    gc.unfreeze()
    mode = view.host.mode
    view.shutdown()
    view.close()
    app.processEvents()
    return cold, first, warm, frozen, mode


def _twin_parts(ctx: Any, who: Any, pid: str) -> list[tuple[str, float]]:  # noqa: ANN401
    """Where the twin's time goes (warm medians): the estimate's and the open's parts."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.services import twin, twin_view  # noqa: PLC0415
    from engines.twin.state import TwinState, estimate_twin  # noqa: PLC0415

    def warm(fn: Callable[[], Any]) -> float:
        fn()
        return statistics.median(_ms(fn) for _ in range(RUNS))

    obs = ctx.store.read(lambda s: twin.observations_for(s, pid))
    state = estimate_twin(obs, as_of=datetime.now(UTC), version=1)
    text = state.to_json()
    return [
        ("estimate: observations_for (store read)",
         warm(lambda: ctx.store.read(lambda s: twin.observations_for(s, pid)))),
        (f"estimate: engines.twin estimate_twin ({len(obs)} observations, "
         f"{len(state.dates())} days)", warm(lambda: estimate_twin(obs, as_of=datetime.now(UTC),
                                                                  version=1))),
        (f"estimate: TwinState.to_json ({len(text) / 1e3:.0f} kB stored per snapshot)",
         warm(state.to_json)),
        ("open: twin_view.load_timeline (service: read + audit + parse + regions)",
         warm(lambda: twin_view.load_timeline(ctx, who, pid))),
        ("open: TwinState.from_json alone", warm(lambda: TwinState.from_json(text))),
    ]  # fmt: skip


def main() -> None:
    from app.services import assessments, auth, overview, patients, twin  # noqa: PLC0415
    from app.services.context import AppContext  # noqa: PLC0415
    from tests.bench.filler_5y import clinic_5y, settings_for  # noqa: PLC0415
    from ui.assessments.trend import build_series  # noqa: PLC0415

    n = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
    share = float(os.environ.get("NOVAMIND_BENCH_ACTI_SHARE", "0.1"))
    days = int(os.environ.get("NOVAMIND_BENCH_ACTI_DAYS", "365"))
    t0 = time.perf_counter()
    interleaved = os.environ.get("NOVAMIND_BENCH_LAYOUT", "") == "interleaved"
    layout = "visits in time order across patients" if interleaved else "patient by patient"
    clinic = clinic_5y(n, acti_share=share, acti_days=days, interleaved=interleaved)
    ready = time.perf_counter() - t0
    settings = settings_for(clinic)

    # Sign-in to the patient list, as the shell does: the store is open at the login page.
    t0 = time.perf_counter()
    ctx = AppContext.open(settings)
    opened = (time.perf_counter() - t0) * 1000

    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from ui.patients import PatientListPanel  # noqa: PLC0415

    app = QApplication.instance() or QApplication([])
    panel = PatientListPanel()
    panel.resize(400, 700)
    panel.show()
    app.processEvents()

    def sign_in() -> int:
        """What the shell runs from the sign-in click to a filled patient list."""
        who = auth.login(ctx, clinic.username, clinic.password)
        rows = patients.list_patients(ctx, who)
        panel.model.set_rows(rows)
        app.processEvents()
        return len(rows)

    signin_first = _ms(sign_in)
    signin_warm = statistics.median(_ms(sign_in) for _ in range(RUNS))
    who = auth.login(ctx, clinic.username, clinic.password)
    visible = len(patients.list_patients(ctx, who))
    rows = patients.list_patients(ctx, who)

    def show() -> None:
        panel.model.set_rows(rows)
        app.processEvents()

    show_rows = statistics.median(_ms(show) for _ in range(RUNS))
    panel.close()
    listing = statistics.median(_ms(lambda: patients.list_patients(ctx, who)) for _ in range(RUNS))
    login_only = statistics.median(
        _ms(lambda: auth.login(ctx, clinic.username, clinic.password)) for _ in range(RUNS)
    )

    a, b = _pick(ctx, OPENED)
    group = [a[k] + b[k] for k in range(6)]

    def tab(pid: str) -> None:
        assessments.history(ctx, who, pid)
        build_series(overview.list_assessments(ctx, who, pid))

    results: list[tuple[str, tuple[float, float], str]] = []
    results.append(
        ("Overview (overview.patient_overview)",
         _first_and_warm(lambda p: overview.patient_overview(ctx, who, p), group[0]), "≤ 150")
    )  # fmt: skip
    results.append(
        ("assessment history + trend (history, list_assessments, build_series)",
         _first_and_warm(tab, group[1]), "≤ 100")
    )  # fmt: skip
    results.append(
        ("— assessments.history alone",
         _first_and_warm(lambda p: assessments.history(ctx, who, p), group[2]), "")
    )  # fmt: skip
    results.append(
        ("twin estimate for one patient (twin.update: read, estimate, store)",
         _first_and_warm(lambda p: twin.update(ctx, who, p), group[3]), "≤ 100")
    )  # fmt: skip
    # the twin widget opens the latest snapshot: every opened patient has one
    for p in group[4]:
        twin.update(ctx, who, p)
    twin_open = _twin_open(ctx, who, group[4])
    parts = _twin_parts(ctx, who, group[4][-1])
    obs = ctx.store.read(lambda s: len(twin.observations_for(s, group[3][0])))
    obs_b = ctx.store.read(lambda s: len(twin.observations_for(s, group[3][-1])))
    ctx.close()

    print(
        f"{n:,} patients × 5 years ({clinic.rows:,} rows, store {clinic.store_bytes / 1e6:,.0f} MB,"
        f" built by bulk SQL in {clinic.build_s:.0f} s; this run found it "
        f"{'cached' if ready < clinic.build_s / 2 else 'absent and built it'}); actigraphy: "
        f"{days} days of minutes for {share:.0%} of patients. One clinician sees all {visible:,}."
        f" Layout: {layout}."
    )
    print(
        f"Twin observations of an opened patient: {obs:,} with a year of actigraphy, "
        f"{obs_b:,} without. First = median over {OPENED} untouched patients "
        f"(half with actigraphy); warm = median of {RUNS} repeats.\n"
    )
    print("| step | first (ms) | warm (ms) | target (ms) |")
    print("| --- | ---: | ---: | --- |")
    print(f"| sign-in to patient list (auth.login + list_patients + the list shows them) "
          f"| {signin_first:.0f} "
          f"| {signin_warm:.0f} | ≤ 1,500 |")  # fmt: skip
    print(f"| — auth.login alone (password hash) | | {login_only:.0f} | |")
    print(f"| — list_patients alone (service) | | {listing:.0f} | |")
    print(f"| — the patient list panel shows {visible:,} rows (set_rows + paint) | "
          f"| {show_rows:.0f} | |")  # fmt: skip
    print(f"| — AppContext.open before the login page (not in the target) | {opened:.0f} | | |")
    for label, (first, warm), target in results:
        print(f"| {label} | {first:.0f} | {warm:.0f} | {target} |")
    if twin_open is None:
        print("| open a patient to a rendered twin | not run (no display) | | ≤ 250 |")
    else:
        cold, first, warm, frozen, mode = twin_open
        print(f"| open a patient to a rendered twin (TwinView, {mode} host) | {first:.0f} "
              f"| {warm:.0f} | ≤ 250 |")  # fmt: skip
        print(f"| — the very first open (builds the 3D scene) | {cold:.0f} | | |")
        print(f"| — diagnostic: warm open after gc.freeze() (not the app as shipped) | "
              f"| {frozen:.0f} | |")  # fmt: skip
    for label, warm in parts:
        print(f"| — {label} | | {warm:.0f} | |")


if __name__ == "__main__":
    main()
