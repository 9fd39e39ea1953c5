"""`observatory maintain` on a real PostgreSQL: partitions, incremental rollups and retention, checked
against an aggregation written here independently, over synthetic data longer than the retention window.

Maintenance runs on sessions in Asia/Kolkata (UTC+05:30) on purpose: its buckets and partitions must be
UTC days and hours whatever the session's time zone is.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from observatory import dialects, names
from observatory.spec import parse
from observatory.sql import feedback, rollups
from observatory.sql.columns import NAMES
from observatory.sql.rollups import ROLLUPS, Rollup
from observatory.storage.maintain import MaintainReport, maintain
from observatory.storage.migrate import migrate

T, HOURLY, DAILY = names.TABLE_REQUESTS, names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
SPEC_TEXT = (
    "version: v1\nstorage: {engine: postgres}\n"
    "retention: {requests: {hot_days: 1, warm_days: 3, cold_days: 10}}\n"
)
SPEC = parse(SPEC_TEXT, "s")
NOW = datetime(2026, 3, 20, 14, 30, tzinfo=UTC)
WARM, COLD = timedelta(days=3), timedelta(days=10)
SESSION_TZ = "Asia/Kolkata"

# The independent aggregation: what each rollup must hold, written without the package's SQL.
KEY_COLUMNS = (
    "application, environment, coalesce(team, ''), coalesce(provider, ''),"
    " coalesce(request_model, ''), coalesce(operation, '')"
)
MEASURE_COLUMNS = (
    "count(*), sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), sum(CASE WHEN unpriced THEN 1 ELSE 0 END),"
    " sum(coalesce(input_tokens, 0)), sum(coalesce(output_tokens, 0)), sum(coalesce(cache_read_tokens, 0)),"
    " sum(coalesce(cache_write_tokens, 0)), sum(coalesce(reasoning_tokens, 0)), sum(coalesce(cost_usd, 0)),"
    " sum(duration_ms), max(duration_ms), sum(coalesce(ttft_ms, 0)), sum(CASE WHEN ttft_ms IS NULL THEN 0"
    " ELSE 1 END)"
)
ROLLUP_MEASURES = (
    "requests, errors, unpriced_requests, input_tokens, output_tokens, cache_read_tokens,"
    " cache_write_tokens, reasoning_tokens, cost_usd, duration_ms_sum, duration_ms_max, ttft_ms_sum,"
    " ttft_count"
)
ROLLUP_KEYS = "application, environment, team, provider, model, operation"

Row = tuple[Any, ...]


def synthetic_rows(end: datetime, days: int, seed: int = 7) -> list[Row]:
    """Three requests an hour for `days` days up to `end`: several applications, models and users,
    some errors, some unpriced (NULL cost), some with NULL team, provider, operation or user."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    rows, hour = [], start.replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        for minute in (0, 23, 59):  # minute 0 sits on the bucket boundary
            time = hour + timedelta(minutes=minute, seconds=rng.randrange(60) if minute else 0)
            if start <= time <= end:
                rows.append(_row(rng, len(rows), time))
        hour += timedelta(hours=1)
    return rows


def one_row(time: datetime, i: int) -> Row:
    """A request with an id `synthetic_rows` (fewer than a million rows) never uses."""
    return _row(random.Random(i), 1_000_000 + i, time)


