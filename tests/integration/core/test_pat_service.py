"""Importing a real Depresjon recording: stored chunked, analysed, screened, fed to the twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.domain import Role
from app.core.errors import ValidationError
from app.core.events import AssessmentCompleted
from app.core.store.models import ActigraphyChunk, ActigraphySeries
from app.services import actigraphy, pat, predictions, twin
from app.services.context import AppContext
from tests.conftest import REPO
from tests.support.records import row_count

DEPRESJON = REPO.parent / "shared" / "data" / "depresjon"
if not DEPRESJON.is_dir():
    DEPRESJON = Path("/work/shared/data/depresjon")


def test_import_analyse_screen_and_twin(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    events = []
    ctx.bus.subscribe(AssessmentCompleted, events.append)
    out = pat.import_file(ctx, me, clinic["mine"], DEPRESJON / "condition_10.csv.gz")
    assert out.minutes > 7 * 1440 and out.nights >= 7
    assert 0.0 <= out.screen_probability <= 1.0 and "not validated" in out.screen_label
    assert [e.source for e in events] == ["pat"]
    # stored as day chunks, not a row per minute; the content round-trips exactly
    chunks = ctx.store.read(
        lambda s: s.scalar(
            select(func.count())
            .select_from(ActigraphyChunk)
            .where(ActigraphyChunk.series_id == out.series_id)
        )
    )
    assert chunks == -(-out.minutes // 1440)
    _, _, values = actigraphy.load_series(ctx, me, out.series_id)
    assert len(values) == out.minutes
    results = pat.latest_results(ctx, me, clinic["mine"])
    assert results["circadian"]["binarized"]["IS"] > 0 and results["nightly"]
    # the twin now sees sleep / activity / circadian observations
    twin.update(ctx, me, clinic["mine"])
    state = twin.latest_state(ctx, me, clinic["mine"])
    assert {"pat.tst_min", "pat.is", "pat.depression_probability"} <= {
        o.source for o in state.observations
    }
    # and the prediction features include actigraphy
    predictions.predict(ctx, me, clinic["mine"])
    relapse = next(
        v for v in predictions.latest(ctx, me, clinic["mine"]) if v.target == "relapse_6m"
    )
    by_feature = {c["feature"]: c["value"] for c in relapse.contributions}
    assert by_feature["sleep_tst_h"] is not None and 0 < by_feature["sleep_tst_h"] < 24


def test_bad_file_imports_nothing(ctx: AppContext, clinic: dict, tmp_path: Path) -> None:
    me = clinic["users"][Role.CLINICIAN]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,date,activity\n2003-05-07 12:00:00,2003-05-07,12\n"
        "2003-05-07 12:01:00,2003-05-07,lots\n"
    )
    with pytest.raises(ValidationError, match="line 3"):
        pat.import_file(ctx, me, clinic["mine"], bad)
    assert row_count(ctx, ActigraphySeries) == 0
