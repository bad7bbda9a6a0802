"""Rule-based de-identification of free text for the HIPAA Safe Harbor identifiers.

Used for researcher views and exports. Names are found from context (titles, relations, "seen
by", signatures) and a first-name lexicon, then every other occurrence of a found name is
removed too; dates keep only the year; ages over 89 become "90+". Patterns favour recall: a
missed identifier is a privacy breach, an over-scrubbed word is an inconvenience.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIRST_NAMES = frozenset(
    """james john robert michael william david richard joseph thomas charles christopher daniel
    matthew anthony donald steven paul andrew joshua kenneth kevin brian george edward ronald
    timothy jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott
    brandon benjamin samuel gregory frank alexander raymond patrick jack dennis jerry tyler aaron
    jose adam henry nathan douglas zachary peter kyle walter ethan jeremy harold keith christian
    roger noah gerald carl terry sean austin arthur lawrence jesse dylan bryan joe jordan billy
    bruce albert willie gabriel logan alan juan wayne roy ralph randy eugene vincent russell
    elijah louis bobby philip johnny mary patricia jennifer linda elizabeth barbara susan jessica
    sarah karen nancy lisa betty margaret sandra ashley kimberly emily donna michelle dorothy
    carol amanda melissa deborah stephanie rebecca sharon laura cynthia kathleen amy shirley
    angela helen anna brenda pamela nicole emma samantha katherine christine debra rachel
    catherine carolyn janet ruth maria heather diane virginia julie joyce victoria olivia kelly
    christina lauren joan evelyn judith megan cheryl andrea hannah martha jacqueline frances
    gloria ann teresa kathryn sara janice jean alice madison doris abigail julia judy sophia
    marie denise danielle marilyn beverly isabella theresa diana natalie brittany charlotte
    kayla alexis lori maya priya aisha fatima mohammed ahmed wei li chen yuki hiroshi carlos
    luis miguel sofia lucia elena ivan olga""".split()
)
# Words that are also common names but mostly mean something else in notes.
_AMBIGUOUS = frozenset({"will", "may", "june", "april", "grace", "hope", "faith", "mark", "bill"})

_NAME = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_FULL = rf"{_NAME}(?:\s+[A-Z]\.)?(?:\s+{_NAME})?"
_TITLE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Mx)\.?\s+({_FULL})")
_CUE = re.compile(
    r"\b(?:[Pp]atient(?: name)?(?: is)?:?|[Pp]t(?: is)?:?|[Nn]amed|[Cc]alled|[Ss]een by|"
    r"[Ss]igned(?: by)?:?|[Rr]eferred by|[Ss]poke with|[Mm]et with|[Cc]ontact:?|"
    r"(?:[Hh]is|[Hh]er|[Tt]heir|[Mm]y)\s+(?:wife|husband|mother|father|son|daughter|sister|"
    r"brother|partner|friend|boyfriend|girlfriend|mom|dad|aunt|uncle|cousin|therapist|"
    r"psychiatrist|counsell?or|case manager|roommate|neighbou?r|boss|employer|grandmother|"
    r"grandfather|fianc[ée]e?),?)\s+"
    rf"(?!(?:Mr|Mrs|Ms|Miss|Dr|Prof|Mx)\b)({_FULL})"
)
_LEX = re.compile(rf"\b({_NAME})(\s+{_NAME})?\b")

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_YEAR = r"(?:19|20)\d{2}"
_DATE_PATTERNS = [
    re.compile(rf"\b(\d{{1,2}})[/.-](\d{{1,2}})[/.-]({_YEAR}|\d{{2}})\b"),
    re.compile(rf"\b({_YEAR})[/.-](\d{{1,2}})[/.-](\d{{1,2}})\b"),
    re.compile(rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+({_YEAR}))?\b"),
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?(?:\s+({_YEAR}))?\b"),
    re.compile(rf"\b{_MONTHS}\s+({_YEAR})\b"),
    re.compile(r"\b(\d{1,2})/(\d{1,2})\b(?!\s*(?:mg|ml|h|hrs?|days?|weeks?))"),
]
_AGE = re.compile(
    r"\b(?:age[ds]?\s*:?\s*|)(9\d|1[0-2]\d)(?:\s*|-)(?:years?|yrs?|y/?o|year-old)(?:[- ]old)?\b"
    r"|\bage[ds]?\s*:?\s*(9\d|1[0-2]\d)\b",
    re.IGNORECASE,
)
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|"
    r"Terrace|Circle|Parkway|Highway|Hwy)"
)
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    r"NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)"
)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:)]", re.IGNORECASE)),
    ("IP", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    (
        "FAX",
        re.compile(
            r"(?i:\bfax\b)[^\d\n]{0,12}(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b"
        ),
    ),
    ("PHONE", re.compile(r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b")),
    (
        "ID",
        re.compile(
            r"(?i:\b(?:MRN|medical record(?: number| no\.?| #)?|acct|account(?: number| no\.?)?|"
            r"policy|member(?: id)?|insurance(?: id)?|health plan(?: id)?|beneficiary(?: id)?|"
            r"licen[cs]e(?: number| no\.?)?|certificate(?: number| no\.?)?|DEA|NPI|serial"
            r"(?: number| no\.?)?|device(?: id)?|VIN|plate|ID|record)\b)\s*(?:#|:|number|no\.?)?"
            r"\s*[A-Z0-9][A-Z0-9-]{3,}\b"
        ),
    ),
    ("ID", re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")),
    ("ID", re.compile(r"\b\d{6,}\b")),
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,6}}\s+(?:{_NAME}\s+){{1,3}}{_STREET}\.?(?:,?\s+(?:Apt|Unit|#)\s*\w+)?"
        ),
    ),
    ("ZIP", re.compile(rf"\b(?<={_STATES} )\d{{5}}(?:-\d{{4}})?\b|\b\d{{5}}-\d{{4}}\b")),
    (
        "LOCATION",
        re.compile(rf"\b({_NAME}(?:\s+{_NAME})?)(?=,\s+{_STATES}\b)"),
    ),
    (
        "LOCATION",
        re.compile(
            rf"\b(?:{_NAME}\s+){{1,3}}(?:Hospital|Medical Center|Clinic|Health Center|"
            rf"Infirmary|Sanatorium|Behavioral Health)\b"
        ),
    ),
    (
        "LOCATION",
        re.compile(
            rf"(?:(?<=lives in )|(?<=living in )|(?<=moved to )|(?<=moved from )|(?<=born in )|"
            rf"(?<=grew up in )|(?<=resides in )|(?<=from ))(?:{_NAME})(?:\s+{_NAME})?"
        ),
    ),
]


@dataclass(frozen=True)
class PhiSpan:
    """A removed identifier: category and its [start, end) span in the original text."""

    category: str
    start: int
    end: int


@dataclass(frozen=True)
class ScrubResult:
    """De-identified text plus the spans that were replaced."""

    text: str
    spans: tuple[PhiSpan, ...]


def _date_year(m: re.Match[str]) -> str:
    years = [g for g in m.groups() if g and re.fullmatch(_YEAR, g)]
    if years:
        return years[0]
    for g in m.groups():
        if g and len(g) == 2 and m.re is _DATE_PATTERNS[0] and g == m.group(3):
            return "[YEAR]"
    return "[DATE]"


def _find_names(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for rx in (_TITLE, _CUE):
        for m in rx.finditer(text):
            spans.append((m.start(1), m.end(1)))
    for m in _LEX.finditer(text):
        first = m.group(1).lower()
        if first in FIRST_NAMES and first not in _AMBIGUOUS:
            spans.append((m.start(), m.end()))
    # Propagate: every other occurrence of a found name token is removed too.
    tokens = {
        tok
        for s, e in spans
        for tok in re.findall(_NAME, text[s:e])
        if len(tok) > 1 and tok.lower() not in _AMBIGUOUS
    }
    for tok in tokens:
        for m in re.finditer(rf"\b{re.escape(tok)}\b", text):
            spans.append((m.start(), m.end()))
    return spans


def find_phi(text: str) -> list[tuple[PhiSpan, str]]:
    """All identifier spans with their replacement text (overlaps resolved, longest first)."""
    found: list[tuple[PhiSpan, str]] = []
    for cat, rx in _PATTERNS:
        for m in rx.finditer(text):
            found.append((PhiSpan(cat, m.start(), m.end()), f"[{cat}]"))
    for rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            found.append((PhiSpan("DATE", m.start(), m.end()), _date_year(m)))
    for m in _AGE.finditer(text):
        found.append((PhiSpan("AGE", m.start(), m.end()), "90+ years"))
    for s, e in _find_names(text):
        found.append((PhiSpan("NAME", s, e), "[NAME]"))
    found.sort(key=lambda x: (x[0].start, -(x[0].end - x[0].start)))
    merged: list[tuple[PhiSpan, str]] = []
    for span, rep in found:
        if merged and span.start < merged[-1][0].end:
            prev, prev_rep = merged[-1]
            if span.end > prev.end:
                merged[-1] = (PhiSpan(prev.category, prev.start, span.end), prev_rep)
            continue
        merged.append((span, rep))
    return merged


def scrub(text: str) -> ScrubResult:
    """Replace Safe Harbor identifiers: tags for most, the year for dates, '90+' for ages."""
    out: list[str] = []
    pos = 0
    spans = find_phi(text)
    for span, rep in spans:
        out.append(text[pos : span.start])
        out.append(rep)
        pos = span.end
    out.append(text[pos:])
    return ScrubResult("".join(out), tuple(s for s, _ in spans))
