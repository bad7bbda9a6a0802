"""IT policy file fuzzing: app.core.config.read_policy and load_settings.

Every generated policy.toml (valid TOML with hostile values, garbage text or bytes, deep
nesting) must end in usable Settings or a ConfigError whose message names the file; never
another exception. Through the real CLI a broken policy exits 2 with one line, no traceback.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.core.config import _TYPES, Settings, load_settings, read_policy
from app.core.errors import ConfigError
from tests.conftest import cli_env

FUZZ = settings.get_profile("fuzz")
KEYS = sorted(_TYPES)


def _toml(value: Any) -> str:  # noqa: ANN401
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)  # dates and times: TOML literals


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from((0, -1, 2**31, 10**18)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(("system", "dark", "", "\u0000", "../../etc", "1979-05-27")),
    st.dates(),
    st.datetimes(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def policy_texts(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("settings", "settings", "garbage", "bytes", "nested")))
    if kind == "garbage":
        return draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    if kind == "nested":
        n = draw(st.sampled_from((10, 2_000, 50_000)))
        opener, closer = draw(st.sampled_from((("[", "]"), ("{a = ", "}"))))
        inner = opener * n + ("1" if opener != "[" else "") + closer * n
        return f"{draw(st.sampled_from(KEYS))} = {inner}\n".encode()
    keys = draw(st.lists(st.sampled_from(KEYS) | st.text("abc_", min_size=1), max_size=4))
    body = "".join(f"{json.dumps(k)} = {_toml(draw(VALUES))}\n" for k in dict.fromkeys(keys))
    return (("[policy]\n" if draw(st.booleans()) else "") + body).encode("utf-8", "surrogatepass")


def _outcome(path: Path, tmp: Path) -> str:
    try:
        read_policy(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return "refused"
    env = {"NOVAMIND_DATA_DIR": str(tmp / "data"), "NOVAMIND_POLICY": str(path)}
    env["NOVAMIND_DEV"] = "1"
    try:
        assert isinstance(load_settings(env), Settings)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return "refused by load_settings"
    return "accepted"


@settings(FUZZ, max_examples=150)
@given(data=policy_texts())
def test_any_policy_file_gives_settings_or_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(data)
    event(_outcome(path, tmp_path))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep-arrays.toml", "idle_lock_minutes = " + "[" * 5000 + "]" * 5000),
        ("deep-tables.toml", "theme = " + "{a = " * 3000 + "1" + "}" * 3000),
        ("not-utf8.toml", b'theme = "\xff\xfe"'),
        ("huge-int.toml", "idle_lock_minutes = 99999999999999999999"),
        ("nan.toml", "lockout_threshold = nan"),
    ],
)
def test_hostile_policy_files_raise_config_error(tmp_path: Path, name: str, content: Any) -> None:  # noqa: ANN401
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=rf"^{path}: "):
        read_policy(path)


def test_a_directory_as_policy_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        read_policy(path)


def test_cli_exits_2_on_a_deeply_nested_policy(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["NOVAMIND_POLICY"]).write_text("theme = " + "[" * 5000 + "]" * 5000)
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"],
        env=cli_env(env | {"NOVAMIND_DEV": "1"}, tmp_path / "keys.json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr[-500:]
    assert env["NOVAMIND_POLICY"] in out.stderr and "nested too deeply" in out.stderr
    assert "Traceback" not in out.stderr
