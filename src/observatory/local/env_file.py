"""The git-ignored `.env` of a checkout: the one writer of the stack's secrets, for compose (which reads
it with `--env-file`) and the local stack (which reads the user-id hash key from it).

Each secret missing from the file is added with a random value, readable by its owner only; a secret
already there is never changed: a new user-id hash key would hash every user differently from then on
(rotating it is deliberate: docs/user-id-hash-key.md). There are no default passwords.
`scripts/secrets-env.sh` (run by `make up`) and `observatory local up` both call `ensure`.

    python -m observatory.local.env_file [PATH]    # PATH defaults to .env
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from observatory import names

HEADER = (
    "# Secrets of the stack, made by scripts/secrets-env.sh or observatory local up. Never commit this file."
)


def _password() -> str:
    return secrets.token_urlsafe(24)  # 24 random bytes: 32 characters, none that compose or a URL changes


def _hash_key() -> str:
    # 32 random bytes, 43 characters of [A-Za-z0-9_-]: twice the 16 bytes a key needs, nothing to escape.
    return secrets.token_urlsafe(32)


# In the order they are written; GRAFANA_ADMIN_USER is a name, not a secret.
SECRETS: dict[str, Callable[[], str]] = {
    names.ENV_GRAFANA_ADMIN_USER: lambda: "admin",
    names.ENV_GRAFANA_ADMIN_PASSWORD: _password,
    names.ENV_DB_PASSWORD: _password,
    names.ENV_DB_READER_PASSWORD: _password,
    names.ENV_DB_API_PASSWORD: _password,
    names.ENV_API_TOKEN: _password,
    names.ENV_USER_ID_HASH_KEY: _hash_key,
}


def read(path: Path) -> dict[str, str]:
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


def ensure(path: Path, hash_key_env: str = names.ENV_USER_ID_HASH_KEY) -> list[str]:
    """Add every secret `path` lacks (creating it, mode 0600); returns the names added, in file order.

    `hash_key_env` is the variable the spec's `pii.user_id_hash_key` names, when it is not the default."""
    makers = {**SECRETS, hash_key_env: _hash_key}
    have = read(path)
    added = {name: make() for name, make in makers.items() if name not in have}
    if added:
        # A hand-edited file may lack its final line break: the first line added must not join its last.
        unterminated = path.exists() and path.read_bytes()[-1:] not in (b"", b"\n")
        # O_APPEND: lines already there are never rewritten; 0o600 applies when the file is created.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            if f.tell() == 0:
                f.write(HEADER + "\n")
            elif unterminated:
                f.write("\n")
            f.writelines(f"{name}={value}\n" for name, value in added.items())
    return list(added)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else ".env")
    added = ensure(path)
    if added:
        print(f"wrote {' '.join(added)} to {path} (random secrets; Grafana login: admin, password in {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
