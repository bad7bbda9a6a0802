"""MentaLLaMA's native IMHI task format: prompt builder, label sets and a robust label parser.

MentaLLaMA (Yang et al., WWW 2024) is instruction-tuned on prompts of the form
``Consider this post: "<post>" Question: <question>`` and answers ``<label>. Reasoning: <why>``.
Model answers drift from that template (lower case, no "Reasoning:", a bare "Yes", a synonym of
the category), so the parser matches the label sentence loosely but only inside the head of the
answer, never in the free-text reasoning (which mentions other categories on purpose).

All nine IMHI test sets are known: DR, dreaddit, SAD, CAMS, loneliness, MultiWD, Irf, t-sid and
SWMH. Questions and label sentences are copied from MentaLLaMA's own test files
(github.com/SteveKGYang/MentalLLaMA, ``test_data/test_instruction/*.csv``, and
``test_data/test_instruction_expert/swmh.csv`` for SWMH, whose instruction test file is not in the
repository snapshot we could read); the label sets are those of MentaLLaMA's scorer
(``src/IMHI.py``, ``calculate_f1``). Irf and MultiWD ask one of several questions per post (the
interpersonal risk factor, the wellness dimension) and are scored yes / no, as MentaLLaMA does.
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
# MentaLLaMA-chat-13B prefixes its answers with "Answer:" (README example of the repository).
_ANSWER = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ImhiTask:
    """One IMHI task: its question(s), its canonical labels and the answer parser.

    `questions` holds every question wording the task's test set uses (Irf and MultiWD ask one of
    several per post); `question` is the first. `file_stem` names the test file
    (`<file_stem>.csv.gz`, MentaLLaMA's own file name).
    """

    name: str
    questions: tuple[str, ...]
    labels: tuple[str, ...]
    parse: Callable[[str], str | None]
    file_stem: str = ""

    @property
    def question(self) -> str:
        return self.questions[0]

    @property
    def stem(self) -> str:
        return self.file_stem or self.name


def _head(answer: str) -> str:
    """The label part of an answer: text before 'Reasoning:' or else its first sentence/line."""
    text = _ANSWER.sub("", answer.strip(), count=1)
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
    r"|not exist|doesn't exist|not lonely|absent|no)\b"
)
_POS = re.compile(
    r"^(yes|yeah|positive|true)\b|\b(suffers|suffering|does suffer|is depressed|is stressed"
    r"|shows signs|shows this|exists|is present|lonely|likely|yes)\b"
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


Categories = tuple[tuple[str, tuple[str, ...]], ...]


def _category_parser(categories: Categories) -> Callable[[str], str | None]:
    """Earliest category mention in the answer's head wins; on a tie the longer phrase wins."""

    def parse(answer: str) -> str | None:
        head = _norm(_head(answer))
        if not head:
            return None
        best: tuple[int, int, str] | None = None
        for label, words in categories:
            for word in words:
                m = re.search(rf"\b{re.escape(word)}", head)
                if m:
                    key = (m.start(), -len(word), label)
                    if best is None or key < best:
                        best = key
        return best[2] if best else None

    return parse


# SAD (Mauriello et al., 2021) stress-cause categories, in MentaLLaMA's wording, with synonyms a
# model may use instead. The first entry of each tuple is the canonical label.
_SAD_CATEGORIES: Categories = (
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

# CAMS (Garg et al., 2022) causes of depression. Reference answers: "This post shows causes of
# depression related to <cause>." or "This post shows no causes of depression."
_CAMS_CATEGORIES: Categories = (
    ("none", ("none", "no cause", "no specific cause", "no reason")),
    ("bias or abuse", ("bias", "abuse", "discriminat", "bully", "harass")),
    ("jobs and career", ("jobs and career", "job", "career", "work", "employment", "unemploy")),
    ("medication", ("medication", "medicine", "meds", "drug")),
    ("relationship", ("relationship", "partner", "breakup", "break up")),
    ("alienation", ("alienation", "alienat", "isolat", "lonel")),
)

# T-SID (Ji et al., 2022). Reference answers: "This post shows no mental disorders." /
# "... shows depression." / "... shows suicide or self-harm tendency." / "... shows PTSD."
_TSID_CATEGORIES: Categories = (
    ("no mental disorders", ("no mental", "no disorder", "none")),
    ("suicide or self-harm tendency", ("suicide or self harm", "suicid", "self harm")),
    ("depression", ("depressi",)),
    ("ptsd", ("ptsd", "post traumatic", "posttraumatic")),
)

# SWMH (Ji et al., 2022). Reference answers: "This post shows mental disorder symptoms related
# to <suicide|depression|anxiety|bipolar disorder>." / "This post shows no mental disorder
# symptoms."
_SWMH_CATEGORIES: Categories = (
    ("no mental disorders", ("no mental", "no disorder", "none")),
    ("suicide", ("suicid", "self harm")),
    ("depression", ("depressi",)),
    ("anxiety", ("anxiety", "anxious", "panic")),
    ("bipolar disorder", ("bipolar", "mania", "manic")),
)


_MULTIWD_QUESTIONS = tuple(
    f"Does the {d} wellness dimension exist in the post?"
    for d in ("spiritual", "physical", "intellectual", "social", "vocational", "emotional")
)
_IRF_QUESTIONS = (
    "Does the post show risk of thwarted belongingness?",
    "Does the post show risk of perceived burdensomeness?",
)


def _yes_no(name: str, questions: tuple[str, ...], no: str, yes: str) -> ImhiTask:
    """A binary task: labels (no, yes), parsed by the answer's head."""
    return ImhiTask(name, questions, (no, yes), _binary_parser(yes, no))


def _categories(name: str, question: str, categories: Categories, file_stem: str = "") -> ImhiTask:
    """A multi-class task: labels in the categories' order, parsed by their keywords."""
    labels = tuple(label for label, _ in categories)
    return ImhiTask(name, (question,), labels, _category_parser(categories), file_stem)


TASKS: dict[str, ImhiTask] = {
    t.name: t
    for t in (
        _yes_no("DR", ("Does the poster suffer from depression?",), "no depression", "depression"),
        _yes_no("dreaddit", ("Does the poster suffer from stress?",), "no stress", "stress"),
        _categories("SAD", "What is the stress cause of this post?", _SAD_CATEGORIES),
        _categories("CAMS", "What cause of depression does this post show?", _CAMS_CATEGORIES),
        _yes_no(
            "loneliness",
            ("Does the poster suffer from loneliness?",),
            "no loneliness",
            "loneliness",
        ),
        _yes_no("MultiWD", _MULTIWD_QUESTIONS, "no", "yes"),
        _yes_no("Irf", _IRF_QUESTIONS, "no", "yes"),
        _categories("t-sid", "What mental disorder does this post show?", _TSID_CATEGORIES),
        _categories(
            "SWMH",
            "What mental disorder symptoms does this post show?",
            _SWMH_CATEGORIES,
            file_stem="swmh",
        ),
    )
}


def get_task(name: str) -> ImhiTask:
    """Look a task up by name (case-insensitive), with a clear error listing the known ones."""
    for key, task in TASKS.items():
        if key.lower() == name.lower():
            return task
    raise InputError(f"unknown IMHI task {name!r}; known tasks: {', '.join(TASKS)}")


def build_prompt(task: str | ImhiTask, post: str, question: str | None = None) -> str:
    """The exact MentaLLaMA prompt for a post, so the model sees its training format.

    `question` picks one of the task's questions (Irf, MultiWD); default: the first.
    """
    t = task if isinstance(task, ImhiTask) else get_task(task)
    q = t.question if question is None else question
    if q not in t.questions:
        raise InputError(f"{q!r} is not a question of IMHI task {t.name}")
    return f'{PROMPT_PREFIX}"{post}"{QUESTION_MARK}{q}'


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


def dataset_path(data_dir: Path | str, task: str | ImhiTask) -> Path:
    """`<data_dir>/<stem>.csv.gz` (MentaLLaMA's file name), else a plain `.csv` if one exists."""
    t = task if isinstance(task, ImhiTask) else get_task(task)
    gz = Path(data_dir) / f"{t.stem}.csv.gz"
    plain = Path(data_dir) / f"{t.stem}.csv"
    return plain if not gz.is_file() and plain.is_file() else gz


def load_test_set(data_dir: Path | str, task: str) -> list[ImhiItem]:
    """Load `<data_dir>/<stem>.csv[.gz]` (columns query, gpt-3.5-turbo) with gold labels."""
    t = get_task(task)
    path = dataset_path(data_dir, t)
    if not path.is_file():
        raise InputError(f"{path}: IMHI test set not found")
    items: list[ImhiItem] = []
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"query", "gpt-3.5-turbo"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for i, row in enumerate(reader):
                line = i + 2
                try:
                    post, question = split_query(row["query"])
                except ValueError:
                    raise InputError(
                        f"{path}: line {line}, column 'query': not an IMHI prompt"
                    ) from None
                if question not in t.questions:
                    raise InputError(
                        f"{path}: line {line}, column 'query': not a {t.name} question"
                    )
                gold = t.parse(row["gpt-3.5-turbo"])
                if gold is None:
                    raise InputError(
                        f"{path}: line {line}, column 'gpt-3.5-turbo': no {t.name} label found"
                    )
                items.append(ImhiItem(i, post, row["query"], row["gpt-3.5-turbo"], gold))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable IMHI file ({type(exc).__name__})") from None
    return items
