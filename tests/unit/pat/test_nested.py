"""Nested subject-level CV: selection never sees the outer test fold; folds, thresholds, models."""

import numpy as np
import pytest

from engines.pat import nested


class Spy(np.ndarray):
    """An array that logs every row index it is read with (the planted leak detector)."""

    log: list[np.ndarray]

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, np.ndarray) and rows.dtype.kind in "iu":
            self.log.append(np.asarray(rows).copy())
        return np.asarray(self).__getitem__(key)


def _spy(a: np.ndarray, log: list) -> Spy:
    s = a.view(Spy)
    s.log = log
    return s


def _synthetic(n=40, seed=3):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(np.int64)
    X = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.0, 0.5, 0.0, 0.0])
    X[rng.integers(0, n, 5), 2] = np.nan  # missing values are imputed from training rows
    return X, y


def test_selection_only_reads_outer_training_rows():
    X, y = _synthetic()
    log: list[np.ndarray] = []
    feats = {"all": _spy(X, log)}
    y_spy = _spy(y, log)
    configs = [nested.Config("logistic", {"C": c}, "all") for c in (0.1, 1.0)]
    inner = nested.make_selector(configs, feats, y_spy, inner_k=4)
    calls: list[tuple[np.ndarray, list[np.ndarray]]] = []

    def select(train_idx, rng):
        log.clear()
        sel = inner(train_idx, rng)
        calls.append((train_idx.copy(), list(log)))
        return sel

    tests: list[np.ndarray] = []

    def predict_rows(model, cfg, idx):
        tests.append(idx.copy())
        return model.predict(X[idx])

    res = nested.nested_cv(
        y,
        select,
        lambda cfg, idx: nested.fit_config(cfg, {"all": X}, idx, y),
        predict_rows,
        repeats=3,
        outer_k=5,
        seed=1,
        n_boot=50,
    )
    assert len(calls) == len(tests) == 15
    for (train, reads), test in zip(calls, tests, strict=True):
        assert np.intersect1d(train, test).size == 0
        assert np.union1d(train, test).size == y.size
        assert reads, "the selector must read data through the spies"
        for r in reads:  # every row the selection looked at is an outer-training row
            assert np.isin(r, train).all()
            assert not np.isin(r, test).any()
    for r in range(3):  # each repeat scores every subject exactly once
        rows = np.concatenate(tests[5 * r : 5 * r + 5])
        assert np.array_equal(np.sort(rows), np.arange(y.size))
    assert res.probability.shape == (3, y.size)
    for k, (lo, hi) in res.ci95.items():
        assert lo <= hi, k


def test_stratified_folds_partition_and_balance():
    y = np.array([1] * 17 + [0] * 24)
    folds = nested.stratified_folds(y, 5, np.random.default_rng(0))
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(41))
    pos = [int(y[f].sum()) for f in folds]
    assert max(pos) - min(pos) <= 1
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 1


def test_screening_threshold_reaches_target_sensitivity():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = rng.random(60)
    t = nested.screening_threshold(y, p, 0.8)
    sens = ((p >= t) & (y == 1)).sum() / (y == 1).sum()
    assert sens >= 0.8
    # it is the highest such threshold: the next positive score above t falls short
    higher = np.sort(p[(y == 1) & (p > t)])
    if higher.size:
        assert ((p >= higher[0]) & (y == 1)).sum() / (y == 1).sum() < 0.8


def test_logistic_fit_matches_the_penalised_optimum():
    X, y = _synthetic(80, 5)
    m = nested.fit_logistic(X, y, C=1.0)
    z = m._z(X)
    p = m.predict(X)
    grad_w = z.T @ (p - y) + m.coef / 1.0
    grad_b = float(np.sum(p - y))
    assert np.abs(grad_w).max() < 1e-6 and abs(grad_b) < 1e-6
    again = nested.LogisticModel.from_json(m.to_json())
    assert np.allclose(again.predict(X), p)


def test_metrics_by_hand():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8])
    m = nested.metrics_from_predictions(y, p, (p >= 0.5).astype(int))
    assert m["MCC"] == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    assert m["AUC"] == pytest.approx(5 / 6)
