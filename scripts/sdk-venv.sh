#!/usr/bin/env bash
# Builds .cache/sdk-venv: the Python distro (sdk/python) installed the way a user installs it, from the
# repository with every extra, at the versions of sdk/python/constraints.txt, plus the provider clients
# the sample app drives. Rebuilt only when sdk/python changes (pip's own cache makes a rebuild quick).
# `--stamp` prints what the stamp must be (the tests compare it, as they do for the collector).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/sdk-venv"
# The stamp: every file under sdk/python but the caches and build output that tools leave there.
stamp="$(cd "$root" && find sdk/python -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' \
  -not -path '*/.*_cache/*' -not -path 'sdk/python/build/*' | LC_ALL=C sort | xargs sha256sum |
  sha256sum | cut -d' ' -f1)"
if [ "${1:-}" = --stamp ]; then echo "$stamp"; exit 0; fi
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$stamp" ]; then exit 0; fi
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
# The one command a user runs (README: Send your app's traces), with the tested pins as constraints;
# openai and anthropic are the sample application's own dependencies.
"$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$root/sdk/python/constraints.txt" \
  "$root/sdk/python[all]" openai anthropic
"$venv/bin/python" -m pip check
rm -rf "$root/sdk/python/build"
echo "$stamp" > "$venv/.stamp"
