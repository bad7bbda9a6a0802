"""Render the panels over a demo store to PNGs (light theme): predictions, model card,
caseload, actigraphy (after importing a real Depresjon file), import dialog, notes analysis.

Only real runs are shown as model output: notes_analysis.png is a run of the installed tiny
demo model; notes_analysis_illustrative_example.png shows the evidence display on a hand-written
example stored as "illustrative example — not model output", under the panel's banner.

    xvfb-run -a python scripts/screenshots_panels.py OUT_DIR
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(out: Path) -> None:
    import keyring
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import auth, notes, patients
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from ui import theme

    keyring.set_keyring(MemoryKeyring())
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="novamind-shots-"))
    settings = load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp / "data"), "NOVAMIND_POLICY": str(tmp / "p.toml")}
    )
    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply(app, "light")
    ctx = AppContext.open(settings)
    create_demo_clinic(ctx, patients=6)
    me = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    pid = patients.list_patients(ctx, me)[0].id

    def settle(widget: object, signal: object = None, ms: int = 600) -> None:
        loop = QEventLoop()
        if signal is not None:
            signal.connect(loop.quit)
            QTimer.singleShot(30000, loop.quit)
            loop.exec()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(widget: object, name: str) -> None:
        widget.grab().save(str(out / name))
        print(out / name)

    from ui.panels.caseload import CaseloadWidget
    from ui.panels.predictions import PredictionsPanel

    w = PredictionsPanel(ctx, me, pid)
    w.resize(1200, 1400)
    w.show()
    settle(w, w.loaded)
    shot(w, "predictions.png")
    w.open_model_card("relapse_6m")
    settle(w, ms=1500)
    dlg = w._dialogs[0]
    dlg.resize(900, 1500)
    settle(dlg, ms=400)
    shot(dlg, "model_card.png")
    dlg.close()
    w.close()

    c = CaseloadWidget(ctx, me)
    c.resize(1000, 420)
    c.show()
    settle(c, c.loaded)
    shot(c, "caseload.png")
    c.close()

    from ui.panels.actigraphy import ActigraphyPanel, ImportDialog

    a = ActigraphyPanel(ctx, me, pid)
    a.resize(1300, 1500)
    a.show()
    settle(a, a.loaded)
    shot(a, "actigraphy_demo.png")
    depresjon = ROOT.parent / "shared" / "data" / "depresjon"
    if not depresjon.is_dir():
        depresjon = Path("/work/shared/data/depresjon")
    a.close()
    from datetime import date

    fresh = patients.create_patient(
        ctx,
        me,
        mrn="DEMO-9001",
        given_name="Alex",
        family_name="Sample",
        birth_date=date(1970, 1, 1),
        sex="female",
    )
    a = ActigraphyPanel(ctx, me, fresh)
    a.resize(1300, 2600)
    a.show()
    settle(a, a.loaded)
    dlg = ImportDialog(ctx, me, fresh, a.tasks, a)
    dlg.set_path(depresjon / "condition_10.csv.gz")
    dlg.resize(720, 520)
    dlg.show()
    settle(dlg, ms=400)
    shot(dlg, "actigraphy_import_dialog.png")
    dlg.start()
    settle(dlg, dlg.imported)
    dlg.close()
    a.load()
    settle(a, a.loaded)
    shot(a, "actigraphy_depresjon.png")
    a.close()

    from engines.llm.synthetic_gguf import write_tiny_llama
    from tests.support.notes_example import NOTE, store_example
    from ui.panels.notes_analysis import NotesAnalysisPanel

    model_dir = tmp / "models"
    write_tiny_llama(model_dir / "tiny-random.gguf")
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, model_dirs=(model_dir,))
    note = notes.create_draft(ctx, me, pid, "Review", NOTE)
    notes.sign(ctx, me, note.id)
    n = NotesAnalysisPanel(ctx, me, pid)
    n.resize(1300, 900)
    n.show()
    settle(n, n.loaded)
    n.select_note(note.id)
    settle(n, ms=500)
    # a real run of the installed (tiny random-weight demo) model: its output as it is
    n.analyse()
    settle(n, n.finished)
    settle(n, ms=1500)
    shot(n, "notes_analysis.png")
    # the evidence display on a hand-written example, stored under the placeholder identity
    # "illustrative example — not model output" and shown under the panel's banner saying so
    store_example(ctx, me, n.analyser, pid, note.id)
    n.close()
    n = NotesAnalysisPanel(ctx, me, pid)  # a fresh panel: no stream left from the real run
    n.resize(1300, 900)
    n.show()
    settle(n, n.loaded)
    n.select_note(note.id)
    settle(n, ms=1500)
    n.findings.selectRow(1)
    settle(n, ms=300)
    shot(n, "notes_analysis_illustrative_example.png")
    n.close()
    ctx.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots/panels"))
