"""Change-password dialog: the signed-in user sets a new password (the core re-checks the old).

The policy (length, differs from the old one) and the lockout live in the core
(``auth.change_password``); the dialog only checks that the two new entries match.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
)

from app.core.security.passwords import MIN_PASSWORD_LENGTH
from app.services import auth
from ui.dialogs import ServiceDialog
from ui.tasks import user_message
from ui.widgets import label


def _secret(accessible: str, placeholder: str = "") -> QLineEdit:
    e = QLineEdit()
    e.setEchoMode(QLineEdit.EchoMode.Password)
    e.setAccessibleName(accessible)
    e.setPlaceholderText(placeholder)
    e.setMinimumWidth(260)
    return e


class PasswordDialog(ServiceDialog):
    """Current password, new password twice; accepted once the core changed it."""

    title = "Change password"

    def build(self) -> None:  # noqa: D102
        lay = QVBoxLayout(self)
        lay.addWidget(label(f"Change the password of {self.principal.username}.", wrap=True))
        form = QFormLayout()
        self.old = _secret("Current password")
        self.new = _secret("New password", f"at least {MIN_PASSWORD_LENGTH} characters")
        self.repeat = _secret("Repeat new password")
        form.addRow("Current", self.old)
        form.addRow("New", self.new)
        form.addRow("Repeat", self.repeat)
        lay.addLayout(form)
        self.message = label("", "error", wrap=True)
        self.message.setAccessibleName("Change-password message")
        self.message.hide()
        lay.addWidget(self.message)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Change password")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.old.setFocus()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def submit(self) -> None:
        """Check the repeat locally, then let the core validate and change (in the background)."""
        if not self.ok_button.isEnabled():
            return
        if self.new.text() != self.repeat.text():
            self.show_message("The two new passwords differ.")
            return
        self.ok_button.setEnabled(False)
        self.show_message("")
        self.tasks.call(
            auth.change_password,
            self.ctx,
            self.principal,
            self.old.text(),
            self.new.text(),
            label="Changing password",
            on_done=self._changed,
            on_error=self._failed,
        )

    def _changed(self, _result: object) -> None:
        self._clear()
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.ok_button.setEnabled(True)
        self.old.clear()
        self.show_message(user_message(exc))

    def _clear(self) -> None:
        for e in (self.old, self.new, self.repeat):
            e.clear()

    def reject(self) -> None:  # noqa: D102 — also clears the secrets
        self._clear()
        super().reject()
