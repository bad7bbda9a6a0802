"""Print each model's interval coverage and Brier skill from its signed card (docs/models.md).

``python -m engines.xgb.coverage [--models resources/models]`` reads the active version of
every model in the registry (verified like any load) and prints a Markdown table: nominal
level, coverage of the true risk on the test split overall / with missing inputs / complete
(95 % Wilson CI), median width and q of each group, Brier skill and whether the model is shown
as a risk score; then coverage by number of missing inputs.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .registry import ModelRegistry
from .signing import load_trusted_keys


def _cov(c: Mapping[str, Any] | None) -> str:
    if not c or c.get("value") is None:
        return "—"
    return f"{c['value']:.1%} ({c['ci_low']:.1%}–{c['ci_high']:.1%}), n={c['n']:,}"


def _num(v: Any, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


_GROUPS = ("overall", "with_missing", "complete")


def table(cards: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of coverage, median width per group, the per-group q and skill."""
    lines = [
        "| model | nominal | coverage, all (95% CI) | with missing inputs | complete inputs "
        "| median width all / missing / complete | q complete / missing "
        "| Brier skill (95% CI) | shown as risk score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cards:
        unc, sk = c.get("uncertainty") or {}, c.get("skill") or {}
        cov = unc.get("coverage") or {}
        if cov.get("measured"):
            cells = [_cov(cov.get(k)) for k in _GROUPS]
        else:
            cells = ["not measured", "—", "—"]
        w = unc.get("median_width") or {}
        width = " / ".join(_num(w.get(k), ".3f") for k in _GROUPS)
        groups = (unc.get("mondrian") or {}).get("groups") or {}
        qs = " / ".join(_num((groups.get(k) or {}).get("q"), ".3f") for k in _GROUPS[1:][::-1])
        if not groups:
            qs = f"{_num(unc.get('q'), '.3f')} (one q for all)"
        ci = sk.get("brier_skill_ci")
        skill = _num(sk.get("brier_skill"), ".3f")
        if ci:
            skill += f" ({ci[0]:.3f}–{ci[1]:.3f})"
        shown = sk.get("shown_as_risk_score")
        lines.append(
            f"| {c['name']} | {unc.get('nominal', 0):.0%} | {' | '.join(cells)} | {width} | "
            f"{qs} | {skill} | {'—' if shown is None else ('yes' if shown else 'no (withheld)')} |"
        )
    return "\n".join(lines)


def count_table(cards: Sequence[Mapping[str, Any]]) -> str:
    """Coverage by number of missing inputs (0, 1, 2, 3+) and where each group's q came from."""
    labels = ("0", "1", "2", "3+")
    lines = [
        "| model | " + " | ".join(f"{k} missing" for k in labels) + " |",
        "| --- |" + " --- |" * len(labels),
    ]
    for c in cards:
        unc = c.get("uncertainty") or {}
        cov = unc.get("coverage") or {}
        if not cov.get("measured"):
            continue
        by = cov.get("by_missing_count") or {}
        fit = (unc.get("mondrian") or {}).get("by_missing_count") or {}
        cells = []
        for k in labels:
            cell = _cov(by.get(k))
            if k in fit and not str(fit[k].get("fitted", "")).startswith("own group"):
                cell += " (q of all with missing)"
            cells.append(cell)
        lines.append(f"| {c['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="Interval coverage and Brier skill per model.")
    ap.add_argument("--models", type=Path, default=Path("resources/models"))
    args = ap.parse_args()
    keys = load_trusted_keys(args.models / "trusted_keys.json")
    reg = ModelRegistry(args.models, keys, read_only=True)
    cards = [dict(reg.load(n).card.raw) for n in reg.names() if reg.active_version(n)]
    print(table(cards))
    print("\nCoverage by number of missing inputs (test split):\n")
    print(count_table(cards))
    for c in cards:
        if not (c.get("skill") or {}).get("shown_as_risk_score", True):
            print(f"\n{c['name']}: {c['skill']['reason']}")


if __name__ == "__main__":
    main()
