"""The base of every patient panel: the workspace tabs and the feature panels of ui.panels.

A panel holds the session (context, principal), the patient it shows and the TaskManager its
work runs on; it loads in the background, drops its PHI on ``clear`` and says which record
types make it stale. The workspace talks to every tab through these methods only, so there is
no probing of attributes and no reading of another panel's private state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QListWidget, QVBoxLayout, QWidget

from app.core.domain import Principal
from app.core.errors import AuthenticationError, NotFoundError
from app.core.events import EventBus, PatientDataUpdated
from app.services.context import AppContext
from ui.bus import EventBridge
from ui.tasks import TaskManager, user_message

ALL_RECORDS: frozenset[str] = frozenset({"*"})


def when(dt: datetime | None) -> str:
    """A stored instant in the user's local time, to the minute."""
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else ""


def padded_layout(widget: QWidget) -> QVBoxLayout:
    """The vertical layout of a tab with the workspace's 12 px padding."""
    lay = QVBoxLayout(widget)
    lay.setContentsMargins(12, 12, 12, 12)
    return lay


def select_item(widget: QListWidget, key: object) -> None:
    """Make the list item whose UserRole data is ``key`` current (no-op if absent)."""
    for i in range(widget.count()):
        if widget.item(i).data(Qt.ItemDataRole.UserRole) == key:
            widget.setCurrentRow(i)
            return


class Panel(QWidget):
    """A widget that runs service calls for one signed-in user on a TaskManager.

    Without a TaskManager (tests, screenshots, a dialog of its own) it makes one, owned by the
    panel, and waits for it when the panel closes.
    """

    error = Signal(str)  # a failure the panel does not show itself, in the user's words

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal | None,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal = ctx, principal
        self._owns_tasks = tasks is None
        self.tasks: TaskManager = tasks if tasks is not None else TaskManager(None, parent=self)
        self._build()

    def _build(self) -> None:
        """Lay out the widgets (override); the last step of the constructor, so subclasses
        need no constructor of their own."""

    @property
    def user(self) -> Principal:
        """The signed-in principal; panels do work only while someone is signed in."""
        if self.principal is None:
            raise AuthenticationError("Sign in first.")
        return self.principal

    def show_error(self, exc: BaseException) -> None:
        """Report a failure to whoever shows errors (the workspace relays it to the shell)."""
        self.error.emit(user_message(exc))

    def shutdown(self) -> None:
        """Stop this panel's own background work (window closing, another user signs in)."""
        if self._owns_tasks:
            self.tasks.cancel_all()
            self.tasks.wait()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt API
        self.shutdown()
        super().closeEvent(event)


class PatientPanel(Panel):
    """A panel that shows one patient and reloads when that patient's data changes.

    ``record_types`` are the PatientDataUpdated record types that make the panel stale
    (``ALL_RECORDS`` for every type). ``loaded_for`` is the patient whose data is on screen.
    """

    record_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal | None,
        patient_id: str | None = None,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        self.patient_id = patient_id  # set before the base constructor runs _build
        self.loaded_for: str | None = None
        self._bridge: EventBridge | None = None
        super().__init__(ctx, principal, tasks, parent)
        if patient_id:
            self.load()

    @property
    def patient(self) -> str:
        """The id of the patient shown; work on a patient runs only while one is open."""
        if self.patient_id is None:
            raise NotFoundError("No patient is open.")
        return self.patient_id

    # -- the protocol the workspace uses ----------------------------------------------------
    def set_patient(self, patient_id: str | None, *, load: bool = True) -> None:
        """Show another patient: drop what was shown, then load (unless told not to)."""
        self.patient_id = patient_id
        self.clear()
        if patient_id and load:
            self.load()

    def load(self) -> None:
        """Fetch this panel's data for the current patient (override)."""

    def clear(self) -> None:
        """Drop PHI held by the widgets (lock, sign-out, patient switch)."""
        self.loaded_for = None

    def relevant(self, record_type: str) -> bool:
        """Whether a PatientDataUpdated of this record type should reload the panel."""
        return self.record_types is ALL_RECORDS or record_type in self.record_types

    def has_unsaved_changes(self) -> bool:
        """Whether the user has typed something a reload would overwrite."""
        return False

    def keep_unsaved(self) -> None:
        """Keep unsaved work (as an encrypted draft) before the patient closes."""

    # -- events ------------------------------------------------------------------------------
    def on_data_updated(self, patient_id: str, record_type: str) -> None:
        """Mark the panel stale for a change of its patient; reload it when visible."""
        if patient_id != self.patient_id or not self.relevant(record_type):
            return
        self.loaded_for = None
        if self.isVisible() and not self.has_unsaved_changes():
            self.load()

    def follow(self, bus: EventBus) -> None:
        """Refresh on the core's events by itself (a panel used outside the workspace)."""
        if self._bridge is None:
            self._bridge = EventBridge(bus, parent=self, types=(PatientDataUpdated,))
            self._bridge.patient_data_updated.connect(
                lambda e: self.on_data_updated(e.patient_id, e.record_type)
            )

    # -- background work ---------------------------------------------------------------------
    def fetch(
        self,
        fn: Callable[[AppContext, Principal, str], Any],
        label: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Load ``fn(ctx, principal, patient_id)``, the shape of the service's patient reads."""
        pid = self.patient_id
        self.call(
            fn, self.ctx, self.principal, pid, label=label, on_done=on_done, on_error=on_error
        )

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        loads: bool = True,
    ) -> None:
        """Run a service call; its result is shown only if the patient is still the same.
        ``loads=False`` for a side fetch whose arrival must not mark the panel loaded."""
        pid = self.patient_id

        def done(result: Any) -> None:
            if self.patient_id == pid:  # the patient may have changed meanwhile
                if loads:
                    self.loaded_for = pid
                on_done(result)

        self.tasks.call(fn, *args, label=label, on_done=done, on_error=on_error)