def _row(rng: random.Random, i: int, time: datetime) -> Row:
    provider, model = rng.choice((("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), (None, None)))
    error, unpriced = rng.random() < 0.1, rng.random() < 0.2
    values: dict[str, Any] = {
        "time": time,
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
        "application": rng.choice(("chat", "search", "summarize")),
        "environment": rng.choice(("prod", "staging")),
        "team": rng.choice((None, "core", "growth")),
        "user_id": rng.choice((None, "u1", "u2", "u3", "u4")),
        "provider": provider,
        "request_model": model,
        "response_model": model,
        "operation": rng.choice(("chat", "embeddings", None)),
        "status": "error" if error else "ok",
        "error_type": "timeout" if error else None,
        "error_type_raw": "APITimeoutError" if error else None,
        "finish_reason": None if error else "stop",
        "duration_ms": round(rng.uniform(50, 9000), 3),
        "ttft_ms": rng.choice((None, round(rng.uniform(20, 900), 3))),
        "input_tokens": rng.choice((None, rng.randrange(1, 5000))),
        "output_tokens": rng.randrange(0, 2000),
        "cache_read_tokens": rng.choice((None, 0, rng.randrange(1, 3000))),
        "cache_write_tokens": rng.choice((None, rng.randrange(1, 100))),
        "reasoning_tokens": rng.choice((None, rng.randrange(1, 800))),
        "cost_usd": None if unpriced else round(rng.uniform(0.0001, 0.2), 6),
        "unpriced": unpriced,
        "price_version": None if unpriced else date(2026, 1, 1),
    }
    if not error:  # drawn last, so the draws above stay those of older versions of this generator
        values["finish_reason"] = rng.choice(("stop", "stop", "length", "tool_calls"))
        if model and rng.random() < 0.3:
            values["response_model"] = model + "-2026-01-01"
    return tuple(values[name] for name in NAMES)


def insert(conn: psycopg.Connection, rows: list[Row]) -> None:
    """COPY rows into the request table (its partitions must exist)."""
    with conn.cursor() as cur, cur.copy(f"COPY {T} ({', '.join(NAMES)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _normal(row: Row) -> Row:
    """Sums of doubles depend on the order of addition, and bigint sums come back as numeric."""
    return tuple(
        round(v, 6) if isinstance(v, float) else int(v) if isinstance(v, Decimal) else v for v in row
    )


def expected(conn: psycopg.Connection, unit: str, since: datetime) -> list[Row]:
    """The rollup computed here with a plain GROUP BY over the raw table, buckets from `since` on."""
    bucket = f"date_trunc('{unit}', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    keys = KEY_COLUMNS + (", coalesce(user_id, '')" if unit == "day" else "")
    width = 8 if unit == "day" else 7
    query = f"SELECT {bucket}, {keys}, {MEASURE_COLUMNS} FROM {T} GROUP BY " + ", ".join(
        str(i) for i in range(1, width + 1)
    )
    return sorted(_normal(r) for r in conn.execute(query.encode()) if r[0] >= since)


def rollup(conn: psycopg.Connection, table: str) -> list[Row]:
    keys = ROLLUP_KEYS + (", user_id" if table == DAILY else "")
    query = f"SELECT bucket, {keys}, {ROLLUP_MEASURES} FROM {table}"
    return sorted(_normal(r) for r in conn.execute(query.encode()))


def _count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}".encode()).fetchone()
    assert row is not None
    return int(row[0])


def partitions(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            f" WHERE i.inhparent = '{T}'::regclass ORDER BY 1"
        )
    ]


def day_names(first: date, last: date) -> list[str]:
    count = (last - first).days + 1
    return [f"{T}_{first + timedelta(days=d):%Y%m%d}" for d in range(count)]


@pytest.fixture
def conn(database: str) -> Iterator[psycopg.Connection]:
    """A migrated database with 15 days of synthetic requests before NOW, on a UTC+05:30 session."""
    with psycopg.connect(database, autocommit=True, options=f"-c TimeZone={SESSION_TZ}") as conn:
        migrate(conn, SPEC)
        rows = synthetic_rows(NOW, days=15)
        with conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")  # the ingester's partitions are UTC days too
            for day in sorted({r[0].date() for r in rows}):
                conn.execute(f"SELECT {T}_ensure_partition(%s)", (day,))
            insert(conn, rows)
        yield conn


def test_partitions_older_than_the_warm_tier_are_dropped_and_the_next_days_exist(
    conn: psycopg.Connection,
) -> None:
    conn.execute(f"CREATE TABLE {T}_20260301 (note text)")  # a stray table, not a partition: kept
    assert partitions(conn) == day_names(date(2026, 3, 5), date(2026, 3, 20))
    report = maintain(conn, SPEC, NOW)
    # The 16th ends at the 17th 00:00, before NOW - 3 days (the 17th 14:30); the 17th ends after it.
    assert partitions(conn) == day_names(date(2026, 3, 17), date(2026, 3, 22))
    assert (report.partitions_created, report.partitions_dropped) == (2, 12)
    assert conn.execute(f"SELECT to_regclass('{T}_20260301')::text").fetchone() == (f"{T}_20260301",)
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        bound = conn.execute(
            f"SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = '{T}_20260322'"
        )
        assert bound.fetchone() == (
            "FOR VALUES FROM ('2026-03-22 00:00:00+00') TO ('2026-03-23 00:00:00+00')",
        )


def test_rollups_equal_a_plain_group_by_for_every_bucket_retention_keeps(conn: psycopg.Connection) -> None:
    hourly_before, daily_before = expected(conn, "hour", NOW - WARM), expected(conn, "day", NOW - COLD)
    report = maintain(conn, SPEC, NOW)
    assert report.summary() == (
        "2 partitions created, 12 dropped, 72 hourly and 10 daily buckets refreshed, 9 days of month to date,"
        " 0 days of ratings, 0 expired rollup rows, 0 expired ratings"
    )
    assert rollup(conn, HOURLY) == hourly_before
    assert rollup(conn, DAILY) == daily_before
    # The raw rows that are left agree too: every day from the 17th on is still in llm_requests.
    assert rollup(conn, HOURLY) == expected(conn, "hour", NOW - WARM)
    assert [r for r in rollup(conn, DAILY) if r[0] >= datetime(2026, 3, 17, tzinfo=UTC)] == expected(
        conn, "day", NOW - COLD
    )
    assert {r[0] for r in rollup(conn, DAILY)} == {datetime(2026, 3, d, tzinfo=UTC) for d in range(11, 21)}
    # Three requests an hour from the 17th 15:00, and two in the hour of NOW (14:00 and 14:23).
    assert sum(r[7] for r in rollup(conn, HOURLY)) == 3 * 71 + 2


def test_daily_rollups_outlive_their_raw_partitions_until_the_cold_tier(conn: psycopg.Connection) -> None:
    maintain(conn, SPEC, NOW)
    hourly, daily = rollup(conn, HOURLY), rollup(conn, DAILY)
    stored = {r.store: _count(conn, r.store) for r in ROLLUPS}
    later = NOW + timedelta(days=2)
    report = maintain(conn, SPEC, later)
    assert (report.partitions_created, report.partitions_dropped) == (2, 2)  # 23rd, 24th; 17th, 18th
    assert rollup(conn, DAILY) == [r for r in daily if r[0] >= later - COLD]
    assert rollup(conn, HOURLY) == [r for r in hourly if r[0] >= later - WARM]
    # Every rollup's store, the detail ones too, gives up what retention says.
    gone = sum(n - _count(conn, store) for store, n in stored.items())
    assert report.rollup_rows_expired == gone > len(daily) - len(rollup(conn, DAILY)) > 0
    assert min(r[0] for r in rollup(conn, DAILY)) == datetime(2026, 3, 13, tzinfo=UTC)


def test_a_refresh_never_reaches_back_past_the_oldest_raw_partition(conn: psycopg.Connection) -> None:
    """With the watermark far behind and a raw day dropped by hand, the rollups of the days whose raw
    rows are gone must survive: a recompute could only erase them."""
    maintain(conn, SPEC, NOW)
    hourly, daily = rollup(conn, HOURLY), rollup(conn, DAILY)
    conn.execute(f"DROP TABLE {T}_20260317")
    conn.execute("UPDATE observatory_rollup_watermarks SET computed_until = %s", (NOW - timedelta(days=6),))
    insert(conn, [one_row(datetime(2026, 3, 18, 10, 5, tzinfo=UTC), 1)])  # late, on the oldest raw day
    report = maintain(conn, SPEC, NOW)
    oldest = datetime(2026, 3, 18, tzinfo=UTC)
    assert [r for r in rollup(conn, HOURLY) if r[0] < oldest] == [r for r in hourly if r[0] < oldest]
    assert [r for r in rollup(conn, DAILY) if r[0] < oldest] == [r for r in daily if r[0] < oldest]
    assert [r for r in rollup(conn, DAILY) if r[0] >= oldest] == expected(conn, "day", oldest)
    # From the 18th 00:00 (the oldest raw day left) on, only the late row's hour and day changed.
    assert (report.hourly_buckets_refreshed, report.daily_buckets_refreshed) == (1, 1)


def test_two_maintainers_at_once_do_the_work_once_between_them(
    conn: psycopg.Connection, database: str
) -> None:
    hourly, daily = expected(conn, "hour", NOW - WARM), expected(conn, "day", NOW - COLD)

    def run(_: int) -> MaintainReport:
        with psycopg.connect(database, autocommit=True) as other:
            return maintain(other, SPEC, NOW)

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))
    assert sum(r.partitions_created for r in reports) == 2
    assert sum(r.partitions_dropped for r in reports) == 12
    assert (rollup(conn, HOURLY), rollup(conn, DAILY)) == (hourly, daily)


