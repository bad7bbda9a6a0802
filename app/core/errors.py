"""User-facing error types.

Every message here may be shown to a clinician or IT: it names the file or setting and the
problem, and never carries PHI (no names, no note text, no answers).
"""

from __future__ import annotations


class NovamindError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or self.hint

    def user_message(self) -> str:
        """The message plus its fix hint, as shown in dialogs and the CLI."""
        msg = str(self)
        return f"{msg}\nHint: {self.hint}" if self.hint else msg


class ConfigError(NovamindError):
    """A settings or policy file is malformed or holds an invalid value."""


class KeyringUnavailableError(NovamindError):
    """The OS keyring is missing, locked or refused access."""

    hint = "Unlock the system keyring (or ask IT to install one), then start Novamind again."


class StoreKeyError(NovamindError):
    """The database key does not open the store (wrong key or corrupted file)."""


class StoreError(NovamindError):
    """The encrypted store cannot be opened or migrated."""


class ValidationError(NovamindError):
    """Input from outside (file, form, bundle) failed validation; nothing was changed."""


class AuthenticationError(NovamindError):
    """Login failed: wrong credentials, locked account or missing second factor."""


class AccountLockedError(AuthenticationError):
    """Too many failed attempts: the account is locked until an admin resets it."""


class PermissionDeniedError(NovamindError):
    """The signed-in user's role or care team does not allow this action."""


class NotFoundError(NovamindError):
    """A record does not exist (or is not visible to this user)."""


class ImmutableRecordError(NovamindError):
    """A signed clinical record cannot be edited; write an amendment instead."""
