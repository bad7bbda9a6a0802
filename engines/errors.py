"""The engines' own error types.

The engines are a self-contained scientific library: they import nothing from the app. They
raise these types; the service layer translates them into the app's user-facing errors at its
boundary (``app.services._engine_errors``). Every message may be shown to a clinician or IT as
it is, so it names the file, field or item and the problem, never PHI.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: an expected engine failure with a message fit for the user."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or self.hint


class InputError(EngineError):
    """Input (file, bundle, answers, snapshot) failed validation; nothing was computed."""


class EngineConfigError(EngineError):
    """A configuration file the engine reads (manifest, feature spec) is malformed."""


class MissingError(EngineError):
    """A requested item (model, version) does not exist."""