def test_a_second_run_changes_nothing(conn: psycopg.Connection) -> None:
    maintain(conn, SPEC, NOW)
    before = (partitions(conn), rollup(conn, HOURLY), rollup(conn, DAILY))
    again = maintain(conn, SPEC, NOW)
    assert (partitions(conn), rollup(conn, HOURLY), rollup(conn, DAILY)) == before
    # The late-data window is counted again, and no bucket's count changed.
    assert again == MaintainReport(0, 0, 0, 0, 0)


def test_a_late_row_in_an_already_rolled_up_hour_is_counted_by_the_next_run(conn: psycopg.Connection) -> None:
    maintain(conn, SPEC, NOW)
    insert(conn, [one_row(NOW - timedelta(minutes=85), 1)])  # at 13:05, written after the run
    assert rollup(conn, HOURLY) != expected(conn, "hour", NOW - WARM)
    later = NOW + timedelta(minutes=30)
    maintain(conn, SPEC, later)
    assert rollup(conn, HOURLY) == expected(conn, "hour", later - WARM)
    since = datetime(2026, 3, 17, tzinfo=UTC)  # the oldest raw day left
    assert [r for r in rollup(conn, DAILY) if r[0] >= since] == expected(conn, "day", since)


def test_the_timescaledb_engine_is_left_to_its_own_policies(database: str) -> None:
    spec = parse("version: v1\nstorage: {engine: timescaledb}\n", "s")
    closed = psycopg.connect(database)
    closed.close()  # any query would fail: maintain must not touch the database
    assert maintain(closed, spec, NOW) == MaintainReport(0, 0, 0, 0, 0)


