"""boto3/botocore (~17 MB) load when a sync runs, not when the desktop signs in."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_sync_services_loads_no_aws_sdk() -> None:
    code = (
        "import sys\n"
        "import app.services.sync_service, app.services.sync_it, app.services.audit_anchor\n"
        "import sync.engine, sync.feed, sync.anchors\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_a_transport_loads_it_and_its_errors_are_botocores() -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from sync import transport

    assert transport._client_error() is ClientError  # noqa: SLF001
    assert transport._botocore_error() is BotoCoreError  # noqa: SLF001
