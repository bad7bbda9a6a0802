"""A questionnaire form generated from an instrument definition (no per-instrument code).

Two presentations of the same logic:

* ``large=True`` — patient self-report: one question at a time, big calm answer buttons, plain
  words (no item codes, no scores);
* ``large=False`` — clinician entry: every asked question in one compact scrolling form.

Keyboard (both): a digit picks the answer with that value, ↑/↓ (or ←/→) move between answers,
Enter goes to the next question (on the last one it finishes), Backspace goes back, Ctrl+Enter
submits. Skip logic comes from the definition: questions the rules do not ask are hidden and their
answers dropped, exactly as the engine will validate them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import ValidationError
from app.services.instrument_catalog import Instrument, asked_items, check_response

if TYPE_CHECKING:
    from engines.scoring.definitions import Item

DIGITS = {getattr(Qt.Key, f"Key_{d}"): d for d in range(10)}
ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def option_text(value: int, label: str) -> str:
    """An answer's text with its key (labels like '2 - mild' already carry it)."""
    return label if label.split(" ")[0] == str(value) else f"{value}   {label}"


class ItemWidget(QFrame):
    """One question with its answer buttons; digits and arrows choose, other keys bubble up."""

    answered = Signal(str, object)  # item id, value or None

    def __init__(
        self, item: Item, number: int, *, large: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.item = item
        self.number = number
        self.large = large
        self.value: int | None = None
        self.setObjectName("itemLarge" if large else "itemCompact")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setProperty("invalid", "false")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(*(24, 20, 24, 20) if large else (10, 6, 10, 8))
        lay.setSpacing(14 if large else 4)
        text = item.text if large else f"{number}.  {item.text}"
        self.question = QLabel(text)
        self.question.setObjectName("questionLarge" if large else "questionCompact")
        self.question.setWordWrap(True)
        self.question.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.question)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[int, QPushButton] = {}
        row = QVBoxLayout() if large else QHBoxLayout()
        row.setSpacing(10 if large else 6)
        for opt in item.options:
            b = QPushButton(option_text(opt.value, opt.label))
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the question holds focus; keys choose
            b.setObjectName("optionLarge" if large else "optionCompact")
            b.setAccessibleName(opt.label)
            b.setSizePolicy(
                QSizePolicy.Policy.Expanding if large else QSizePolicy.Policy.Maximum,
                QSizePolicy.Policy.Fixed,
            )
            self.group.addButton(b, opt.value)
            self.buttons[opt.value] = b
            row.addWidget(b)
        if not large:
            row.addStretch(1)
        lay.addLayout(row)
        self.group.idClicked.connect(self._clicked)
        self.setAccessibleName(f"Question {number}: {item.text}")
        self._describe()

    def _describe(self) -> None:
        if self.value is None:
            self.setAccessibleDescription("not answered")
        else:
            self.setAccessibleDescription(f"answer: {self.item.option(self.value).label}")

    def _clicked(self, value: int) -> None:
        self.set_value(value)
        self.setFocus(Qt.FocusReason.MouseFocusReason)

    def set_value(self, value: int | None, *, emit: bool = True) -> None:
        """Select an answer (None clears it)."""
        if value is not None and value not in self.buttons:
            return
        self.value = value
        self.group.setExclusive(False)
        for v, b in self.buttons.items():
            b.setChecked(v == value)
        self.group.setExclusive(True)
        self.set_invalid(False)
        self._describe()
        if emit:
            self.answered.emit(self.item.id, value)

    def set_invalid(self, on: bool) -> None:
        """Mark the question as the one the validation message is about."""
        self.setProperty("invalid", "true" if on else "false")
        self.style().unpolish(self)
        self.style().polish(self)

    def step(self, delta: int) -> None:
        """Move the selection to the previous/next answer."""
        values = [o.value for o in self.item.options]
        if self.value is None:
            self.set_value(values[0] if delta > 0 else values[-1])
            return
        i = values.index(self.value) + delta
        self.set_value(values[max(0, min(len(values) - 1, i))])

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 — Qt override
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods == Qt.KeyboardModifier.NoModifier and key in DIGITS:
            if DIGITS[key] in self.buttons:
                self.set_value(DIGITS[key])
            event.accept()
            return
        if mods == Qt.KeyboardModifier.NoModifier and key in (Qt.Key.Key_Down, Qt.Key.Key_Right):
            self.step(+1)
            event.accept()
            return
        if mods == Qt.KeyboardModifier.NoModifier and key in (Qt.Key.Key_Up, Qt.Key.Key_Left):
            self.step(-1)
            event.accept()
            return
        event.ignore()  # Enter, Backspace, Ctrl+Enter go to the form


