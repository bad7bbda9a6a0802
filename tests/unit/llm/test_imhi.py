from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from engines.errors import InputError
from engines.llm import imhi
from engines.llm.evaluate import weighted_f1

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "imhi"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/imhi")

# The exact label sentences of the reference answers, mapped by hand to canonical labels.
GOLD_SENTENCES = {
    "DR": {
        "Yes, the poster suffers from depression.": "depression",
        "No, the poster does not suffer from depression.": "no depression",
    },
    "dreaddit": {
        "Yes, the poster suffers from stress.": "stress",
        "No, the poster does not suffer from stress.": "no stress",
    },
    "SAD": {
        f"This post shows the stress cause related to {c}.": c
        for c in (
            "work",
            "health issues",
            "financial problem",
            "school",
            "family issues",
            "emotion turmoil",
            "social relationships",
            "everyday decision making",
        )
    }
    | {"This post shows other stress causes.": "other causes"},
}


@pytest.mark.parametrize("task", ["DR", "dreaddit", "SAD"])
def test_parser_recovers_every_gold_label(task):
    items = imhi.load_test_set(DATA, task)
    assert len(items) > 400
    for item in items:
        head = item.reference.split("Reasoning:")[0].strip()
        assert head in GOLD_SENTENCES[task], head
        assert imhi.parse_label(task, item.reference) == GOLD_SENTENCES[task][head]
        assert item.gold == GOLD_SENTENCES[task][head]
        # the prompt builder reproduces the benchmark prompt exactly
        assert imhi.build_prompt(task, item.post) == item.query
    assert set(GOLD_SENTENCES[task].values()) == set(imhi.get_task(task).labels)


@pytest.mark.parametrize(
    ("task", "answer", "label"),
    [
        ("DR", "Yes.", "depression"),
        ("DR", "no", "no depression"),
        ("DR", "depression: yes", "depression"),
        ("DR", "The poster does not appear to suffer from depression.", "no depression"),
        ("DR", "yes, the poster is depressed\nReasoning: no sign of...", "depression"),
        ("dreaddit", "NO, the poster doesn't suffer from stress", "no stress"),
        (
            "SAD",
            "this post shows the stress cause related to Financial Problems",
            "financial problem",
        ),
        ("SAD", "Stress cause: job. Reasoning: family and school are fine", "work"),
        ("SAD", "This post shows other stress causes. Reasoning: work", "other causes"),
        ("DR", "I cannot tell.", None),
        ("SAD", "", None),
    ],
)
def test_parser_variants(task, answer, label):
    assert imhi.parse_label(task, answer) == label


def test_unknown_task_and_bad_file(tmp_path):
    with pytest.raises(InputError, match="unknown IMHI task"):
        imhi.get_task("CAMSX")
    bad = tmp_path / "DR.csv.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write('query,gpt-3.5-turbo\n"not a prompt","Yes. Reasoning: x"\n')
    with pytest.raises(InputError, match=r"DR.csv.gz: line 2, column 'query'"):
        imhi.load_test_set(tmp_path, "DR")


def test_weighted_f1_matches_hand_computation():
    gold = ["a", "a", "a", "b"]
    pred = ["a", "a", "b", "b"]
    # F1(a) = 2*2/(4+0+1) = 0.8, F1(b) = 2*1/(2+1+0) = 2/3; weighted = (3*0.8 + 2/3)/4
    f1, per = weighted_f1(gold, pred)
    assert per == pytest.approx({"a": 0.8, "b": 2 / 3})
    assert f1 == pytest.approx((3 * 0.8 + 2 / 3) / 4)
