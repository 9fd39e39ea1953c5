"""The per-request schema: migrations on a real PostgreSQL, and the TimescaleDB flavour parsed by
PostgreSQL's own parser (pglast); the container suite runs it on the pinned TimescaleDB image."""

from __future__ import annotations

import os
import subprocess
import sys

import pglast
import psycopg
import pytest

from observatory import names
from observatory.render import render_files
from observatory.spec import load, parse
from observatory.sql.columns import COLUMNS
from observatory.sql.rollups import ROLLUPS
from observatory.sql.schema import migrations
from observatory.storage.migrate import MigrationError, migrate
from tests.conftest import REPO, SPECS

POSTGRES_SPEC = load(SPECS / "valid" / "postgres.yaml")


def _columns(conn: psycopg.Connection) -> list[str]:
    """The per-request table's columns, in the table's order."""
    query = (
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"
    )
    return [r[0] for r in conn.execute(query, (names.TABLE_REQUESTS,))]


def test_the_postgres_schema_applies_twice_and_the_second_time_changes_nothing(database: str) -> None:
    with psycopg.connect(database) as conn:
        first = migrate(conn, POSTGRES_SPEC, reader_password="reader-secret")
        second = migrate(conn, POSTGRES_SPEC, reader_password="reader-secret")
        versioned = [m.filename for m in migrations(POSTGRES_SPEC) if m.version is not None]
        assert versioned[-1] == "V008__feedback.sql"
        assert (first.applied, second.applied, second.unchanged) == (versioned, [], versioned)
        assert _columns(conn) == [c.name for c in COLUMNS]
        for rollup in ROLLUPS:  # a view over its store table
            kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (rollup.name,))
            assert kind.fetchone() == ("v",)
            store = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (rollup.store,))
            assert store.fetchone() == ("r",)


def test_a_database_of_the_first_release_gets_the_columns_added_since(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import observatory.storage.migrate as migrate_module

    every = migrations(POSTGRES_SPEC)
    with psycopg.connect(database) as conn:
        # The first release knew V001 and the repeatable migration only.
        monkeypatch.setattr(
            migrate_module, "migrations", lambda spec: [m for m in every if m.version != 2][:1]
        )
        assert migrate(conn, POSTGRES_SPEC).applied == ["V001__schema.sql"]
        monkeypatch.undo()
        result = migrate(conn, POSTGRES_SPEC)
        assert (result.applied, result.unchanged) == (
            [
                "V002__error_type_raw.sql",
                "V003__detail_rollups.sql",
                "V004__users_rollups.sql",
                "V005__calendar_rollups.sql",
                "V006__users_rollup_order.sql",
                "V007__users_month_to_date.sql",
                "V008__feedback.sql",
            ],
            ["V001__schema.sql"],
        )
        assert _columns(conn) == [c.name for c in COLUMNS]


def test_a_changed_versioned_migration_is_refused_not_reapplied(database: str) -> None:
    with psycopg.connect(database) as conn:
        migrate(conn, POSTGRES_SPEC)
        conn.execute("UPDATE observatory_schema_migrations SET checksum = 'edited' WHERE version = 1")
        conn.commit()
        with pytest.raises(MigrationError, match="a schema change must be a new migration"):
            migrate(conn, POSTGRES_SPEC)


def test_partitions_are_created_on_demand_and_rows_land_in_them(database: str) -> None:
    with psycopg.connect(database) as conn:
        migrate(conn, POSTGRES_SPEC)
        conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition('2026-03-01')")
        conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition('2026-03-01')")  # again: no error
        conn.execute(
            f"INSERT INTO {names.TABLE_REQUESTS} (time, trace_id, span_id, application, environment, status,"
            " duration_ms, unpriced) VALUES ('2026-03-01 12:00+00', 't', 's', 'a', 'e', 'ok', 1, false)"
        )
        where = conn.execute(f"SELECT tableoid::regclass::text FROM {names.TABLE_REQUESTS}").fetchone()
        assert where == (f"{names.TABLE_REQUESTS}_20260301",)
        with pytest.raises(psycopg.errors.CheckViolation):  # no partition for that day: refused, not lost
            conn.execute(
                f"INSERT INTO {names.TABLE_REQUESTS} (time, trace_id, span_id, application, environment,"
                " status, duration_ms, unpriced)"
                " VALUES ('2026-03-02 12:00+00', 't', 's', 'a', 'e', 'ok', 1, false)"
            )


def test_the_reader_role_can_read_the_tables_and_write_nothing(database: str, postgres: object) -> None:
    with psycopg.connect(database) as conn:
        migrate(conn, POSTGRES_SPEC, reader_password="reader-secret")
    reader = database.replace("postgres:", f"{names.DB_READER_USER}:", 1)
    reader = reader.split("@", 1)[0].rsplit(":", 1)[0] + ":reader-secret@" + database.split("@", 1)[1]
    with psycopg.connect(reader) as conn:
        assert conn.execute(f"SELECT count(*) FROM {names.VIEW_REQUESTS_DAILY}").fetchone() == (0,)
        # Its sessions never JIT-compile a panel's query (the role's setting, not the server's).
        assert conn.execute("SHOW jit").fetchone() == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"DELETE FROM {names.TABLE_REQUESTS}")


