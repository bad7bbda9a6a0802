"""Regenerate this corpus (python tests/fuzz/corpus/instruments/generate.py).

Hand-kept hostile instrument definitions, each derived from a shipped one; expected.json maps
each file to a substring of the loader's error message (every file must be refused).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SHIPPED = HERE.parents[3] / "resources" / "instruments"


def shipped(name: str) -> dict[str, Any]:
    return json.loads((SHIPPED / name).read_text(encoding="utf-8"))


def first_with(node: Any, key: str) -> dict[str, Any] | None:  # noqa: ANN401
    if isinstance(node, dict):
        if key in node:
            return node
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        return None
    for c in children:
        hit = first_with(c, key)
        if hit is not None:
            return hit
    return None


def main() -> None:
    cases: dict[str, tuple[bytes, str]] = {}
    phq9 = shipped("phq9.json")
    text = json.dumps(phq9, indent=1)
    cases["truncated.json"] = (text[: len(text) // 2].encode(), "not valid JSON")
    cases["not_utf8.json"] = (
        text.replace("Not at all", "Pas du tout \u00e9").encode("latin-1"),
        "not UTF-8",
    )
    cases["utf16.json"] = (text.encode("utf-16"), "not UTF-8")
    cases["deep_nesting.json"] = (
        b'{"items": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        "nested too deeply",
    )
    cases["top_level_array.json"] = (b"[1, 2, 3]", "must be an object")
    nan = copy.deepcopy(phq9)
    nan["option_sets"]["frequency"][1]["value"] = "__NAN__"
    cases["nan_option_value.json"] = (
        json.dumps(nan).replace('"__NAN__"', "NaN").encode(),
        "NaN is not allowed",
    )
    inf = json.dumps(shipped("gad7.json")).replace(
        '"schema_version": 1', '"schema_version": Infinity'
    )
    cases["infinity_schema_version.json"] = (inf.encode(), "Infinity is not allowed")
    huge = copy.deepcopy(phq9)
    huge["option_sets"]["frequency"][3]["value"] = "__HUGE__"
    cases["huge_integer.json"] = (
        json.dumps(huge).replace('"__HUGE__"', "1" + "0" * 40).encode(),
        "more than 15 digits",
    )
    dup = copy.deepcopy(phq9)
    dup["items"].append(copy.deepcopy(dup["items"][0]))
    cases["duplicate_item_id.json"] = (json.dumps(dup).encode(), "duplicate item id")
    extra = copy.deepcopy(phq9)
    extra["requierd"] = True
    cases["unknown_top_key.json"] = (json.dumps(extra).encode(), "unknown key(s) ['requierd']")
    pcl5 = shipped("pcl5.json")
    sub = copy.deepcopy(pcl5)
    sub["scoring"]["subscales"][0]["items"][0] = ["q1"]
    cases["subscale_item_not_string.json"] = (
        json.dumps(sub).encode(),
        "must be a list of item ids",
    )
    cond = copy.deepcopy(pcl5)
    hit = first_with(cond, "op")
    assert hit is not None
    hit["op"] = [">="]
    cases["condition_op_is_a_list.json"] = (json.dumps(cond).encode(), "malformed definition")
    expected = {}
    for name, (data, needle) in cases.items():
        assert len(data) < 100_000, name
        (HERE / name).write_bytes(data)
        expected[name] = needle
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
