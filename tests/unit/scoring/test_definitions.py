import json
from pathlib import Path

import pytest

from engines.errors import InputError
from engines.scoring.definitions import (
    builtin_instruments,
    get_instrument,
    load_instrument_file,
    load_instruments,
    parse_instrument,
)
from engines.scoring.engine import score

INSTRUMENT_DIR = Path(__file__).resolve().parents[3] / "resources" / "instruments"


def raw(name: str) -> dict:
    return json.loads((INSTRUMENT_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("iid", "n_items", "lo", "hi", "rater"),
    [
        ("phq9", 10, 0, 27, "self"),
        ("gad7", 7, 0, 21, "self"),
        ("pcl5", 20, 0, 80, "self"),
        ("madrs", 10, 0, 60, "clinician"),
        ("hamd17", 17, 0, 52, "clinician"),
        ("cssrs_screener", 7, None, None, "clinician"),
    ],
)
def test_builtin_instruments_shape(iid, n_items, lo, hi, rater):
    inst = get_instrument(iid)
    assert len(inst.items) == n_items
    assert inst.rater == rater
    assert inst.citation and inst.licence
    if lo is not None:
        assert (inst.min_total, inst.max_total) == (lo, hi)


def test_hamd17_published_item_ranges():
    inst = get_instrument("hamd17")
    four = {f"q{i}" for i in (1, 2, 3, 7, 8, 9, 10, 11, 15)}
    for it in inst.items:
        assert max(it.allowed_values) == (4 if it.id in four else 2), it.id


def test_loinc_codes_only_where_known():
    phq, gad = get_instrument("phq9"), get_instrument("gad7")
    assert (phq.loinc_panel, phq.loinc_total) == ("44249-1", "44261-6")
    assert (gad.loinc_panel, gad.loinc_total) == ("69737-5", "70274-6")
    assert phq.item("q9").loinc == "44260-8"
    for iid in ("pcl5", "madrs", "hamd17", "cssrs_screener"):
        assert get_instrument(iid).loinc_total is None


def test_copyrighted_instruments_are_paraphrased_and_say_so():
    for iid in ("madrs", "hamd17", "cssrs_screener"):
        inst = get_instrument(iid)
        assert inst.item_text_source == "paraphrased"
    for iid in ("phq9", "gad7", "pcl5"):
        assert get_instrument(iid).item_text_source == "published"
        assert "public domain" in get_instrument(iid).licence.lower()


def test_unknown_instrument():
    with pytest.raises(InputError, match="unknown id 'nope'"):
        get_instrument("nope")


def _broken(mutate):
    doc = raw("phq9")
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("citation"), r"phq9\.json\.citation: required string is missing"),
        (lambda d: d["items"][0].update(options="nope"), r"items\[0\]\.options: unknown option"),
        (lambda d: d["items"][1].update(id="q1"), r"items\[1\]\.id: duplicate item id"),
        (lambda d: d["items"][0].update(requierd=True), r"items\[0\]: unknown key"),
        (lambda d: d["bands"]["levels"][1].update(min=6), r"levels\[1\]\.min: expected 5"),
        (lambda d: d["bands"]["levels"][4].update(max=26), r"levels\[4\]\.max: must equal .* 27"),
        (
            lambda d: d["critical"][0]["condition"].update(ref="item:q99"),
            r"critical\[0\]\.condition\.ref: unknown item 'q99'",
        ),
        (
            lambda d: d["items"][0].update(ask_if={"ref": "item:q2", "op": "==", "value": 1}),
            r"items\[0\]\.ask_if\.ref: unknown item 'q2'",
        ),
        (
            lambda d: d["option_sets"]["frequency"].append({"value": 3, "label": "again"}),
            r"option_sets\.frequency\[4\]\.value: duplicate value 3",
        ),
        (lambda d: d.update(rater="robot"), r"rater: must be one of"),
        (lambda d: d["critical"][0].update(severity="urgent"), r"critical\[0\]\.severity"),
    ],
)
def test_bad_definition_names_file_and_field(mutate, message):
    with pytest.raises(InputError, match=message):
        parse_instrument(_broken(mutate), "phq9.json")


def test_bad_json_file_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"id": "x",\n  "items": [,]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.json: line 2, column"):
        load_instrument_file(path)


def test_new_instrument_needs_no_code(tmp_path):
    doc = raw("gad7")
    doc.update(id="gad2", short_name="GAD-2", name="GAD-2 (first two GAD-7 items)")
    doc["items"] = doc["items"][:2]
    doc["loinc"] = {"panel": None, "total": None}
    doc["bands"]["levels"] = [
        {"code": "negative", "label": "Negative screen", "min": 0, "max": 2},
        {"code": "positive", "label": "Positive screen", "min": 3, "max": 6},
    ]
    doc.pop("reliable_change")
    (tmp_path / "gad2.json").write_text(json.dumps(doc), encoding="utf-8")
    insts = load_instruments(tmp_path)
    assert set(builtin_instruments()) < set(insts)
    result = score(insts["gad2"], {"q1": 2, "q2": 1})
    assert (result.total, result.band.code) == (3, "positive")


def test_duplicate_instrument_id_in_extra_dir(tmp_path):
    (tmp_path / "copy.json").write_text(json.dumps(raw("phq9")), encoding="utf-8")
    with pytest.raises(InputError, match=r"copy\.json\.id: instrument 'phq9' already"):
        load_instruments(tmp_path)
