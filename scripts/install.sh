#!/usr/bin/env bash
# Creates .venv with the exact versions in requirements.lock, the package itself in editable mode, and
# the ingester's native decoder (native/, Rust) built with cargo through maturin.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
# rustup installs cargo into ~/.cargo/bin, which a non-login shell may not have on its PATH.
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
command -v cargo >/dev/null || {
  echo "install: building the ingester's native decoder (native/) needs Rust's cargo >= 1.78 (https://rustup.rs)" >&2
  exit 1
}
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps ./native
touch .venv/.installed
