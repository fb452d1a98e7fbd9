#!/usr/bin/env bash
# Installs the project's pinned CLI tools into .tools/bin (git-ignored).
# A tool already on PATH at the pinned version is linked instead of rebuilt.
set -euo pipefail

OPA_VERSION="${OPA_VERSION:-1.22.3}"
HELM_VERSION="${HELM_VERSION:-3.22.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin"

want=("${@:-opa}")

have_version() { # tool, version-pattern
  local tool="$1" pattern="$2" path
  path="$(command -v "$tool" 2>/dev/null || true)"
  [ -n "$path" ] && [ "$path" != "$bin/$tool" ] && "$path" version 2>/dev/null | grep -q "$pattern" && echo "$path"
}

go_install() { # tool, module@version
  local tool="$1" module="$2"
  if ! command -v go >/dev/null 2>&1; then
    echo "install-tools: '$tool' is not on PATH at the pinned version and Go is not installed;" >&2
    echo "install-tools: install Go >= 1.24 (or put $tool on PATH) and run this script again." >&2
    exit 1
  fi
  echo "install-tools: go install $module" >&2
  GOBIN="$bin" GOFLAGS="${GOFLAGS:--trimpath}" go install "$module"
}

for tool in "${want[@]}"; do
  case "$tool" in
    opa)
      if [ -x "$bin/opa" ] && "$bin/opa" version | grep -q "^Version: ${OPA_VERSION}$"; then continue; fi
      if found="$(have_version opa "^Version: ${OPA_VERSION}$")"; then ln -sf "$found" "$bin/opa"; continue; fi
      go_install opa "github.com/open-policy-agent/opa@v${OPA_VERSION}"
      ;;
    helm)
      # A helm built with `go install` reports "v3.22" for v3.22.0, so accept both spellings.
      helm_pattern="^v(${HELM_VERSION}|${HELM_VERSION%.0})([+-]|$)"
      if [ -x "$bin/helm" ] && "$bin/helm" version --short | grep -Eq "$helm_pattern"; then continue; fi
      if found="$(command -v helm 2>/dev/null)" && [ "$found" != "$bin/helm" ] && helm version --short | grep -Eq "$helm_pattern"; then
        ln -sf "$found" "$bin/helm"; continue
      fi
      go_install helm "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}"
      ;;
    *) echo "install-tools: unknown tool '$tool' (known: opa, helm)" >&2; exit 2 ;;
  esac
done
