from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from engines.errors import InputError
from engines.llm import imhi
from engines.llm.evaluate import MENTALLAMA_13B, weighted_f1

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
    # Every reference answer of every shared test set: the label sentence before "Reasoning:"
    # is mapped by hand above, and the parser must give the same label for each one.
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


# Tasks without a local test set: the label sentences and answer format of MentaLLaMA's own test
# files (github.com/SteveKGYang/MentalLLaMA, test_data/test_instruction/<task>.csv and
# test_data/test_instruction_expert/swmh.csv). Each reasoning names other labels on purpose: the
# parser must read the label sentence only.
REPO_EXAMPLES = {
    "CAMS": {
        "This post shows causes of depression related to medication.": "medication",
        "This post shows causes of depression related to alienation.": "alienation",
        "This post shows causes of depression related to relationship.": "relationship",
        "This post shows causes of depression related to jobs and career.": "jobs and career",
        "This post shows causes of depression related to bias or abuse.": "bias or abuse",
        "This post shows no causes of depression.": "none",
    },
    "loneliness": {
        "Yes, the poster suffers from loneliness.": "loneliness",
        "No, the poster does not suffer from loneliness.": "no loneliness",
    },
    "MultiWD": {
        "Yes, this wellness dimension exists in the post.": "yes",
        "No, this wellness dimension does not exist in the post.": "no",
    },
    "Irf": {
        "Yes, the post shows this risk.": "yes",
        "No, the post does not show this risk.": "no",
    },
    "t-sid": {
        "This post shows suicide or self-harm tendency.": "suicide or self-harm tendency",
        "This post shows no mental disorders.": "no mental disorders",
        "This post shows depression.": "depression",
        "This post shows PTSD.": "ptsd",
    },
    "SWMH": {
        "This post shows mental disorder symptoms related to suicide.": "suicide",
        "This post shows mental disorder symptoms related to bipolar disorder.": "bipolar disorder",
        "This post shows mental disorder symptoms related to anxiety.": "anxiety",
        "This post shows mental disorder symptoms related to depression.": "depression",
        "This post shows no mental disorder symptoms.": "no mental disorders",
    },
}
# Reasonings in MentaLLaMA's style that name the other labels (the scorer must not read them).
DISTRACTING_REASONING = {
    "CAMS": "no causes of bias, abuse, jobs and career, medication, alienation or relationships",
    "loneliness": "no, the poster is not lonely; yes, they mention friends",
    "MultiWD": "no mention of growth; yes, the emotional dimension exists",
    "Irf": "1. No sign of belongingness.\n2. Yes, the post mentions a burden.",
    "t-sid": "No mental disorders, depression or PTSD are suggested.",
    "SWMH": "no mention of depression, anxiety, bipolar disorder or suicide",
}


@pytest.mark.parametrize("task", sorted(REPO_EXAMPLES))
def test_parser_recovers_gold_of_the_repository_answer_formats(task, tmp_path):
    t = imhi.get_task(task)
    assert set(REPO_EXAMPLES[task].values()) == set(t.labels)
    rows = []
    for i, (sentence, gold) in enumerate(REPO_EXAMPLES[task].items()):
        answer = f"{sentence} Reasoning: {DISTRACTING_REASONING[task]}"
        assert imhi.parse_label(task, answer) == gold, answer
        assert imhi.parse_label(task, f"Answer: {answer}") == gold  # MentaLLaMA-13B's prefix
        question = t.questions[i % len(t.questions)]
        rows.append((imhi.build_prompt(task, f"post {i}", question), answer, gold))
    # the loader reads MentaLLaMA's file name and recovers every gold label
    path = tmp_path / f"{t.stem}.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query", "gpt-3.5-turbo"])
        writer.writerows(row[:2] for row in rows)
    items = imhi.load_test_set(tmp_path, task)
    assert [item.gold for item in items] == [row[2] for row in rows]
    assert [item.post for item in items] == [f"post {i}" for i in range(len(rows))]


def test_all_nine_tasks_with_mentallama_questions_and_published_figures():
    assert list(imhi.TASKS) == [
        "DR", "dreaddit", "SAD", "CAMS", "loneliness", "MultiWD", "Irf", "t-sid", "SWMH",
    ]  # fmt: skip
    assert set(MENTALLAMA_13B) == set(imhi.TASKS)
    assert imhi.get_task("cams").question == "What cause of depression does this post show?"
    assert imhi.get_task("swmh").stem == "swmh"
    assert len(imhi.get_task("MultiWD").questions) == 6
    assert imhi.get_task("Irf").questions == (
        "Does the post show risk of thwarted belongingness?",
        "Does the post show risk of perceived burdensomeness?",
    )
    assert imhi.build_prompt("Irf", "p", "Does the post show risk of perceived burdensomeness?")
    with pytest.raises(InputError, match="not a question"):
        imhi.build_prompt("DR", "p", "Does the poster suffer from stress?")


def test_loader_refuses_another_tasks_question(tmp_path):
    with gzip.open(tmp_path / "loneliness.csv.gz", "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query", "gpt-3.5-turbo"])
        writer.writerow([imhi.build_prompt("DR", "a post"), "Yes. Reasoning: x"])
    with pytest.raises(InputError, match="line 2, column 'query': not a loneliness question"):
        imhi.load_test_set(tmp_path, "loneliness")


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
