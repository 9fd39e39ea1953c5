"""The user-id hash key of the local stack: where it comes from, whether it can be a key, and making
one once when there is none, so the same user hashes the same after every restart.

The key is found where the spec's `pii.user_id_hash_key` says: an environment variable (the process
environment first, then the git-ignored `.env` that `make up` writes for compose, so both stacks of a
checkout hash alike), or a mounted file. An `{env: ...}` key found nowhere is generated once into
`.env` (mode 0600, by `env_file.ensure`, the writer `make up` uses) and reused; a `{file: ...}`
key is the operator's to write. Rotation: docs/user-id-hash-key.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from observatory.local import env_file as dotenv
from observatory.spec.types import SecretRef

# HMAC-style keys shorter than the hash's 16-byte security margin can be brute-forced against known ids.
MIN_KEY_BYTES = 16
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
    # Collectors that hashed in OTTL put the key inside a string literal, where `\` escapes and `"` ends
    # it; a line break or surrounding space is easy to add by accident and invisible when comparing keys.
    if any(c in key for c in '"\\') or any(not c.isprintable() for c in key) or key != key.strip():
        return "holds a quote, backslash, line break or surrounding space; use letters, digits, - and _"
    return None


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
        key, where = dotenv.read(env_file).get(name), f"{name} in {env_file}"
    if key is None:
        dotenv.ensure(env_file, hash_key_env=name)  # with any other secret .env lacks, as make up does
        key = dotenv.read(env_file)[name]
        if out is not None:
            print(f"  wrote a new user-id hash key to {env_file} ({name}), kept across restarts", file=out)
    if why := problem(key):
        raise HashKeyError(f"the user-id hash key, {where}, {why}: {HOW.format(name=name)}")
    return {name: key}
