"""The TimescaleDB flavour on the pinned image (testcontainers): migrations, continuous aggregates,
the policies the spec decides, late data, backfill, today's bucket and uniqueness on compressed chunks.

Needs a Docker engine: without one these tests skip with the reason (and fail under
REQUIRE_DOCKER=1, as in the GitHub Actions 'containers' job, so they cannot silently stop running).
OBSERVATORY_TEST_TIMESCALEDB_DSN runs them on a TimescaleDB you bring instead (a superuser's DSN on a
server with shared_preload_libraries = 'timescaledb'): the tests make a database of their own there,
migrate it, write rows to it and drop it (`make test-servers`).

Tests run in file order on one database, each writing rows in a time range of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from observatory import names
from observatory.spec import load, parse
from observatory.sql import feedback
from observatory.sql.columns import NAMES
from observatory.sql.policies import refresh_start_offset_hours
from observatory.sql.rollups import CALENDAR, ROLLUPS
from observatory.sql.schema import migrations
from observatory.storage.backfill import backfill
from observatory.storage.migrate import MigrateReport, migrate
from tests.conftest import REPO, timescaledb_database
from tests.processes.test_storage_lifecycle import assert_monthly_sums_daily
from tests.processes.test_storage_maintain import (
    expected,
    insert,
    one_row,
    rate_requests,
    ratings_by_day,
    rollup,
    synthetic_rows,
)

pytestmark = [pytest.mark.containers, pytest.mark.servers]

SPEC = load(REPO / "observatory.yaml")
T, HOURLY, DAILY = names.TABLE_REQUESTS, names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
TODAY = NOW.replace(hour=0, minute=0)

# Each policy job with the relation it works on. A continuous aggregate's jobs name the view itself
# on TimescaleDB 2.28; releases that name its materialization hypertable are mapped back to the view.
JOBS = """SELECT j.job_id, j.proc_name, coalesce(ca.view_name, j.hypertable_name), j.schedule_interval,
    (j.config->>'compress_after')::interval, (j.config->>'drop_after')::interval,
    (j.config->>'start_offset')::interval, (j.config->>'end_offset')::interval
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.continuous_aggregates ca
    ON ca.materialization_hypertable_schema = j.hypertable_schema
    AND ca.materialization_hypertable_name = j.hypertable_name
WHERE j.proc_name IN ('policy_compression', 'policy_retention', 'policy_refresh_continuous_aggregate')"""


@dataclass
class Migrated:
    dsn: str
    reports: list[MigrateReport]
    warnings: list[list[str]]  # the server's warnings during each migrate
    job_ids: list[dict[tuple[str, str], int]]  # after each migrate: (procedure, relation) -> job id


def jobs(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(JOBS).fetchall()


def _migrate_twice(dsn: str) -> Migrated:
    migrated = Migrated(dsn, [], [], [])
    with psycopg.connect(dsn, autocommit=True) as conn:
        seen: list[str] = []
        conn.add_notice_handler(lambda d: seen.append(d.message_primary) if d.severity == "WARNING" else None)
        for _ in range(2):
            seen.clear()
            migrated.reports.append(migrate(conn, SPEC))
            migrated.warnings.append(list(seen))
            migrated.job_ids.append({(p, r): i for i, p, r, *_ in jobs(conn)})
    return migrated


@pytest.fixture(scope="module")
def timescaledb() -> Iterator[Migrated]:
    """The pinned TimescaleDB image (or the server at $OBSERVATORY_TEST_TIMESCALEDB_DSN) with the
    repository spec's schema migrated twice."""
    assert SPEC.storage.engine == "timescaledb"
    with timescaledb_database(SPEC.images.timescaledb) as url:
        yield _migrate_twice(url)


def test_migrating_twice_applies_the_schema_once_and_the_policies_each_time(timescaledb: Migrated) -> None:
    versioned = [m.filename for m in migrations(SPEC) if m.version is not None]
    first, second = timescaledb.reports
    assert (first.applied, first.repeated) == (versioned, ["R__policies.sql"])
    assert (second.applied, second.unchanged, second.repeated) == ([], versioned, ["R__policies.sql"])