def test_maintain_from_the_command_line_prints_what_it_did(database: str, tmp_path: Path) -> None:
    spec = tmp_path / "observatory.yaml"
    spec.write_text(SPEC_TEXT)
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn, SPEC)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "observatory", "--spec", str(spec), "maintain"],
            env={**os.environ, "OBSERVATORY_DATABASE_URL": database},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("3 partitions created, 0 dropped, ")
    with psycopg.connect(database, autocommit=True) as conn:
        # Now: today's partition exists (and tomorrow's, should the day have turned since).
        insert(conn, [one_row(datetime.now(UTC), 1)])
    second = run()
    assert second.returncode == 0, second.stderr
    pattern = (
        r"\d+ partitions created, \d+ dropped, \d+ hourly and \d+ daily buckets refreshed,"
        r" \d+ days of month to date, \d+ days of ratings, 0 expired rollup rows, 0 expired ratings\n"
    )
    assert re.fullmatch(pattern, second.stdout), second.stdout
    with psycopg.connect(database) as conn:
        counted = conn.execute(f"SELECT sum(requests) FROM {HOURLY}").fetchone()
        assert counted == (1,)


def _detail_counts(conn: psycopg.Connection, unit: str) -> dict[Row, Counter[str]]:
    """What the detail rollups count, computed here in Python from the raw rows, per bucket, hourly
    key and response model: priced requests' cache reads, finish reasons, error types (a failure with
    no type or one outside the vocabulary is `other`), and output lengths, where bucket k holds the
    lengths n with 2**(k/2) <= n < 2**((k+1)/2), i.e. k = bit_length(n*n) - 1 (0 with n = 0), at most
    40."""
    vocabulary = dialects.load().error_vocabulary()
    out: dict[Row, Counter[str]] = {}
    query = (
        f"SELECT date_trunc('{unit}', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', {KEY_COLUMNS},"
        f" coalesce(response_model, ''), finish_reason, status, error_type, output_tokens,"
        f" cache_read_tokens, unpriced FROM {T}"
    )
    for *key, finish, status, error, output, cache_read, unpriced in conn.execute(query.encode()):
        counts = out.setdefault(tuple(key), Counter())
        counts["cache_read_tokens_priced"] += 0 if unpriced else cache_read or 0
        counts["finished"] += finish is not None
        counts["truncated"] += finish == "length"
        if status == "error" or error is not None:
            counts[f"errors_{error if error in vocabulary else 'other'}"] += 1
        if output is not None:
            counts["output_counted"] += 1
            k = min(40, max(0, (output * output).bit_length() - 1))
            counts[f"output_ge_{math.ceil(2 ** (k / 2))}"] += 1
    return {key: Counter({m: n for m, n in counts.items() if n}) for key, counts in out.items()}


