"""Shared builders for the scoring tests (real instrument definitions, no mocks)."""

from __future__ import annotations

from engines.scoring.definitions import Instrument


def answers_for_total(inst: Instrument, total: int) -> dict[str, int]:
    """Answers to every scored item summing to ``total`` (greedy fill, first items highest)."""
    out: dict[str, int] = {}
    remaining = total
    for it in inst.items:
        if not it.scored:
            continue
        top = max(it.allowed_values)
        value = min(top, remaining)
        out[it.id] = value
        remaining -= value
    assert remaining == 0, "total out of range for this instrument"
    return out


def zero_answers(inst: Instrument) -> dict[str, int]:
    """All scored items at their lowest option."""
    return {it.id: min(it.allowed_values) for it in inst.items if it.scored}
