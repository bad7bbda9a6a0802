"""A response model no better than the base rate (issue 20, item 2) drives nothing in the twin:
no what-if projection from it (the view says why) and no probability of it in the PDF report,
which prints the engine's reason instead; shown models print their interval. Real demo store,
real signed XGBoost models, the no-skill model trained and activated as `novamind train` would."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from sqlalchemy import select

from app.core.errors import ValidationError
from app.core.store.models import Prediction
from app.services import model_cards, predictions, vocabulary
from app.services import twin_view as tv
from tests.support.noskill_model import activate_noskill_model
from ui.twin.report import IMAGE_SIZE, prediction_lines, write_pdf

PERCENT = re.compile(r"\d+(\.\d+)?\s?%")


@pytest.fixture(scope="module")
def withheld_ssri(shared_demo) -> str:
    """The SSRI response model replaced by a no-skill one and the patient scored again;
    returns the engine's reason."""
    ctx, who, pid = shared_demo
    card = activate_noskill_model(ctx, "response_ssri")
    assert card["skill"]["shown_as_risk_score"] is False

    def age(uow) -> None:  # the demo dates its predictions at its own clock: make them older
        for row in uow.session.scalars(select(Prediction).where(Prediction.patient_id == pid)):
            row.generated_at = row.generated_at - timedelta(days=2)

    ctx.store.write(age)
    predictions.predict(ctx, who, pid)
    ssri = tv.response_predictions(ctx, who, pid)["ssri"]
    assert ssri.withheld == card["skill"]["reason"]
    return ssri.withheld


def test_whatif_refuses_a_withheld_response_model(shared_demo, withheld_ssri) -> None:
    ctx, who, pid = shared_demo
    t = tv.load_timeline(ctx, who, pid)
    assert t is not None
    with pytest.raises(ValidationError) as err:
        tv.whatif(ctx, who, t, "ssri")
    assert model_cards.not_shown_text(withheld_ssri) in err.value.user_message()
    assert "SSRI" in str(err.value)
    ssri = tv.response_predictions(ctx, who, pid)["ssri"]
    with pytest.raises(ValidationError, match="Not shown as a risk score"):
        tv.whatif_from(t.state, "ssri", ssri)
    # a shown model still projects, from its own probability
    shown = tv.response_predictions(ctx, who, pid)["bupropion"]
    assert shown.withheld is None
    w = tv.whatif(ctx, who, t, "bupropion")
    assert w.projection.p == pytest.approx(shown.probability)


def test_whatif_view_says_why_and_shows_no_response_figure(
    shared_demo, withheld_ssri, view, qtbot
) -> None:
    qtbot.mouseClick(view.mode_buttons["whatif"], Qt.MouseButton.LeftButton)
    view.option.setCurrentIndex(view.option.findData("ssri"))
    with qtbot.waitSignal(view.errorOccurred, timeout=30000) as sig:
        qtbot.mouseClick(view.project_button, Qt.MouseButton.LeftButton)
    assert model_cards.not_shown_text(withheld_ssri) in sig.args[0]
    summary = view.whatif_summary.text()
    assert "Not shown as a risk score" in summary
    assert "response probability" not in summary
    assert view.whatif is None
    assert view.project_button.isEnabled()


def test_report_prints_the_reason_not_the_probability(
    shared_demo, withheld_ssri, tmp_path: Path
) -> None:
    ctx, who, pid = shared_demo
    t = tv.load_timeline(ctx, who, pid)
    data = tv.report_input(ctx, who, t)
    views = {vocabulary.prediction_title(p.target, p.option): p for p in data.predictions}
    lines = dict(prediction_lines(data.predictions))
    assert list(lines) != [] and len(lines) == len(views)
    for heading, detail in prediction_lines(data.predictions):
        name = heading.split(": ", 1)[0]
        v = views[name]
        assert v.model_version in detail
        if v.withheld:
            assert heading == f"{name}: {model_cards.not_shown_text(v.withheld)}"
            reason_free = heading.replace(model_cards.not_shown_text(v.withheld), "")
            assert not PERCENT.search(reason_free) and v.band not in heading.split()
        else:
            score = vocabulary.score_text(
                v.probability, v.interval_low, v.interval_high, v.interval_level
            )
            assert heading == f"{name}: {score}, {v.band}"
            assert "90% interval" in heading
        if v.missing_inputs:
            assert "scored without: " in detail
    assert views["Response to SSRI"].withheld == withheld_ssri

    blank = QImage(*IMAGE_SIZE, QImage.Format.Format_RGB888)
    blank.fill(Qt.GlobalColor.white)
    images = {k: blank for k in ("earlier", "latest", "difference")}
    out = write_pdf(tmp_path / "report.pdf", data, images)
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
