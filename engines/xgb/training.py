"""Training and retraining (`novamind train`): grouped split, calibration, held-out metrics,
signing, and activation only when the new model beats its predecessor on held-out data.

Split: patients (or the record's ``group_id``, e.g. a patient with several episodes) are assigned
wholly to train / calibration / test, so no patient leaks across the held-out boundary.

Each card also gets an ``uncertainty`` section (interval method, parameters, coverage measured
on the test split when records carry their true risk; see uncertainty.py) with a signed donor
file, and a ``skill`` section (the Brier skill gate; see skill.py).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engines.errors import InputError, MissingError

from . import calibration, metrics, uncertainty
from .bands import SUICIDE_RISK_NOTICE, SYNTHETIC_LABEL
from .card import SCHEMA, validate_card
from .device import detect_device
from .features import FeatureSpec, assemble_matrix
from .modelfile import sha256_hex
from .predict import score_matrix
from .registry import ModelRegistry, RegistryRecord
from .signing import sign
from .skill import skill_section
from .synthetic import RISK_PREFIX
from .targets import TARGETS, TargetSpec


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and safeguards; defaults keep models small and well regularised."""

    max_depth: int = 3
    learning_rate: float = 0.1
    n_rounds: int = 60
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.9
    reg_lambda: float = 1.0
    calibration: str = "auto"  # auto | platt | isotonic | none
    n_boot: int = 200
    min_events_per_feature: float = 10.0
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    n_donors: int = uncertainty.N_DONORS
    seed: int = 0
    device: str | None = None  # None = detect_device()


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained, calibrated model with its (unsigned) card and its held-out data."""

    target: TargetSpec
    booster: xgb.Booster
    card: dict[str, Any]
    model_bytes: bytes
    test_records: tuple[Mapping[str, Any], ...]
    test_y: np.ndarray
    donor_bytes: bytes = b""


@dataclass(frozen=True)
class TrainOutcome:
    """What happened to one target in a training run (for the CLI report and the audit)."""

    target: str
    status: str  # activated | not_activated | insufficient_events
    detail: str
    version: str | None = None
    held_out: Mapping[str, Any] | None = None
    predecessor: Mapping[str, Any] | None = None
    records: tuple[RegistryRecord, ...] = field(default_factory=tuple)


def _labelled(records: Sequence[Mapping[str, Any]], target: TargetSpec) -> tuple[list, np.ndarray]:
    rows, ys = [], []
    for r in records:
        y = target.label_of(r)
        if y is not None:
            if y not in (0.0, 1.0):
                raise InputError(
                    f"patient {r.get('patient_id', '?')}: label '{target.label_key}' must be 0 or 1"
                )
            rows.append(r)
            ys.append(y)
    return rows, np.asarray(ys, dtype=np.float32)


def grouped_split(
    rows: Sequence[Mapping[str, Any]], fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, calibration, test) with every group wholly in one part."""
    groups = np.array(
        [str(r.get("group_id") or r.get("patient_id") or i) for i, r in enumerate(rows)]
    )
    uniq, inv = np.unique(groups, return_inverse=True)
    perm = np.random.default_rng(seed).permutation(len(uniq))
    part = np.empty(len(uniq), dtype=np.int8)
    c1 = int(round(fractions[0] * len(uniq)))
    c2 = c1 + int(round(fractions[1] * len(uniq)))
    part[perm[:c1]], part[perm[c1:c2]], part[perm[c2:]] = 0, 1, 2
    rp = part[inv]
    return np.flatnonzero(rp == 0), np.flatnonzero(rp == 1), np.flatnonzero(rp == 2)


def events_per_feature(y: np.ndarray, n_features: int) -> float:
    """Minority-class count per candidate feature (the EPV rule of thumb)."""
    return float(min(y.sum(), len(y) - y.sum())) / max(n_features, 1)


