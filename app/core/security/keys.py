"""The store's 256-bit key, kept in the OS keyring and nowhere else.

The key is generated on first run and stored under the keyring service of the settings. A
non-secret store id beside the database names the keyring entry, so two stores on one machine
(a test, a restored backup) never share a key. During a key rotation the new key is parked
under a "pending" entry first, so a crash between the re-key and the keyring update can be
recovered from.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
import keyring.errors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from keyring.backends import fail

from app.core.errors import KeyringUnavailableError, StoreError

log = logging.getLogger(__name__)
KEY_BYTES = 32


# The OS secure stores; any other backend (a plaintext or file keyring, say) only by policy.
_SECURE_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
    }
)


def _backend_ok() -> keyring.backend.KeyringBackend:
    """The active keyring backend if it is an OS secure store or one IT's policy allows by
    class name (setting keyring_backends_allowed); a chainer only if every link is."""
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 — a broken backend config must not be a traceback
        raise KeyringUnavailableError(
            f"The system keyring could not be loaded ({type(exc).__name__})."
        ) from None
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailableError(
            "No system keyring is available to hold the database key.",
            hint="On Linux install and unlock gnome-keyring or KWallet (Secret Service); "
            "IT can check with 'novamind doctor'.",
        )
    from keyring.backends.chainer import ChainerBackend

    from app.core.config import load_settings

    allowed = set(load_settings().keyring_backends_allowed)
    links = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    for link in links or [backend]:
        name = f"{type(link).__module__}.{type(link).__qualname__}"
        if name not in _SECURE_BACKENDS and not {name, type(link).__name__} & allowed:
            raise KeyringUnavailableError(
                f"The keyring backend {name} is not the operating system's secure store; "
                "refusing to keep the database key in it.",
                hint="Use the OS keyring (Secret Service / KWallet, macOS Keychain, Windows "
                "Credential Manager), or IT allows this backend by class name in the policy "
                "setting keyring_backends_allowed.",
            )
    return backend


def keyring_backend_name() -> str:
    """Human-readable name of the active keyring backend, for `novamind doctor`."""
    backend = _backend_ok()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def store_id(db_path: Path) -> str:
    """The non-secret id of a store (created on first use), naming its keyring entry."""
    id_path = db_path.with_name(db_path.name + ".id")
    if id_path.exists():
        text = id_path.read_text(encoding="ascii").strip()
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise StoreError(f"{id_path}: not a valid store id") from None
    new = str(uuid.uuid4())
    id_path.parent.mkdir(parents=True, exist_ok=True)
    id_path.write_text(new + "\n", encoding="ascii")
    return new


@contextmanager
def keyring_errors(refused: str) -> Iterator[None]:
    """Keyring failures inside the block become KeyringUnavailableError: "locked", or
    "refused `refused`" naming only the failure's class (never a stored value)."""
    try:
        yield
    except keyring.errors.KeyringLocked:
        raise KeyringUnavailableError("The system keyring is locked.") from None
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailableError(
            f"The system keyring refused {refused} ({type(exc).__name__})."
        ) from None


def get_entry(service: str, name: str) -> str | None:
    """Read one keyring entry, with keyring failures turned into clear errors."""
    _backend_ok()
    with keyring_errors("access"):
        return keyring.get_password(service, name)


def set_entry(service: str, name: str, value: str) -> None:
    """Write one keyring entry, with keyring failures turned into clear errors."""
    _backend_ok()
    with keyring_errors("to store the key"):
        keyring.set_password(service, name, value)


def delete_entry(service: str, name: str) -> None:
    """Delete one keyring entry if present."""
    try:
        keyring.delete_password(service, name)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailableError(
            f"The system keyring refused to delete a key ({type(exc).__name__})."
        ) from None


def _decode(text: str) -> bytes:
    key = bytes.fromhex(text)
    if len(key) != KEY_BYTES:
        raise ValueError("wrong key length")
    return key


def load_db_key(service: str, db_path: Path, *, create: bool) -> bytes:
    """The store's key from the keyring; a new random key if `create` and none exists."""
    entry = f"db:{store_id(db_path)}"
    text = get_entry(service, entry)
    if text is None:
        if not create:
            raise KeyringUnavailableError(
                "The key for this Novamind store is not in the system keyring.",
                hint="If this workstation was decommissioned or the keyring was reset, restore "
                "from backup with IT's backup key.",
            )
        key = secrets.token_bytes(KEY_BYTES)
        set_entry(service, entry, key.hex())
        log.info("generated a new store key in the keyring")
        return key
    try:
        return _decode(text)
    except ValueError:
        raise KeyringUnavailableError("The keyring entry for the store key is damaged.") from None


def pending_db_key(service: str, db_path: Path) -> bytes | None:
    """A key parked by an interrupted rotation, if any."""
    text = get_entry(service, f"db-pending:{store_id(db_path)}")
    return _decode(text) if text else None


def park_pending_key(service: str, db_path: Path, key: bytes) -> None:
    set_entry(service, f"db-pending:{store_id(db_path)}", key.hex())


def commit_rotated_key(service: str, db_path: Path, key: bytes) -> None:
    """Make `key` the store's key and drop the pending entry."""
    sid = store_id(db_path)
    set_entry(service, f"db:{sid}", key.hex())
    delete_entry(service, f"db-pending:{sid}")


def audit_entry(db_path: Path) -> str:
    """The keyring entry of the audit chain's HMAC key (beside, never inside, the store)."""
    return f"audit:{store_id(db_path)}"


def load_audit_key(service: str, db_path: Path) -> bytes | None:
    """The audit chain's HMAC key from the keyring, or None when there is none yet."""
    text = get_entry(service, audit_entry(db_path))
    if text is None:
        return None
    try:
        return _decode(text)
    except ValueError:
        raise KeyringUnavailableError("The keyring entry for the audit key is damaged.") from None


def save_audit_key(service: str, db_path: Path, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("the audit key must be 32 bytes")
    set_entry(service, audit_entry(db_path), key.hex())


def destroy_keys(service: str, db_path: Path) -> None:
    """Crypto-erase: delete every keyring entry of this store (db key and audit key)."""
    sid = store_id(db_path)
    delete_entry(service, f"db:{sid}")
    delete_entry(service, f"db-pending:{sid}")
    delete_entry(service, f"audit:{sid}")


def derive_key(master: bytes, purpose: str) -> bytes:
    """A purpose-bound 256-bit sub-key: HKDF-SHA256 (RFC 5869) from `cryptography`."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"novamind-v2", info=purpose.encode()
    ).derive(master)


def derive_key_v1(master: bytes, purpose: str) -> bytes:
    """The hand-written HKDF of format-1 backups; kept only so they still restore."""
    prk = hmac.new(b"novamind-v1", master, hashlib.sha256).digest()
    return hmac.new(prk, purpose.encode() + b"\x01", hashlib.sha256).digest()
