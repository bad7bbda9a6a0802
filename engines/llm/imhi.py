"""MentaLLaMA's native IMHI task format: prompt builder, label sets and a robust label parser.

MentaLLaMA (Yang et al., WWW 2024) is instruction-tuned on prompts of the form
``Consider this post: "<post>" Question: <question>`` and answers ``<label>. Reasoning: <why>``.
Model answers drift from that template (lower case, no "Reasoning:", a bare "Yes", a synonym of
the category), so the parser matches the label sentence loosely but only inside the head of the
answer, never in the free-text reasoning (which mentions other categories on purpose).
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.errors import InputError

PROMPT_PREFIX = "Consider this post: "
QUESTION_MARK = " Question: "
_REASONING = re.compile(r"\breasoning\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ImhiTask:
    """One IMHI task: its question, its canonical labels and the answer parser."""

    name: str
    question: str
    labels: tuple[str, ...]
    parse: Callable[[str], str | None]


def _head(answer: str) -> str:
    """The label part of an answer: text before 'Reasoning:' or else its first sentence/line."""
    text = answer.strip()
    m = _REASONING.search(text)
    if m:
        return text[: m.start()].strip()
    first_line = text.splitlines()[0] if text else ""
    # First sentence: up to the first period followed by a space or the end.
    sentence = re.split(r"(?<=[.!?])\s", first_line, maxsplit=1)[0]
    return sentence.strip()


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'").replace("`", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_NEG = re.compile(
    r"^(no|not|none|negative|false)\b"
    r"|\b(does not|doesn't|do not|don't|did not|didn't|is not|isn't|not suffer|not suffering"
    r"|not show|no sign|no signs|no indication|no evidence|not depressed|not stressed|unlikely"
    r"|no)\b"
)
_POS = re.compile(
    r"^(yes|yeah|positive|true)\b|\b(suffers|suffering|does suffer|is depressed|is stressed"
    r"|shows signs|likely|yes)\b"
)


def _binary_parser(positive: str, negative: str) -> Callable[[str], str | None]:
    def parse(answer: str) -> str | None:
        head = _norm(_head(answer))
        if not head:
            return None
        neg = _NEG.search(head)
        pos = _POS.search(head)
        if neg and pos:
            # "No, the poster does not suffer" has both 'no' and 'suffer': negation wins when it
            # comes first or when the verb itself is negated.
            return negative if neg.start() <= pos.start() else positive
        if neg:
            return negative
        if pos:
            return positive
        return None

    return parse


# SAD (Mauriello et al., 2021) stress-cause categories, in MentaLLaMA's wording, with synonyms a
# model may use instead. The first entry of each tuple is the canonical label.
_SAD_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("school", ("school", "academic", "study", "studies", "exam", "education", "college")),
    ("financial problem", ("financial", "finance", "money", "economic", "debt")),
    ("family issues", ("family",)),
    ("social relationships", ("social relationship", "relationship", "friend", "social")),
    ("work", ("work", "job", "career", "employment", "workplace")),
    ("health issues", ("health", "illness", "medical", "sickness", "disease")),
    ("emotion turmoil", ("emotion", "emotional", "turmoil", "feeling")),
    ("everyday decision making", ("decision", "everyday", "daily life")),
    ("other causes", ("other", "others", "no specific", "unknown")),
)


def _parse_sad(answer: str) -> str | None:
    head = _norm(_head(answer))
    if not head:
        return None
    best: tuple[int, int, str] | None = None
    for label, words in _SAD_CATEGORIES:
        for word in words:
            m = re.search(rf"\b{re.escape(word)}", head)
            if m:
                # Earliest mention wins; on a tie the longer (more specific) phrase wins.
                key = (m.start(), -len(word), label)
                if best is None or key < best:
                    best = key
    return best[2] if best else None


TASKS: dict[str, ImhiTask] = {
    "DR": ImhiTask(
        name="DR",
        question="Does the poster suffer from depression?",
        labels=("no depression", "depression"),
        parse=_binary_parser("depression", "no depression"),
    ),
    "dreaddit": ImhiTask(
        name="dreaddit",
        question="Does the poster suffer from stress?",
        labels=("no stress", "stress"),
        parse=_binary_parser("stress", "no stress"),
    ),
    "SAD": ImhiTask(
        name="SAD",
        question="What is the stress cause of this post?",
        labels=tuple(label for label, _ in _SAD_CATEGORIES),
        parse=_parse_sad,
    ),
}


def get_task(name: str) -> ImhiTask:
    """Look a task up by name (case-insensitive), with a clear error listing the known ones."""
    for key, task in TASKS.items():
        if key.lower() == name.lower():
            return task
    raise InputError(f"unknown IMHI task {name!r}; known tasks: {', '.join(TASKS)}")


def build_prompt(task: str | ImhiTask, post: str) -> str:
    """The exact MentaLLaMA prompt for a post, so the model sees its training format."""
    t = task if isinstance(task, ImhiTask) else get_task(task)
    return f'{PROMPT_PREFIX}"{post}"{QUESTION_MARK}{t.question}'


def parse_label(task: str | ImhiTask, answer: str) -> str | None:
    """Canonical label of a model answer, or None when the answer names no label."""
    t = task if isinstance(task, ImhiTask) else get_task(task)
    return t.parse(answer)


def split_query(query: str) -> tuple[str, str]:
    """Split an IMHI prompt back into (post, question); ValueError if it is not one."""
    if not query.startswith(PROMPT_PREFIX + '"'):
        raise ValueError("not an IMHI prompt")
    idx = query.rfind('"' + QUESTION_MARK)
    if idx < 0:
        raise ValueError("not an IMHI prompt")
    return query[len(PROMPT_PREFIX) + 1 : idx], query[idx + len(QUESTION_MARK) + 1 :]


@dataclass(frozen=True)
class ImhiItem:
    """One test item: the post, the exact prompt and the gold label from the reference answer."""

    index: int
    post: str
    query: str
    reference: str
    gold: str


def load_test_set(data_dir: Path | str, task: str) -> list[ImhiItem]:
    """Load `<data_dir>/<task>.csv.gz` (columns query, gpt-3.5-turbo) with gold labels."""
    t = get_task(task)
    path = Path(data_dir) / f"{t.name}.csv.gz"
    if not path.is_file():
        raise InputError(f"{path}: IMHI test set not found")
    items: list[ImhiItem] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"query", "gpt-3.5-turbo"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for i, row in enumerate(reader):
                line = i + 2
                try:
                    post, _question = split_query(row["query"])
                except ValueError:
                    raise InputError(
                        f"{path}: line {line}, column 'query': not an IMHI prompt"
                    ) from None
                gold = t.parse(row["gpt-3.5-turbo"])
                if gold is None:
                    raise InputError(
                        f"{path}: line {line}, column 'gpt-3.5-turbo': no {t.name} label found"
                    )
                items.append(ImhiItem(i, post, row["query"], row["gpt-3.5-turbo"], gold))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable IMHI file ({type(exc).__name__})") from None
    return items