def train_model(
    records: Sequence[Mapping[str, Any]],
    target: TargetSpec,
    *,
    version: str,
    training_data: Mapping[str, Any],
    config: TrainConfig = TrainConfig(),
    features: Sequence[FeatureSpec] | None = None,
) -> TrainedModel:
    """Fit, calibrate and evaluate one model; the card is complete but not yet signed."""
    specs = tuple(features) if features is not None else target.features
    leaked = [s.name for s in specs if s.name.startswith(RISK_PREFIX)]
    if leaked:
        raise InputError(
            f"{target.name}: {', '.join(leaked)} is the generator's true risk, never a model input"
        )
    rows, y = _labelled(records, target)
    epf = events_per_feature(y, len(specs))
    if epf < config.min_events_per_feature:
        raise InputError(
            f"{target.name}: {epf:.1f} events per feature, below the minimum "
            f"{config.min_events_per_feature:g}; collect more labelled outcomes before training"
        )
    tr, ca, te = grouped_split(rows, config.split, config.seed)
    x = assemble_matrix(rows, specs)
    names = [s.name for s in specs]
    device = config.device or detect_device().device
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "device": device,
        "max_depth": config.max_depth,
        "eta": config.learning_rate,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "lambda": config.reg_lambda,
        "seed": config.seed,
        "nthread": 0,
        "verbosity": 0,
    }
    dtrain = xgb.DMatrix(x[tr], label=y[tr], missing=np.nan, feature_names=names)
    booster = xgb.train(params, dtrain, num_boost_round=config.n_rounds)
    booster.set_param({"device": "cpu"})  # scoring happens on host-memory matrices

    m_cal = booster.inplace_predict(x[ca], predict_type="margin", missing=np.nan)
    m_te = booster.inplace_predict(x[te], predict_type="margin", missing=np.nan)
    method, cv_scores = config.calibration, None
    if method == "auto":
        method, cv_scores = calibration.choose_method(m_cal, y[ca], seed=config.seed)
    cal = calibration.fit(method, m_cal, y[ca])
    if cv_scores is not None:
        cal["selection"] = {
            "rule": "lowest 5-fold CV log-loss on the calibration split",
            "cv_log_loss": cv_scores,
        }
    p_raw = calibration.sigmoid(m_te)
    p_cal = calibration.apply(cal, m_te)
    cal["reliability"] = metrics.reliability_bins(p_cal, y[te])
    cal["reliability_uncalibrated"] = metrics.reliability_bins(p_raw, y[te])
    cal["fitted_on"] = f"calibration split: {len(ca)} records, {int(y[ca].sum())} events"

    model_bytes = bytes(booster.save_raw(raw_format="json"))
    synthetic = training_data.get("kind") == "synthetic"
    unc, donor_bytes = _uncertainty(
        booster, cal, x, y, rows, target, (tr, ca, te), params, names, config, synthetic
    )
    held = metrics.summarize(p_cal, y[te], n_boot=config.n_boot, seed=config.seed)
    no_skill = metrics.brier(np.full(len(te), y[tr].mean()), y[te])
    card = {
        "schema": SCHEMA,
        "name": target.name,
        "version": version,
        "title": target.title,
        "target": target.name,
        "outcome": target.outcome,
        "population": f"patients treated with {target.treatment}"
        if target.treatment
        else "caseload",
        "features": [s.to_card() for s in specs],
        "model_file": "model.json",
        "model_format": "json",
        "model_sha256": sha256_hex(model_bytes),
        "training_data": dict(training_data),
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "xgboost_version": xgb.__version__,
        "params": {k: v for k, v in params.items() if k not in ("nthread", "verbosity", "device")}
        | {"n_rounds": config.n_rounds, "trained_on_device": device},
        "split": {
            "method": "grouped by patient (group_id when given)",
            "fractions": list(config.split),
            "n_train": len(tr),
            "n_calibration": len(ca),
            "n_test": len(te),
            "events_per_feature": round(epf, 1),
        },
        "metrics": {
            "held_out": held,
            "held_out_uncalibrated": metrics.summarize(
                p_raw, y[te], n_boot=config.n_boot, seed=config.seed
            ),
            "no_skill_brier": round(no_skill, 5),
        },
        "calibration": cal,
        "uncertainty": unc,
        "skill": skill_section(p_cal, y[te], base_rate=float(y[tr].mean()), seed=config.seed),
        "intended_use": target.intended_use,
        "limits": list(target.limits),
        "labels": [SYNTHETIC_LABEL] if synthetic else [],
        "notice": SUICIDE_RISK_NOTICE,
        "contributions": "TreeSHAP (pred_contribs) in log-odds of the uncalibrated model",
        "predecessor": None,
    }
    validate_card(card, where=f"{target.name}@{version}")
    test_records = tuple(rows[i] for i in te)
    return TrainedModel(target, booster, card, model_bytes, test_records, y[te], donor_bytes)


