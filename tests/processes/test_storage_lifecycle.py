"""Late data, backfill and the cold tier on the postgres flavour, on a real PostgreSQL: a row up to
`storage.late_data_days` late is counted by the next `maintain`, a later one by `maintain --backfill`,
a backfill never touches days whose raw rows are gone, and today's bucket is current between runs.

The same behaviours on TimescaleDB are in tests/containers/test_storage_timescaledb.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from observatory import names
from observatory.spec import parse
from observatory.sql import feedback, rollups, schema
from observatory.storage.backfill import backfill
from observatory.storage.maintain import maintain
from observatory.storage.migrate import migrate
from tests.processes.test_storage_maintain import (
    ROLLUP_MEASURES,
    expected,
    insert,
    one_row,
    rollup,
    synthetic_rows,
)

T, HOURLY, DAILY = names.TABLE_REQUESTS, names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
SPEC_TEXT = (
    "version: v1\nstorage: {engine: postgres, late_data_days: 1}\n"
    "retention: {requests: {hot_days: 1, warm_days: 3, cold_days: 10}}\n"
)
SPEC = parse(SPEC_TEXT, "s")
NOW = datetime(2026, 3, 20, 14, 30, tzinfo=UTC)
OLDEST_RAW = datetime(2026, 3, 17, tzinfo=UTC)  # after maintain at NOW: warm is 3 days


def _load(conn: psycopg.Connection) -> None:
    """15 days of requests before NOW, maintained once at NOW (raw days before the 17th dropped)."""
    rows = synthetic_rows(NOW, days=15)
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        for day in sorted({r[0].date() for r in rows}):
            conn.execute(f"SELECT {T}_ensure_partition(%s)", (day,))
        insert(conn, rows)
    maintain(conn, SPEC, NOW)


@pytest.fixture
def conn(database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn, SPEC)
        _load(conn)
        yield conn


def _per_user(conn: psycopg.Connection, view: str) -> list[tuple[object, ...]]:
    """`view`'s rows summed per day and user."""
    sums = ", ".join(
        f"max({m})" if m.strip() == "duration_ms_max" else f"sum({m})" for m in ROLLUP_MEASURES.split(",")
    )
    query = f"SELECT bucket, user_id, {sums} FROM {view} GROUP BY 1, 2 ORDER BY 1, 2"
    return [
        tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in conn.execute(query.encode())
    ]


def test_the_users_rollup_is_the_per_user_rollup_per_user_cold_tier_included(
    conn: psycopg.Connection,
) -> None:
    users = _per_user(conn, names.VIEW_USERS_DAILY)
    assert min(r[0] for r in users) == datetime(2026, 3, 11, tzinfo=UTC)  # raw rows gone since the 17th
    assert users == _per_user(conn, DAILY)
    insert(conn, [one_row(NOW + timedelta(minutes=5), 4)])  # today's bucket, before the next maintain
    assert _per_user(conn, names.VIEW_USERS_DAILY) == _per_user(conn, DAILY) != users


