from __future__ import annotations

from engines.llm.deid import scrub
from engines.llm.deid_corpus import generate_corpus, measure


def test_examples():
    text = (
        "Mrs. Okafor (DOB 03/14/1956) was seen on March 3, 2024 at Northfield Medical Center. "
        "Her husband Thaddeus called from 555-201-3344; email t.okafor@mail.example.com. "
        "SSN 123-45-6789, MRN: 88231977. A 93-year-old neighbour helps. She is 45 years old. "
        "Continue Sertraline 100 mg; PHQ-9 score 14 on Monday. "
        "See https://example.org/x, 10.0.0.12."
    )
    out = scrub(text).text
    for phi in (
        "Okafor",
        "Thaddeus",
        "03/14",
        "March 3",
        "555-201-3344",
        "t.okafor",
        "123-45-6789",
        "88231977",
        "93-year-old",
        "Northfield",
        "example.org",
        "10.0.0.12",
    ):
        assert phi not in out, phi
    assert "1956" in out and "2024" in out  # dates keep their year
    assert "90+" in out
    for kept in ("45 years old", "Sertraline 100 mg", "PHQ-9 score 14", "Monday"):
        assert kept in out, kept


def test_corpus_is_seeded_and_spans_are_real():
    a, b = generate_corpus(20, seed=3), generate_corpus(20, seed=3)
    assert [n.text for n in a] == [n.text for n in b]
    assert generate_corpus(20, seed=4)[0].text != a[0].text
    for note in a:
        for cat, s, e in note.phi:
            assert note.text[s:e].strip(), cat


def test_recall_and_precision_on_synthetic_corpus():
    score = measure(generate_corpus(200, seed=11))
    assert score.n_phi > 1500
    assert score.recall >= 0.98, score.recall_by_category
    assert score.precision >= 0.9
