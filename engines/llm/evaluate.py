"""IMHI evaluation harness: run a model on an IMHI test set and report weighted F1.

Backs `novamind bench imhi --task DR --limit N`. Gold labels come from the reference answers
via the same parser used for the model's answers; an answer naming no label counts as wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.llm import imhi
from engines.llm.results import GenerationResult, GenParams, ModelProvenance
from engines.llm.worker import LlmWorker, new_task

UNPARSED = "<unparsed>"


@dataclass(frozen=True)
class ImhiEvaluation:
    """Weighted F1 (sklearn's definition) over the evaluated items, with provenance."""

    task: str
    n: int
    weighted_f1: float
    accuracy: float
    n_unparsed: int
    per_label_f1: dict[str, float]
    model: ModelProvenance | None
    params: GenParams
    published_reference: str


# Published weighted F1 (%) of MentaLLaMA-chat-13B on the nine IMHI test sets: Yang et al.,
# "MentaLLaMA: Interpretable Mental Health Analysis on Social Media with Large Language Models",
# WWW 2024 (arXiv:2309.13567), correctness table of the IMHI benchmark (Table 2 of the arXiv
# version). DR, dreaddit and SAD (and their ChatGPT zero-shot figures) agree with
# ../shared/data/README.md; the other six were transcribed from the same table (see docs/llm.md).
MENTALLAMA_13B: dict[str, float] = {
    "DR": 85.68,
    "dreaddit": 75.79,
    "SAD": 63.62,
    "CAMS": 45.52,
    "loneliness": 85.10,
    "MultiWD": 75.11,
    "Irf": 76.49,
    "t-sid": 75.31,
    "SWMH": 71.70,
}
CHATGPT_ZERO_SHOT: dict[str, float] = {"DR": 82.41, "dreaddit": 71.79, "SAD": 54.05}


def published_reference(task: str) -> str:
    """'MentaLLaMA-chat-13B 85.68, ChatGPT zero-shot 82.41' (what the paper reports)."""
    parts = []
    if task in MENTALLAMA_13B:
        parts.append(f"MentaLLaMA-chat-13B {MENTALLAMA_13B[task]:.2f}")
    if task in CHATGPT_ZERO_SHOT:
        parts.append(f"ChatGPT zero-shot {CHATGPT_ZERO_SHOT[task]:.2f}")
    return ", ".join(parts)


PUBLISHED = {task: published_reference(task) for task in MENTALLAMA_13B}


def weighted_f1(gold: list[str], pred: list[str]) -> tuple[float, dict[str, float]]:
    """Support-weighted mean of per-class F1 over the gold classes (as sklearn 'weighted')."""
    support = Counter(gold)
    per: dict[str, float] = {}
    for label in support:
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred) if g != label and p == label)
        fn = support[label] - tp
        per[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    total = sum(support.values())
    return (sum(per[c] * support[c] for c in support) / total if total else 0.0), per


def evaluate_imhi(
    worker: LlmWorker,
    data_dir: Path | str,
    task: str,
    limit: int | None = None,
    params: GenParams | None = None,
    model: ModelProvenance | None = None,
    on_item: Callable[[int, str | None, str], None] | None = None,
) -> ImhiEvaluation:
    """Ask the model each IMHI prompt (chat format) and score the parsed labels."""
    t = imhi.get_task(task)
    items = imhi.load_test_set(data_dir, t.name)[: limit if limit else None]
    p = params or GenParams(max_tokens=48, temperature=0.0)
    gold: list[str] = []
    pred: list[str] = []
    for item in items:
        result = None
        for out in worker.submit(new_task([("user", item.query)], params=p)):
            if isinstance(out, GenerationResult):
                result = out
        label = imhi.parse_label(t, result.text if result else "")
        gold.append(item.gold)
        pred.append(label or UNPARSED)
        if on_item:
            on_item(item.index, label, item.gold)
    f1, per = weighted_f1(gold, pred)
    acc = sum(g == p_ for g, p_ in zip(gold, pred)) / len(gold) if gold else 0.0
    return ImhiEvaluation(
        task=t.name,
        n=len(items),
        weighted_f1=f1,
        accuracy=acc,
        n_unparsed=pred.count(UNPARSED),
        per_label_f1=per,
        model=model,
        params=p,
        published_reference=PUBLISHED.get(t.name, ""),
    )
