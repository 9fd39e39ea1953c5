#!/usr/bin/env bash
# Creates the git-ignored .env with random secrets for the stack, and adds any secret an existing .env
# lacks. One writer for compose and the local stack: observatory.local.env_file, which `observatory
# local up` also calls. A secret already there is never changed (docs/user-id-hash-key.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# The package's module needs only the standard library: the checkout's sources do without the venv.
python=.venv/bin/python
[ -x "$python" ] || python=python3
PYTHONPATH=src exec "$python" -m observatory.local.env_file .env