@pytest.mark.parametrize("rollup", [r for r in ROLLUPS if r.since == 3], ids=lambda r: r.name)
def test_the_rollups_of_migration_3_equal_an_independent_count_of_the_raw_rows(
    conn: psycopg.Connection, rollup: Rollup
) -> None:
    maintain(conn, SPEC, NOW)
    # Hourly buckets are kept for the warm tier; daily ones can be compared where raw rows are left.
    since = NOW - WARM if rollup.field == "hour" else datetime(2026, 3, 17, tzinfo=UTC)
    keys = ", ".join(k for k, _ in rollup.keys)
    counted = [m for m, _ in rollup.measures if m not in ROLLUP_MEASURES.split(", ")]
    if counted:  # the detail rollups; the daily totals have the hourly rollup's measures only
        got: dict[Row, Counter[str]] = {}
        query = f"SELECT bucket, {keys}, {', '.join(counted)} FROM {rollup.store}"
        for row in conn.execute(query.encode()):
            key, values = tuple(row[: len(rollup.keys) + 1]), row[len(rollup.keys) + 1 :]
            if key[0] >= since:
                got[key] = Counter({m: v for m, v in zip(counted, values, strict=True) if v})
        assert got == {k: v for k, v in _detail_counts(conn, rollup.field).items() if k[0] >= since}
        # The generator's mix reaches the rollup: truncated answers, failures, a response model apart.
        assert any(c["truncated"] for c in got.values()) and any(c["errors_timeout"] for c in got.values())
        assert any(k[7] not in ("", k[5]) for k in got)
    # Summed over the detail keys, the other measures are the hourly rollup's (per day: without user).
    sums = ", ".join(f"sum({m})" for m in ROLLUP_MEASURES.split(", ")).replace(
        "sum(duration_ms_max)", "max(duration_ms_max)"
    )
    group = "GROUP BY 1, 2, 3, 4, 5, 6, 7"
    query = f"SELECT bucket, {ROLLUP_KEYS}, {sums} FROM {rollup.store} WHERE bucket >= %s {group}"
    bucket = f"date_trunc('{rollup.field}', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    independent = f"SELECT {bucket}, {KEY_COLUMNS}, {MEASURE_COLUMNS} FROM {T} {group}"
    assert sorted(_normal(r) for r in conn.execute(query.encode(), (since,))) == sorted(
        _normal(r) for r in conn.execute(independent.encode()) if r[0] >= since
    )


def test_a_run_with_an_earlier_time_than_the_watermark_leaves_the_views_whole(
    conn: psycopg.Connection,
) -> None:
    """Two maintainers at once take their time before the lock: the second to get it may have the
    earlier one. It must not leave the stores short of the watermark the first one set."""
    insert(conn, [one_row(NOW + timedelta(minutes=20), 1), one_row(NOW + timedelta(minutes=40), 2)])
    maintain(conn, SPEC, NOW + timedelta(minutes=30))
    maintain(conn, SPEC, NOW + timedelta(minutes=10))
    day = NOW - timedelta(days=1)
    assert [r for r in rollup(conn, HOURLY) if r[0] >= day] == expected(conn, "hour", day)
    since = datetime(2026, 3, 17, tzinfo=UTC)
    assert [r for r in rollup(conn, DAILY) if r[0] >= since] == expected(conn, "day", since)


