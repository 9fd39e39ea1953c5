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
if command -v cargo >/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps ./native
elif [ "${REQUIRE_TOOLS:-}" = 1 ]; then
  echo "install: the ingester's native decoder (native/) needs Rust's cargo >= 1.78 (https://rustup.rs)" >&2
  exit 1
else
  # Not fatal: compose builds the decoder into the ingester image, and a local ingester falls back
  # to the slower Python decoder. No stamp, so the next make tries again once cargo is there.
  echo "install: cargo not found, so the ingester's native decoder (native/, Rust) is not built;" \
    "the local ingester will use --decoder=python (slower). Install Rust (https://rustup.rs) and" \
    "run make install again." >&2
  exit 0
fi
touch .venv/.installed
