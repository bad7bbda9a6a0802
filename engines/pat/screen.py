"""Depression screen on classical actigraphy features (XGBoost, Depresjon research data).

Training data: Garcia-Ceja E. et al., "Depresjon: A Motor Activity Database of Depression
Episodes in Unipolar and Bipolar Patients", ACM MMSys 2018 (DOI 10.1145/3204949.3208125).
Evaluated by leave-one-subject-out cross-validation with bootstrap 95 % CIs. The model is saved
as XGBoost JSON plus a model-card JSON (never pickle); loading checks the model file's SHA-256
against the card. Research data, 41 subjects, not validated for clinical use.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from engines.errors import InputError
from engines.pat.features import FEATURE_NAMES, feature_vector
from engines.pat.importer import import_csv
from engines.pat.recording import ActigraphyRecording

MODEL_NAME = "pat-depresjon-screen-xgb"
MODEL_VERSION = "1.0.0"
PROVENANCE = "Depresjon, research data, 41 subjects, not validated for clinical use"
CITATION = (
    "Garcia-Ceja E, Riegler M, Jakobsen P, et al. Depresjon: A Motor Activity Database of "
    "Depression Episodes in Unipolar and Bipolar Patients. Proc. 9th ACM Multimedia Systems "
    "Conference (MMSys 2018). DOI 10.1145/3204949.3208125"
)
BASELINES = {
    "Garcia-Ceja 2018 (handcrafted features + SVM)": {"F1": 0.73, "MCC": 0.44},
    "Jakobsen 2020 (deep network, LOSO)": {"accuracy": 0.84, "MCC": 0.65},
}
XGB_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eta": 0.1,
    "max_depth": 2,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "lambda": 1.0,
    "nthread": 2,
    "seed": 7,
}
N_ROUNDS = 60
THRESHOLD = 0.5
MODEL_FILE = "depresjon_screen.json"
CARD_FILE = "depresjon_screen.card.json"
_NAME = re.compile(r"^(condition|control)_(\d+)\.csv(\.gz)?$")


@dataclass(frozen=True)
class Dataset:
    """Per-subject features with labels (1 = depressive episode) and subject ids."""

    X: np.ndarray  # noqa: N815
    y: np.ndarray
    subjects: tuple[str, ...]


def load_depresjon(folder: str | Path) -> Dataset:
    """Import every condition_/control_ file of a Depresjon folder into a feature matrix."""
    files = sorted(p for p in Path(folder).iterdir() if _NAME.match(p.name))
    if not files:
        raise InputError(f"{Path(folder).name}: no condition_N/control_N CSV files")
    rows, labels, ids = [], [], []
    for p in files:
        m = _NAME.match(p.name)
        assert m is not None  # narrowing: files were filtered by _NAME  # nosec B101
        rows.append(feature_vector(import_csv(p)))
        labels.append(1 if m.group(1) == "condition" else 0)
        ids.append(f"{m.group(1)}_{m.group(2)}")
    return Dataset(np.vstack(rows), np.array(labels, dtype=np.int64), tuple(ids))


def _train(X: np.ndarray, y: np.ndarray) -> xgb.Booster:  # noqa: N803
    d = xgb.DMatrix(X, label=y, feature_names=list(FEATURE_NAMES))
    return xgb.train(XGB_PARAMS, d, num_boost_round=N_ROUNDS)


def _predict(b: xgb.Booster, X: np.ndarray) -> np.ndarray:  # noqa: N803
    return b.predict(xgb.DMatrix(X, feature_names=list(FEATURE_NAMES)))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney statistic (ties count one half)."""
    pos, neg = p[y == 1], p[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """AUC, F1, MCC, sensitivity, specificity and accuracy at ``threshold``."""
    pred = (p >= threshold).astype(int)
    tp = float(((pred == 1) & (y == 1)).sum())
    tn = float(((pred == 0) & (y == 0)).sum())
    fp = float(((pred == 1) & (y == 0)).sum())
    fn = float(((pred == 0) & (y == 1)).sum())
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "AUC": auc(y, p),
        "F1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0,
        "MCC": float((tp * tn - fp * fn) / den) if den else 0.0,
        "sensitivity": tp / (tp + fn) if (tp + fn) else float("nan"),
        "specificity": tn / (tn + fp) if (tn + fp) else float("nan"),
        "accuracy": (tp + tn) / y.size,
    }


