"""Applies the schema to a database, idempotently: versioned migrations once, repeatable ones always.

Runs under an advisory lock in one transaction, so two ingesters starting together do not race, and
a failure leaves the database as it was. A versioned migration whose text changed after it was
applied is an error (the fix is a new migration), never silently re-run. The read-only roles (Grafana's
and the query API's) are created here; their passwords come from the environment, never from a file.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from observatory import names
from observatory.spec.types import Spec
from observatory.sql.schema import Migration, migrations

log = logging.getLogger("observatory.migrate")

# Any constant works if every process that migrates this database uses it; above 2**31 it cannot
# meet the int4 hashtext() keys the partition function locks.
LOCK_ID = 0x4C4C4D4F_00000001  # "LLMO", 1


class MigrationError(Exception):
    """The database's schema history disagrees with this version of the package."""


@dataclass
class MigrateReport:
    applied: list[str]
    unchanged: list[str]
    repeated: list[str]


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ensure_role(conn: psycopg.Connection, role: str, password: str | None) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    if password:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )


def migrate(
    conn: psycopg.Connection,
    spec: Spec,
    reader_password: str | None = None,
    api_password: str | None = None,
) -> MigrateReport:
    """Bring the database at `conn` to the schema of `spec`; returns what was done. A role whose
    password is given can log in with it; without one it exists but cannot log in."""
    report = MigrateReport([], [], [])
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS observatory_schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        _ensure_role(conn, names.DB_READER_USER, reader_password)
        _ensure_role(conn, names.DB_API_USER, api_password)
        applied = {
            v: (n, c)
            for v, n, c in conn.execute("SELECT version, name, checksum FROM observatory_schema_migrations")
        }
        wanted = migrations(spec)
        for migration in wanted:
            _apply(conn, migration, applied, report)
    after = [m for m in wanted if m.after and m.filename in report.applied]
    if after:
        _run_after(conn, after)
    return report


# TimescaleDB refuses a refresh of a continuous aggregate while another refresh of it runs (its
# policy's background job, on a server already running an earlier release): wait for that one.
BUSY_RETRIES = (1, 2, 4, 8, 15, 30)  # seconds between attempts


def execute_waiting(conn: psycopg.Connection, statement: str | sql.Composed) -> None:
    """Run `statement` (autocommit), again after a pause while TimescaleDB says another refresh of the
    same aggregate is running."""
    for wait in (*BUSY_RETRIES, None):
        try:
            conn.execute(statement.encode() if isinstance(statement, str) else statement)
            return
        except psycopg.errors.LockNotAvailable as err:
            if wait is None:
                raise
            log.info("%s; retrying in %d s", str(err).splitlines()[0], wait)
            time.sleep(wait)


def _run_after(conn: psycopg.Connection, applied: list[Migration]) -> None:
    """What the migrations just applied run after their commit, outside any transaction."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrationError(
            "migrate was called inside a transaction: the steps after a migration's commit"
            f" ({', '.join(m.filename for m in applied)}) need a connection outside one"
        )
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        for migration in applied:
            for i, statement in enumerate(migration.after):
                try:
                    execute_waiting(conn, statement)
                except psycopg.Error as err:
                    raise MigrationError(
                        f"migration {migration.filename} was applied, but a statement that follows its"
                        f" commit failed ({str(err).strip()}); run what is left by hand: "
                        + " ".join(migration.after[i:])
                    ) from err
    finally:
        conn.autocommit = autocommit


def _apply(
    conn: psycopg.Connection, migration: Migration, applied: dict[int, tuple[str, str]], report: MigrateReport
) -> None:
    checksum = _checksum(migration.text)
    if migration.version is None:
        conn.execute(migration.sql.encode())
        report.repeated.append(migration.filename)
        return
    if migration.version in applied:
        name, done = applied[migration.version]
        if done != checksum:
            raise MigrationError(
                f"migration {migration.filename} was applied with other contents (as {name!r}); "
                "a schema change must be a new migration"
            )
        report.unchanged.append(migration.filename)
        return
    conn.execute(migration.sql.encode())
    conn.execute(
        "INSERT INTO observatory_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
        (migration.version, migration.name, checksum),
    )
    report.applied.append(migration.filename)
