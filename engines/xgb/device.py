"""Which XGBoost device to use (CUDA when the build and a GPU allow it), for `novamind doctor`."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class DeviceReport:
    """What `novamind doctor` prints about XGBoost."""

    device: str  # "cuda" or "cpu"
    xgboost_version: str
    cuda_build: bool
    gpu_usable: bool
    reason: str

    def summary(self) -> str:
        """One line for the doctor report."""
        return f"XGBoost {self.xgboost_version}: device={self.device} ({self.reason})"


@functools.cache
def detect_device() -> DeviceReport:
    """Probe once: a CUDA build plus a working GPU gives 'cuda', anything else 'cpu'."""
    info = xgb.build_info()
    cuda_build = bool(info.get("USE_CUDA", False))
    if not cuda_build:
        return DeviceReport(
            "cpu",
            xgb.__version__,
            False,
            False,
            "this XGBoost build has no CUDA support (xgboost-cpu)",
        )
    try:
        x = np.random.default_rng(0).random((64, 2)).astype(np.float32)
        dm = xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(np.float32))
        booster = xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 0}, dm, 1)
    except xgb.core.XGBoostError as exc:
        msg = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else "unknown error"
        return DeviceReport(
            "cpu", xgb.__version__, True, False, f"CUDA build but no usable GPU: {msg}"
        )
    # Without a GPU a CUDA build only warns and trains on the CPU: ask the booster where it ran.
    if trained_on(booster) != "cuda":
        return DeviceReport(
            "cpu", xgb.__version__, True, False, "CUDA build but no usable GPU (fell back to CPU)"
        )
    return DeviceReport("cuda", xgb.__version__, True, True, "CUDA build and a working GPU")


def trained_on(booster: xgb.Booster) -> str:
    """The device the booster's learner actually used ("cuda", "cuda:0" or "cpu")."""
    config = json.loads(booster.save_config())
    device = str(config.get("learner", {}).get("generic_param", {}).get("device", "cpu"))
    return "cuda" if device.startswith("cuda") else "cpu"