def test_a_second_migrate_keeps_every_policy_job_and_warns_about_nothing(timescaledb: Migrated) -> None:
    first, second = timescaledb.job_ids
    # Compression and retention of the raw rows, refresh and retention of each rollup, retention of the
    # ratings and refresh and retention of their daily rollup.
    assert len(first) == 2 + 2 * len(ROLLUPS) + 3
    assert second == first  # the same jobs, the same ids: their run history is kept
    assert timescaledb.warnings[1] == []
    with psycopg.connect(timescaledb.dsn) as conn:
        # Migration 1's order (time DESC alone) drew "column trace_id should be used for segmenting or
        # ordering"; the repeatable migration puts the unique key's columns in the order.
        row = conn.execute(
            "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings"
            " WHERE hypertable = %s::regclass",
            (T,),
        ).fetchone()
    assert row == ("application", '"time" DESC,trace_id,span_id')


def test_a_changed_late_data_window_replaces_only_the_refresh_jobs(timescaledb: Migrated) -> None:
    text = (REPO / "observatory.yaml").read_text().replace("late_data_days: 3", "late_data_days: 5")
    assert text != (REPO / "observatory.yaml").read_text()
    wider = parse(text, "observatory.yaml")
    before = timescaledb.job_ids[-1]
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        migrate(conn, wider)
        after = {(p, r): i for i, p, r, *_ in jobs(conn)}
        migrate(conn, SPEC)  # back to the repository spec, for the tests after this one
        timescaledb.job_ids.append({(p, r): i for i, p, r, *_ in jobs(conn)})
    changed = {key for key in before if before[key] != after[key]}
    refreshes = [r.name for r in ROLLUPS] + [feedback.DAILY]
    assert changed == {("policy_refresh_continuous_aggregate", name) for name in refreshes}


def test_the_policies_follow_the_spec_retention_tiers_and_late_data_window(timescaledb: Migrated) -> None:
    tiers = SPEC.retention.requests
    hot, warm, cold = (timedelta(days=d) for d in (tiers.hot_days, tiers.warm_days, tiers.cold_days))
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        found = jobs(conn)
    # Exactly one of each, though the policies were applied several times. Compared as a multiset: how
    # the server sorts 'llm_requests' against 'llm_requests_daily' is its collation's business.
    wanted = [("policy_compression", T), ("policy_retention", T)]
    for r in ROLLUPS:
        wanted += [("policy_refresh_continuous_aggregate", r.name), ("policy_retention", r.name)]
    wanted += [
        ("policy_retention", feedback.T),
        ("policy_refresh_continuous_aggregate", feedback.DAILY),
        ("policy_retention", feedback.DAILY),
    ]
    assert Counter((proc, rel) for _, proc, rel, *_ in found) == Counter(wanted)
    by = {(proc, rel): rest for _, proc, rel, *rest in found}
    assert by["policy_compression", T][1] == hot
    for r in ROLLUPS:
        keep = warm if r.field == "hour" else cold
        assert [by["policy_retention", rel][2] for rel in (T, r.name)] == [warm, keep]
        schedule, _, _, start_offset, end_offset = by["policy_refresh_continuous_aggregate", r.name]
        every = timedelta(minutes=15) if r.field == "hour" else timedelta(hours=1)
        assert (schedule, end_offset) == (every, timedelta(hours=1))
        # late_data_days and two buckets back, and never past the last day of what it is computed
        # from: raw rows, or its parent rollup (the cold tier).
        assert start_offset == timedelta(hours=refresh_start_offset_hours(r, SPEC))
        source = warm if r.parent is None else cold
        assert timedelta(days=SPEC.storage.late_data_days) < start_offset <= source - timedelta(days=1)
    # The ratings and their daily rollup: the cold tier; refreshed hourly from late_data_days + 3 days.
    assert by["policy_retention", feedback.T][2] == by["policy_retention", feedback.DAILY][2] == cold
    schedule, _, _, start_offset, end_offset = by["policy_refresh_continuous_aggregate", feedback.DAILY]
    assert (schedule, end_offset) == (timedelta(hours=1), timedelta(hours=1))
    assert start_offset == timedelta(days=SPEC.storage.late_data_days + 3)


