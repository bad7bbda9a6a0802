"""Caseload read model: every patient the user may see, scored in one batch, sorted by risk.

Features are read exactly as for a single prediction, as the model matrix itself
(`app.services.model_inputs.feature_matrix_many`: the patients' feature rows finished for now
with numpy, any stale row assembled from the records) and scored with
`engines.xgb.predict.score_caseload_matrix` in one vectorised pass (no explanations: those are per
patient, in the prediction panel), with the same active model as the patient view
(`predictions.active_model`: the clinic's trained model when one is active, else the demo model).
A model no better than the base rate (the engine's Brier skill rule) is withheld: the view carries
the reason and no scores, and the rows are listed by name, never ranked by that model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy.orm import Session

from app.core.domain import Principal
from app.services import model_cards, model_inputs, patients, phi_audit, predictions
from app.services._engine_errors import translates_engine_errors
from app.services.context import AppContext
from engines.xgb.predict import score_caseload_matrix


class CaseloadRow(NamedTuple):
    """One scored patient (immutable; a named tuple: 10,000 of them per click are built in a
    few ms, where a frozen dataclass's per-field setattr took several times as long)."""

    patient_id: str
    mrn: str
    display_name: str
    is_synthetic: bool
    probability: float | None  # None: the model is withheld (CaseloadView.withheld says why)
    interval_low: float | None
    interval_high: float | None
    band: str  # "" when withheld


@dataclass(frozen=True)
class CaseloadView:
    target: str
    title: str
    model_version: str
    synthetic: bool
    training_description: str  # what the model was trained on, from its signed card
    rows: tuple[CaseloadRow, ...]  # highest probability first; by name when withheld
    scored_at: datetime
    withheld: str | None = None  # why the model is not shown as a risk score; None = shown
    interval_level: str = ""  # nominal coverage of the intervals ("90%"), "" when not stated


@translates_engine_errors
def score_visible(
    ctx: AppContext, principal: Principal, target: str = "relapse_6m"
) -> CaseloadView:
    """Score every visible patient for one risk target in a single batch (audited)."""
    visible = patients.list_patients(ctx, principal)
    now = datetime.now(UTC)
    model = predictions.active_model(target, ctx.settings)

    ids = [p.id for p in visible]

    def read(session: Session) -> np.ndarray:
        return model_inputs.feature_matrix_many(session, ids, now, model.card.features)

    rows = ctx.store.read(read) if visible else None
    by_id = {p.id: p for p in visible}
    out: list[CaseloadRow] = []
    skill = model_cards.skill_of(model.card.raw)
    withheld = None if skill.shown_as_risk_score else skill.reason
    if rows is not None:
        scores = score_caseload_matrix(
            model, rows, ids, allowed_demographics=frozenset(ctx.settings.allowed_demographics)
        )
        withheld = scores.withheld  # the engine's Brier skill rule
    if rows is not None and withheld is not None:  # no scores, no ranking: listed by name
        out = [
            CaseloadRow(p.id, p.mrn, p.display_name, p.is_synthetic, None, None, None, "")
            for p in sorted(visible, key=lambda p: (p.display_name.casefold(), p.mrn))
        ]
    elif rows is not None:
        # plain Python values once per array, not a numpy scalar per cell (10,000 rows)
        ids_of, prob = scores.patient_ids, scores.probability.tolist()
        low, high = scores.interval_low.tolist(), scores.interval_high.tolist()
        for i in scores.order_by_risk().tolist():
            p = by_id[ids_of[i]]
            out.append(
                CaseloadRow(
                    p.id, p.mrn, p.display_name, p.is_synthetic, prob[i], low[i], high[i],
                    scores.band(i),
                )
            )  # fmt: skip
    phi_audit.audit_read(
        ctx,
        principal,
        "prediction.caseload",
        record_type="prediction",
        shown=(r.patient_id for r in out),
        detail={"target": target},
    )
    return CaseloadView(
        target,
        str(model.card.raw.get("title", target)),
        model.card.model_version,
        model.card.synthetic,
        str(model.card.provenance().get("training_description") or ""),
        tuple(out),
        now,
        withheld,
        model_cards.interval_level(model.card.raw),
    )
