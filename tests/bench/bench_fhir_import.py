"""FHIR import of a 20,000-response bundle through the service (time and peak RSS).

`python -m tests.bench fhir_import` (NOVAMIND_BENCH_FHIR_N sets the number of responses).
The bundle is generated (never committed): one exported PHQ-9 response + Observation used as a
template, copied with new ids, times and answers. The import runs in a child process (a real
encrypted store, a clinician, a patient) through app.services.fhir_exchange.import_assessments,
the same path as the user's import; the child reports the import's wall time and the process's
peak RSS before and after the import: VmHWM from /proc (this process's own high-water mark;
ru_maxrss would carry over the parent's peak across fork + exec) where Linux has it.
"""

from __future__ import annotations

import copy
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

N_DEFAULT = 20_000


def peak_rss_kib() -> int:
    """This process's peak resident set in KiB: /proc's VmHWM (reset by exec, unlike
    ru_maxrss, which Linux keeps from the parent that forked us), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def make_bundle(path: Path, n: int, seed: int = 0) -> int:
    """Write a collection Bundle with `n` PHQ-9 responses (+ Observations); returns its size."""
    from engines.scoring.definitions import builtin_instruments
    from engines.scoring.engine import score
    from engines.scoring.fhir import AssessmentRecord, export_bundle

    phq9 = builtin_instruments()["phq9"]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    base = {f"q{i}": 0 for i in range(1, 11)}
    rec = AssessmentRecord("tmpl", "ext-1", start, score(phq9, base))
    entries = export_bundle([rec])["entry"]
    q_entry, qr_tmpl, obs_tmpl = entries
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"resourceType": "Bundle", "type": "collection", ')
        fh.write(f'"timestamp": "{datetime.now(UTC).isoformat()}", "entry": [')
        fh.write(json.dumps(q_entry))
        for i in range(n):
            answers = {f"q{k}": rng.randint(0, 3) for k in range(1, 10)} | {"q10": 0}
            answers["q9"] = 0
            res = score(phq9, answers)
            when = (start + timedelta(hours=i)).isoformat()
            rid = f"a{i}"
            qr_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, rid)}"
            qr = copy.deepcopy(qr_tmpl)
            qr["fullUrl"] = qr_url
            r = qr["resource"]
            r["id"], r["authored"] = rid, when
            for item in r["item"]:
                v = answers[item["linkId"]]
                coding = item["answer"][0]["valueCoding"]
                opt = phq9.item(item["linkId"]).option(v)
                coding.update(code=str(v), display=opt.label)
                coding["extension"][0]["valueDecimal"] = v
            ob = copy.deepcopy(obs_tmpl)
            ob["fullUrl"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, rid + '-score')}"
            o = ob["resource"]
            o["id"], o["effectiveDateTime"] = f"{rid}-score", when
            o["derivedFrom"] = [{"reference": qr_url}]
            o["valueInteger"] = res.total
            o["component"][0]["valueCodeableConcept"]["coding"][0].update(
                code=res.band.code, display=res.band.label
            )
            fh.write(
                ",\n"
                + json.dumps(qr, separators=(",", ":"))
                + ",\n"
                + json.dumps(ob, separators=(",", ":"))
            )
        fh.write("]}\n")
    return path.stat().st_size


def _child(bundle: str) -> None:
    """Open a fresh store, import the bundle, print one JSON line of figures."""

    import keyring

    from app.core.config import load_settings
    from app.core.domain import Role
    from app.services import fhir_exchange
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from tests.support.records import add_patient, make_user

    keyring.set_keyring(MemoryKeyring())
    if os.environ.get("BENCH_LIFT_OLD_CAP"):  # the pre-issue-18 code refused files > 50 MiB
        fhir_exchange.MAX_BUNDLE_BYTES = 1 << 30
    with tempfile.TemporaryDirectory() as d:
        env = {"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/p.toml"}
        ctx = AppContext.open(load_settings(env))
        doc = make_user(ctx, "dr", Role.CLINICIAN)
        pid = add_patient(ctx, doc, "B-1", given_name="Bench", family_name="Import")
        rss0 = peak_rss_kib()
        t0 = time.perf_counter()
        summary = fhir_exchange.import_assessments(ctx, doc, pid, bundle)
        dt = time.perf_counter() - t0
        rss1 = peak_rss_kib()
        ctx.close()
    print(
        json.dumps(
            {
                "imported": len(summary.assessment_ids),
                "seconds": round(dt, 2),
                "rss_before_mb": round(rss0 / 1024, 1),
                "peak_rss_mb": round(rss1 / 1024, 1),
            }
        )
    )


def run_child(bundle: Path, cwd: Path | None = None, lift_cap: bool = False) -> dict[str, float]:
    """Import `bundle` in a fresh interpreter (code from `cwd`, default this checkout)."""
    root = cwd or Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), NOVAMIND_DEV="1")
    if lift_cap:
        env["BENCH_LIFT_OLD_CAP"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_fhir_import", "--child", str(bundle)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    n = int(os.environ.get("NOVAMIND_BENCH_FHIR_N", N_DEFAULT))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bundle.json"
        size = make_bundle(path, n)
        fig = run_child(path)
    print(f"bundle: {n:,} responses + {n:,} Observations, {size / 1e6:.1f} MB")
    print("| import (service, one transaction) | seconds | peak RSS (MB) | RSS before (MB) |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| {fig['imported']:,} stored | {fig['seconds']} | {fig['peak_rss_mb']} "
        f"| {fig['rss_before_mb']} |"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
