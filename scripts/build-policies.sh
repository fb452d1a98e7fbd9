#!/usr/bin/env bash
# Compiles policies/ to an OPA WASM bundle with the pinned OPA CLI.
# The capabilities file is the opa-wasm SDK's: a builtin the WASM target
# cannot run (time.*, io.jwt.*, http.send, ...) fails here, not at request time.
# OPA_BIN=/path/to/opa uses that binary (checked against the pinned version) instead of .tools/bin/opa.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -n "${OPA_BIN:-}" ]; then
  # A given OPA binary (the Dockerfile passes the official image's): no Go toolchain needed,
  # but it must be the pinned version, so the image and `npm run policies:build` compile alike.
  opa="$OPA_BIN"
  pinned="${OPA_VERSION:-$(sed -n 's/^OPA_VERSION="${OPA_VERSION:-\([^}]*\)}"$/\1/p' scripts/install-tools.sh)}"
  if ! grep -qx "Version: ${pinned}" <<<"$("$opa" version 2>/dev/null || true)"; then
    echo "policies: OPA_BIN=$opa is not OPA ${pinned} (the pin in scripts/install-tools.sh)" >&2
    exit 1
  fi
else
  bash scripts/install-tools.sh opa
  opa="$root/.tools/bin/opa"
fi
out="${1:-build/policies}"
mkdir -p "$out"

# Revision = content hash of the Rego sources and data files, so identical sources give identical revisions.
revision="$(find policies/agent policies/custom \( -name '*.rego' ! -name '*_test.rego' -o -name '*.json' \) -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12)"

"$opa" build -t wasm \
  --capabilities policies/capabilities.json \
  --revision "$revision" \
  --ignore '*_test.rego' \
  -e agent/decide/result \
  -e agent/whatif/result \
  -e agent/gateway/result \
  -o "$out/bundle.tar.gz" \
  policies/agent policies/custom
echo "policies: built $out/bundle.tar.gz (revision $revision)"