def test_the_cache_reads_rollup_equals_an_independent_sum_of_the_raw_rows(conn: psycopg.Connection) -> None:
    """Only requests with priced cache reads, per day, user and response model: store and view."""
    maintain(conn, SPEC, NOW)
    insert(conn, [one_row(NOW + timedelta(minutes=5), 7)])  # after maintenance: the view adds it
    since = datetime(2026, 3, 17, tzinfo=UTC)  # the oldest raw day
    cache = rollups.CACHE_READS_DAILY
    keys = ", ".join(k for k, _ in cache.keys)
    independent = (
        "SELECT date_trunc('day', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', application, environment,"
        " coalesce(team, ''), coalesce(provider, ''), coalesce(request_model, ''), coalesce(operation, ''),"
        " coalesce(user_id, ''), coalesce(response_model, ''), count(*), sum(cache_read_tokens)"
        f" FROM {T} WHERE cache_read_tokens > 0 AND NOT unpriced AND time >= %s"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
    )
    want = sorted(_normal(r) for r in conn.execute(independent.encode(), (since,)))
    assert want and any(r[8] for r in want) and any(not r[8] for r in want)  # with a response model or not
    select = f"SELECT bucket, {keys}, requests, cache_read_tokens_priced"
    view = conn.execute(f"{select} FROM {cache.name} WHERE bucket >= %s".encode(), (since,))
    assert sorted(_normal(r) for r in view) == want
    today = datetime(2026, 3, 20, tzinfo=UTC)  # complete days: from the store
    stored = conn.execute(
        f"{select} FROM {cache.store} WHERE bucket >= %s AND bucket < %s".encode(), (since, today)
    )
    assert sorted(_normal(r) for r in stored) == [r for r in want if r[0] < today]


def test_the_rollup_views_count_rows_written_after_the_last_maintenance(conn: psycopg.Connection) -> None:
    """TimescaleDB's real-time aggregation, on the postgres flavour: the views add what maintenance
    has not completed from the raw table, so today's spend is current between runs."""
    maintain(conn, SPEC, NOW)
    # One row in the bucket maintenance left incomplete (14:00), one in a later one.
    insert(conn, [one_row(NOW + timedelta(minutes=5), 1), one_row(NOW + timedelta(hours=2), 2)])
    assert rollup(conn, HOURLY) == expected(conn, "hour", NOW - WARM)
    since = datetime(2026, 3, 17, tzinfo=UTC)  # the oldest raw day
    assert [r for r in rollup(conn, DAILY) if r[0] >= since] == expected(conn, "day", since)
    for detail in (r for r in ROLLUPS if r.since == 3):
        # Hourly buckets are kept from the first whole hour of the warm tier, daily ones from the 17th.
        start = datetime(2026, 3, 17, 15 if detail.field == "hour" else 0, tzinfo=UTC)
        counted = conn.execute(f"SELECT sum(requests) FROM {detail.name} WHERE bucket >= %s", (start,))
        raw = conn.execute(f"SELECT count(*) FROM {T} WHERE time >= %s", (start,))
        assert counted.fetchone() == raw.fetchone(), detail.name


def test_the_views_plan_only_the_raw_days_after_their_boundary(conn: psycopg.Connection) -> None:
    """Maintenance writes each view's boundary in as a literal, so the planner prunes the raw day
    partitions before the boundary when it plans, not row by row when it runs."""
    maintain(conn, SPEC, NOW)
    for view in ROLLUPS:
        plan = "\n".join(
            r[0] for r in conn.execute(f"EXPLAIN SELECT sum(requests) FROM {view.name}".encode())
        )
        scanned = set(re.findall(rf"\b{T}_(\d{{8}})\b", plan))
        # NOW's day and the days made ahead of time, never one before.
        assert scanned == {"20260320", "20260321", "20260322"}, (view.name, plan)


