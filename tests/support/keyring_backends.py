"""Keyring backends for tests only (the one real Secret Service test uses gnome-keyring).

MemoryKeyring lives in one process. FileKeyring keeps entries in a JSON file named by
NOVAMIND_TEST_KEYRING_FILE so child processes of a test (CLI runs, crash tests) share them.
Neither is ever used by the application itself, and neither is an OS secure store, so the app
refuses them unless allowed by class name (setting keyring_backends_allowed). Importing this
module is that explicit allowance for tests and developer scripts: it marks the process (and its
children) as a development run (NOVAMIND_DEV=1, never honoured by a frozen bundle) whose
environment allows exactly these two backends.
"""

from __future__ import annotations

import os

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from tests.support.json_file_keyring import JsonFileKeyring

TEST_BACKENDS = (
    "tests.support.keyring_backends.MemoryKeyring",
    "tests.support.keyring_backends.FileKeyring",
)


def allow_test_backends(environ: os._Environ[str] | dict[str, str] = os.environ) -> None:
    """Development mode, with the test backends added to keyring_backends_allowed."""
    environ["NOVAMIND_DEV"] = "1"
    name = "NOVAMIND_KEYRING_BACKENDS_ALLOWED"
    current = [n for n in environ.get(name, "").split(os.pathsep) if n]
    environ[name] = os.pathsep.join(dict.fromkeys([*current, *TEST_BACKENDS]))


allow_test_backends()


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class FileKeyring(JsonFileKeyring):
    """Entries in the JSON file NOVAMIND_TEST_KEYRING_FILE, shared with child processes."""
