#!/usr/bin/env bash
# Installs the system tools the tests run for real, when they are missing: Prometheus, Alertmanager,
# PostgreSQL and Node.js with npm (the VS Code extension) from Debian packages (as root with apt), and
# kustomize built with Go into the git-ignored .cache/tools. Elsewhere it says what is missing; the
# tests that need a tool then skip, except under REQUIRE_TOOLS=1 (CI), where they fail.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)  # builds and tests the VS Code extension
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${packages[*]} (Debian packages)"
    apt-get update -qq
    # The packages would start their services; nothing here wants them running.
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  else
    echo "missing system packages: ${packages[*]} (install them to run every test)" >&2
  fi
fi

# Go tools, built into the git-ignored .cache/tools with Go's own module and build caches, which
# make a rebuild fast: kustomize proves the Kubernetes manifests build, actionlint the GitHub workflow.
go_tool() {  # name, module@version
  if [ ! -x "$root/.cache/tools/$1" ] && ! command -v "$1" >/dev/null 2>&1; then
    if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ]; then
      echo "building $2 into .cache/tools"
      PATH="$PATH:/usr/local/go/bin" GOBIN="$root/.cache/tools" go install "$2"
    else
      echo "missing $1 (building it needs Go)" >&2
    fi
  fi
}
# kustomize v5.7.1 builds with the Go this machine has.
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
