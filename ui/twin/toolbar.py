"""The twin view's top bar: mode buttons, camera preset, deep structures, screenshot and PDF.

Why: the bar only offers choices; the view decides what they do (its controllers act on them).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from ui.twin.common import Mode

CAMERAS = (
    ("Oblique", "oblique"),
    ("Left lateral", "lateral_left"),
    ("Right lateral", "lateral_right"),
    ("Left medial", "medial_left"),
    ("Right medial", "medial_right"),
    ("Top", "top"),
    ("Front", "front"),
)
MODE_BUTTONS = (
    (Mode.TWIN, "&Twin", "Alt+1"),
    (Mode.COMPARE, "&Compare dates", "Alt+2"),
    (Mode.WHATIF, "&What-if", "Alt+3"),
)


class TwinToolbar(QWidget):
    """Mode buttons (Alt+1..3), camera preset, glass cortex switch, screenshot and report."""

    modeRequested = Signal(str)  # noqa: N815 — Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[Mode, QToolButton] = {}
        for i, (mode, text, key) in enumerate(MODE_BUTTONS):
            b = QToolButton()
            b.setObjectName("twinMode")
            b.setText(text)
            b.setCheckable(True)
            b.setAccessibleName(text.replace("&", "") + " mode")
            b.setToolTip(f"{text.replace('&', '')} ({key})")
            b.setShortcut(QKeySequence(key))
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            bar.addWidget(b)
        self.mode_buttons[Mode.TWIN].setChecked(True)
        self.mode_group.idClicked.connect(lambda i: self.modeRequested.emit(MODE_BUTTONS[i][0]))
        bar.addSpacing(12)
        bar.addWidget(QLabel("View"))
        self.camera = QComboBox()
        self.camera.setAccessibleName("Camera view")
        for text, preset in CAMERAS:
            self.camera.addItem(text, preset)
        bar.addWidget(self.camera)
        self.deep = QCheckBox("Deep structures")
        self.deep.setChecked(True)
        self.deep.setAccessibleName("Show deep structures through a glass cortex")
        self.deep.setToolTip("Glass cortex with subcortical nuclei (off: solid cortex, faster)")
        bar.addWidget(self.deep)
        bar.addStretch(1)
        self.shot_button = QPushButton("Screenshot")
        self.shot_button.setAccessibleName("Save a screenshot of the 3D view")
        self.shot_button.setShortcut(QKeySequence("Ctrl+Shift+S"))
        bar.addWidget(self.shot_button)
        self.report_button = QPushButton("PDF report\u2026")
        self.report_button.setAccessibleName("Export a PDF patient report")
        self.report_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Print))
        bar.addWidget(self.report_button)

    def show_mode(self, mode: Mode) -> None:
        """Check the button of ``mode`` (without emitting ``modeRequested``)."""
        self.mode_buttons[mode].setChecked(True)
