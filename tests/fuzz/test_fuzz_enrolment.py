"""Enrolment files meet hostile input (issue 18, item 2 and 4).

Every malformed file — authenticated ciphertext over malformed content, numbers for strings,
deep nesting, huge values, unknown or out-of-bounds KDFs, truncated or garbage bytes, a
directory — is refused with a ValidationError (exit 2 via the CLI) naming the file, and the
keyring and the store stay byte-identical. The workstation under attack is already enrolled
in a clinic, so a refusal that touched its keys or membership would show.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import ValidationError
from app.services import sync_service
from app.services.context import AppContext, cli_actor
from sync import enrolment, sealed_file
from sync.it_keystore import ITKeystore, new_it_keystore
from tests.fuzz import sealing
from tests.fuzz.conftest import CORPUS, store_fingerprint
from tests.support.keyring_backends import MemoryKeyring

CASES = sorted((CORPUS / "enrolment").glob("*.json"))
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def it_ks() -> ITKeystore:
    return new_it_keystore(event_bus="bus-fuzz")


@pytest.fixture(scope="module")
def valid(it_ks: ITKeystore) -> dict[str, Any]:
    """One valid sealed document (scrypt is slow: sealed once, mutated per example)."""
    return sealing.valid_doc(it_ks)


@pytest.fixture
def enrolled(ctx: AppContext, tmp_path: Path, memory_keyring: MemoryKeyring) -> AppContext:
    """A workstation already enrolled in its own clinic (device keys in the keyring)."""
    home = new_it_keystore(event_bus="bus-home")
    path = tmp_path / "home.enrol.json"
    enrolment.write_enrolment(path, sealing.PASSPHRASE, home)
    sync_service.enrol_workstation(ctx, cli_actor(), path, sealing.PASSPHRASE)
    return ctx


class Unchanged:
    """Snapshot of the keyring entries and the store; `check` asserts both are equal."""

    def __init__(self, ctx: AppContext, kr: MemoryKeyring) -> None:
        self.ctx, self.kr = ctx, kr
        self.keys = copy.deepcopy(kr.entries)
        self.store = store_fingerprint(ctx)
        self.files = sorted(os.listdir(ctx.settings.data_dir))

    def check_cheap(self) -> None:
        assert self.kr.entries == self.keys, "a refused enrolment touched the keyring"
        assert sorted(os.listdir(self.ctx.settings.data_dir)) == self.files

    def check(self) -> None:
        self.check_cheap()
        assert store_fingerprint(self.ctx) == self.store, "a refused enrolment changed the store"


def refused(
    ctx: AppContext, kr: MemoryKeyring, path: Path, before: Unchanged | None = None
) -> ValidationError:
    """Enrol from `path`: must be refused with the contract error, nothing changed.

    With `before` (a snapshot a hypothesis test took once) only the keyring and the data
    folder are compared here; the guard compares the store after the last example (a change
    would persist, the store is never reset between examples).
    """
    snap = before or Unchanged(ctx, kr)
    with pytest.raises(ValidationError) as info:
        sync_service.enrol_workstation(ctx, cli_actor(), path, sealing.PASSPHRASE)
    assert path.name in str(info.value)
    if before is None:
        snap.check()
    else:
        snap.check_cheap()
    return info.value


@pytest.fixture
def guard(enrolled: AppContext, memory_keyring: MemoryKeyring) -> Iterator[Unchanged]:
    """One snapshot for all examples of a property test; the store compared at the end."""
    snap = Unchanged(enrolled, memory_keyring)
    yield snap
    snap.check()


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "fuzz"
    d.mkdir()
    yield d


def _write(work: Path, name: str, data: bytes) -> Path:
    path = work / name
    path.write_bytes(data)
    return path


def test_corpus_enrolment_files_are_refused(
    enrolled: AppContext, memory_keyring: MemoryKeyring
) -> None:
    """Each hand-kept case of the issue (one store for all: a change would persist)."""
    assert len(CASES) >= 25
    for case in CASES:
        err = refused(enrolled, memory_keyring, case)
        assert "unexpected" not in str(err), case.name


def test_directory_and_special_paths_are_refused(
    enrolled: AppContext, memory_keyring: MemoryKeyring, work: Path
) -> None:
    assert "not a regular file" in str(refused(enrolled, memory_keyring, work))
    assert "no such" in str(refused(enrolled, memory_keyring, work / "missing.json"))
    fifo = work / "pipe.json"
    os.mkfifo(fifo)
    assert "not a regular file" in str(refused(enrolled, memory_keyring, fifo))


def test_oversized_files_are_refused_before_reading(
    enrolled: AppContext, memory_keyring: MemoryKeyring, valid: dict[str, Any], work: Path
) -> None:
    doc = dict(valid)
    doc["ciphertext"] = "A" * (sealed_file.MAX_FILE + 8)
    big = _write(work, "huge.json", json.dumps(doc).encode())
    assert "too big" in str(refused(enrolled, memory_keyring, big))


def test_enrolment_into_another_clinic_changes_nothing(
    enrolled: AppContext, memory_keyring: MemoryKeyring, it_ks: ITKeystore, work: Path
) -> None:
    """The issue's attack: a valid file of another clinic while enrolled. Refused, the
    device keys and clinic key entries and the membership untouched."""
    other = work / "other-clinic.enrol.json"
    enrolment.write_enrolment(other, sealing.PASSPHRASE, it_ks)
    assert "another clinic" in str(refused(enrolled, memory_keyring, other))


def test_valid_enrolment_of_the_same_clinic_is_still_accepted(
    ctx: AppContext,
    memory_keyring: MemoryKeyring,
    it_ks: ITKeystore,
    valid: dict[str, Any],
    work: Path,
) -> None:
    path = work / "ok.json"
    path.write_text(json.dumps(valid))
    r = sync_service.enrol_workstation(ctx, cli_actor(), path, sealing.PASSPHRASE)
    assert r.it_fingerprint == it_ks.fingerprint


@settings(settings.get_profile("fuzz"), max_examples=25)
@given(content=JSON)
def test_authenticated_ciphertext_over_malformed_content(
    guard: Unchanged, it_ks: ITKeystore, work: Path, content: Any
) -> None:
    """Correct passphrase and tag; the sealed JSON is anything but an enrolment."""
    if isinstance(content, dict) and set(content) == {"event_bus"}:
        content = {**content, "extra": 1}  # keep it malformed: one unknown key
    doc = sealing.sealed_enrolment(it_ks, json.dumps(content).encode())
    refused(guard.ctx, guard.kr, _write(work, "sealed.json", json.dumps(doc).encode()), guard)


FIELDS = [*sealed_file.BASE_FIELDS, "it_fingerprint"]


@settings(settings.get_profile("fuzz"), max_examples=50)
@given(
    field=st.sampled_from(FIELDS),
    value=JSON | st.sampled_from(["none", "scrypt-n1-r1-p1", "scrypt-n1048576-r8-p1", ""]),
    drop=st.booleans(),
)
def test_malformed_clear_fields(
    guard: Unchanged,
    valid: dict[str, Any],
    work: Path,
    field: str,
    value: Any,  # noqa: ANN401
    drop: bool,
) -> None:
    """One clear field replaced by any JSON value (numbers for strings, nesting...) or missing."""
    doc = dict(valid)
    if drop:
        del doc[field]
    elif doc[field] == value:
        return  # unchanged: nothing to refuse
    else:
        doc[field] = value
    refused(guard.ctx, guard.kr, _write(work, "clear.json", json.dumps(doc).encode()), guard)


@settings(settings.get_profile("fuzz"), max_examples=50)
@given(data=st.data())
def test_truncated_flipped_and_garbage_files(
    guard: Unchanged, valid: dict[str, Any], work: Path, data: Any
) -> None:
    raw = json.dumps(valid).encode()
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage"]))
    if how == "truncate":
        blob = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        blob = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
        try:
            if json.loads(blob) == json.loads(raw):
                return  # a flip in insignificant whitespace
        except (ValueError, UnicodeDecodeError):
            pass
    else:
        blob = data.draw(st.binary(max_size=600))
    refused(guard.ctx, guard.kr, _write(work, "bytes.json", blob), guard)


def test_it_keystore_shares_the_checks(tmp_path: Path) -> None:
    """The IT keystore is the same sealed format: the same hostile fields are refused."""
    from sync.it_keystore import read_it_keystore, write_it_keystore

    path = tmp_path / "ks.json"
    write_it_keystore(path, sealing.PASSPHRASE, new_it_keystore())
    good = json.loads(path.read_text())
    for name, change in {
        "kdf-none.json": {"kdf": "none"},
        "kdf-huge.json": {"kdf": "scrypt-n1048576-r16-p4"},
        "salt-number.json": {"salt": 5},
        "deep.json": {"fingerprint": [[[[[[[[[["x"]]]]]]]]]]},
    }.items():
        bad = tmp_path / name
        bad.write_text(json.dumps({**good, **change}))
        with pytest.raises(ValidationError, match=name):
            read_it_keystore(bad, sealing.PASSPHRASE)
    with pytest.raises(ValidationError, match="not a regular file"):
        read_it_keystore(tmp_path, sealing.PASSPHRASE)
    assert read_it_keystore(path, sealing.PASSPHRASE).clinic_keys