def test_maintenance_goes_on_when_a_reader_holds_a_view(
    conn: psycopg.Connection, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import observatory.storage.maintain as maintain_module

    maintain(conn, SPEC, NOW)
    monkeypatch.setattr(maintain_module, "DROP_LOCK_TIMEOUT", "200ms")
    before = conn.execute(f"SELECT pg_get_viewdef('{HOURLY}'::regclass)").fetchone()
    insert(conn, [one_row(NOW + timedelta(hours=1), 1), one_row(NOW + timedelta(hours=4), 2)])
    with psycopg.connect(database) as reader:  # a dashboard query in a long transaction
        reader.execute(f"SELECT count(*) FROM {HOURLY}")
        maintain(conn, SPEC, NOW + timedelta(hours=3))  # waits 200 ms for the view, then goes on
        watermark = conn.execute(f"SELECT max(computed_until) FROM {names.TABLE_ROLLUP_WATERMARKS}")
        assert watermark.fetchone() == (NOW + timedelta(hours=3),)
        assert conn.execute(f"SELECT pg_get_viewdef('{HOURLY}'::regclass)").fetchone() == before
    # The views still name the old watermark, the stores count up to the new one: nothing is counted
    # twice or missed (the rows after the new watermark, an hour into the future, included).
    assert rollup(conn, HOURLY) == expected(conn, "hour", NOW + timedelta(hours=3) - WARM)
    since = datetime(2026, 3, 17, tzinfo=UTC)
    assert [r for r in rollup(conn, DAILY) if r[0] >= since] == expected(conn, "day", since)
    maintain(conn, SPEC, NOW + timedelta(hours=3))
    assert conn.execute(f"SELECT pg_get_viewdef('{HOURLY}'::regclass)").fetchone() != before


def rate_requests(conn: psycopg.Connection, every: int, matched: bool) -> None:
    """A rating (thumbs, by the span id's last digit) a minute after every `every`-th request, joined
    to its request by the ingester's own statement when `matched`."""
    conn.execute(
        f"INSERT INTO {feedback.T} ({', '.join(feedback.INSERTED)})\n"
        f"SELECT time + INTERVAL '1 minute', trace_id, span_id, '{feedback.USER_FEEDBACK}',"
        " (ascii(right(span_id, 1)) %% 2)::float8, NULL, NULL, NULL, application, NULL\n"
        f"FROM {T} WHERE ascii(right(span_id, 1)) %% %s = 0 ON CONFLICT DO NOTHING",
        (every,),
    )
    if matched:
        conn.execute(feedback.match())


def ratings_by_day(conn: psycopg.Connection, relation: str) -> list[Row]:
    if relation == feedback.DAILY:
        sql = f"SELECT {', '.join(feedback.ROLLUP_COLUMNS)} FROM {relation}"
    else:  # the ratings themselves, summed the rollup's way
        sql = feedback.rollup_select("date_trunc('day', time, 'UTC')")
    # Sums of floats in another order differ in the last digits.
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in conn.execute(sql))


def test_the_ratings_daily_rollup_counts_every_matched_rating_and_goes_with_the_cold_tier(
    conn: psycopg.Connection,
) -> None:
    rate_requests(conn, 5, matched=True)
    report = maintain(conn, SPEC, NOW)
    counted = ratings_by_day(conn, feedback.T)
    # The days kept (from the 10th, 10 days before NOW's, whole) up to today's, which the view computes.
    assert len({r[0] for r in counted}) == 11 and report.feedback_days_refreshed == 10
    assert ratings_by_day(conn, feedback.DAILY) == counted
    # Ratings given days ago that arrive, and are matched, after the run: the view misses the stored
    # days' new ones until the next run, which finds exactly those days changed (older ratings find
    # no request to match: its raw rows are gone, so they are not counted).
    rate_requests(conn, 3, matched=True)
    later = ratings_by_day(conn, feedback.T)
    assert ratings_by_day(conn, feedback.DAILY) != later
    again = maintain(conn, SPEC, NOW + timedelta(minutes=5))
    assert ratings_by_day(conn, feedback.DAILY) == later
    # The stored days with a new match: those whose requests are still kept (warm tier, 3 days);
    # today's is the view's, computed when read.
    today = datetime(2026, 3, 20, tzinfo=UTC)
    changed = {r[0] for r in set(later) ^ set(counted)}
    assert today in changed and again.feedback_days_refreshed == len(changed - {today}) == 3
    assert maintain(conn, SPEC, NOW + timedelta(minutes=10)).feedback_days_refreshed == 0
    # Kept as long as the daily rollups: 10 days.
    gone = maintain(conn, SPEC, NOW + timedelta(days=5))
    oldest = conn.execute(f"SELECT min(time), (SELECT min(bucket) FROM {feedback.STORE}) FROM {feedback.T}")
    first_rating, first_day = oldest.fetchone()
    assert gone.feedback_rows_expired > 0 and first_rating >= datetime(2026, 3, 15, tzinfo=UTC)
    assert first_day == datetime(2026, 3, 15, tzinfo=UTC)
    assert ratings_by_day(conn, feedback.DAILY) == ratings_by_day(conn, feedback.T)
