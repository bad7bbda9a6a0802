"""The independent de-identification corpus and the bench's matching rule.

The corpus (tests/bench/deid_eval_corpus.py) must not be built from the scrubber's own rules or
word lists, its spans must be exact, and the bench must score a span as found only when all of
it is removed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from engines.llm import deid_ner
from tests.bench import bench_deid, deid_eval_corpus
from tests.bench.deid_eval_corpus import CATEGORIES, EvalNote, GoldSpan, load

SOURCE = Path(deid_eval_corpus.__file__)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_generator_imports_nothing_of_ours():
    modules = _imported_modules(SOURCE)
    assert "presidio_evaluator.data_generator" in modules  # someone else's generator
    ours = {m for m in modules if m.split(".")[0] in {"engines", "app", "sync", "ui", "viz"}}
    assert ours == set()
    text = SOURCE.read_text(encoding="utf-8")
    for borrowed in ("FIRST_NAMES", "engines.llm.deid", "deid_corpus"):
        assert borrowed not in text


@pytest.mark.parametrize(
    ("path", "n_notes"),
    [
        (deid_eval_corpus.FROZEN, deid_eval_corpus.N_NOTES),
        (deid_eval_corpus.HELDOUT, deid_eval_corpus.HELDOUT_NOTES),
        (deid_eval_corpus.HELDOUT2, deid_eval_corpus.HELDOUT_NOTES),
        (deid_eval_corpus.HELDOUT3, deid_eval_corpus.HELDOUT_NOTES),
        (deid_eval_corpus.HELDOUT4, deid_eval_corpus.HELDOUT_NOTES),
    ],
)
def test_frozen_corpus_spans_are_exact(path, n_notes):
    notes = load(path)
    assert len(notes) == n_notes
    seen = set()
    for note in notes:
        for g in note.spans:
            assert note.text[g.start : g.end] == g.value, g
            assert g.value.strip() == g.value and g.value
            seen.add(g.category)
            if g.entity_type == "region":  # a state or country kept inside an address
                assert g.category is None
                assert any(
                    a.category == "ADDRESS" and a.start <= g.start and g.end <= a.end
                    for a in note.spans
                )
    assert {"NAME", "DATE", "MRN", "PHONE", "ADDRESS", "EMAIL", "URL"} <= seen
    assert seen - {None} <= set(CATEGORIES)


def test_frozen_files_record_their_provenance():
    for path, seed in (
        (deid_eval_corpus.FROZEN, deid_eval_corpus.SEED),
        (deid_eval_corpus.HELDOUT, deid_eval_corpus.HELDOUT_SEED),
        (deid_eval_corpus.HELDOUT2, deid_eval_corpus.HELDOUT2_SEED),
        (deid_eval_corpus.HELDOUT3, deid_eval_corpus.HELDOUT3_SEED),
        (deid_eval_corpus.HELDOUT4, deid_eval_corpus.HELDOUT4_SEED),
    ):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["seed"] == seed
        assert data["generator"].startswith("presidio-evaluator")


def test_held_out_phrasings_are_new():
    sets = [
        set(deid_eval_corpus.CLINICAL_TEMPLATES),
        set(deid_eval_corpus.HELDOUT_TEMPLATES),
        set(deid_eval_corpus.HELDOUT2_TEMPLATES),
        set(deid_eval_corpus.HELDOUT3_TEMPLATES),
        set(deid_eval_corpus.HELDOUT4_TEMPLATES),
    ]
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            assert not a & b


@pytest.mark.skipif(
    importlib.util.find_spec("presidio_evaluator") is None,
    reason="presidio-evaluator not installed (requirements/bench-deid.txt)",
)
def test_generator_reproduces_the_frozen_corpora():
    assert deid_eval_corpus.generate() == load()
    assert deid_eval_corpus.generate_heldout() == load(deid_eval_corpus.HELDOUT)
    assert deid_eval_corpus.generate_heldout2() == load(deid_eval_corpus.HELDOUT2)
    assert deid_eval_corpus.generate_heldout3() == load(deid_eval_corpus.HELDOUT3)
    assert deid_eval_corpus.generate_heldout4() == load(deid_eval_corpus.HELDOUT4)


def _note(text: str, *spans: tuple[str, str | None, str]) -> EvalNote:
    gold = []
    for etype, cat, value in spans:
        start = text.index(value)
        gold.append(GoldSpan(etype, cat, start, start + len(value), value))
    return EvalNote(text, tuple(gold))


def _tool(*removed: str):
    def run(text: str):
        return [("NAME", text.index(r), text.index(r) + len(r)) for r in removed]

    return run


def test_a_span_counts_only_when_every_letter_and_digit_goes():
    note = _note("Seen with Anna Berg today.", ("person", "NAME", "Anna Berg"))
    found, _, _, misses = bench_deid.score([note], _tool("Anna"))
    assert found["NAME"] == [0, 1] and misses
    found, prec, _, _ = bench_deid.score([note], _tool("Anna", "Berg"))
    assert found["NAME"] == [1, 1]  # the space between may stay
    assert prec["NAME"] == [8, 8]


def test_a_state_may_stay_and_ignored_spans_cost_nothing():
    text = "Lives at 12 Oak Road, Dayton, OH 45402 and works at Acme."
    note = _note(
        text,
        ("address", "ADDRESS", "12 Oak Road, Dayton, OH 45402"),
        ("region", None, "OH"),
        ("organization", None, "Acme"),
    )
    found, prec, _, _ = bench_deid.score([note], _tool("12 Oak Road, Dayton", "45402", "Acme"))
    assert found["ADDRESS"] == [1, 1]
    assert prec["NAME"] == [20, 20]  # "Acme" is neither right nor wrong
    found, prec, _, _ = bench_deid.score([note], _tool("works"))
    assert found["ADDRESS"] == [0, 1] and prec["NAME"] == [0, 5]


def test_bench_runs_our_scrubber_on_the_corpus():
    notes = load()[:20]
    found, prec, _, _ = bench_deid.score(notes, bench_deid.ours)
    assert sum(v[1] for v in found.values()) > 100
    assert prec["ALL"][1] > 0


@pytest.mark.skipif(
    not deid_ner.installed(),
    reason=f"spaCy model {deid_ner.DEFAULT_MODEL} not installed ({deid_ner.INSTALL_HINT})",
)
def test_bench_rules_plus_ner_column_finds_more_names_than_rules_alone():
    notes = load(deid_eval_corpus.HELDOUT2)[:30]
    rules, _, _, _ = bench_deid.score(notes, bench_deid.ours)
    tool = bench_deid.ner_tool()
    assert tool is not None
    both, prec, _, _ = bench_deid.score(notes, tool[0])
    assert both["NAME"][1] == rules["NAME"][1]
    assert both["NAME"][0] > rules["NAME"][0]
    for cat in rules:  # a union: nothing the rules find is lost
        assert both[cat][0] >= rules[cat][0], cat
