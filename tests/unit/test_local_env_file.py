"""The checkout's .env: one writer (observatory.local.env_file) for compose and the local stack, run by
scripts/secrets-env.sh itself here; secrets added when missing, never changed, readable by the owner only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from observatory import names
from observatory.local import env_file as dotenv
from tests.conftest import REPO


def _secrets_env(checkout: Path) -> subprocess.CompletedProcess[str]:
    """scripts/secrets-env.sh as make up runs it, in a checkout whose .env is `checkout/.env`."""
    (checkout / "scripts").mkdir(exist_ok=True)
    shutil.copy(REPO / "scripts" / "secrets-env.sh", checkout / "scripts")
    if not (checkout / "src").exists():
        (checkout / "src").symlink_to(REPO / "src")  # no .venv there: the script falls back to python3
    return subprocess.run(
        [str(checkout / "scripts" / "secrets-env.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_secrets_env_writes_every_secret_once_owner_only_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    first = _secrets_env(tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"wrote {' '.join(dotenv.SECRETS)} to .env")
    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = dotenv.read(env)
    assert list(values) == list(dotenv.SECRETS) and values[names.ENV_GRAFANA_ADMIN_USER] == "admin"
    assert len(set(values.values())) == len(values)  # each secret its own random value
    assert len(values[names.ENV_USER_ID_HASH_KEY]) >= 32
    text = env.read_text()
    again = _secrets_env(tmp_path)
    assert (again.returncode, again.stdout, env.read_text()) == (0, "", text)


def test_an_existing_env_keeps_its_lines_and_values_and_gets_only_what_it_lacks(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    # Hand-edited: a key of its own, a comment, and no final line break.
    env.write_text(f"# mine\n{names.ENV_USER_ID_HASH_KEY}=my-own-key-of-24-chars-00\nEXTRA=1")
    os.chmod(env, 0o600)
    added = dotenv.ensure(env)
    assert names.ENV_USER_ID_HASH_KEY not in added and names.ENV_GRAFANA_ADMIN_PASSWORD in added
    values = dotenv.read(env)
    assert values[names.ENV_USER_ID_HASH_KEY] == "my-own-key-of-24-chars-00" and values["EXTRA"] == "1"
    assert env.read_text().startswith(
        f"# mine\n{names.ENV_USER_ID_HASH_KEY}=my-own-key-of-24-chars-00\nEXTRA=1\n"
    )


def test_a_hash_key_variable_the_spec_names_is_generated_beside_the_others(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    assert dotenv.ensure(env, hash_key_env="TEAM_HASH_KEY")[-1] == "TEAM_HASH_KEY"
    assert len(dotenv.read(env)["TEAM_HASH_KEY"]) >= 32