def _uncertainty(
    booster: xgb.Booster,
    cal: Mapping[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    rows: Sequence[Mapping[str, Any]],
    target: TargetSpec,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: Mapping[str, Any],
    names: Sequence[str],
    config: TrainConfig,
    synthetic: bool,
) -> tuple[dict[str, Any], bytes]:
    """The card's ``uncertainty`` section and the donor file (see uncertainty.py)."""
    tr, ca, te = split
    donors = uncertainty.pick_donors(x[tr], config.n_donors, config.seed)
    donor_bytes = uncertainty.donors_bytes(donors, names)
    margin = {k: booster.inplace_predict(x[i], predict_type="margin", missing=np.nan)
              for k, i in (("ca", ca), ("te", te))}  # fmt: skip
    p = {k: calibration.apply(cal, m) for k, m in margin.items()}
    s = {
        k: uncertainty.spread(booster, cal, x[i], donors, names)
        for k, i in (("ca", ca), ("te", te))
    }
    miss = {k: uncertainty.gaps(x[i], names).sum(axis=1) for k, i in (("ca", ca), ("te", te))}
    risks = [target.risk_of(r) for r in rows]
    truth = np.array([np.nan if r is None else r for r in risks], dtype=np.float64)
    if len(truth) and not np.isnan(truth).any():
        unc = uncertainty.fit_measured(p["ca"], s["ca"], truth[ca], miss["ca"], seed=config.seed)
    else:
        base = uncertainty.bootstrap_base(
            params, x[tr], y[tr], x[ca], cal, rounds=config.n_rounds, names=names,
            seed=config.seed,
        )  # fmt: skip
        unc = uncertainty.fit_label_only(base)
    low, high = uncertainty.bounds(unc, p["te"], s["te"], miss["te"])
    if unc["method"] == uncertainty.METHOD_MEASURED:
        cov = uncertainty.coverage(low, high, truth[te], miss["te"])
    else:
        cov = {
            "measured": False,
            "reason": (
                "real outcomes are 0/1 events; a patient's true risk is never observed, so "
                "whether it lies inside the interval cannot be checked"
            ),
        }
    who = "synthetic training patients" if synthetic else "training-split records of this clinic"
    unc |= {
        "description": (
            f"{unc['nominal']:.0%} interval in log-odds around the prediction: each missing input "
            f"is filled from {len(donors)} other patients in turn and the spread of the results "
            "is added to the model's own error, so the interval is wider when inputs are missing"
        ),
        "n_imputations": len(donors),
        "donors": {
            "file": uncertainty.DONOR_FILE,
            "sha256": sha256_hex(donor_bytes),
            "n": len(donors),
            "source": f"feature values of {len(donors)} randomly drawn {who}; no identifiers",
        },
        "coverage": cov,
        "median_width": uncertainty.widths(low, high, miss["te"]),
    }
    unc["text"] = uncertainty.coverage_text(unc, synthetic)
    return unc, donor_bytes


def write_package(trained: TrainedModel, out_dir: Path, key: Ed25519PrivateKey) -> Path:
    """Write model.json, card.json and signature.json (the unit IT installs) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_bytes(trained.model_bytes)
    if trained.donor_bytes:
        (out / uncertainty.DONOR_FILE).write_bytes(trained.donor_bytes)
    (out / "card.json").write_text(json.dumps(trained.card, indent=1), encoding="utf-8")
    sig = sign(trained.card, trained.card["model_sha256"], key)
    (out / "signature.json").write_text(json.dumps(sig.to_json(), indent=1), encoding="utf-8")
    return out


def _evaluate_active(registry: ModelRegistry, trained: TrainedModel) -> dict[str, Any] | None:
    name = trained.target.name
    if registry.active_version(name) is None:
        return None
    try:
        old = registry.load(name)
    except (MissingError, InputError) as exc:
        return {"version": registry.active_version(name), "error": str(exc)}
    x = assemble_matrix(trained.test_records, old.card.features)
    _m, p, *_ = score_matrix(old, x)
    y = trained.test_y
    return {
        "version": old.card.version,
        "brier": round(metrics.brier(p, y), 5),
        "log_loss": round(metrics.log_loss(p, y), 5),
    }


def train_all(
    records: Sequence[Mapping[str, Any]],
    registry: ModelRegistry,
    signing_key: Ed25519PrivateKey,
    *,
    actor: str,
    training_data: Mapping[str, Any],
    config: TrainConfig = TrainConfig(),
    targets: Sequence[str] | None = None,
    allowed_demographics: frozenset[str] | None = None,
) -> list[TrainOutcome]:
    """Retrain every target; install each new version; activate only those that beat the
    active version on the same held-out patients (lower Brier and lower log-loss) and the
    no-skill baseline. Targets short of events per feature are skipped, not trained.
    Records flagged `is_synthetic` never train a model whose training data says "clinic"."""
    if training_data.get("kind") != "synthetic" and any(r.get("is_synthetic") for r in records):
        raise InputError("synthetic records may only train a model labelled synthetic")
    outcomes = []
    for name in targets or list(TARGETS):
        target = TARGETS[name]
        specs = [
            s
            for s in target.features
            if allowed_demographics is None or not s.demographic or s.name in allowed_demographics
        ]
        version = registry.next_version(name)
        try:
            trained = train_model(
                records,
                target,
                version=version,
                training_data=training_data,
                config=config,
                features=specs,
            )
        except InputError as exc:
            if "events per feature" not in str(exc):
                raise
            outcomes.append(TrainOutcome(name, "insufficient_events", str(exc)))
            continue
        held = trained.card["metrics"]["held_out"]
        new_brier, new_ll = held["brier"]["value"], held["log_loss"]["value"]
        pred = _evaluate_active(registry, trained)
        trained = replace(trained, card=trained.card | {"predecessor": pred})
        no_skill = trained.card["metrics"]["no_skill_brier"]
        if new_brier >= no_skill:
            ok, why = (
                False,
                f"held-out Brier {new_brier:.4f} not better than no-skill {no_skill:.4f}",
            )
        elif pred is None or "error" in pred:
            ok, why = True, "no usable active version to compare with"
        elif new_brier < pred["brier"] and new_ll < pred["log_loss"]:
            ok, why = (
                True,
                (
                    f"beats v{pred['version']}: Brier {new_brier:.4f} < {pred['brier']:.4f}, "
                    f"log-loss {new_ll:.4f} < {pred['log_loss']:.4f}"
                ),
            )
        else:
            ok, why = (
                False,
                (
                    f"does not beat v{pred['version']}: Brier {new_brier:.4f} vs "
                    f"{pred['brier']:.4f}, log-loss {new_ll:.4f} vs {pred['log_loss']:.4f}"
                ),
            )
        with tempfile.TemporaryDirectory() as tmp:
            write_package(trained, Path(tmp), signing_key)
            recs = [registry.install_package(Path(tmp), actor=actor)]
        if ok:
            recs.append(registry.activate(name, version, actor=actor, reason=why))
        outcomes.append(
            TrainOutcome(
                name, "activated" if ok else "not_activated", why, version, held, pred, tuple(recs)
            )
        )
    return outcomes
