"""Synthesize the clinic stack once per session (jsii start-up dominates the cost)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aws_cdk.assertions import Template  # noqa: E402
from novamind_infra.clinic_stack import ClinicBackendStack, build_app  # noqa: E402
from novamind_infra.params import demo_params  # noqa: E402


@pytest.fixture(scope="session")
def demo_stack() -> ClinicBackendStack:
    return build_app(demo_params())[1]


@pytest.fixture(scope="session")
def template(demo_stack: ClinicBackendStack) -> Template:
    return Template.from_stack(demo_stack)
