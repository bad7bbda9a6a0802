"""Synthesize a clinic's CloudFormation template (no AWS access, no CDK CLI needed).

    infra/.venv/bin/python infra/synth.py                      # the checked-in demo template
    infra/.venv/bin/python infra/synth.py --clinic-id UUID --region eu-west-1 \
        --retention-days 3650 --out my-clinic.template.json

The demo template (infra/templates/novamind-clinic-demo.template.json) is what the desktop's
end-to-end sync test deploys into moto; infra/tests checks that it is up to date.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from novamind_infra.params import ClinicParams, demo_params  # noqa: E402

DEMO_TEMPLATE = Path(__file__).resolve().parent / "templates" / "novamind-clinic-demo.template.json"


def synth_template(params: ClinicParams) -> dict:
    """The stack's CloudFormation template as a dict."""
    from aws_cdk.assertions import Template
    from novamind_infra.clinic_stack import build_app

    _, stack = build_app(params)
    return Template.from_stack(stack).to_json()


def render(template: dict) -> str:
    """Stable text form of a template (sorted keys, trailing newline) for diffs and checks."""
    return json.dumps(template, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write one clinic's template; defaults to the checked-in demo clinic."""
    demo = demo_params()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clinic-id", default=demo.clinic_id)
    ap.add_argument("--region", default=demo.region)
    ap.add_argument("--retention-days", type=int, default=demo.retention_days)
    ap.add_argument("--out", type=Path, default=DEMO_TEMPLATE)
    a = ap.parse_args(argv)
    params = ClinicParams(a.clinic_id, a.region, a.retention_days)
    t0 = time.perf_counter()
    text = render(synth_template(params))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(f"{a.out}: stack {params.stack_name}, {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
