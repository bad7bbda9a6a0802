"""Gateway load (issue 23 item 6): the load test's measurement outside pytest.

The real gateway (uvicorn, TLS, 127.0.0.1) over a real store, 50 paced clients of mixed reads
offering 200 requests/s from a child process (tests/integration/gateway/load_client.py), and
the desktop's own sync timed beside it and alone in another child (desk_sync.py). Also counts
the store writer's transactions (group commit: writes per COMMIT).

Run: python -m tests.bench gateway   (NOVAMIND_BENCH_GATEWAY_RATE: requests/s per client, 4)
NOVAMIND_BENCH_GATEWAY_AUTH_CACHE=1 is an experiment, not the product: the client and its bound
account are cached for 2 s (gateway/clients.py re-reads both on every request) to measure what
that gateway change would give.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import keyring
from sqlalchemy import event

from app.core.config import load_settings
from app.core.domain import Role
from app.core.store.store import Store
from app.services.context import AppContext
from gateway import clients
from gateway.app import create_app
from tests.integration.gateway import test_load
from tests.integration.gateway.conftest import (
    ALL_SCOPES,
    Clinic,
    Server,
    make_tls_pair,
    serving_in_thread,
)
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import add_patient, make_user


def _clinic(ctx: AppContext) -> Clinic:
    """The gateway tests' clinic (tests/integration/gateway/conftest.py `clinic`)."""
    import datetime as dt

    it = make_user(ctx, "it.ops", Role.IT)
    clinician = make_user(ctx, "svc.ehr", Role.CLINICIAN)
    supervisor = make_user(ctx, "sup.ward", Role.SUPERVISOR)
    other = make_user(ctx, "dr.other", Role.CLINICIAN)
    born = dt.date(1981, 4, 2)
    mine = add_patient(
        ctx, clinician, "MRN-100", given_name="Canaryname", family_name="Zebedee",
        birth_date=born, sex="female",
    )  # fmt: skip
    theirs = add_patient(ctx, other, "MRN-200", family_name="Elsewhere")
    client = clients.register(
        ctx, it, "ehr", role=Role.CLINICIAN, scopes=ALL_SCOPES, acts_as="svc.ehr"
    )
    return Clinic(it, clinician, supervisor, mine, theirs, client)


@contextmanager
def _serving(ctx: AppContext, cert: Path) -> Iterator[Server]:
    import ssl

    app = create_app(ctx)
    with serving_in_thread(app, ctx.settings) as port:
        yield Server(f"https://127.0.0.1:{port}", app, ssl.create_default_context(cafile=str(cert)))


class _Commits:
    """Counts the writer's transactions and the writes each took (wraps the store's method)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.seconds: list[float] = []
        self._orig: Any = getattr(Store, "_run_transaction", None)  # None: before group commit
        if self._orig is None:
            return
        orig = self._orig

        def counted(store: Store, jobs: list[Any]) -> int:
            t0 = time.perf_counter()
            n = int(orig(store, jobs))
            self.seconds.append(time.perf_counter() - t0)
            self.sizes.append(n)
            return n

        Store._run_transaction = counted  # type: ignore[method-assign,assignment]

    def restore(self) -> None:
        if self._orig is not None:
            Store._run_transaction = self._orig  # type: ignore[method-assign]


def _cache_auth(ttl_s: float = 2.0) -> None:
    """The experiment: `clients.get` and `clients.principal_of` answered from a cache."""
    cache: dict[tuple[str, str], tuple[float, object]] = {}
    get, principal_of = clients.get, clients.principal_of

    def cached(kind: str, cid: str, load: Callable[[], object]) -> Any:  # noqa: ANN401
        hit = cache.get((kind, cid))
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        cache[(kind, cid)] = (now + ttl_s, value)
        return value

    clients.get = lambda ctx, cid: cached("client", cid, lambda: get(ctx, cid))  # type: ignore[assignment]
    clients.principal_of = lambda ctx, c: cached(  # type: ignore[assignment]
        "principal", c.client_id, lambda: principal_of(ctx, c)
    )


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    keyring.set_keyring(MemoryKeyring())
    experiment = os.environ.get("NOVAMIND_BENCH_GATEWAY_AUTH_CACHE") == "1"
    if experiment:
        _cache_auth()
    test_load.RATE_PER_CLIENT = float(os.environ.get("NOVAMIND_BENCH_GATEWAY_RATE", "4"))
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    commits = _Commits()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cert, key = make_tls_pair(root / "tls")
        env = {"NOVAMIND_DATA_DIR": str(root / "data"), "NOVAMIND_POLICY": str(root / "p.toml")}
        settings = replace(
            load_settings(env), gateway_tls_cert=str(cert), gateway_tls_key=str(key),
            gateway_bind="127.0.0.1:8443", gateway_max_body_kb=16, gateway_token_ttl_s=600,
            gateway_rate_per_min=6000,
        )  # fmt: skip
        ctx = AppContext.open(settings)
        connects = [0]
        event.listen(
            ctx.store.engine, "connect", lambda *_: connects.__setitem__(0, connects[0] + 1)
        )
        try:
            clinic = _clinic(ctx)
            with _serving(ctx, cert) as server:
                commits.sizes.clear()
                commits.seconds.clear()
                connects[0] = 0
                m = test_load.measure(server, clinic, ctx, cert, root)
        finally:
            ctx.close()
            commits.restore()
    codes = {r[1] for r in m["report"]["results"]}
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"commit {_commit()}; load average {' '.join(load_before)} before, "
          f"{' '.join(load_after)} after; {os.cpu_count()} CPUs"
          f"{'; EXPERIMENT: client and account cached 2 s' if experiment else ''}\n")  # fmt: skip
    print(test_load.describe(m))
    print(f"status codes: {sorted(codes)}; store connections opened during the run: {connects[0]}")
    if commits.sizes:
        print(
            f"store writer: {sum(commits.sizes)} writes in {len(commits.sizes)} transactions "
            f"(mean {statistics.mean(commits.sizes):.1f}, max {max(commits.sizes)} per COMMIT; "
            f"median transaction {1000 * statistics.median(commits.seconds):.1f} ms)"
        )


if __name__ == "__main__":
    main()