def _materialized(conn: psycopg.Connection, view: str) -> int:
    table = conn.execute(
        "SELECT materialization_hypertable_schema, materialization_hypertable_name"
        " FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
        (view,),
    ).fetchone()
    assert table is not None, view
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table))).fetchone()
    assert count is not None
    return int(count[0])


def test_continuous_aggregates_equal_a_plain_group_by_after_a_backfill(timescaledb: Migrated) -> None:
    # Two days back and no more: the hot tier is longer, so no policy compresses or drops these rows
    # while the test runs.
    assert SPEC.retention.requests.hot_days > 2
    since = TODAY - timedelta(days=2)
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        insert(conn, synthetic_rows(NOW, days=2))
        report = backfill(conn, SPEC, since.date(), (TODAY + timedelta(days=1)).date())
        assert "skipped" in report.lines[-1] and "not complete" in report.lines[-1], report.lines
        assert rollup(conn, HOURLY) == expected(conn, "hour", since)
        assert rollup(conn, DAILY) == expected(conn, "day", since)
        # The backfill materialized rows (the views would agree from real-time rows alone); not the
        # current week's or month's, which real-time aggregation answers from the daily rollups.
        assert all(_materialized(conn, r.name) > 0 for r in ROLLUPS if r.field not in CALENDAR)
        assert_monthly_sums_daily(conn)


def test_the_ratings_daily_rollup_equals_a_plain_group_by_and_counts_a_late_match() -> None:
    with timescaledb_database(SPEC.images.timescaledb) as url, psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, SPEC)
        insert(conn, synthetic_rows(NOW, days=2))
        rate_requests(conn, 5, matched=True)
        conn.execute(f"CALL refresh_continuous_aggregate('{feedback.DAILY}', NULL, NULL)")
        assert _materialized(conn, feedback.DAILY) > 0
        assert ratings_by_day(conn, feedback.DAILY) == ratings_by_day(conn, feedback.T)
        # Ratings matched after the refresh: real-time rows count today's, and the next refresh the
        # materialized days' (the match's UPDATE invalidates them).
        rate_requests(conn, 3, matched=True)
        conn.execute(f"CALL refresh_continuous_aggregate('{feedback.DAILY}', NULL, NULL)")
        assert ratings_by_day(conn, feedback.DAILY) == ratings_by_day(conn, feedback.T)


def test_todays_bucket_counts_a_row_written_after_the_backfill(timescaledb: Migrated) -> None:
    """The backfill stopped at today: a refresh that materialized today would move the watermark to
    tomorrow, and the daily views would not see today's later rows until tomorrow's refresh."""
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        insert(conn, [one_row(NOW, 1)])
        for r in (r for r in ROLLUPS if r.field == "day"):
            raw = conn.execute(f"SELECT count(*) FROM {T} WHERE {r.only('time >= %s')}", (TODAY,)).fetchone()
            counted = conn.execute(f"SELECT sum(requests) FROM {r.name} WHERE bucket = %s", (TODAY,))
            assert counted.fetchone() == raw, r.name
        assert_monthly_sums_daily(conn)  # this month's too


def test_a_row_within_late_data_days_is_counted_by_the_next_policy_refresh(timescaledb: Migrated) -> None:
    late = NOW - timedelta(days=SPEC.storage.late_data_days) + timedelta(hours=1)
    since = TODAY - timedelta(days=2)
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        # Below the watermark: the views show the materialized buckets until a refresh.
        insert(conn, [one_row(late, 2)])
        refreshes = [i for i, proc, *_ in jobs(conn) if proc == "policy_refresh_continuous_aggregate"]
        for job in refreshes:
            conn.execute("CALL run_job(%s)", (job,))
        floor = min(since, late.replace(minute=0))
        assert rollup(conn, HOURLY) == expected(conn, "hour", floor)
        assert rollup(conn, DAILY) == expected(conn, "day", floor.replace(hour=0))
        assert_monthly_sums_daily(conn)