def _loaded_by_release_before(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """`_load`'s rows in a database as the release before migration `version` made it: its
    migrations, and its rollups maintained."""
    import observatory.storage.migrate as migrate_module

    with monkeypatch.context() as before:
        known = tuple(r for r in rollups.ROLLUPS if r.since < version)
        before.setattr(rollups, "ROLLUPS", known)
        before.setattr(schema, "ROLLUPS", known)
        before.setattr(rollups, "CUMULATIVE", tuple(r for r in rollups.CUMULATIVE if r.since < version))
        before.setattr(feedback, "TABLES", feedback.TABLES if version > feedback.SINCE else ())
        old = [m for m in schema.migrations(SPEC) if m.version is None or m.version < version]
        before.setattr(migrate_module, "migrations", lambda spec: old)
        migrate(conn, SPEC)
        _load(conn)


def test_an_upgrade_to_migration_4_fills_the_users_rollup_from_the_per_user_one(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        _loaded_by_release_before(conn, monkeypatch, 4)
        assert migrate(conn, SPEC).applied == [
            "V004__users_rollups.sql",
            "V005__calendar_rollups.sql",
            "V006__users_rollup_order.sql",
            "V007__users_month_to_date.sql",
            "V008__feedback.sql",
        ]
        users = _per_user(conn, names.VIEW_USERS_DAILY)
        assert min(r[0] for r in users) == datetime(2026, 3, 11, tzinfo=UTC)
        assert users == _per_user(conn, DAILY)
        assert_monthly_sums_daily(conn)
        maintain(conn, SPEC, NOW + timedelta(minutes=10))
        assert _per_user(conn, names.VIEW_USERS_DAILY) == users
        assert_monthly_sums_daily(conn)


def test_an_upgrade_to_migration_6_stores_each_day_of_the_users_rollup_together(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 4 filled the users rollup in hash order; after migration 6 a day's rows are on about
    as many pages as they fill (each day here: 1,000 users of the per-user daily rollup)."""
    with psycopg.connect(database, autocommit=True) as conn:
        _loaded_by_release_before(conn, monkeypatch, 4)
        parent = rollups.DAILY
        values = {k: "''" for k, _ in parent.keys} | {m: "1" for m, _ in parent.measures}
        values |= {"bucket": "day", "user_id": "'u' || n"}
        conn.execute(
            f"INSERT INTO {parent.store} ({', '.join(parent.columns)})\n"
            f"SELECT {', '.join(values[c] for c in parent.columns)}\n"
            "FROM generate_series(TIMESTAMPTZ '2026-02-01', TIMESTAMPTZ '2026-02-10', INTERVAL '1 day')"
            " AS day, generate_series(1, 1000) AS n ORDER BY random()".encode()
        )
        migrate(conn, SPEC)
        store = rollups.USERS_DAILY.store
        pages = conn.execute(
            f"SELECT bucket, count(*), count(DISTINCT (ctid::text::point)[0]) FROM {store}"
            " WHERE bucket < '2026-03-01' GROUP BY 1".encode()
        ).fetchall()
        total = conn.execute(
            f"SELECT pg_relation_size('{store}') / current_setting('block_size')::int".encode()
        )
        per_page = conn.execute(f"SELECT count(*) FROM {store}".encode()).fetchone()[0] / total.fetchone()[0]
        assert len(pages) == 10 and all(rows == 1000 for _, rows, _ in pages)
        assert all(used <= 1000 / per_page + 2 for _, _, used in pages), (per_page, pages)


def _per_month(
    conn: psycopg.Connection, view: str, keys: tuple[str, ...], field: str = "month"
) -> list[tuple[object, ...]]:
    """`view`'s rows summed per UTC month (or `field`: week) and `keys`."""
    sums = ", ".join(
        f"max({m})" if m.strip() == "duration_ms_max" else f"sum({m})" for m in ROLLUP_MEASURES.split(",")
    )
    month = f"date_trunc('{field}', bucket AT TIME ZONE 'UTC')"
    group = ", ".join(str(i + 1) for i in range(len(keys) + 1))
    query = f"SELECT {', '.join((month, *keys, sums))} FROM {view} GROUP BY {group} ORDER BY {group}"
    return [
        tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in conn.execute(query.encode())
    ]


def assert_month_to_date(conn: psycopg.Connection) -> None:
    """Each user's month to date grows from one day to the next by that day's row of the per-user
    daily rollup (where that one still has the day), and on the month's last day present (its last,
    or today) equals the month's row of the monthly rollup, which counts the days retention deleted."""

    # Up to the last day with rows (the views answer every day to today's date).
    last_day = f"(SELECT max(bucket) FROM {names.VIEW_USERS_DAILY})"

    def rows(view: str) -> dict[tuple[datetime, str], tuple[int, float]]:
        query = f"SELECT bucket, user_id, requests, cost_usd FROM {view} WHERE bucket <= {last_day}"
        return {(b, u): (n, round(c, 6)) for b, u, n, c in conn.execute(query.encode())}

    mtd, daily, monthly = (
        rows(names.VIEW_USERS_MTD),
        rows(names.VIEW_USERS_DAILY),
        rows(names.VIEW_USERS_MONTHLY),
    )
    assert mtd and all(n > 0 for n, _ in mtd.values())
    first = min(b for b, _ in daily)
    last: dict[tuple[datetime, str], datetime] = {}
    for (day, user), (n, cost) in mtd.items():
        month = day.replace(day=1)
        last[(month, user)] = max(last.get((month, user), day), day)
        before = mtd.get((day - timedelta(days=1), user), (0, 0.0)) if day > month else (0, 0.0)
        if day >= first and (day == month or day - timedelta(days=1) >= first):
            gained = daily.get((day, user), (0, 0.0))
            assert (n - before[0], round(cost - before[1], 6)) == gained, (day, user)
    for (month, user), day in last.items():
        assert mtd[(day, user)] == monthly[(month, user)], (month, user)


def assert_monthly_sums_daily(conn: psycopg.Connection) -> None:
    """Each weekly and monthly rollup holds its daily rollup's rows summed per week or month (cold tier
    included), and month to date per user is the running sum of the per-user daily rollup."""
    assert_month_to_date(conn)
    for derived in (r for r in rollups.ROLLUPS if r.field in rollups.CALENDAR):
        assert derived.parent is not None
        keys = tuple(k for k, _ in derived.keys)
        got = _per_month(conn, derived.name, keys, derived.field)
        assert got, derived.name
        assert got == _per_month(conn, derived.parent.name, keys, derived.field), derived.name


def test_an_upgrade_to_migration_5_fills_the_monthly_rollups_from_the_daily_ones(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        _loaded_by_release_before(conn, monkeypatch, 5)
        assert migrate(conn, SPEC).applied == [
            "V005__calendar_rollups.sql",
            "V006__users_rollup_order.sql",
            "V007__users_month_to_date.sql",
            "V008__feedback.sql",
        ]
        # From the daily stores, with the days whose raw rows are gone (before the 17th).
        totals = _per_month(conn, names.VIEW_TOTALS_MONTHLY, ("application",))
        assert totals == _per_month(conn, names.VIEW_TOTALS_DAILY, ("application",))
        first = conn.execute(f"SELECT min(bucket) FROM {names.VIEW_TOTALS_DAILY}").fetchone()
        assert first is not None and first[0] < OLDEST_RAW
        assert_monthly_sums_daily(conn)
        insert(conn, [one_row(NOW + timedelta(minutes=5), 4)])  # before the next maintain: from raw rows
        assert_monthly_sums_daily(conn)
        maintain(conn, SPEC, NOW + timedelta(minutes=10))
        assert_monthly_sums_daily(conn)


def kept(conn: psycopg.Connection, view: str) -> list[tuple[object, ...]]:
    """The rollup's rows whose raw rows are still there, to compare with `expected`."""
    return [r for r in rollup(conn, view) if r[0] >= OLDEST_RAW]


def test_a_row_within_late_data_days_is_counted_by_the_next_maintain(conn: psycopg.Connection) -> None:
    insert(conn, [one_row(NOW - timedelta(hours=20), 1)])  # the 19th 18:30: 20 hours late
    later = NOW + timedelta(minutes=10)
    report = maintain(conn, SPEC, later)
    assert (report.hourly_buckets_refreshed, report.daily_buckets_refreshed) == (1, 1)
    assert rollup(conn, HOURLY) == expected(conn, "hour", later - timedelta(days=3))
    assert kept(conn, DAILY) == expected(conn, "day", OLDEST_RAW)


def test_a_row_later_than_late_data_days_is_counted_after_a_backfill(conn: psycopg.Connection) -> None:
    insert(conn, [one_row(datetime(2026, 3, 18, 9, 5, tzinfo=UTC), 2)])  # two days late
    maintain(conn, SPEC, NOW + timedelta(minutes=10))
    assert kept(conn, DAILY) != expected(conn, "day", OLDEST_RAW)
    report = backfill(conn, SPEC, date(2026, 3, 18), date(2026, 3, 19), NOW)
    assert kept(conn, DAILY) == expected(conn, "day", OLDEST_RAW)
    assert rollup(conn, HOURLY) == expected(conn, "hour", NOW - timedelta(days=3))
    assert_monthly_sums_daily(conn)
    assert report.lines[0].startswith(
        "hourly rollups (llm_requests_hourly, llm_requests_detail_hourly): recomputed"
        " 2026-03-18 00:00 to 2026-03-19 00:00 UTC (24 buckets)"
    )


def test_a_backfill_over_dropped_raw_days_leaves_their_daily_rollups_intact(conn: psycopg.Connection) -> None:
    daily = rollup(conn, DAILY)
    assert min(r[0] for r in daily) == datetime(2026, 3, 11, tzinfo=UTC)  # the cold tier, raw rows gone
    report = backfill(conn, SPEC, date(2026, 3, 1), date(2026, 3, 21), NOW)
    assert rollup(conn, DAILY) == daily
    assert report.lines[-7:-4] == [
        "daily rollups (llm_requests_daily, llm_requests_detail_daily, llm_requests_daily_totals,"
        " llm_requests_daily_users, llm_requests_daily_cache_reads): recomputed 2026-03-17 00:00 to"
        " 2026-03-20 00:00 UTC (3 buckets)",
        "  skipped 2026-03-01 00:00 to 2026-03-17 00:00 UTC: raw rows dropped by retention (the oldest raw"
        " day kept is 2026-03-17); the rollup rows there are left as they are",
        "  skipped 2026-03-20 00:00 to 2026-03-21 00:00 UTC: the current day or later, not complete;"
        " maintenance computes it, the rollup views add the raw rows since",
    ]
    # The weeks and months holding those days, from the daily rollups, whose days before the 17th were
    # left as they were; weeks wholly past the cold tier (10 days) were deleted by retention.
    assert report.lines[-4:] == [
        "weekly rollups (llm_requests_weekly_totals, llm_requests_detail_weekly): recomputed"
        " 2026-03-09 00:00 to 2026-03-23 00:00 UTC (2 weeks)",
        "  skipped 2026-02-23 00:00 to 2026-03-09 00:00 UTC: older than the cold tier (10 days); retention"
        " deletes these weeks",
        "monthly rollups (llm_requests_monthly_totals, llm_requests_monthly_users,"
        " llm_requests_detail_monthly): recomputed 2026-03-01 00:00 to 2026-04-01 00:00 UTC (1 month)",
        # Kept from the last maintenance up to its day; each day counts the days of its month before.
        "month to date (llm_requests_mtd_users): recomputed 2026-03-17 00:00 to 2026-03-20 00:00 UTC"
        " (3 days, to the end of the last month)",
    ]
    assert_monthly_sums_daily(conn)


def test_todays_bucket_is_current_between_maintenance_runs(conn: psycopg.Connection) -> None:
    backfill(conn, SPEC, date(2026, 3, 17), date(2026, 3, 21), NOW)
    insert(conn, [one_row(NOW + timedelta(minutes=5), 3)])  # after the last maintain and backfill
    today = datetime(2026, 3, 20, tzinfo=UTC)
    for view in (DAILY, names.VIEW_DETAIL_DAILY):
        counted = conn.execute(f"SELECT sum(requests) FROM {view} WHERE bucket = %s", (today,)).fetchone()
        raw = conn.execute(f"SELECT count(*) FROM {T} WHERE time >= %s", (today,)).fetchone()
        assert counted == raw, view
    assert kept(conn, DAILY) == expected(conn, "day", OLDEST_RAW)


def test_backfill_from_the_command_line_says_what_it_did_and_refuses_an_empty_range(
    conn: psycopg.Connection, database: str, tmp_path: Path
) -> None:
    spec = tmp_path / "observatory.yaml"
    spec.write_text(SPEC_TEXT)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "observatory", "--spec", str(spec), "maintain", "--backfill", *args],
            env={**os.environ, "OBSERVATORY_DATABASE_URL": database},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run("2026-03-18", "2026-03-19")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == (
        "hourly rollups (llm_requests_hourly, llm_requests_detail_hourly): recomputed"
        " 2026-03-18 00:00 to 2026-03-19 00:00 UTC (24 buckets)"
    )
    empty = run("2026-03-19", "2026-03-19")
    assert empty.returncode == 2
    assert "FROM (2026-03-19) must be before TO (2026-03-19)" in empty.stderr


def test_month_to_date_is_current_when_maintenance_has_not_run_for_days(database: str) -> None:
    # Maintained two days ago: the days from then are computed when read, from the stored day before
    # and the per-user daily rollup's view (current to the last raw row).
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn, SPEC)
        rows = synthetic_rows(NOW, days=15)
        for day in sorted({r[0].date() for r in rows}):
            conn.execute(f"SELECT {T}_ensure_partition(%s)", (day,))
        insert(conn, rows)
        maintain(conn, SPEC, NOW - timedelta(days=2))
        assert_month_to_date(conn)
        stored = conn.execute(f"SELECT max(bucket) FROM {rollups.MTD_STORE}").fetchone()
        assert stored == (datetime(2026, 3, 17, tzinfo=UTC),)
        insert(conn, [one_row(datetime(2026, 3, 19, 9, 5, tzinfo=UTC), 5)])
        counted = f"SELECT sum(requests) FROM {names.VIEW_USERS_MTD} WHERE bucket = %s"
        before = conn.execute(counted, (datetime(2026, 3, 20, tzinfo=UTC),)).fetchone()
        assert_month_to_date(conn)
        maintain(conn, SPEC, NOW)
        assert_month_to_date(conn)
        after = conn.execute(counted, (datetime(2026, 3, 20, tzinfo=UTC),)).fetchone()
        month = f"SELECT sum(requests) FROM {names.VIEW_USERS_MONTHLY} WHERE bucket = '2026-03-01'"
        # The first run computed the days the cold tier keeps (from the 9th): 10 days before its time.
        kept = sum(1 for r in rows if r[0] >= datetime(2026, 3, 9, tzinfo=UTC)) + 1
        assert before == after == conn.execute(month).fetchone() == (kept,)
