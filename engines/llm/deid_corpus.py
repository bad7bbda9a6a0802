"""Synthetic psychiatric notes with surrogate PHI, and recall/precision of the scrubber on them.

Every identifier in a generated note is fake (surrogate) and its span is recorded, so recall
and precision can be measured exactly. Half of the first names are deliberately *outside* the
scrubber's name lexicon, so the figures also measure the context rules, not the lexicon.
Non-PHI distractors (drug names, scores, doses, years, weekdays) test precision.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from engines.llm.deid import FIRST_NAMES, scrub

_OUT_OF_LEXICON = (
    "Thaddeus Ottoline Bertrand Imogen Leopold Saoirse Ezekiel Rosalind Cornelius Philippa "
    "Anselm Perpetua Lysander Clementine Barnaby Wilhelmina Ignatius Marguerite Osric Delphine"
).split()
_IN_LEXICON = sorted(n.capitalize() for n in FIRST_NAMES if len(n) > 3)[:60]
_SURNAMES = (
    "Okafor Lindqvist Moreau Castellano Nakamura Brennan Kowalczyk Haddad Ferreira Abernathy "
    "Vasquez Thornbury Oyelaran Petrov Whitcombe Delacroix Mbeki Halvorsen Quintero Ashdown"
).split()
_CITIES = (
    "Springfield Riverton Lakewood Fairview Brookhaven Millbrook Ashford Kingsport Harborview "
    "Cedar Falls"
).split(" ")
_STATES = "OH TX CA NY WA MA IL GA".split()
_STREETS = "Maple Oak Elm Willow Birch Chestnut Sycamore Juniper".split()
_SUFFIX = "Street Avenue Road Lane Drive Court".split()
_HOSPITALS = ("St Brendan Hospital", "Northfield Medical Center", "Lakeside Behavioral Health")
_MONTHS = (
    "January February March April May June July August September October November December".split()
)
_DRUGS = "Sertraline Fluoxetine Quetiapine Lithium Lamotrigine Bupropion Mirtazapine".split()


@dataclass(frozen=True)
class SyntheticNote:
    """A generated note and the true identifier spans in it."""

    text: str
    phi: tuple[tuple[str, int, int], ...]  # (category, start, end)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.phi: list[tuple[str, int, int]] = []
        self.pos = 0

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def phi_(self, cat: str, s: str) -> None:
        self.phi.append((cat, self.pos, self.pos + len(s)))
        self.text(s)


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2015, 2026), rng.randint(1, 12), rng.randint(1, 28)
    fmt = rng.randrange(5)
    if fmt == 0:
        return f"{m:02d}/{d:02d}/{y}"
    if fmt == 1:
        return f"{y}-{m:02d}-{d:02d}"
    if fmt == 2:
        return f"{_MONTHS[m - 1]} {d}, {y}"
    if fmt == 3:
        return f"{d} {_MONTHS[m - 1]} {y}"
    return f"{m}/{d}"


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(200, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}"])


def generate_note(rng: random.Random) -> SyntheticNote:
    """One note of 6-10 sentences drawn from clinical templates with surrogate identifiers."""
    b = _Builder()
    pool = _OUT_OF_LEXICON if rng.random() < 0.5 else _IN_LEXICON
    first, last = rng.choice(pool), rng.choice(_SURNAMES)
    rel = rng.choice(["sister", "husband", "mother", "friend", "son"])
    rel_name = rng.choice(_OUT_OF_LEXICON + _IN_LEXICON)
    clin = rng.choice(_SURNAMES)

    def s_intro() -> None:
        b.text("Patient: ")
        b.phi_("NAME", f"{first} {last}")
        b.text(", MRN ")
        b.phi_("ID", str(rng.randint(10**6, 10**8)))
        b.text(". Seen on ")
        b.phi_("DATE", _date(rng))
        b.text(" for follow-up of depression. ")

    def s_age() -> None:
        age = rng.choice([34, 47, 58, 71, 88, 91, 94, 97])
        if age > 89:
            b.phi_("AGE", f"{age}-year-old")
        else:
            b.text(f"{age}-year-old")
        b.text(" presenting with low mood and poor sleep since 2019. ")

    def s_family() -> None:
        b.phi_("NAME", first)
        b.text(f" says her {rel} ")
        b.phi_("NAME", rel_name)
        b.text(" visits every Sunday and is supportive. ")

    def s_address() -> None:
        b.text("Lives at ")
        b.phi_("ADDRESS", f"{rng.randint(10, 9999)} {rng.choice(_STREETS)} {rng.choice(_SUFFIX)}")
        b.text(", ")
        b.phi_("LOCATION", rng.choice(_CITIES))
        b.text(f", {rng.choice(_STATES)} ")
        b.phi_("ZIP", f"{rng.randint(10000, 99999)}")
        b.text(". ")

    def s_contact() -> None:
        b.text("Phone ")
        b.phi_("PHONE", _phone(rng))
        b.text(", email ")
        b.phi_("EMAIL", f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.org")
        b.text(". ")

    def s_fax() -> None:
        b.text("Records faxed to ")
        b.phi_("LOCATION", rng.choice(_HOSPITALS))
        b.text(" (")
        b.text("fax ")
        b.phi_("FAX", _phone(rng))  # the number is the identifier, not the word "fax"
        b.text("). ")

    def s_meds() -> None:
        drug = rng.choice(_DRUGS)
        b.text(
            f"Continue {drug} {rng.choice([25, 50, 100, 150])} mg daily; PHQ-9 score "
            f"{rng.randint(3, 24)}, GAD-7 {rng.randint(2, 20)}. Review on Monday. "
        )

    def s_ids() -> None:
        b.text("SSN ")
        b.phi_("SSN", f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}")
        b.text(", insurance member ID ")
        b.phi_("ID", f"XK{rng.randint(100000, 999999)}")
        b.text(". ")

    def s_web() -> None:
        b.text("Uses the portal at ")
        b.phi_("URL", f"https://portal.example.org/u/{rng.randint(1000, 9999)}")
        b.text(" from IP ")
        b.phi_("IP", ".".join(str(rng.randint(1, 254)) for _ in range(4)))
        b.text(". ")

    def s_sign() -> None:
        b.text("Signed: Dr. ")
        b.phi_("NAME", clin)
        b.text(", ")
        b.phi_("DATE", _date(rng))
        b.text(". ")

    def s_plain() -> None:
        b.text(
            rng.choice(
                [
                    "Denies suicidal ideation, no plan or intent. ",
                    "Sleep improved to six hours; appetite fair. ",
                    "Mental status: alert, oriented, affect constricted. ",
                    "Started CBT in March with good engagement. ",
                    "Major Depressive Disorder, recurrent, moderate. ",
                ]
            )
        )

    body = [s_age, s_family, s_address, s_contact, s_fax, s_meds, s_ids, s_web, s_plain, s_plain]
    rng.shuffle(body)
    s_intro()
    for f in body[: rng.randint(5, len(body))]:
        f()
    s_sign()
    return SyntheticNote("".join(b.parts), tuple(sorted(b.phi, key=lambda x: x[1])))


def generate_corpus(n: int, seed: int = 0) -> list[SyntheticNote]:
    """`n` reproducible synthetic notes."""
    rng = random.Random(seed)  # seeded synthetic corpus  # nosec B311
    return [generate_note(rng) for _ in range(n)]


@dataclass(frozen=True)
class DeidScore:
    """Span-level recall (identifiers fully removed) and precision (removed spans that are PHI)."""

    n_phi: int
    n_removed: int
    recall: float
    precision: float
    recall_by_category: dict[str, float]


def measure(corpus: list[SyntheticNote]) -> DeidScore:
    """Score the scrubber: a true identifier counts as found only if all its characters go."""
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    tp_spans = 0
    n_spans = 0
    for note in corpus:
        spans = scrub(note.text).spans
        covered = bytearray(len(note.text))
        for s in spans:
            covered[s.start : s.end] = b"\x01" * (s.end - s.start)
        for cat, start, end in note.phi:
            total[cat] += 1
            if all(covered[i] or note.text[i].isspace() for i in range(start, end)):
                hit[cat] += 1
        for s in spans:
            n_spans += 1
            if any(s.start < e and st < s.end for _c, st, e in note.phi):
                tp_spans += 1
    n_phi = sum(total.values())
    return DeidScore(
        n_phi=n_phi,
        n_removed=n_spans,
        recall=sum(hit.values()) / n_phi if n_phi else 1.0,
        precision=tp_spans / n_spans if n_spans else 1.0,
        recall_by_category={c: hit[c] / total[c] for c in sorted(total)},
    )