def test_a_backfill_over_dropped_chunks_leaves_their_daily_rollups_intact(timescaledb: Migrated) -> None:
    warm = timedelta(days=SPEC.retention.requests.warm_days)
    old_end = TODAY - warm - timedelta(days=5)  # days that retention drops
    old_start = old_end - timedelta(days=3)
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        # Inside [old_start, old_end): no row of these waits outside the backfilled days.
        insert(conn, synthetic_rows(old_end - timedelta(hours=1), days=2, seed=11))
        backfill(conn, SPEC, old_start.date(), old_end.date())
        before = [r for r in rollup(conn, DAILY) if r[0] < old_end]
        assert before == [r for r in expected(conn, "day", old_start) if r[0] < old_end] != []
        conn.execute(f"SELECT drop_chunks('{T}', older_than => %s)", (TODAY - warm,))  # as retention does
        report = backfill(conn, SPEC, old_start.date(), TODAY.date())
        assert [r for r in rollup(conn, DAILY) if r[0] < old_end] == before
    assert any("raw rows dropped by retention" in line for line in report.lines), report.lines


def test_a_duplicate_of_a_row_in_a_compressed_chunk_is_ignored_or_refused(timescaledb: Migrated) -> None:
    hot = timedelta(days=SPEC.retention.requests.hot_days)
    time = TODAY - hot - timedelta(days=2, hours=-3)
    row = one_row(time, 3)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in NAMES)
    values = sql.SQL(", ").join(sql.Placeholder() * len(row))
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(sql.Identifier(T), columns, values)
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        conn.execute(statement, row)
        chunk = conn.execute(
            f"SELECT compress_chunk(c) FROM show_chunks('{T}', older_than => %s, newer_than => %s) c",
            (time + timedelta(days=1), time - timedelta(days=1)),
        ).fetchall()
        assert len(chunk) == 1
        compressed = conn.execute(
            "SELECT is_compressed FROM timescaledb_information.chunks"
            " WHERE format('%%I.%%I', chunk_schema, chunk_name)::regclass = %s::regclass",
            (chunk[0][0],),
        ).fetchone()
        assert compressed == (True,)
        # The ingester's statement: a retried batch is a no-op.
        ignored = conn.execute(statement + sql.SQL(" ON CONFLICT DO NOTHING"), row)
        assert ignored.rowcount == 0
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(statement, row)
        count = conn.execute(f"SELECT count(*) FROM {T} WHERE time = %s", (time,)).fetchone()
        assert count == (1,)


def test_an_upgrade_to_migration_5_fills_the_calendar_rollups_and_leaves_this_month_real_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Migration 5 refreshes the new weekly and monthly aggregates up to the current week or month only:
    materializing it would move their watermark past it, and its later rows would not show until a
    refresh covered it (a full refresh did exactly that, checked on TimescaleDB 2.28.3)."""
    import observatory.storage.backfill as backfill_module
    import observatory.storage.migrate as migrate_module
    from observatory.sql import policies, rollups, schema

    with timescaledb_database(SPEC.images.timescaledb) as url, psycopg.connect(url, autocommit=True) as conn:
        with monkeypatch.context() as before:  # the release of migration 4, and its rollups
            known = tuple(r for r in ROLLUPS if r.since < 5)
            for module in (rollups, schema, policies, backfill_module):
                before.setattr(module, "ROLLUPS", known)
            before.setattr(rollups, "CUMULATIVE", ())
            before.setattr(feedback, "TABLES", ())
            old = [m for m in schema.migrations(SPEC) if m.version is None or m.version < 5]
            before.setattr(migrate_module, "migrations", lambda spec: old)
            migrate(conn, SPEC)
            insert(conn, synthetic_rows(NOW, days=40))  # into last month, whatever today is
            backfill(conn, SPEC, (TODAY - timedelta(days=41)).date(), (TODAY + timedelta(days=1)).date())
        assert migrate(conn, SPEC).applied == [
            "V005__calendar_rollups.sql",
            "V007__users_month_to_date.sql",
            "V008__feedback.sql",
        ]
        assert all(_materialized(conn, r.name) > 0 for r in ROLLUPS if r.since == 5)  # before this week
        assert_monthly_sums_daily(conn)
        insert(conn, [one_row(NOW, 3)])
        assert_monthly_sums_daily(conn)  # this month's row, through real-time aggregation
