"""Bounded, streaming reading of one large JSON object (a FHIR Bundle) from a file.

Two passes, neither of which holds the whole document as Python objects:

1. ``scan_limits`` reads the raw bytes in chunks and checks size, nesting depth and the number
   of values BEFORE any recursive parser sees them (``json.loads`` on 100,000 nested ``[`` raises
   RecursionError). Strings are removed with a regular expression first, so brackets inside
   text do not count; what is left is counted with C-level byte operations.
2. ``iter_object`` walks the top-level object by hand and decodes each value, and each element
   of one named array (the bundle's ``entry``), with ``json.JSONDecoder.raw_decode`` on a
   sliding text window: one entry at a time is alive, so a 20,000-response bundle needs
   megabytes, not gigabytes.

Errors are ``JsonLimitError`` with a message that names the problem and a line or byte offset,
never the document's content.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, BinaryIO, Literal

CHUNK = 1 << 20

# A complete JSON string (escapes included), and the longest prefix made of non-quote bytes and
# complete strings: what follows it is a string cut by the chunk boundary.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_PREFIX = re.compile(rb'[^"]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"]*)*', re.DOTALL)
_KEEP_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _b in b"[{":
    _STEP[_b] = 1
for _b in b"]}":
    _STEP[_b] = -1
_WS = re.compile(r"[ \t\n\r]*")


class JsonLimitError(ValueError):
    """The document breaks a limit or is not valid JSON (message holds no content)."""


@dataclass(frozen=True)
class JsonLimits:
    """Resource limits for one document."""

    max_bytes: int
    max_depth: int
    max_values: int
    max_string_bytes: int = 4 << 20


def scan_limits(fh: BinaryIO, limits: JsonLimits) -> None:
    """Check size, depth and value count of the raw bytes; JsonLimitError on the first breach."""
    depth = 0
    values = 0
    total = 0
    carry = b""
    while chunk := fh.read(CHUNK):
        total += len(chunk)
        if total > limits.max_bytes:
            raise JsonLimitError(f"larger than the {limits.max_bytes // (1 << 20)} MiB limit")
        buf = carry + chunk
        end = _PREFIX.match(buf).end()  # type: ignore[union-attr]  # matches the empty string
        carry = buf[end:]
        if len(carry) > limits.max_string_bytes:
            raise JsonLimitError(
                f"a string near byte {total - len(carry)} is longer than "
                f"{limits.max_string_bytes // (1 << 20)} MiB"
            )
        plain = _STRING.sub(b"", buf[:end])
        values += plain.count(b",")
        brackets = plain.translate(None, _KEEP_BRACKETS)
        values += len(brackets)
        if values > limits.max_values:
            raise JsonLimitError(f"more than {limits.max_values:,} JSON values")
        if brackets:
            deepest = max(accumulate(map(_STEP.__getitem__, brackets), initial=depth))
            if deepest > limits.max_depth:
                raise JsonLimitError(f"nested deeper than {limits.max_depth} levels")
            opened = brackets.count(b"[") + brackets.count(b"{")
            depth += opened - (len(brackets) - opened)


Event = tuple[Literal["field", "item"], str, Any]


class _Window:
    """A sliding text window over the file for raw_decode (bounded look-ahead)."""

    def __init__(self, fh: BinaryIO, max_value_chars: int) -> None:
        self.text = io.TextIOWrapper(fh, encoding="utf-8", errors="strict", newline="")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # lines consumed before buf (for error positions)
        self.max_value_chars = max_value_chars
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            more = self.text.read(CHUNK)
        except UnicodeDecodeError:
            raise JsonLimitError(f"not UTF-8 text (near line {self._line()})") from None
        self.line += self.buf.count("\n", 0, self.pos)
        self.buf = self.buf[self.pos :] + more
        self.pos = 0
        if not more:
            self.eof = True
        return bool(more)

    def _line(self) -> int:
        return self.line + self.buf.count("\n", 0, self.pos)

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            want = " or ".join(repr(x) for x in chars)
            raise JsonLimitError(f"not valid JSON: expected {want} (line {self._line()})")
        self.pos += 1
        return c

    def value(self) -> Any:  # noqa: ANN401 — any JSON value
        """Decode the next value, reading more text until it is complete."""
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if len(self.buf) - self.pos > self.max_value_chars:
                    raise JsonLimitError(
                        f"one value is larger than {self.max_value_chars // (1 << 20)} MiB "
                        f"or not valid JSON (line {self._line()})"
                    ) from None
                if self._fill():
                    continue
                raise JsonLimitError(f"not valid JSON (line {self._line()})") from None
            except (ValueError, RecursionError):  # e.g. an integer of more than 4,300 digits
                raise JsonLimitError(f"not valid JSON: bad value (line {self._line()})") from None
            if end == len(self.buf) and self._fill():
                continue  # a number may go on in the next chunk
            self.pos = end
            return obj


def iter_object(
    fh: BinaryIO, array_key: str, max_value_chars: int = 16 << 20
) -> Generator[Event, None, None]:
    """Yield ("field", key, value) for each top-level member and ("item", key, element) for each
    element of the member ``array_key`` when it is an array, one at a time."""
    w = _Window(fh, max_value_chars)
    try:
        yield from _members(w, array_key)
    finally:
        with contextlib.suppress(ValueError):  # already closed: nothing to hand back
            w.text.detach()  # the caller owns the file


def _members(w: _Window, array_key: str) -> Iterator[Event]:
    if w.peek() == "\ufeff":  # a UTF-8 byte-order mark (Windows editors): not content
        w.pos += 1
    w.expect("{")
    seen: set[str] = set()
    if w.peek() == "}":
        w.pos += 1
    else:
        while True:
            if w.peek() != '"':
                raise JsonLimitError(f"not valid JSON: expected a member name (line {w._line()})")
            key = w.value()
            if key in seen:
                raise JsonLimitError(f"member '{_safe(key)}' appears twice")
            seen.add(key)
            w.expect(":")
            if key == array_key and w.peek() == "[":
                w.pos += 1
                if w.peek() == "]":
                    w.pos += 1
                else:
                    while True:
                        yield "item", key, w.value()
                        if w.expect(",]") == "]":
                            break
            else:
                yield "field", key, w.value()
            if w.expect(",}") == "}":
                break
    if w.peek():
        raise JsonLimitError(f"not valid JSON: extra data after the object (line {w._line()})")


def _safe(key: str) -> str:
    """A member name fit for a message: short identifiers only (never free text)."""
    return key if len(key) <= 40 and key.replace("_", "").isalnum() else "(member name)"
