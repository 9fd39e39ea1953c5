#!/usr/bin/env bash
# Stops what `make up` started: the local stack when its state file exists, else the compose stack.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .cache/local-stack/state.json ]; then
  exec .venv/bin/observatory local down
fi
exec scripts/compose.sh down