class InstrumentForm(QWidget):
    """The generated form. Emits ``submitted(answers)`` once the engine's check passes."""

    submitted = Signal(dict)
    current_changed = Signal(int, int)  # position among asked questions (1-based), count

    def __init__(self, inst: Instrument, *, large: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inst = inst
        self.large = large
        self.answers: dict[str, int] = {}
        self.items: dict[str, ItemWidget] = {}
        self._current: str = inst.items[0].id
        self.setObjectName("instrumentForm")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(8)
        self.message = QLabel("")
        self.message.setObjectName("formMessage")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Form message")
        self.message.hide()
        for n, item in enumerate(inst.items, start=1):
            w = ItemWidget(item, n, large=large)
            w.answered.connect(self._answered)
            self.items[item.id] = w
        if large:
            self.stack = QStackedWidget()
            for w in self.items.values():
                self.stack.addWidget(w)
            outer.addWidget(self.stack, 1)
            outer.addWidget(self.message)
        else:
            body = QWidget()
            body.setObjectName("compactBody")
            col = QVBoxLayout(body)
            col.setContentsMargins(4, 4, 4, 4)
            col.setSpacing(2)
            for w in self.items.values():
                col.addWidget(w)
                w.installEventFilter(self)
            col.addStretch(1)
            self.scroll_area = QScrollArea()
            self.scroll_area.setWidgetResizable(True)
            self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
            self.scroll_area.setWidget(body)
            outer.addWidget(self.message)
            outer.addWidget(self.scroll_area, 1)
        self._apply_skip_logic()
        self._show(self._current)

    # -- state ---------------------------------------------------------------------------
    def asked(self) -> list[str]:
        """Ids of the questions currently asked (skip logic applied to the answers so far)."""
        return asked_items(self.inst, self.answers)

    @property
    def current(self) -> str:
        """The item id of the question with the keyboard's attention."""
        return self._current

    def response(self) -> dict[str, int]:
        """Answers to asked questions only, as the engine expects them."""
        asked = set(self.asked())
        return {k: v for k, v in self.answers.items() if k in asked}

    def _answered(self, item_id: str, value: int | None) -> None:
        if value is None:
            self.answers.pop(item_id, None)
        else:
            self.answers[item_id] = int(value)
        self._apply_skip_logic()
        self.clear_message()

    def _apply_skip_logic(self) -> None:
        asked = set(self.asked())
        for item_id, w in self.items.items():
            if item_id not in asked and item_id in self.answers:
                del self.answers[item_id]
                w.set_value(None, emit=False)
            if not self.large:
                w.setVisible(item_id in asked)
        self._emit_position()

    def _emit_position(self) -> None:
        asked = self.asked()
        pos = asked.index(self._current) + 1 if self._current in asked else 0
        self.current_changed.emit(pos, len(asked))

    def _show(self, item_id: str) -> None:
        self._current = item_id
        w = self.items[item_id]
        if self.large:
            self.stack.setCurrentWidget(w)
        else:
            self.scroll_area.ensureWidgetVisible(w, 0, 24)
        if self.isVisible() or self.large:
            w.setFocus(Qt.FocusReason.OtherFocusReason)
        self._emit_position()

    def focus_current(self) -> None:
        """Give the current question the keyboard focus (after the form is shown)."""
        self.items[self._current].setFocus(Qt.FocusReason.OtherFocusReason)

    # -- navigation -----------------------------------------------------------------------
    def next(self) -> None:
        """Enter: the next asked question; on the last one, finish."""
        asked = self.asked()
        i = asked.index(self._current) if self._current in asked else -1
        if (
            self.large
            and self._current not in self.answers
            and self.inst.item(self._current).required
        ):
            self.show_message("Please choose one of the answers, then press Enter.")
            return
        if i + 1 < len(asked):
            self._show(asked[i + 1])
        else:
            self.submit()

    def previous(self) -> None:
        """Backspace: the previous asked question."""
        asked = self.asked()
        i = asked.index(self._current) if self._current in asked else 0
        if i > 0:
            self.clear_message()
            self._show(asked[i - 1])

    def submit(self) -> None:
        """Ctrl+Enter: check the response with the engine; emit it when it is complete."""
        response = self.response()
        try:
            check_response(self.inst, response)
        except ValidationError as exc:
            self.show_validation(str(exc))
            return
        self.clear_message()
        self.submitted.emit(response)

    def show_validation(self, engine_message: str) -> None:
        """Show the engine's message (clinician) or a plain one (patient) at the question."""
        missing = next(
            (i for i in self.asked() if i not in self.answers and self.inst.item(i).required),
            None,
        )
        if missing is not None:
            self.items[missing].set_invalid(True)
            self._show(missing)
        if self.large:
            self.show_message(
                "Please answer this question before finishing."
                if missing
                else "Some answers could not be accepted. Please ask your clinician."
            )
        else:
            self.show_message(engine_message)

    def show_message(self, text: str) -> None:
        """A clear, polite message above (clinician) or below (patient) the questions."""
        self.message.setText(text)
        self.message.show()

    def clear_message(self) -> None:
        """Hide the message."""
        self.message.hide()
        self.message.setText("")

    # -- keys ------------------------------------------------------------------------------
    def handle_key(self, event: QKeyEvent) -> bool:
        """Enter / Backspace / Ctrl+Enter; True if handled."""
        key = event.key()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key in ENTER and ctrl:
            self.submit()
            return True
        if key in ENTER:
            self.next()
            return True
        if key == Qt.Key.Key_Backspace:
            self.previous()
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 — Qt override
        if self.handle_key(event):
            event.accept()
        else:
            super().keyPressEvent(event)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt override
        # Clinician form: the question that gets focus (Tab, click) becomes the current one.
        if event.type() == QEvent.Type.FocusIn and isinstance(obj, ItemWidget):
            self._current = obj.item.id
            self._emit_position()
        return False
