#!/usr/bin/env bash
# Runs the Rego unit tests and fails when policy line coverage drops below the floor.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-tools.sh opa
opa="$root/.tools/bin/opa"
min="${POLICY_COVERAGE_MIN:-90}"
mkdir -p build

"$opa" test policies/agent policies/custom -v
"$opa" test policies/agent policies/custom --coverage --format=json > build/policy-coverage.json
node -e '
  const report = require(process.argv[1]);
  const pct = Number(report.coverage ?? 0);
  const min = Number(process.argv[2]);
  console.log(`policies: line coverage ${pct.toFixed(1)}% (floor ${min}%)`);
  for (const [file, f] of Object.entries(report.files ?? {})) {
    const missed = (f.not_covered ?? []).map((r) => r.start.row + (r.end.row !== r.start.row ? "-" + r.end.row : "")).join(",");
    if (missed) console.log(`  ${file}: not covered ${missed}`);
  }
  if (!(pct >= min)) { console.error(`policies: coverage ${pct.toFixed(1)}% is below ${min}%`); process.exit(1); }
' "$root/build/policy-coverage.json" "$min"
