"""Light and dark themes: Fusion with a palette, plus a small style sheet per theme.

``system`` follows the OS colour scheme (QStyleHints.colorScheme) and re-applies when the OS
switches; the user may pin light or dark (saved in the user settings unless IT's policy pins it).
"""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
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


def resolve(choice: str) -> str:
    """'light' or 'dark' for a user choice of system/light/dark."""
    if choice in ("light", "dark"):
        return choice
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def _palette(c: dict[str, str]) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    for r, key in (
        (role.Window, "window"),
        (role.Base, "base"),
        (role.AlternateBase, "alt"),
        (role.Text, "text"),
        (role.WindowText, "text"),
        (role.ButtonText, "text"),
        (role.ToolTipText, "text"),
        (role.Button, "button"),
        (role.ToolTipBase, "base"),
        (role.Highlight, "accent"),
        (role.HighlightedText, "accent_text"),
        (role.PlaceholderText, "muted"),
        (role.Link, "accent"),
    ):
        p.setColor(r, QColor(c[key]))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(c["muted"]))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(c["muted"]))
    p.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor(c["muted"]))
    return p


def style_sheet(name: str) -> str:
    """The theme's .qss from resources/ui with its colour tokens filled in."""
    colours = DARK if name == "dark" else LIGHT
    text = (resources.files("resources") / "ui" / "theme.qss").read_text(encoding="utf-8")
    for key, value in sorted(colours.items(), key=lambda kv: -len(kv[0])):
        text = text.replace("@" + key, value)
    return text


def apply(app: QApplication, choice: str) -> str:
    """Apply a theme choice to the whole application; returns the effective theme."""
    name = resolve(choice)
    app.setStyle("Fusion")
    app.setPalette(_palette(DARK if name == "dark" else LIGHT))
    app.setStyleSheet(style_sheet(name))
    app.setProperty("novamind_theme", name)
    return name
