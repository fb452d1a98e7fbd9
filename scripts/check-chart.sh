#!/usr/bin/env bash
# Lints and renders the Helm chart with the pinned helm, once per values file in helm/agent-pdp/ci/.
# Installs helm into .tools/bin first (scripts/install-tools.sh; go install on the first run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-tools.sh helm
helm="$root/.tools/bin/helm"
chart=helm/agent-pdp
# A go-installed helm reports Kubernetes v1.20 as the default target; render for a supported one.
kube_version="${KUBE_VERSION:-1.31.0}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

shopt -s nullglob
files=("$chart"/ci/*.yaml)
if [ ${#files[@]} -eq 0 ]; then
  echo "check-chart: no values files in $chart/ci" >&2
  exit 1
fi
for values in "${files[@]}"; do
  name="$(basename "$values" .yaml)"
  echo "check-chart: $name"
  "$helm" lint --strict --kube-version "$kube_version" -f "$values" "$chart"
  "$helm" template agent-pdp "$chart" --namespace agent-pdp --kube-version "$kube_version" \
    -f "$values" >"$out/$name.yaml"
  echo "check-chart: $name renders $(grep -c '^kind: ' "$out/$name.yaml") objects"
done
echo "check-chart: ${#files[@]} values files lint and render"
