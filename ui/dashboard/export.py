"""The dashboard's PDF, drawn from the rows the CSV holds (`clinic_dashboard.export_rows`) and
audited as a disclosure by the service (`record_export`), like the CSV (`export_csv`). A
researcher's export is built from the already suppressed figures: it holds no more than the
screen.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

from app.services import clinic_dashboard
from app.services.clinic_dashboard import Dashboard


def _html(rows: list[list[str]]) -> str:
    parts = ["<html><body style='font-family: sans-serif; font-size: 8pt'>"]
    table_open = False
    for row in rows:
        if len(row) <= 1:
            if table_open:
                parts.append("</table>")
                table_open = False
            if row:
                parts.append(f"<h3>{html.escape(row[0])}</h3>")
            continue
        if not table_open:
            parts.append("<table border='1' cellspacing='0' cellpadding='2'>")
            table_open = True
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    if table_open:
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_pdf(dash: Dashboard, path: Path) -> Path:
    """Draw the dashboard's tables into a PDF (on the GUI thread: QTextDocument lays out with
    fonts); the caller records the disclosure with `clinic_dashboard.record_export`."""
    writer = QPdfWriter(str(path))
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Landscape,
            QMarginsF(12, 12, 12, 12),
        )
    )
    writer.setTitle("Novamind clinic dashboard")
    doc = QTextDocument()
    doc.setHtml(_html(clinic_dashboard.export_rows(dash)))
    doc.setPageSize(QSizeF(writer.width(), writer.height()))
    doc.print_(writer)
    del writer  # flushes the file
    return path
