"""Instrument definition files (resources/instruments/*.json) meet mutation.

engines.scoring.definitions.load_instrument_file must either return a valid Instrument or raise
ValidationError whose message starts with the file name (never a TypeError, KeyError,
RecursionError or UnicodeDecodeError traceback). Mutations are structural (a value anywhere in
the tree replaced by a hostile one, a key dropped or added, a list entry duplicated) and
byte-level (truncated, flipped, re-encoded).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engines.errors import InputError as ValidationError
from engines.scoring.definitions import Instrument, load_instrument_file
from tests.fuzz.conftest import CORPUS

SOURCES = sorted((Path(__file__).resolve().parents[2] / "resources" / "instruments").glob("*.json"))
ORIGINALS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SOURCES}
HOSTILE: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**40,
    -(10**40),
    float("nan"),
    float("inf"),
    "",
    " ",
    "x" * 5000,
    "\u202e\x00",
    [],
    {},
    [None],
    {"unknown": 1},
    [[[[[]]]]],
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:  # noqa: ANN401
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(root: Any, path: tuple, value: Any) -> Any:  # noqa: ANN401
    if not path:
        return value
    parent = root
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return root


def _check(path: Path) -> str:
    try:
        inst = load_instrument_file(path)
    except ValidationError as exc:
        assert str(exc).startswith(path.name), str(exc)
        return "refused"
    assert isinstance(inst, Instrument)
    assert inst.min_total <= inst.max_total  # a loaded definition is usable
    return "loaded"


@settings(settings.get_profile("fuzz"), max_examples=600)
@given(data=st.data())
def test_structurally_mutated_definitions_load_or_are_refused(
    tmp_path: Path, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(ORIGINALS)))
    doc = copy.deepcopy(ORIGINALS[name])
    op = "?"
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        target = data.draw(st.sampled_from(paths))
        op = data.draw(st.sampled_from(["replace", "drop", "add", "duplicate"]))
        parent = doc
        for k in target[:-1]:
            parent = parent[k]
        if op == "replace" or not target:
            doc = _set(doc, target, copy.deepcopy(data.draw(st.sampled_from(HOSTILE))))
        elif op == "drop":
            del parent[target[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["extra", "id", "value", "items", "ask_if"]))] = (
                copy.deepcopy(data.draw(st.sampled_from(HOSTILE)))
            )
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(target[-1], copy.deepcopy(parent[target[-1]]))
    p = tmp_path / f"mut_{name}"
    p.write_text(json.dumps(doc), encoding="utf-8")
    event(f"{op}: {_check(p)}")


@settings(settings.get_profile("fuzz"), max_examples=300)
@given(data=st.data())
def test_byte_mutated_definitions_load_or_are_refused(tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(ORIGINALS)))
    raw = bytearray((SOURCES[0].parent / name).read_bytes())
    op = data.draw(st.sampled_from(["truncate", "flip", "utf16", "bom", "latin1"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif op == "utf16":
        raw = bytearray(raw.decode("utf-8").encode("utf-16"))
    elif op == "bom":
        raw = bytearray(b"\xef\xbb\xbf") + raw
    else:
        raw = bytearray(
            raw.decode("utf-8").replace('"', '"\u00e9', 1).encode("latin-1", errors="replace")
        )
    p = tmp_path / f"bytes_{name}"
    p.write_bytes(bytes(raw))
    event(f"{op}: {_check(p)}")


CASES = json.loads((CORPUS / "instruments" / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_definitions_are_refused_naming_file_and_problem(name: str) -> None:
    path = CORPUS / "instruments" / name
    with pytest.raises(ValidationError) as ei:
        load_instrument_file(path)
    msg = str(ei.value)
    assert msg.startswith(name) and CASES[name] in msg, msg


def test_every_corpus_file_has_an_expected_outcome() -> None:
    files = {p.name for p in (CORPUS / "instruments").iterdir()} - {"expected.json", "generate.py"}
    assert files == set(CASES)


def test_oversized_definition_is_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "huge.json"
    p.write_bytes(b'{"id": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    with pytest.raises(ValidationError, match=r"^huge\.json: larger than 1024 KiB"):
        load_instrument_file(p)
