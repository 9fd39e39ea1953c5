"""The local stack's user-id hash key: made once into .env and reused; refused, with how to set it,
when it is empty, too short or unreadable for the collector."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from observatory import names
from observatory.local import env_file as dotenv
from observatory.local import hash_key
from observatory.spec.types import SecretRef

ENV = SecretRef(env=names.ENV_USER_ID_HASH_KEY)
NAME = names.ENV_USER_ID_HASH_KEY


def test_a_missing_key_is_made_once_into_an_owner_only_env_file_and_reused(tmp_path: Path) -> None:
    env_file, out = tmp_path / ".env", io.StringIO()
    first = hash_key.resolve(ENV, env_file, environ={}, out=out)
    assert f"wrote a new user-id hash key to {env_file}" in out.getvalue()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert len(first[NAME]) >= 32 and hash_key.problem(first[NAME]) is None
    again = io.StringIO()
    assert hash_key.resolve(ENV, env_file, environ={}, out=again) == first  # a restart: same key
    assert again.getvalue() == ""
    assert env_file.read_text().count(f"{NAME}=") == 1


def test_an_env_file_made_before_the_key_existed_gets_it_added_and_keeps_its_other_lines(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# made by an older secrets-env.sh\nGRAFANA_ADMIN_PASSWORD=kept\n")
    key = hash_key.resolve(ENV, env_file, environ={})[NAME]
    kept = dotenv.read(env_file)
    assert kept["GRAFANA_ADMIN_PASSWORD"] == "kept" and kept[NAME] == key
    assert set(kept) == set(dotenv.SECRETS)  # completed as make up completes it, for compose too


def test_the_process_environment_wins_over_the_env_file_as_it_does_for_compose(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{NAME}='from-the-file-0123456789'\n")
    assert hash_key.resolve(ENV, env_file, environ={})[NAME] == "from-the-file-0123456789"
    got = hash_key.resolve(ENV, env_file, environ={NAME: "from-the-environment-01"})
    assert got == {NAME: "from-the-environment-01"}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "is empty"),
        ("short-key", "is 9 bytes; a key needs at least 16"),
        ('has-a-"quote"-in-it-0123', "holds a quote"),
        ("ends-with-a-space-0123 ", "holds a quote, backslash, line break or surrounding space"),
    ],
)
def test_a_key_the_collector_would_hash_badly_with_is_refused_with_how_to_set_one(
    tmp_path: Path, value: str, why: str
) -> None:
    with pytest.raises(hash_key.HashKeyError) as caught:
        hash_key.resolve(ENV, tmp_path / ".env", environ={NAME: value})
    message = str(caught.value)
    assert f"the environment variable {NAME}, {why}" in message
    assert "make up writes a random one to .env" in message and "docs/user-id-hash-key.md" in message
    assert not (tmp_path / ".env").exists()  # a bad key set on purpose is not papered over


def test_a_short_key_in_the_env_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"{NAME}=abc\n")
    with pytest.raises(hash_key.HashKeyError, match=rf"{NAME} in {env_file}, is 3 bytes"):
        hash_key.resolve(ENV, env_file, environ={})


def test_a_file_key_is_read_where_the_spec_says_and_never_generated(tmp_path: Path) -> None:
    key_file = tmp_path / "user_id_hash_key"
    ref = SecretRef(file=str(key_file))
    with pytest.raises(hash_key.HashKeyError, match=rf"file {key_file} .* is not set; write a random key"):
        hash_key.resolve(ref, tmp_path / ".env", environ={})
    assert not key_file.exists() and not (tmp_path / ".env").exists()
    key_file.write_text("a-good-key-of-32-characters-0123\n")  # `echo key > file` adds a line break
    with pytest.raises(hash_key.HashKeyError, match="line break"):
        hash_key.resolve(ref, tmp_path / ".env", environ={})
    key_file.write_text("a-good-key-of-32-characters-0123")
    assert hash_key.resolve(ref, tmp_path / ".env", environ={}) == {}  # the collector reads the file
