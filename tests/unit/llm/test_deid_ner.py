"""The optional NER stage of the scrubber (engines/llm/deid_ner.py).

With spaCy's small English model installed (requirements/deid-ner.txt) the model runs for real:
it finds names the rules have no cue for, its names propagate like the rules', states stay, and
the result says which stages ran. Without it those tests are skipped, and the rest check that
the scrubber runs its rules alone, says so, and refuses a configured model it cannot load.
"""

from __future__ import annotations

import importlib.util

import pytest

from engines.llm import deid_ner
from engines.llm.deid import Scrubber, find_phi, scrub
from engines.llm.deid_ner import NerUnavailableError

HAVE_MODEL = deid_ner.installed()
HAVE_SPACY = importlib.util.find_spec("spacy") is not None
needs_model = pytest.mark.skipif(
    not HAVE_MODEL,
    reason=(
        f"spaCy model {deid_ner.DEFAULT_MODEL} not installed "
        f"({deid_ner.INSTALL_HINT}): the NER stage cannot run"
    ),
)
# Names with no cue the rules know: no title, relation, verb of a person or credential.
NO_CUE = "Tearful whenever Ingrid Halvorsen was mentioned."


@needs_model
def test_model_finds_a_name_the_rules_miss():
    assert "Halvorsen" in scrub(NO_CUE).text  # the rules alone leave it
    out = scrub(NO_CUE, ner=deid_ner.load())
    assert "Ingrid" not in out.text and "Halvorsen" not in out.text
    assert out.text == "Tearful whenever [NAME] was mentioned."
    assert out.stages == ("rules", f"ner:{deid_ner.DEFAULT_MODEL} 3.8.0")


@needs_model
def test_a_model_name_is_removed_everywhere_in_the_note():
    text = NO_CUE + "\nlater halvorsen phoned to say thanks."
    out = scrub(text, ner=deid_ner.load()).text
    assert "halvorsen" not in out.lower()


@needs_model
def test_model_places_go_and_states_stay():
    text = "He grew up near Bakersfield and spent his twenties in Oregon and Texas."
    out = scrub(text, ner=deid_ner.load()).text
    assert "Bakersfield" not in out
    # the rules' policy: a state is not a Safe Harbor identifier unless the rules take it
    rules = scrub(text).text
    for state in ("Oregon", "Texas"):
        assert (state in out) == (state in rules)


@needs_model
def test_model_is_loaded_once_and_the_default_setting_uses_it(monkeypatch):
    monkeypatch.delenv(deid_ner.SETTING, raising=False)
    assert deid_ner.load() is deid_ner.load()
    scrubber = Scrubber()
    assert scrubber.ner is deid_ner.load()
    assert scrubber.stages[1].startswith("ner:")
    assert "Halvorsen" not in scrubber.scrub(NO_CUE).text


@needs_model
def test_clinical_words_stay_with_the_model():
    text = (
        "Mood 4/10, affect constricted. Sertraline 150 mg continued; Lithium level 0.6.\n"
        "Mental Status Exam\nElectronically signed, no changes."
    )
    out = scrub(text, ner=deid_ner.load()).text
    for kept in ("Mood 4/10", "Sertraline", "Lithium", "Mental Status Exam", "Electronically"):
        assert kept in out, (kept, out)


def test_rules_only_by_default_and_said_so():
    out = scrub(NO_CUE)
    assert out.stages == ("rules",)
    assert [s for s, _ in find_phi(NO_CUE)] == list(out.spans)


def test_setting_off_runs_the_rules_alone(monkeypatch):
    monkeypatch.setenv(deid_ner.SETTING, "off")
    scrubber = Scrubber()
    assert scrubber.ner is None and scrubber.stages == ("rules",)
    assert scrubber.scrub(NO_CUE) == scrub(NO_CUE)


def test_without_the_model_auto_falls_back_to_the_rules(monkeypatch):
    # As on a machine without requirements/deid-ner.txt: the default package is absent.
    monkeypatch.setattr(deid_ner, "DEFAULT_MODEL", "novamind_no_such_spacy_model")
    monkeypatch.delenv(deid_ner.SETTING, raising=False)
    assert deid_ner.from_setting() is None
    scrubber = Scrubber("auto")
    assert scrubber.stages == ("rules",)
    assert scrubber.scrub(NO_CUE) == scrub(NO_CUE)


def test_a_configured_model_that_is_missing_is_named():
    # without spaCy the message names spaCy instead; either way the package to install
    missing = "novamind_no_such_spacy_model" if HAVE_SPACY else "'spacy'"
    with pytest.raises(NerUnavailableError, match=missing):
        Scrubber("novamind_no_such_spacy_model")
    with pytest.raises(NerUnavailableError, match="not a spaCy package name"):
        deid_ner.load("../etc/passwd")


needs_spacy = pytest.mark.skipif(
    not HAVE_SPACY, reason=f"spaCy not installed ({deid_ner.INSTALL_HINT})"
)


@needs_spacy
def test_a_configured_package_that_is_not_a_model_is_named():
    with pytest.raises(NerUnavailableError, match="'json' is installed but failed to load"):
        deid_ner.load("json")


@needs_spacy
def test_a_broken_model_package_is_named(tmp_path, monkeypatch):
    # An installed package (code and dist-info) whose model data will not load.
    pkg = tmp_path / "novamind_broken_ner"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "def load(**overrides):\n    raise OSError('weights file truncated')\n", encoding="utf-8"
    )
    info = tmp_path / "novamind_broken_ner-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: novamind_broken_ner\nVersion: 1.0\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(NerUnavailableError, match="novamind_broken_ner.*weights file truncated"):
        deid_ner.load("novamind_broken_ner")


def test_a_stage_offering_states_or_bad_spans_changes_nothing_else():
    # Any callable of the Ner shape is a stage; the rules' policy applies to what it offers.
    text = "Lives in Portland, Oregon with Bram."

    def stage(t: str) -> list[tuple[str, int, int]]:
        return [
            ("LOCATION", t.index("Oregon"), t.index("Oregon") + 6),
            ("NAME", t.index("Bram"), t.index("Bram") + 4),
            ("NAME", 5, 500),  # out of range: ignored
        ]

    out = scrub(text, ner=stage)
    assert "Oregon" in out.text and "Bram" not in out.text
    assert out.stages == ("rules", "ner")


def test_words_a_stage_runs_on_into_are_cut_and_particles_kept():
    text = "Seen at home; Grandmother van der Vlist\nSupport worker visits. Electronically signed."

    def stage(t: str) -> list[tuple[str, int, int]]:
        return [
            ("NAME", t.index("Grand"), t.index("worker")),  # "Grandmother van ...\nSupport"
            ("NAME", t.index("Electronically"), t.index("Electronically") + 14),
        ]

    out = scrub(text, ner=stage).text
    assert "Vlist" not in out and " van der " not in out
    assert out.startswith("Seen at home; Grandmother [NAME]\nSupport worker")
    assert "Electronically signed" in out
