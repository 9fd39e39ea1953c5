"""The local stack across restarts: what `observatory local up` refuses before it starts anything, and
what it keeps from one `up` to the next (the database, Prometheus, the collector's queue, the hash key)
unless `--fresh` asks it to start empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from observatory import names
from tests.conftest import REPO
from tests.processes.test_e2e_local import _require_local_stack


def _observatory(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatory", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_local_up_refuses_a_short_hash_key_before_starting_anything_and_says_how_to_set_one(
    tmp_path: Path,
) -> None:
    _require_local_stack()  # else it stops earlier, at the missing binary
    result = _observatory(
        "local", "up", "--state-dir", str(tmp_path), env={names.ENV_USER_ID_HASH_KEY: "too-short"}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"observatory local up: the user-id hash key, the environment variable {names.ENV_USER_ID_HASH_KEY}, "
        "is 9 bytes; a key needs at least 16: make up writes a random one to .env; or set it yourself, e.g. "
        f"{names.ENV_USER_ID_HASH_KEY}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') "
        "(docs/user-id-hash-key.md)\n"
    )
    assert not (tmp_path / "state.json").exists()  # nothing was started, so nothing to stop
