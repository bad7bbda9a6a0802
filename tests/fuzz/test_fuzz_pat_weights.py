"""PAT encoder weight files (Keras 2 H5) meet corruption: every bad file is refused clearly.

engines.pat.weights.load_weights must either return weights that pass the shape / finiteness
checks or raise ValidationError naming the file (never an h5py, NumPy or KeyError traceback).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engines.errors import InputError as ValidationError
from engines.pat.encoder import SIZES, random_weights
from engines.pat.weights import expected_tensors, load_weights, write_weights

CFG = SIZES["S"]


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("w") / "PAT-S.h5"
    write_weights(p, random_weights(CFG, seed=3))
    load_weights(p, "S")  # the unmutated file is valid
    return p


def _refused(path: Path, size: str = "S") -> str:
    with pytest.raises(ValidationError) as ei:
        load_weights(path, size)
    msg = str(ei.value)
    assert path.name in msg or "unknown PAT size" in msg, msg
    return msg


@settings(settings.get_profile("fuzz"), max_examples=200)
@given(data=st.data())
def test_corrupted_bytes_are_refused_or_load_valid_weights(
    good_file: Path, tmp_path: Path, data: st.DataObject
) -> None:
    raw = bytearray(good_file.read_bytes())
    op = data.draw(st.sampled_from(["truncate", "flip", "zero_block", "garbage"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 16))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    elif op == "zero_block":
        a = data.draw(st.integers(0, len(raw) - 1))
        raw[a : a + data.draw(st.integers(1, 4096))] = b"\x00" * len(raw[a : a + 4096])
    else:
        raw = bytearray(data.draw(st.binary(max_size=2048)))
    p = tmp_path / "PAT-S-fuzz.h5"
    p.write_bytes(bytes(raw))
    try:
        w = load_weights(p, "S")
    except ValidationError as exc:
        assert p.name in str(exc), str(exc)
        event(f"{op}: refused")
        return
    event(f"{op}: loaded")  # flipped bits inside float data still give finite, right-shape weights
    assert all(np.all(np.isfinite(b.wq)) for b in w.blocks) and np.all(np.isfinite(w.patch_w))


def _rewrite(path: Path, edit: object) -> None:
    write_weights(path, random_weights(CFG, seed=3))
    with h5py.File(path, "a") as f:
        edit(f["model_weights"])  # type: ignore[operator]


def _tensor(name: str) -> str:
    """The dataset path (below model_weights) of a tensor name from expected_tensors."""
    if name.startswith("dense/"):
        return f"dense/{name}:0"
    return f"encoder_layer_1_transformer/{name}:0"


def _replace(g: h5py.Group, name: str, value: object) -> None:
    del g[_tensor(name)]
    g.create_dataset(_tensor(name), data=value)


NAMES = sorted(expected_tensors(CFG))


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda g: g.__delitem__(_tensor("dense/kernel")), "'dense/kernel' missing"),
        (lambda g: _replace(g, "dense/bias", np.zeros(95, np.float32)), "has shape (95,)"),
        (
            lambda g: _replace(g, NAMES[3], np.full(expected_tensors(CFG)[NAMES[3]], np.nan)),
            "NaN or infinite",
        ),
        (lambda g: _replace(g, "dense/bias", np.full(96, np.inf, np.float32)), "NaN or infinite"),
        (lambda g: _replace(g, "dense/bias", np.array([b"x"] * 96)), "not numeric"),
        (lambda g: _replace(g, "dense/bias", np.zeros(96, dtype=np.complex64)), "not numeric"),
        (lambda g: _replace(g, "dense/bias", 3.0), "has shape ()"),
        (
            lambda g: (g.__delitem__(_tensor("dense/bias")), g.create_group(_tensor("dense/bias"))),
            "'dense/bias' missing",
        ),
        (
            lambda g: g.create_dataset(
                "encoder_layer_2_transformer/encoder_layer_2_ff1/kernel:0", data=np.zeros((2, 2))
            ),
            "belongs to block 2",
        ),
    ],
)
def test_wrong_tensors_are_refused_naming_file_and_tensor(
    tmp_path: Path, edit: object, needle: str
) -> None:
    p = tmp_path / "PAT-S-bad.h5"
    _rewrite(p, edit)
    assert needle in _refused(p)


def test_wrong_size_empty_missing_and_directory_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "PAT-S.h5"
    write_weights(p, random_weights(CFG, seed=1))
    assert "PAT-M" in _refused(p, "M")  # an S file loaded as M: shapes do not match
    _refused(p, "XL")
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    assert "not a readable HDF5" in _refused(empty)
    assert "not a readable HDF5" in _refused(tmp_path / "missing.h5")
    folder = tmp_path / "dir.h5"
    folder.mkdir()
    assert "not a readable HDF5" in _refused(folder)


def test_oversized_tensor_is_refused_without_reading_it(tmp_path: Path) -> None:
    p = tmp_path / "PAT-S-huge.h5"

    def edit(g: h5py.Group) -> None:  # 8 GB declared, a few bytes on disk (chunked, unwritten)
        del g[_tensor("dense/kernel")]
        g.create_dataset(_tensor("dense/kernel"), shape=(1 << 20, 2048), dtype="f4", chunks=True)

    _rewrite(p, edit)
    assert "has shape (1048576, 2048)" in _refused(p)
