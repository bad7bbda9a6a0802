"""`novamind train` on clinic records: honest labels, no look-ahead, minimum events enforced."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.demo import create_demo_clinic
from app.services import training
from app.services.context import AppContext, cli_actor
from engines.xgb.signing import public_bytes, trusted_key_json
from tests.support.cli import run


def test_training_records_are_labelled_without_look_ahead(ctx: AppContext) -> None:
    create_demo_clinic(ctx, patients=6, actigraphy_days=3)
    records = ctx.store.read(training.training_records)
    assert len(records) == 6
    from datetime import datetime, time

    from sqlalchemy import select

    from app.core.store.models import AssessmentResponse, TreatmentPlan

    for r in records:
        assert r["treatment"] == "ssri" and r["response_8w"] in (0, 1)
        start, phq = ctx.store.read(
            lambda s, pid=r["patient_id"]: (
                s.scalar(select(TreatmentPlan.start).where(TreatmentPlan.patient_id == pid)),
                s.execute(
                    select(AssessmentResponse.administered_at, AssessmentResponse.total)
                    .where(
                        AssessmentResponse.patient_id == pid,
                        AssessmentResponse.instrument == "phq9",
                    )
                    .order_by(AssessmentResponse.administered_at)
                ).all(),
            )
        )
        cutoff = datetime.combine(start, time(23, 59)).astimezone()
        before = [v for t, v in phq if t <= cutoff]
        # features stop at the plan's start: later PHQ-9 scores (the outcome) are not inputs
        assert r["phq9_current"] == before[-1] and r["phq9_baseline"] == before[0]
        assert len(phq) > len(before)


def test_a_follow_up_deleted_in_error_labels_nothing(ctx: AppContext) -> None:
    """An assessment deleted in error (soft delete, as sync merges a deletion) is no outcome:
    the patient whose follow-up PHQ-9s are all deleted drops out of the training records."""
    from datetime import datetime, time

    from sqlalchemy import text

    create_demo_clinic(ctx, patients=6, actigraphy_days=3)
    first = ctx.store.read(training.training_records)
    pid = first[0]["patient_id"]

    def delete_follow_ups(uow: object) -> None:
        s = uow.session  # type: ignore[attr-defined]
        start = s.execute(
            text("SELECT start FROM treatment_plans WHERE patient_id = :p"), {"p": pid}
        ).scalar_one()
        cutoff = datetime.combine(datetime.fromisoformat(str(start)).date(), time(23, 59))
        s.execute(
            text(
                "UPDATE assessment_responses SET deleted_at = CURRENT_TIMESTAMP"
                " WHERE patient_id = :p AND instrument = 'phq9' AND administered_at > :c"
            ),
            {"p": pid, "c": cutoff.astimezone().isoformat(sep=" ")},
        )

    ctx.store.write(delete_follow_ups)
    after = ctx.store.read(training.training_records)
    assert len(after) == len(first) - 1
    assert pid not in {r["patient_id"] for r in after}


def trust(settings_or_env: object, key: Ed25519PrivateKey) -> Path:
    """IT lists its model-signing key in the trust file beside the (test) site policy."""
    from app.core.config import Settings, load_settings, model_trust_path

    settings = (
        settings_or_env if isinstance(settings_or_env, Settings) else load_settings(settings_or_env)
    )
    path = model_trust_path(settings)
    entry = trusted_key_json(public_bytes(key), "clinic", "IT's model-signing key")
    path.write_text(json.dumps({"keys": [entry]}))
    return path


def test_too_few_events_trains_nothing_and_keeps_demo_models(ctx: AppContext) -> None:
    create_demo_clinic(ctx, patients=6, actigraphy_days=3)
    key = Ed25519PrivateKey.generate()
    trust(ctx.settings, key)
    outcomes = training.train(ctx, cli_actor(), key, targets=["response_ssri", "relapse_6m"])
    assert {o.target: o.status for o in outcomes} == {
        "response_ssri": "insufficient_events",
        "relapse_6m": "insufficient_events",
    }


def test_cli_train_refuses_a_bad_key(env: dict, tmp_path: Path) -> None:
    from tests.conftest import cli_env

    cenv = cli_env(env, tmp_path / "kr.json")
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    out = run(cenv, "train", "--signing-key", str(bad))
    assert out.returncode == 2 and "key.pem" in out.stderr and "Traceback" not in out.stderr
    good = tmp_path / "good.pem"
    good.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    train = ("train", "--signing-key", str(good), "--target", "response_ssri")
    it_ops = ("--user", "it.ops", "--password-stdin")
    anonymous = run(cenv, *train)
    assert anonymous.returncode == 2 and "--user" in anonymous.stderr
    clinician = run(cenv, *train, "--user", "dr.adams", "--password-stdin", stdin="novamind-demo\n")
    assert clinician.returncode == 1 and "needs it" in clinician.stderr
    untrusted = run(cenv, *train, *it_ops, stdin="novamind-demo\n")
    assert untrusted.returncode == 2 and "not one IT trusts" in untrusted.stderr
    trust(env, serialization.load_pem_private_key(good.read_bytes(), None))
    trained = run(cenv, *train, *it_ops, stdin="novamind-demo\n")
    assert trained.returncode == 0 and "insufficient_events" in trained.stdout, trained.stderr
