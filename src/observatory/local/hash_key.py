"""The user-id hash key of the local stack: where it comes from, whether it can be a key, and making
one once when there is none, so the same user hashes the same after every restart.

The key is found where the spec's `pii.user_id_hash_key` says: an environment variable (the process
environment first, then the git-ignored `.env` that `make up` writes for compose, so both stacks of a
checkout hash alike), or a mounted file. An `{env: ...}` key found nowhere is generated once into
`.env` (mode 0600) and reused; a `{file: ...}` key is the operator's to write. Rotation:
docs/user-id-hash-key.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from observatory.spec.types import SecretRef

# HMAC-style keys shorter than the hash's 16-byte security margin can be brute-forced against known ids.
MIN_KEY_BYTES = 16
# 32 random bytes, URL-safe base64: 43 characters, none that the collector's OTTL string would change.
_NEW_KEY_BYTES = 32
ENV_FILE_HEADER = "# Secrets of the local stack, made by scripts/secrets-env.sh. Never commit this file."
HOW = (
    "make up writes a random one to .env; or set it yourself, e.g. "
    "{name}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') (docs/user-id-hash-key.md)"
)


class HashKeyError(ValueError):
    """No usable user-id hash key: the message says where it looked and how to set one."""


def problem(key: str | None) -> str | None:
    """Why `key` cannot be the user-id hash key, or None."""
    if key is None:
        return "is not set"
    if key == "":
        return "is empty"
    if len(key.encode()) < MIN_KEY_BYTES:
        return f"is {len(key.encode())} bytes; a key needs at least {MIN_KEY_BYTES}"
    # The collector puts the key inside an OTTL string literal, where `\` escapes and `"` ends it, and
    # a line break or surrounding space is easy to add by accident and invisible when comparing keys.
    if any(c in key for c in '"\\') or any(not c.isprintable() for c in key) or key != key.strip():
        return "holds a quote, backslash, line break or surrounding space; use letters, digits, - and _"
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of a compose-style .env file; comments and blank lines skipped, quotes removed."""
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            values[name.strip()] = value[1:-1] if quoted else value
    return values


def _append(path: Path, name: str, value: str) -> None:
    """Add NAME=value to the .env file, creating it readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write(ENV_FILE_HEADER + "\n")
        f.write(f"{name}={value}\n")


def resolve(
    ref: SecretRef, env_file: Path, environ: Mapping[str, str] = os.environ, out: TextIO | None = None
) -> dict[str, str]:
    """The environment the collector needs for the key (empty for a file key), after checking it.

    Raises HashKeyError naming where the key was looked for and how to set one."""
    if ref.file is not None:
        path = Path(ref.file)
        try:
            key: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            key = None
        except OSError as err:
            raise HashKeyError(f"the user-id hash key file {path} cannot be read: {err.strerror}") from err
        if why := problem(key):
            raise HashKeyError(
                f"the user-id hash key file {path} (spec pii.user_id_hash_key) {why}; write a random key "
                "to it without a final line break: python3 -c 'import secrets; "
                f'print(secrets.token_urlsafe(32), end="")\' > {path} && chmod 600 {path}'
            )
        return {}
    name = ref.env
    assert name is not None  # the spec guarantees exactly one of env and file
    if name in environ:
        key, where = environ[name], f"the environment variable {name}"
    else:
        key, where = read_env_file(env_file).get(name), f"{name} in {env_file}"
    if key is None:
        key = secrets.token_urlsafe(_NEW_KEY_BYTES)
        _append(env_file, name, key)
        if out is not None:
            print(f"  wrote a new user-id hash key to {env_file} ({name}), kept across restarts", file=out)
    if why := problem(key):
        raise HashKeyError(f"the user-id hash key, {where}, {why}: {HOW.format(name=name)}")
    return {name: key}
