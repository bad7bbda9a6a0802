"""Verbatim evidence check: a quote counts only if it really is in the note.

Language models paraphrase and invent. A finding backed by a quote that is not in the note must
never be shown as fact, so every quote is looked up in the note after normalising case,
whitespace and typographic punctuation (curly quotes, dashes) — nothing else is forgiven.
The character span in the original note is returned so the UI can highlight it.
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
MIN_QUOTE_CHARS = 4


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


class EvidenceIndex:
    """A note prepared once for many quote look-ups."""

    def __init__(self, note: str) -> None:
        self._note = note
        self._norm = normalise(note)

    def check(self, quote: str) -> QuoteCheck:
        """Verify one quote; too-short or empty quotes are never verified."""
        core = quote.strip().strip(_STRIP)
        needle = normalise(core).text
        if len(needle) < MIN_QUOTE_CHARS:
            return QuoteCheck(quote, False)
        pos = self._norm.text.find(needle)
        if pos < 0:
            return QuoteCheck(quote, False)
        start = self._norm.index[pos]
        end = self._norm.index[pos + len(needle) - 1] + 1
        return QuoteCheck(quote, True, start, end)


def verify_quote(note: str, quote: str) -> QuoteCheck:
    """Convenience one-shot check of a single quote against a note."""
    return EvidenceIndex(note).check(quote)
