"""Which accepted note findings feed the twin (resources/twin/note_findings.json)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from engines.errors import InputError
from engines.twin import load_observation_model
from engines.twin.findings import load_finding_rules


@pytest.mark.parametrize(
    ("kind", "label", "sources"),
    [
        ("condition", "Major depressive episode", ("nlp.depression",)),
        ("condition", "Generalised anxiety disorder", ("nlp.anxiety",)),
        ("condition", "Insomnia", ("nlp.sleep_disruption",)),
        ("condition", "Fatigue", ("nlp.activity_energy",)),
        ("risk_factor", "Passive suicidal ideation", ("nlp.risk_signal",)),
        ("risk_factor", "Recent overdose", ("nlp.risk_signal",)),
        (
            "condition",
            "depression with early morning waking",
            ("nlp.depression", "nlp.sleep_disruption"),
        ),
        ("risk_factor", "job loss", ()),  # a risk factor without suicidal wording
        ("protective_factor", "sleeps well, no self-harm", ()),  # protective: never fed
    ],
)
def test_rules_map_finding_kinds_and_labels_to_sources(kind, label, sources):
    assert load_finding_rules().sources_for(kind, label) == sources


def test_every_rule_source_is_a_flag_source_of_the_model():
    model = load_observation_model()
    for rule in load_finding_rules().rules:
        spec = model.sources[rule.source]
        z, var = spec.to_dimension(1.0)  # a present finding: a reading inside 0-1, SD >= 0.25
        assert 0.0 < z < 1.0 and var**0.5 >= 0.25


def test_a_rule_must_name_an_nlp_source(tmp_path: Path):
    doc = json.loads(
        (resources.files("resources") / "twin" / "note_findings.json").read_text("utf-8")
    )
    doc["rules"][0]["source"] = "phq9.total"
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match="not an nlp"):
        load_finding_rules(bad)
