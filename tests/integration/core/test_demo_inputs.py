"""The demo clinic feeds every input of every active model (issue 20 item 1): an input missing
for every demo patient would be a model input the app never fills. An input that can be missing
at use time must have been missing in training too, with about the same share where the demo
copies the training gaps (engines.xgb.synthetic.MISSINGNESS).

Run with -s to see the table: input, use-time missing share in the demo clinic, training share.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keyring
import pytest
from sqlalchemy import select

from app.core.config import load_settings
from app.core.store.models import Patient
from app.demo import create_demo_clinic
from app.services import predictions
from app.services.context import AppContext
from app.services.model_inputs import build_features
from engines.xgb.features import CATALOGUE, FeatureSpec
from engines.xgb.synthetic import generate_cohort
from tests.support.keyring_backends import MemoryKeyring

TRAINING_ROWS = 20_000
# inputs whose demo gaps copy the training gaps (history block 20 %, flags 25 %)
MIRRORED = (
    "prior_episodes",
    "age_at_onset",
    "prior_admissions",
    "failed_trials",
    "nlp_hopelessness",
    "nlp_substance_use",
    "nlp_psychosocial_stressor",
    "nlp_psychotic_features",
)


def model_names() -> list[str]:
    return [*predictions.TARGETS, *(f"response_{o}" for o in predictions.OPTIONS)]


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, list]]:
    """The demo clinic as shipped (default size) and every patient's inputs now."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    root: Path = tmp_path_factory.mktemp("demo-inputs")
    ctx = AppContext.open(
        load_settings({"NOVAMIND_DATA_DIR": str(root), "NOVAMIND_POLICY": str(root / "p.toml")})
    )
    create_demo_clinic(ctx)
    now = datetime.now(UTC)
    rows = ctx.store.read(
        lambda s: [build_features(s, pid, now) for pid in s.scalars(select(Patient.id))]
    )
    yield ctx, rows
    ctx.close()
    keyring.set_keyring(previous)


def _active_inputs(ctx: AppContext) -> dict[str, FeatureSpec]:
    out: dict[str, FeatureSpec] = {}
    for name in model_names():
        for spec in predictions.active_model(name, ctx.settings).card.features:
            out[spec.name] = spec
    return out


def _missing_share(rows: list[dict[str, Any]], name: str) -> float:
    return sum(r.get(name) is None for r in rows) / len(rows)


def test_every_input_of_every_active_model_is_present_for_some_demo_patient(
    demo_rows: tuple[AppContext, list],
) -> None:
    ctx, rows = demo_rows
    assert len(rows) >= 40
    never = {
        f"{model}: {spec.name}"
        for model in model_names()
        for spec in predictions.active_model(model, ctx.settings).card.features
        if all(r.get(spec.name) is None for r in rows)
    }
    assert never == set(), "inputs no demo patient has (the app never fills them)"


def test_inputs_missing_at_use_time_were_missing_in_training(
    demo_rows: tuple[AppContext, list],
) -> None:
    ctx, rows = demo_rows
    training = generate_cohort(TRAINING_ROWS, seed=20)
    active = _active_inputs(ctx)
    checked = set(active) | set(MIRRORED)
    lines = ["| input | where in the app | used by a model | use-time missing | training missing |"]
    lines.append("| --- | --- | --- | --- | --- |")
    unseen = []
    for spec in CATALOGUE:  # the table of docs/models.md, "Where each input comes from"
        name = spec.name
        use, train = _missing_share(rows, name), _missing_share(training, name)
        used = "yes" if name in active else "no"
        lines.append(f"| {name} | {spec.source} | {used} | {use:.0%} | {train:.0%} |")
        if name in checked and use > 0 and train == 0:
            unseen.append(name)
        if name in MIRRORED:
            assert use == pytest.approx(train, abs=0.1), name
    print("\n".join(lines))
    assert unseen == [], "missing at use time but never missing in training"
