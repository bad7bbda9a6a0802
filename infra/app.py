"""CDK app entry point for the CDK CLI (cdk.json): one clinic per invocation.

    npx aws-cdk@2 synth -c clinic_id=UUID -c region=eu-central-1 -c retention_days=2555
Without the CLI, infra/synth.py writes the same template.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aws_cdk as cdk  # noqa: E402
from novamind_infra.clinic_stack import FEATURE_FLAGS, ClinicBackendStack  # noqa: E402
from novamind_infra.params import ClinicParams, demo_params  # noqa: E402


def main() -> None:
    """Synthesize the stack of the clinic named by the CDK context (demo clinic if none)."""
    app = cdk.App(analytics_reporting=False, context=FEATURE_FLAGS)
    demo = demo_params()
    params = ClinicParams(
        app.node.try_get_context("clinic_id") or demo.clinic_id,
        app.node.try_get_context("region") or demo.region,
        int(app.node.try_get_context("retention_days") or demo.retention_days),
    )
    ClinicBackendStack(app, params.stack_name, params=params)
    app.synth()


if __name__ == "__main__":
    main()
