"""Timeline and playback of the twin view: the date slider, play/pause, speed and date label.

Why: scrubbing and playing move one slider; whatever the slider means (a day of the twin, a
week of a projection) is the view's business, so this controller only keeps the slider,
timer and pace. Space toggles play while the view has focus.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

SPEEDS = (("0.5\u00d7", 0.5), ("1\u00d7", 1.0), ("2\u00d7", 2.0), ("4\u00d7", 4.0))
BASE_FPS = 12.0  # days per second at 1x
WEEKLY_FPS = 2.0  # projection weeks per second at 1x
PLAY, PAUSE = "\u25b6 Play", "\u23f8 Pause"


class PlaybackController(QObject):
    """Owns the timeline bar; ``stopped`` fires when playback pauses or reaches the end."""

    stopped = Signal()

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self.bar = QWidget()
        tb = QHBoxLayout(self.bar)
        tb.setContentsMargins(0, 0, 0, 0)
        self.play_button = QToolButton()
        self.play_button.setText(PLAY)
        self.play_button.setCheckable(True)
        self.play_button.setAccessibleName("Play or pause the timeline")
        self.play_button.toggled.connect(self.set_playing)
        tb.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName("Timeline date")
        self.slider.setPageStep(7)
        tb.addWidget(self.slider, 1)
        self.date_label = QLabel("")
        self.date_label.setMinimumWidth(170)
        self.date_label.setAccessibleName("Date shown")
        tb.addWidget(self.date_label)
        tb.addWidget(QLabel("Speed"))
        self.speed = QComboBox()
        self.speed.setAccessibleName("Playback speed")
        for text, value in SPEEDS:
            self.speed.addItem(text, value)
        self.speed.setCurrentIndex(1)
        self.speed.currentIndexChanged.connect(lambda _i: self.retime())
        tb.addWidget(self.speed)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.enabled = False  # set by the view while there is a timeline to play
        self.weekly = False  # what-if: the slider steps projection weeks, played slower
        self._step = 1
        QShortcut(
            QKeySequence(Qt.Key.Key_Space),
            view,
            lambda: self.play_button.toggle(),
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )

    def set_range(self, maximum: int, value: int, label: str) -> None:
        """Set the slider's range, position and date label without emitting a move."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, maximum)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self.date_label.setText(label)

    def is_playing(self) -> bool:
        """Whether the timeline is playing now."""
        return self.timer.isActive()

    def set_playing(self, playing: bool) -> None:
        """Start or stop timeline playback (Space toggles)."""
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)
            return
        if playing and self.enabled:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.retime()
            self.timer.start()
            self.play_button.setText(PAUSE)
        else:
            self.timer.stop()
            self.play_button.setText(PLAY)
            self.stopped.emit()

    def retime(self) -> None:
        """Follow the speed choice: frames per second, and days skipped above 30 fps."""
        speed = float(self.speed.currentData() or 1.0)
        fps = (WEEKLY_FPS if self.weekly else BASE_FPS) * speed
        self.timer.setInterval(max(33, round(1000.0 / fps)))
        self._step = max(1, round(fps / 30.0)) if fps > 30 else 1

    def _tick(self) -> None:
        value = self.slider.value() + self._step
        if value > self.slider.maximum():
            self.slider.setValue(self.slider.maximum())
            self.set_playing(False)
            return
        self.slider.setValue(value)
