"""Verbatim evidence check: a quote counts only if it really is in the note and says something.

Language models paraphrase and invent. A finding backed by a quote that is not in the note must
never be shown as fact, so every quote is looked up in the note after normalising case,
whitespace and typographic punctuation (curly quotes, dashes) — nothing else is forgiven.
A quote must also be at least a clause — 3 words or 20 characters after trimming surrounding
punctuation — because a fragment ("no", "low mood") is found in almost any note and proves
nothing. The character span in the original note is returned so the UI can highlight it.
"""

from __future__ import annotations

from dataclasses import dataclass

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)
_STRIP = " \t\r\n\"'.,;:…"
MIN_QUOTE_WORDS = 3  # a quote of at least this many words is a clause ...
MIN_QUOTE_CHARS = 20  # ... and so is one of at least this many characters (normalised)
REASON_TOO_SHORT = (
    f"too short to be evidence (under {MIN_QUOTE_WORDS} words and {MIN_QUOTE_CHARS} characters)"
)
REASON_NOT_FOUND = "not found word for word in the note"


@dataclass(frozen=True)
class NormalisedText:
    """Normalised text plus, for each of its characters, the index in the original."""

    text: str
    index: tuple[int, ...]


def normalise(text: str) -> NormalisedText:
    """Casefold, unify punctuation and collapse whitespace runs, keeping an index map."""
    out: list[str] = []
    idx: list[int] = []
    pending_space = False
    for i, ch in enumerate(text.translate(_TRANSLATE)):
        if ch.isspace():
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            idx.append(i - 1)
            pending_space = False
        for c in ch.casefold():
            out.append(c)
            idx.append(i)
    return NormalisedText("".join(out), tuple(idx))


@dataclass(frozen=True)
class QuoteCheck:
    """The outcome for one quote: verified with its span in the note, or not."""

    quote: str
    verified: bool
    start: int = -1
    end: int = -1
    reason: str = ""  # why it is not verified (REASON_TOO_SHORT / REASON_NOT_FOUND), else ""


def _needle(quote: str) -> str:
    """The quote as it is searched for: trimmed of surrounding quotes/punctuation, normalised."""
    return normalise(quote.strip().strip(_STRIP)).text


def _long_enough(needle: str) -> bool:
    return len(needle.split()) >= MIN_QUOTE_WORDS or len(needle) >= MIN_QUOTE_CHARS


def is_clause(quote: str) -> bool:
    """True when a quote is long enough to count as evidence: >= 3 words or >= 20 characters
    (after normalisation and trimming of surrounding quotes and punctuation)."""
    return _long_enough(_needle(quote))


class EvidenceIndex:
    """A note prepared once for many quote look-ups."""

    def __init__(self, note: str) -> None:
        self._note = note
        self._norm = normalise(note)

    def check(self, quote: str) -> QuoteCheck:
        """Verify one quote; quotes shorter than a clause (and empty ones) are never verified."""
        needle = _needle(quote)
        if not _long_enough(needle):
            return QuoteCheck(quote, False, reason=REASON_TOO_SHORT)
        pos = self._norm.text.find(needle)
        if pos < 0:
            return QuoteCheck(quote, False, reason=REASON_NOT_FOUND)
        start = self._norm.index[pos]
        end = self._norm.index[pos + len(needle) - 1] + 1
        return QuoteCheck(quote, True, start, end)


def verify_quote(note: str, quote: str) -> QuoteCheck:
    """Convenience one-shot check of a single quote against a note."""
    return EvidenceIndex(note).check(quote)
