#!/usr/bin/env bash
# Supply-chain checks for the desktop bundle (CI runs this after the tests):
#   1. bandit: static security scan of the product code (app engines sync gateway viz ui); every
#      finding is fixed or justified inline with `# <reason>  # nosec <id>`. B404 (importing
#      subprocess) is skipped: each subprocess *call* is still checked (B603/B602/B607).
#   2. pip-audit: known vulnerabilities in the runtime dependency closure (PyPI's advisory
#      data). Skipped with a NOTICE, not failed, when that data cannot be reached.
#   3. CycloneDX SBOM (JSON, 1.6) of the runtime closure, for IT:
#      build/supply-chain/novamind-desktop.cdx.json
# Tools live in their own venv (build/supply-chain-venv), never in the desktop bundle.
# Env: NOVAMIND_VENV (desktop venv to audit, default .venv), NOVAMIND_SUPPLY_OUT (output dir).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT (the working directory), VENV, PY, log
TOOLS="${NOVAMIND_SUPPLY_VENV:-$ROOT/build/supply-chain-venv}"
OUT="${NOVAMIND_SUPPLY_OUT:-$ROOT/build/supply-chain}"

[ -x "$VENV/bin/python" ] || { echo "desktop venv $VENV not found: run scripts/setup.sh first" >&2; exit 2; }
if ! "$TOOLS/bin/python" -c "import bandit, pip_audit, cyclonedx_py" 2>/dev/null; then
  log "installing supply-chain tools into $TOOLS"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --require-hashes -r requirements/supply-chain.txt
fi
mkdir -p "$OUT"

log "bandit (app engines sync gateway viz ui)"
"$TOOLS/bin/bandit" -r app engines sync gateway viz ui -s B404 -q -f txt -o "$OUT/bandit.txt" \
  && bandit_rc=0 || bandit_rc=$?
cat "$OUT/bandit.txt"
[ "$bandit_rc" -eq 0 ] || { echo "bandit: findings above must be fixed or justified" >&2; exit 1; }
echo "bandit: no unresolved findings"

log "runtime dependency closure"
"$VENV/bin/python" scripts/runtime_requirements.py > "$OUT/runtime-requirements.txt"
echo "$(wc -l < "$OUT/runtime-requirements.txt") packages: $OUT/runtime-requirements.txt"

log "pip-audit (known vulnerabilities)"
if "$TOOLS/bin/python" - <<'PY'
# Canary: a release with published advisories must come back with them; a mirror that only
# serves the package index (no per-release JSON, no advisories) counts as unreachable.
import json, sys, urllib.request
try:
    with urllib.request.urlopen("https://pypi.org/pypi/jinja2/3.1.2/json", timeout=15) as r:
        assert json.load(r).get("vulnerabilities"), "no advisory data in the answer"
except Exception as exc:  # noqa: BLE001
    print(f"advisory canary failed: {type(exc).__name__}: {exc}")
    sys.exit(1)
PY
then
  "$TOOLS/bin/pip-audit" --disable-pip --no-deps --progress-spinner off --desc on \
    -r "$OUT/runtime-requirements.txt" -f json -o "$OUT/pip-audit.json" && audit_rc=0 || audit_rc=$?
  "$TOOLS/bin/python" - "$OUT/pip-audit.json" <<'PY' && summary_rc=0 || summary_rc=$?
import json, sys
deps = json.load(open(sys.argv[1]))["dependencies"]
vulns = [(d["name"], d["version"], v["id"], ",".join(v.get("fix_versions", [])) or "-")
         for d in deps for v in d.get("vulns", [])]
skipped = [d["name"] for d in deps if d.get("skip_reason")]
print(f"pip-audit: {len(deps)} packages, {len(vulns)} known vulnerabilities")
for v in vulns:
    print("  %s %s: %s (fixed in %s)" % v)
if skipped:
    print("  not audited (not on PyPI):", ", ".join(skipped))
if len(skipped) == len(deps):
    sys.exit(3)
PY
  if [ "$summary_rc" -eq 3 ]; then
    echo "NOTICE: pip-audit SKIPPED: no package could be looked up (advisory data unreachable)."
  elif [ "$audit_rc" -ne 0 ]; then
    echo "pip-audit: vulnerable dependencies (see above and $OUT/pip-audit.json)" >&2
    exit 1
  fi
else
  echo "NOTICE: pip-audit SKIPPED: PyPI's vulnerability data cannot be reached from here."
  echo "NOTICE: run scripts/supply_chain.sh where https://pypi.org is reachable."
fi

log "CycloneDX SBOM"
"$TOOLS/bin/cyclonedx-py" environment --of JSON --sv 1.6 --output-reproducible \
  -o "$OUT/environment.cdx.json" "$VENV/bin/python"
"$TOOLS/bin/python" - "$OUT/environment.cdx.json" "$OUT/runtime-requirements.txt" \
  "$OUT/novamind-desktop.cdx.json" <<'PY'
"""Keep only the runtime closure (test tools are in the venv, not in the bundle)."""
import json, re, sys
canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
bom = json.load(open(sys.argv[1]))
keep = {canon(l.split("==")[0]) for l in open(sys.argv[2]) if l.strip()}
comps = [c for c in bom["components"] if canon(c["name"]) in keep]
refs = {c["bom-ref"] for c in comps}
missing = keep - {canon(c["name"]) for c in comps}
if missing:
    sys.exit(f"SBOM lacks runtime packages: {sorted(missing)}")
bom["components"] = comps
bom["dependencies"] = [
    {**d, "dependsOn": [x for x in d.get("dependsOn", []) if x in refs]}
    for d in bom.get("dependencies", []) if d["ref"] in refs
]
bom.setdefault("metadata", {})["component"] = {
    "type": "application", "name": "novamind-desktop", "bom-ref": "novamind-desktop"}
json.dump(bom, open(sys.argv[3], "w"), indent=1, sort_keys=True)
print(f"SBOM: {len(comps)} components -> {sys.argv[3]}")
PY
