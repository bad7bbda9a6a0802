"""The importer fuzz suite: every importer meets generated and hand-kept hostile inputs.

Contract (issue 18): each bad input ends in the importer's own error type (a NovamindError)
whose message names the file and the problem, the CLI exits 2, and the store is unchanged;
valid edge cases are analysed, not rejected. The suite is bounded: each property test runs a
fixed number of examples (no deadline, no database of failures between runs), so the whole of
tests/fuzz stays within about three minutes on a 2-core machine.
Run with `--hypothesis-show-statistics` to see how many inputs each importer survived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import MetaData, select

from app.core.errors import ValidationError
from app.services.context import AppContext

CORPUS = Path(__file__).with_name("corpus")

settings.register_profile(
    "fuzz",
    deadline=None,
    database=None,
    derandomize=True,  # the same inputs on every run: a CI failure reproduces locally
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Tables a refused import may still touch: the audit chain (a refusal may be audited) and the
# outbox that goes with it.
VOLATILE = {"audit_events", "outbox", "alembic_version"}


def store_fingerprint(ctx: AppContext) -> str:
    """A digest of every row of every table except the audit trail: equal before and after a
    refused import means the import changed nothing."""
    h = hashlib.sha256()
    with ctx.store.engine.connect() as conn:
        meta = MetaData()
        meta.reflect(conn)
        for name in sorted(meta.tables):
            if name in VOLATILE:
                continue
            t = meta.tables[name]
            h.update(name.encode())
            for row in conn.execute(select(t).order_by(*t.primary_key)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def assert_refused(ctx: AppContext, match: str, call: Callable[..., object], *args: object) -> None:
    """`call(*args)` is refused with a ValidationError matching `match`, and the store is left
    exactly as it was (the contract above)."""
    before = store_fingerprint(ctx)
    with pytest.raises(ValidationError, match=match):
        call(*args)
    assert store_fingerprint(ctx) == before
