"""Novamind clinic backend as code (AWS CDK). Not part of the desktop bundle.

`params` and `checks` are plain Python (no CDK import), so the desktop's test suite can use
them on the checked-in template; `clinic_stack` needs aws-cdk-lib (infra/.venv).
"""
