"""Run inside a dbus session with gnome-keyring: open a store twice via the real Secret Service."""

from __future__ import annotations

import sys

import keyring
from keyring.backends import SecretService

from app.core.config import load_settings
from app.core.security import keys
from app.services.context import AppContext


def main() -> None:
    keyring.set_keyring(SecretService.Keyring())
    env = {"NOVAMIND_DATA_DIR": sys.argv[1], "NOVAMIND_POLICY": sys.argv[1] + "/none.toml"}
    settings = load_settings(env)
    ctx = AppContext.open(settings)
    ctx.close()
    stored = keyring.get_password(settings.keyring_service, f"db:{keys.store_id(settings.db_path)}")
    assert stored and len(bytes.fromhex(stored)) == 32
    reopened = AppContext.open(settings, create=False)
    reopened.close()
    print(f"OK {keys.keyring_backend_name()}")


if __name__ == "__main__":
    main()
