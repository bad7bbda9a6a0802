"""Print each model's interval coverage and Brier skill from its signed card (docs/models.md).

``python -m engines.xgb.coverage [--models resources/models]`` reads the active version of
every model in the registry (verified like any load) and prints a Markdown table: nominal
level, coverage of the true risk on the test split overall / with missing inputs / complete
(95 % Wilson CI), median width, Brier skill and whether the model is shown as a risk score.
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


def table(cards: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of coverage and skill, one row per card."""
    lines = [
        "| model | nominal | coverage, all (95% CI) | with missing inputs | complete inputs "
        "| median width | Brier skill | shown as risk score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cards:
        unc, sk = c.get("uncertainty") or {}, c.get("skill") or {}
        cov = unc.get("coverage") or {}
        if cov.get("measured"):
            cells = [_cov(cov.get(k)) for k in ("overall", "with_missing", "complete")]
        else:
            cells = ["not measured", "—", "—"]
        width = (unc.get("median_width") or {}).get("overall")
        shown = sk.get("shown_as_risk_score")
        lines.append(
            f"| {c['name']} | {unc.get('nominal', 0):.0%} | {' | '.join(cells)} | "
            f"{'—' if width is None else f'{width:.3f}'} | {sk.get('brier_skill', '—')} | "
            f"{'—' if shown is None else ('yes' if shown else 'no (withheld)')} |"
        )
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
    for c in cards:
        if not (c.get("skill") or {}).get("shown_as_risk_score", True):
            print(f"\n{c['name']}: {c['skill']['reason']}")


if __name__ == "__main__":
    main()
