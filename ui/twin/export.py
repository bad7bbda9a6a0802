"""Screenshot and PDF report of the twin view, each audited as a disclosure of PHI.

Why: a file that leaves the application is a disclosure. Both exports are recorded by the
service (``phi_audit.record_disclosure``); a file whose audit fails is removed. The report's
twin images are rendered in a CPU-pool child process (``report.render_images``), then the PDF
is written on a pool thread: neither holds the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QImage, QImageWriter
from PySide6.QtWidgets import QFileDialog

from app.services import phi_audit
from app.services import twin_view as tv
from ui.twin.common import ViewController

if TYPE_CHECKING:
    import numpy as np

    from ui.twin.view import TwinView


class ExportController(ViewController):
    """Saves the 3D view as a PNG and the patient report as a PDF."""

    def __init__(self, view: TwinView) -> None:
        super().__init__(view)

    def _ask(self, path: str | Path | None, title: str, name: str, kind: str) -> Path | None:
        if path is not None:
            return Path(path)
        chosen, _ = QFileDialog.getSaveFileName(self.view, title, name, kind)
        return Path(chosen) if chosen else None

    def save_screenshot(self, path: str | Path | None = None) -> Path | None:
        """Save the 3D view as a PNG (asks for a file when no path is given)."""
        view = self.view
        if view.scene is None:
            return None
        out = self._ask(path, "Save twin screenshot", "twin.png", "PNG image (*.png)")
        if out is None:
            return None
        view.flush()
        arr = view.current_host().grab_frame()
        h, w, _ = arr.shape
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        if not QImageWriter(str(out), QByteArray(b"PNG")).write(img):
            view.errorOccurred.emit("The screenshot could not be saved to that location.")
            return None
        if view.timeline is not None and not self._disclosed(out, view.timeline.patient_id):
            return None
        view.screenshotSaved.emit(str(out))
        return out

    def _disclosed(self, out: Path, patient_id: str) -> bool:
        """Audit the file as a disclosure (by the service); an unaudited file is removed."""
        view = self.view
        try:
            phi_audit.record_disclosure(
                view.ctx, view.principal, patient_id, kind="png", destination=out
            )
        except Exception as exc:  # noqa: BLE001 — any failure: the file must not stay
            out.unlink(missing_ok=True)
            view.failed(exc)
            return False
        return True

    def export_report(self, path: str | Path | None = None) -> None:
        """Render the report's twin images in a child process, then write the PDF on a pool
        thread (the GUI thread only hands the data on)."""
        from ui.twin import report

        view = self.view
        t = view.timeline
        if t is None:
            return
        out = self._ask(path, "Export patient report", "twin-report.pdf", "PDF document (*.pdf)")
        if out is None:
            return
        job = report.image_job(t, view.lim, view.whatif)
        button = view.toolbar.report_button
        button.setEnabled(False)
        ctx, principal, whatif = view.ctx, view.principal, view.whatif

        def build(images: dict[str, QImage]) -> str:
            data = tv.report_input(ctx, principal, t, whatif)
            report.write_pdf(out, data, images)
            try:
                phi_audit.record_disclosure(
                    ctx, principal, t.patient_id, kind="pdf", destination=out
                )
            except BaseException:
                out.unlink(missing_ok=True)  # an unaudited disclosure must not stay behind
                raise
            return str(out)

        def done(p: str) -> None:
            button.setEnabled(True)
            view.reportExported.emit(p)

        def failed(exc: BaseException) -> None:
            button.setEnabled(True)
            view.failed(exc)

        def rendered(arrays: dict[str, np.ndarray]) -> None:
            images = report.to_qimages(arrays)
            view.tasks.call(build, images, label="Writing PDF report", on_done=done,
                            on_error=failed)  # fmt: skip

        view.tasks.call_cpu(
            report.render_images, job, label="Rendering report images", on_done=rendered,
            on_error=failed,
        )  # fmt: skip

    def close(self) -> None:
        """Nothing to release: the report's scene lives in the CPU-pool child."""
