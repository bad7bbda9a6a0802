"""A plaintext file keyring like keyrings.alt.file.PlaintextKeyring (not installed here): what
an insecure set-up looks like. Tests point PYTHON_KEYRING_BACKEND at it to show the app refuses
it; unlike tests.support.keyring_backends, importing it allows nothing."""

from __future__ import annotations

from tests.support.json_file_keyring import JsonFileKeyring


class PlaintextKeyring(JsonFileKeyring):
    """Entries in a JSON file anyone with the OS account can read."""
