"""Simulation helpers for twin tests: latent OU trajectories and noisy observations."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import numpy as np

from engines.twin import Observation, load_observation_model

START = date(2024, 1, 1)


def wide_range_model(tmp_path: Path):
    """The shipped observation model with value ranges opened up, for unbounded simulations."""
    doc = json.loads((resources.files("resources") / "twin" / "observation_model.json").read_text())
    for s in doc["sources"].values():
        s["min"], s["max"] = -1e6, 1e6
    path = tmp_path / "observation_model_wide.json"
    path.write_text(json.dumps(doc))
    return load_observation_model(path)


def simulate_ou(
    rng: np.random.Generator, mu: float, sd: float, tau: float, days: int
) -> np.ndarray:
    """A latent trajectory drawn from the same model the filter assumes."""
    phi = math.exp(-1.0 / tau)
    q = sd * sd * (1 - phi * phi)
    x = np.empty(days)
    x[0] = rng.normal(mu, sd)
    for t in range(1, days):
        x[t] = mu + phi * (x[t - 1] - mu) + rng.normal(0, math.sqrt(q))
    return x


def observe(rng, model, source: str, latent: np.ndarray, days, prefix: str) -> list[Observation]:
    """Noisy readings of ``latent`` on the given day indices through the source's equation."""
    spec = model.sources[source]
    out = []
    for i, d in enumerate(days):
        value = spec.intercept + spec.slope * latent[d] + rng.normal(0, spec.noise_sd)
        out.append(
            Observation(
                f"{prefix}-{source}-{i}", source, START + timedelta(days=int(d)), float(value)
            )
        )
    return out