@pytest.mark.parametrize("tree", ["minimal", "full"])
def test_the_timescaledb_flavour_parses_with_the_postgresql_parser(tree: str) -> None:
    files = sorted((REPO / "tests/golden" / tree / "stack/timescaledb").glob("*.sql"))
    assert [f.name for f in files] == [
        "R__policies.sql",
        "V001__schema.sql",
        "V002__error_type_raw.sql",
        "V003__detail_rollups.sql",
        "V004__users_rollups.sql",
        "V005__calendar_rollups.sql",
        "V007__users_month_to_date.sql",
        "V008__feedback.sql",
    ]
    for path in files:
        statements = pglast.parse_sql(path.read_text())
        least = {"V002": 1, "V003": 2, "V004": 1, "V005": 3, "V007": 1, "V008": 3}.get(path.name[:4], 5)
        assert len(statements) >= least, path
    # And what migrate runs after a migration's commit (in the file as a comment).
    afters = [a for m in migrations(load(SPECS / "valid" / "minimal.yaml")) for a in m.after]
    assert afters and all(len(pglast.parse_sql(after)) == 1 for after in afters)


def test_timescaledb_policies_follow_the_requests_retention_tiers() -> None:
    spec = parse("version: v1\nretention: {hot_days: 2, warm_days: 10, cold_days: 400}\n", "s")
    policies = next(m.sql for m in migrations(spec) if m.version is None)
    assert "compress_after => INTERVAL '2 days'" in policies
    assert f"add_retention_policy('{names.TABLE_REQUESTS}', drop_after => INTERVAL '10 days')" in policies
    assert (
        f"add_retention_policy('{names.VIEW_REQUESTS_DAILY}', drop_after => INTERVAL '400 days')" in policies
    )
    # The refresh windows reach storage.late_data_days (3) and two buckets back.
    assert (
        f"add_continuous_aggregate_policy('{names.VIEW_REQUESTS_HOURLY}', start_offset => INTERVAL '74 hours'"
        in policies
    )
    assert (
        f"add_continuous_aggregate_policy('{names.VIEW_REQUESTS_DAILY}', start_offset => INTERVAL '120 hours'"
        in policies
    )
    # A monthly rollup's reaches two of the longest months (31 days) back.
    monthly = [r for r in ROLLUPS if r.field == "month"]
    assert policies.count("start_offset => INTERVAL '1560 hours'") == len(monthly) == 3
    weekly = [r for r in ROLLUPS if r.field == "week"]  # and a weekly one's two weeks
    assert policies.count("start_offset => INTERVAL '408 hours'") == len(weekly) == 2
    # But never past the last day of what a rollup is computed from: raw retention for those computed
    # from raw rows, where a refresh would erase rollups of dropped days; its parent's for the others.
    short = parse("version: v1\nretention: {hot_days: 2, warm_days: 4}\nstorage: {late_data_days: 3}\n", "s")
    capped = next(m.sql for m in migrations(short) if m.version is None)
    from_raw = [r for r in ROLLUPS if r.parent is None]
    assert capped.count("start_offset => INTERVAL '72 hours'") == len(from_raw)
    assert capped.count("start_offset => INTERVAL '120 hours'") == 1  # the per-user one, from the daily
    assert capped.count("start_offset => INTERVAL '1560 hours'") == len(monthly)
    assert capped.count("start_offset => INTERVAL '408 hours'") == len(weekly)
    # Each job is replaced only when it differs from the spec, which keeps its id (checked on a real
    # TimescaleDB in tests/containers/test_storage_timescaledb.py).
    # Compression and retention of the raw table, refresh and retention of each rollup, retention of
    # the ratings and refresh and retention of their daily rollup (as long as the daily rollups).
    assert policies.count("IF (SELECT count(*) <> 1") == 2 + 2 * len(ROLLUPS) + 3
    assert "add_retention_policy('llm_feedback_daily', drop_after => INTERVAL '400 days')" in policies
    assert "add_retention_policy('llm_feedback', drop_after => INTERVAL '400 days')" in policies
    assert "compress_orderby = 'time DESC, trace_id, span_id'" in policies


def test_the_versioned_schema_does_not_depend_on_the_spec() -> None:
    """Retention and such live in the repeatable file; a spec change never edits an applied migration."""
    a = parse(
        "version: v1\nretention: {hot_days: 1, warm_days: 4, cold_days: 90}\nstorage: {late_data_days: 1}\n",
        "s",
    )
    b = parse("version: v1\n", "s")
    assert [m.sql for m in migrations(a) if m.version] == [m.sql for m in migrations(b) if m.version]


def test_the_committed_schema_files_are_what_migrate_runs() -> None:
    spec = load(REPO / "observatory.yaml")
    files = render_files(spec)
    for migration in migrations(spec):
        committed = files[f"stack/timescaledb/{migration.filename}"].decode()
        assert committed.split("\n", 1)[1] == migration.text  # the generated header, then the same text


def test_migrate_from_the_command_line_takes_the_dsn_from_the_environment(database: str) -> None:
    env = {**os.environ, "OBSERVATORY_DATABASE_URL": database}
    spec = str(SPECS / "valid" / "postgres.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "observatory", "--spec", spec, "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "applied    V001__schema.sql" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "observatory", "migrate"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OBSERVATORY_DATABASE_URL"},
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "give --dsn or set OBSERVATORY_DATABASE_URL" in missing.stderr
