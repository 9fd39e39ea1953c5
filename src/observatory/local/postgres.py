"""A PostgreSQL cluster on loopback: initdb, start, stop, restart, a database with a password.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user. The
superuser gets a random password (no trust authentication over TCP). By default the cluster is
throwaway, under the system temporary directory, where that user can reach it; given a `root` and the
password it was made with, it is kept there and started again on its data.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from observatory.processes import free_port


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise FileNotFoundError("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    return Path(candidates[0]).parent


def available() -> bool:
    try:
        _bindir()
    except FileNotFoundError:
        return False
    return True


class LocalPostgres:
    def __init__(
        self,
        database: str = "observatory",
        port: int | None = None,
        root: Path | None = None,
        password: str | None = None,
    ) -> None:
        self.bindir = _bindir()
        self.database = database
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(16)
        if root is not None:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root = root or Path(tempfile.mkdtemp(prefix="observatory-pg-"))
        # A throwaway cluster skips fsync for speed; a kept one must survive a machine crash.
        self._fsync = "on" if root is not None else "off"
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
            )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> str:
        if not self.data.exists():
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            if self._as_root:
                shutil.chown(self.root, "postgres", "postgres")
                shutil.chown(pwfile, "postgres", "postgres")
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-instructions",
            )
            pwfile.unlink()
        self._ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync={self._fsync}",
        )
        self._create_database()
        return self.dsn

    def _create_database(self) -> None:
        import psycopg

        admin = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), *args)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
