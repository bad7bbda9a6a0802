"""Sign-in, first-run and lock pages (widgets only; the shell controller does the calls)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from ui.widgets import label, primary_button


def _centered(card: QWidget, parent: QWidget) -> None:
    outer = QVBoxLayout(parent)
    outer.addStretch(1)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(card)
    row.addStretch(1)
    outer.addLayout(row)
    outer.addStretch(2)


def _line(placeholder: str, accessible: str, *, password: bool = False) -> QLineEdit:
    e = QLineEdit()
    e.setPlaceholderText(placeholder)
    e.setAccessibleName(accessible)
    e.setMinimumWidth(280)
    if password:
        e.setEchoMode(QLineEdit.EchoMode.Password)
    return e


def _button_row(secondary: QPushButton, primary: QPushButton) -> QHBoxLayout:
    """The secondary action on the left, the primary one on the right."""
    row = QHBoxLayout()
    row.addWidget(secondary)
    row.addStretch(1)
    row.addWidget(primary)
    return row


class _Page(QWidget):
    """A page with one hidden-until-needed message line."""

    def _card(self, width: int) -> QVBoxLayout:
        """The centred card the page's content goes in; returns its layout."""
        card = QFrame()
        card.setObjectName("loginCard")
        card.setFixedWidth(width)
        lay = QVBoxLayout(card)
        lay.setContentsMargins(32, 28, 32, 28)
        lay.setSpacing(10)
        _centered(card, self)
        return lay

    def _add_message(self, lay: QVBoxLayout) -> None:
        self.message = label("", "error", wrap=True)
        self.message.hide()
        lay.addWidget(self.message)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))


class LoginPage(_Page):
    """User name, password and — once the core asks for it — the TOTP code."""

    submitted = Signal(str, str, str)  # username, password, totp ('' if not shown)

    def __init__(self, store_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = self._card(420)
        lay.addWidget(label("Novamind", "h1"))
        lay.addWidget(label("Sign in to the clinician workstation", "muted"))
        lay.addSpacing(8)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.username = _line("user name", "User name")
        self.password = _line("password", "Password", password=True)
        self.totp = _line("6-digit code", "Authenticator code")
        self.totp.setMaxLength(8)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        self.totp_label = label("Code")
        form.addRow(self.totp_label, self.totp)
        lay.addLayout(form)
        self._add_message(lay)
        self.message.setAccessibleName("Sign-in message")
        self.button = primary_button("&Sign in", "Sign in")
        lay.addWidget(self.button)
        lay.addSpacing(6)
        self.footer = label(f"Store: {store_label} · version {__version__}", "muted", wrap=True)
        lay.addWidget(self.footer)
        self.show_totp(False)
        self.button.clicked.connect(self._submit)
        for e in (self.username, self.password, self.totp):
            e.returnPressed.connect(self._submit)

    def show_totp(self, on: bool) -> None:
        self.totp.setVisible(on)
        self.totp_label.setVisible(on)
        if on:
            self.totp.setFocus()

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.button.setText("Signing in…" if busy else "Sign in")

    def reset(self) -> None:
        """Clear secrets (after sign-in or sign-out)."""
        self.password.clear()
        self.totp.clear()
        self.show_totp(False)
        self.show_message("")
        self.set_busy(False)

    def _submit(self) -> None:
        if not self.button.isEnabled():
            return
        totp = self.totp.text().strip() if self.totp.isVisible() else ""
        self.submitted.emit(self.username.text().strip(), self.password.text(), totp)


class FirstRunPage(_Page):
    """No accounts yet: create the clinic's first administrator, or open the demo clinic."""

    create_admin = Signal(str, str, str)  # username, display name, password
    open_demo = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = self._card(480)
        lay.addWidget(label("Welcome to Novamind", "h1"))
        lay.addWidget(
            label(
                "This workstation has no accounts yet. Create the clinic's first administrator, "
                "or explore the demo clinic (fictional patients, clearly marked synthetic).",
                "muted",
                wrap=True,
            )
        )
        form = QFormLayout()
        self.username = _line("e.g. admin", "Administrator user name")
        self.display = _line("e.g. Clinic Administrator", "Administrator display name")
        self.password = _line("at least 12 characters", "Password", password=True)
        self.repeat = _line("repeat the password", "Repeat password", password=True)
        form.addRow("User name", self.username)
        form.addRow("Name", self.display)
        form.addRow("Password", self.password)
        form.addRow("Repeat", self.repeat)
        lay.addLayout(form)
        self._add_message(lay)
        self.demo_button = QPushButton("Open the &demo clinic")
        self.demo_button.setAccessibleName("Open the demo clinic")
        self.create_button = primary_button("&Create administrator", "Create administrator")
        lay.addLayout(_button_row(self.demo_button, self.create_button))
        self.create_button.clicked.connect(self._create)
        self.demo_button.clicked.connect(self.open_demo)

    def set_busy(self, busy: bool) -> None:
        self.create_button.setEnabled(not busy)
        self.demo_button.setEnabled(not busy)

    def _create(self) -> None:
        if self.password.text() != self.repeat.text():
            self.show_message("The two passwords differ.")
            return
        self.create_admin.emit(
            self.username.text().strip(), self.display.text().strip(), self.password.text()
        )


class LockPage(_Page):
    """Covers the whole window while locked: no patient data, only who may unlock."""

    unlock = Signal(str)
    sign_out = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockPage")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        box = QWidget()
        box.setFixedWidth(400)
        lay = QVBoxLayout(box)
        lay.setSpacing(12)
        lay.addWidget(label("Novamind is locked", "h1"))
        self.who = label("", wrap=True)
        lay.addWidget(self.who)
        lay.addWidget(
            label(
                "Patient information is hidden. Unsaved work was kept as an encrypted draft.",
                wrap=True,
            )
        )
        self.password = _line("password", "Password to unlock", password=True)
        lay.addWidget(self.password)
        self._add_message(lay)
        self.sign_out_button = QPushButton("Sign &out")
        self.sign_out_button.setAccessibleName("Sign out")
        self.unlock_button = primary_button("&Unlock", "Unlock")
        lay.addLayout(_button_row(self.sign_out_button, self.unlock_button))
        _centered(box, self)
        self.unlock_button.clicked.connect(lambda: self.unlock.emit(self.password.text()))
        self.password.returnPressed.connect(lambda: self.unlock.emit(self.password.text()))
        self.sign_out_button.clicked.connect(self.sign_out)

    def prepare(self, display_name: str, username: str) -> None:
        self.who.setText(f"Signed in as {display_name} ({username}). Enter your password to go on.")
        self.password.clear()
        self.show_message("")
        self.password.setFocus()

    def set_busy(self, busy: bool) -> None:
        self.unlock_button.setEnabled(not busy)
