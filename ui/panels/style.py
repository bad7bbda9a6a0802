"""A light/dark palette and small style sheet for running the panels outside the shell
(screenshots, tests). Inside the shell, ui/theme.py styles everything."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

LIGHT = {
    "window": "#f4f6f9",
    "base": "#ffffff",
    "alt": "#f7f9fc",
    "text": "#1b2430",
    "muted": "#5b6675",
    "button": "#ffffff",
    "accent": "#1f6fb2",
    "accent_text": "#ffffff",
    "border": "#d5dbe3",
}
DARK = {
    "window": "#1c2128",
    "base": "#232a33",
    "alt": "#283039",
    "text": "#e6ebf1",
    "muted": "#9aa6b4",
    "button": "#2b333d",
    "accent": "#4a9be0",
    "accent_text": "#0d1117",
    "border": "#3a4450",
}
QSS = (Path(__file__).with_name("panels.qss")).read_text(encoding="utf-8")


def apply(app: QApplication, colours: dict[str, str]) -> None:
    """Fusion style with the given palette and the panels' style sheet."""
    app.setStyle("Fusion")
    p = QPalette()
    r = QPalette.ColorRole
    for role, key in (
        (r.Window, "window"),
        (r.Base, "base"),
        (r.AlternateBase, "alt"),
        (r.Text, "text"),
        (r.WindowText, "text"),
        (r.ButtonText, "text"),
        (r.Button, "button"),
        (r.Highlight, "accent"),
        (r.HighlightedText, "accent_text"),
        (r.PlaceholderText, "muted"),
        (r.ToolTipBase, "base"),
        (r.ToolTipText, "text"),
    ):
        p.setColor(role, QColor(colours[key]))
    app.setPalette(p)
    qss = QSS
    for k, v in sorted(colours.items(), key=lambda kv: -len(kv[0])):
        qss = qss.replace(f"@{k}", v)
    app.setStyleSheet(qss)


def apply_light(app: QApplication) -> None:
    apply(app, LIGHT)


def apply_dark(app: QApplication) -> None:
    apply(app, DARK)
