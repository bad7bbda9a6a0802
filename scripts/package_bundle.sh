#!/usr/bin/env bash
# Linux: pack dist/novamind into a versioned tarball (+ launcher entry) with SHA-256 checksums.
#   bash scripts/package_bundle.sh     -> dist/novamind-<version>-linux-<arch>.tar.gz, dist/SHA256SUMS
# Install:  tar -C /opt -xzf novamind-*.tar.gz && cp /opt/novamind/novamind.desktop /usr/share/applications/
# (Windows MSI/Inno Setup and macOS pkg recipes: docs/deployment.md.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -x dist/novamind/novamind ] || { echo "no bundle: run bash scripts/build_bundle.sh first" >&2; exit 1; }
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)
NAME="novamind-$VERSION-linux-$(uname -m)"
cp deploy/linux/novamind.desktop dist/novamind/novamind.desktop
tar -C dist -czf "dist/$NAME.tar.gz" novamind
(cd dist && sha256sum "$NAME.tar.gz" > SHA256SUMS)
echo "dist/$NAME.tar.gz ($(du -h "dist/$NAME.tar.gz" | cut -f1)); checksum in dist/SHA256SUMS"
