"""Shared fixtures: the shipped brain, the small test region definition, scenes offscreen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viz.brain import load_brain
from viz.regions import build_atlas

HERE = Path(__file__).parent
REGIONS_FILE = HERE / "regions_test.json"

# One date's twin estimates used by the rendering tests (model values in [0, 1]).
VALUES_A = {
    "dlPFC": 0.8,
    "sgACC": 0.9,
    "ACC": 0.6,
    "OFC": 0.4,
    "insula": 0.7,
    "amygdala": 0.95,
    "hippocampus": 0.3,
    "NAcc": 0.2,
    "VTA": 0.5,
    "hypothalamus": 0.6,
    "thalamus": 0.45,
    "raphe": 0.1,
    "LC": 0.75,
}
VALUES_B = {k: round(max(0.0, v - 0.3), 3) for k, v in VALUES_A.items()} | {"NAcc": 0.6}


@pytest.fixture(scope="session")
def brain():
    return load_brain()


@pytest.fixture(scope="session")
def region_defn():
    return json.loads(REGIONS_FILE.read_text())


@pytest.fixture(scope="session")
def atlas(brain, region_defn):
    return build_atlas(region_defn, brain, source=REGIONS_FILE.name)
