"""The window's session state machine: first run → sign-in → session ⇄ lock → sign-out.

What the signed-in user may use comes from the service layer (`access.permissions`), and how
many wrong passwords the lock screen takes before it signs out from the policy
(`unlock_max_attempts`); the UI decides neither.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication, QDialog

from app.core.domain import Principal
from app.core.errors import AccountLockedError, AuthenticationError
from app.services import auth, firstrun
from app.services.access import Feature, permissions
from app.services.auth import SecondFactorRequiredError, SessionEndedError
from ui.tasks import user_message

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer

    from app.core.config import Settings
    from app.services.context import AppContext
    from ui.idle import IdleWatcher
    from ui.login import FirstRunPage, LockPage, LoginPage
    from ui.patients import PatientListPanel
    from ui.tasks import TaskManager
    from ui.workspace import PatientWorkspace

log = logging.getLogger(__name__)
SESSION_CHECK_MS = 60_000  # re-read the account's role and active flag every minute


class Page(IntEnum):
    """The window's central pages, in stack order."""

    LOGIN = 0
    FIRST_RUN = 1
    MAIN = 2
    LOCK = 3


PAGE_LOGIN, PAGE_FIRST_RUN, PAGE_MAIN, PAGE_LOCK = Page  # the names callers import


class SessionController:
    """Sign-in, lock, unlock and sign-out for the shell window (mixed into ShellWindow).

    The window provides the pages, the task manager and `_enter_session` / `_set_page` /
    `_set_badge` / `show_error`; this class holds who is signed in and what they may use.
    """

    ctx: AppContext
    settings: Settings
    tasks: TaskManager
    idle: IdleWatcher
    session_timer: QTimer
    login_page: LoginPage
    first_run_page: FirstRunPage
    lock_page: LockPage
    patient_list: PatientListPanel
    workspace: PatientWorkspace

    if TYPE_CHECKING:  # provided by the window

        def _set_page(self, page: Page) -> None: ...
        def _enter_session(self, principal: Principal) -> None: ...
        def _leave_session(self) -> None: ...
        def _set_badge(self, n: int) -> None: ...

    def _init_session(self) -> None:
        self.principal: Principal | None = None
        self.features: frozenset[Feature] = frozenset()
        self._locked_as: Principal | None = None
        self._reopen: str | None = None
        self._unlock_failures = 0

    def may(self, feature: Feature) -> bool:
        """Whether the signed-in user may use `feature` (asked of the service layer at sign-in)."""
        return self.principal is not None and feature in self.features

    def call_as_user(
        self,
        fn: Callable[..., object],
        *args: object,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> bool:
        """Run the service call `fn(ctx, principal, *args)` for the signed-in user in the
        background; False (and nothing runs) when nobody is signed in."""
        who = self.principal
        if who is None:
            return False
        self.tasks.call(fn, self.ctx, who, *args, label=label, on_done=on_done, on_error=on_error)
        return True

    # -- first run ----------------------------------------------------------------------------
    def _first_run_call(
        self,
        fn: Callable[..., object],
        label: str,
        done: Callable[[object], None],
        **kwargs: object,
    ) -> None:
        """Run a first-run service call with the page busy meanwhile and its error shown."""
        page = self.first_run_page
        page.set_busy(True)

        def finished(result: object) -> None:
            page.set_busy(False)
            self._set_page(Page.LOGIN)
            self.login_page.show_message("")
            done(result)

        def failed(exc: BaseException) -> None:
            page.set_busy(False)
            page.show_message(user_message(exc))

        self.tasks.call(fn, self.ctx, label=label, on_done=finished, on_error=failed, **kwargs)

    def _create_admin(self, username: str, display: str, password: str) -> None:
        def done(_user: object) -> None:
            self.login_page.username.setText(username)
            self.login_page.password.setFocus()

        self._first_run_call(
            firstrun.create_first_admin,
            "Creating administrator",
            done,
            username=username,
            display_name=display,
            password=password,
        )

    def _open_demo(self, patients_n: int = 24) -> None:
        from app.demo import DEMO_PASSWORD, create_demo_clinic

        def done(_summary: object) -> None:
            self.login_page.username.setText("dr.adams")
            self.login_page.footer.setText(
                f"Demo clinic (synthetic): sign in as dr.adams or sup.davis, password "
                f"'{DEMO_PASSWORD}'."
            )

        self._first_run_call(
            create_demo_clinic, "Creating the demo clinic", done, patients=patients_n
        )

    # -- sign-in -----------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, totp: str) -> None:
        if not username or not password:
            self.login_page.show_message("Enter your user name and password.")
            return
        self.login_page.set_busy(True)
        self.tasks.call(
            auth.login,
            self.ctx,
            username,
            password,
            totp or None,
            label="Signing in",
            on_done=self._signed_in,
            on_error=self._sign_in_failed,
        )

    def _sign_in_failed(self, exc: BaseException) -> None:
        page = self.login_page
        page.set_busy(False)
        page.password.selectAll()
        if isinstance(exc, SecondFactorRequiredError):
            page.show_totp(True)
            page.show_message(str(exc))
        elif isinstance(exc, AccountLockedError):
            page.show_message(exc.user_message())
            page.password.clear()
        elif isinstance(exc, AuthenticationError):
            page.show_message(exc.user_message())
            if page.totp.isVisible():
                page.totp.clear()
        else:
            page.show_message(user_message(exc))

    def _signed_in(self, principal: Principal) -> None:
        self.principal = principal
        self.features = permissions(principal)
        self.login_page.reset()
        self._unlock_failures = 0
        self._enter_session(principal)
        self.idle.start()
        self.session_timer.start()
        if self._reopen:
            pid, self._reopen = self._reopen, None
            self.open_patient(pid)

    if TYPE_CHECKING:

        def open_patient(self, patient_id: str) -> None: ...

    # -- lock and sign-out -------------------------------------------------------------------------
    def _drop_session_views(self) -> None:
        """Keep drafts, close dialogs, and remove every piece of PHI from the widgets."""
        self.workspace.close_patient(save=True)
        self.patient_list.model.clear()
        self.patient_list.search.clear()
        self._set_badge(0)
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QDialog) and w.isVisible():
                w.reject()

    def lock(self) -> None:
        """Cover the window: PHI hidden, principal dropped until the password is re-entered."""
        if self.principal is None:
            return
        self.idle.stop()
        self.session_timer.stop()
        self._reopen = self.workspace.patient_id
        self._locked_as, self.principal = self.principal, None
        self._drop_session_views()
        self.lock_page.prepare(self._locked_as.display_name, self._locked_as.username)
        self._set_page(Page.LOCK)
        log.info("session locked")

    def unlock(self, password: str) -> None:
        who = self._locked_as
        if who is None or not password:
            return
        self.lock_page.set_busy(True)

        def done(ok: bool) -> None:
            self.lock_page.set_busy(False)
            if self._locked_as is not who:
                return  # signed out while the check ran
            if ok:
                self._locked_as = None
                self._signed_in(who)
                return
            # wrong password or locked account (the core counts it toward the lockout)
            self._unlock_failures += 1
            if self._unlock_failures >= self.settings.unlock_max_attempts:
                self.sign_out()
                self.login_page.show_message("Signed out after too many failed unlocks.")
            else:
                self.lock_page.show_message(auth.GENERIC)
                self.lock_page.password.clear()

        def failed(exc: BaseException) -> None:
            self.lock_page.set_busy(False)
            if isinstance(exc, SessionEndedError):
                self._session_ended(exc)
                return
            self.lock_page.show_message(user_message(exc))

        self.tasks.call(
            auth.verify_unlock,
            self.ctx,
            who,
            password,
            label="Unlocking",
            on_done=done,
            on_error=failed,
        )

    # -- session re-check ----------------------------------------------
    def check_session(self) -> None:
        """Re-read role and active flag; a deactivated or re-roled account is signed out."""
        who = self.principal
        if who is None:
            return
        self.tasks.call(
            auth.refresh,
            self.ctx,
            who,
            label="Checking session",
            on_done=lambda _p: None,
            on_error=lambda exc: self._session_check_failed(who, exc),
        )

    def _session_check_failed(self, who: Principal, exc: BaseException) -> None:
        current = self.principal or self._locked_as
        if current is None or current.user_id != who.user_id:
            return  # a later session: not this check's business
        if isinstance(exc, SessionEndedError):
            self._session_ended(exc)
        else:
            log.warning("session check failed: %s", type(exc).__name__)

    def _session_ended(self, exc: SessionEndedError) -> None:
        self.sign_out()
        self.login_page.show_message(exc.user_message())

    def sign_out(self) -> None:
        self.idle.stop()
        self.session_timer.stop()
        if self.principal is not None:
            self._drop_session_views()
        self.principal = self._locked_as = None
        self.features = frozenset()
        self._reopen = None
        self._leave_session()
        self.login_page.reset()
        self._set_page(Page.LOGIN)
