#!/usr/bin/env bash
# Compiles policies/ to an OPA WASM bundle with the pinned OPA CLI.
# The capabilities file is the opa-wasm SDK's: a builtin the WASM target
# cannot run (time.*, io.jwt.*, http.send, ...) fails here, not at request time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-tools.sh opa
opa="$root/.tools/bin/opa"
out="${1:-build/policies}"
mkdir -p "$out"

# Revision = content hash of the Rego sources, so identical sources give identical revisions.
revision="$(find policies/agent policies/custom -name '*.rego' ! -name '*_test.rego' -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12)"

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