def bootstrap_ci(
    y: np.ndarray, p: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Percentile 95 % CIs of every metric, resampling subjects with replacement."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, y.size)
        if y[idx].min() == y[idx].max():
            continue
        for k, v in binary_metrics(y[idx], p[idx]).items():
            draws.setdefault(k, []).append(v)
    return {
        k: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
        for k, v in draws.items()
    }


@dataclass(frozen=True)
class Evaluation:
    """Leave-one-subject-out results: out-of-fold probabilities, metrics and their CIs."""

    oof_probability: np.ndarray
    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    n_subjects: int
    n_positive: int


def evaluate_loso(data: Dataset, n_boot: int = 1000) -> Evaluation:
    """Leave-one-subject-out CV (one recording per subject, so LOSO = leave-one-out)."""
    n = data.y.size
    oof = np.empty(n, dtype=np.float64)
    for i in range(n):
        train = np.arange(n) != i
        oof[i] = _predict(_train(data.X[train], data.y[train]), data.X[i : i + 1])[0]
    return Evaluation(
        oof, binary_metrics(data.y, oof), bootstrap_ci(data.y, oof, n_boot), n, int(data.y.sum())
    )


def train_and_evaluate(
    folder: str | Path, out_dir: str | Path, n_boot: int = 1000
) -> tuple[Path, Path, Evaluation]:
    """Cross-validate, train the final model on all subjects, write model JSON + model card."""
    data = load_depresjon(folder)
    ev = evaluate_loso(data, n_boot)
    booster = _train(data.X, data.y)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / MODEL_FILE
    booster.save_model(str(model_path))
    card = {
        "model_name": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "algorithm": f"XGBoost {xgb.__version__} gradient-boosted trees",
        "params": XGB_PARAMS | {"num_boost_round": N_ROUNDS},
        "threshold": THRESHOLD,
        "features": list(FEATURE_NAMES),
        "training_data": PROVENANCE,
        "n_subjects": ev.n_subjects,
        "n_positive": ev.n_positive,
        "citation": CITATION,
        "evaluation": "leave-one-subject-out cross-validation, bootstrap (subjects) 95% CI",
        "cv_metrics": ev.metrics,
        "cv_ci95": {k: list(v) for k, v in ev.ci95.items()},
        "published_baselines": BASELINES,
        "intended_use": "research demonstration only; not validated for clinical use",
        "created": datetime.now(UTC).date().isoformat(),
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
    }
    card_path = out / CARD_FILE
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")
    return model_path, card_path, ev


@dataclass(frozen=True)
class ScreenModel:
    """A loaded, hash-checked screen model with its card."""

    booster: xgb.Booster
    card: dict[str, Any] = field(repr=False)


def load_screen_model(model_path: str | Path, card_path: str | Path) -> ScreenModel:
    """Load model JSON + card; InputError when missing, tampered or inconsistent."""
    mp, cp = Path(model_path), Path(card_path)
    try:
        blob = mp.read_bytes()
        card = json.loads(cp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{mp.name}/{cp.name}: cannot read screen model ({exc})") from None
    if hashlib.sha256(blob).hexdigest() != card.get("model_sha256"):
        raise InputError(f"{mp.name}: SHA-256 does not match its model card")
    if card.get("features") != list(FEATURE_NAMES):
        raise InputError(f"{cp.name}: feature list does not match this engine version")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(blob))
    except xgb.core.XGBoostError:
        raise InputError(f"{mp.name}: not a valid XGBoost JSON model") from None
    return ScreenModel(booster, card)


def load_bundled_model() -> ScreenModel:
    """The demo model shipped under resources/pat/."""
    from importlib.resources import as_file, files

    root = files("resources") / "pat"
    with as_file(root / MODEL_FILE) as m, as_file(root / CARD_FILE) as c:
        return load_screen_model(m, c)


@dataclass(frozen=True)
class ScreenResult:
    """Screen probability with the model's provenance and cross-validated performance."""

    probability: float
    positive: bool
    threshold: float
    model_name: str
    model_version: str
    provenance: str
    cv_metrics: dict[str, float]
    cv_ci95: dict[str, tuple[float, float]]
    features: dict[str, float]
    notes: tuple[str, ...] = ()  # e.g. which features were undefined and scored as missing


def screen(model: ScreenModel, rec: ActigraphyRecording) -> ScreenResult:
    """Screen one recording; the result says it is research-grade, not a diagnosis."""
    x = feature_vector(rec)
    x = np.where(np.isfinite(x), x, np.nan)  # XGBoost treats NaN as missing; inf would fail
    missing = [n for n, v in zip(FEATURE_NAMES, x.tolist(), strict=True) if np.isnan(v)]
    notes = (
        (
            f"{len(missing)} of {len(FEATURE_NAMES)} features undefined for this recording "
            f"(scored as missing): {', '.join(missing)}",
        )
        if missing
        else ()
    )
    p = float(_predict(model.booster, x[None, :])[0])
    thr = float(model.card.get("threshold", THRESHOLD))
    return ScreenResult(
        probability=p,
        positive=p >= thr,
        threshold=thr,
        model_name=str(model.card["model_name"]),
        model_version=str(model.card["model_version"]),
        provenance=str(model.card["training_data"]),
        cv_metrics=dict(model.card["cv_metrics"]),
        cv_ci95={k: (v[0], v[1]) for k, v in model.card["cv_ci95"].items()},
        features=dict(zip(FEATURE_NAMES, x.tolist())),
        notes=notes,
    )
