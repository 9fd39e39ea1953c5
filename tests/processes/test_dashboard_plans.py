"""The dashboards' SQL reads the rollups: over more than a day, no panel scans raw rows the rollups hold.

Issue 20 allows raw rows in two places only: per-request tables bounded by time and LIMIT (listed in
ALLOWED, each with its reason, after review), and the last partial bucket, which the postgres
flavour's rollup views add from raw rows after the rollup's watermark. So every SQL panel and
variable query of every dashboard (tests/dashboard_queries.py, as Grafana sends it) runs under
EXPLAIN (ANALYZE, FORMAT JSON) over 7, 30 and 365 days, with the variables at "All" and at one value,
as the Grafana reader role, and the test reads the relations of the plan's nodes that ran (`Actual
Loops` above 0: run-time partition pruning leaves the others unstarted). A day partition of
`llm_requests` that starts before the day of the earliest watermark is a raw scan the issue forbids.

The scale is small (a few thousand generated requests over 40 days, tests/bulk_requests.py), so the
plans are not those of 10 million rows; which store a query names does not depend on the row count.
Timings at scale are scripts/bench_dashboards.py's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from observatory import names
from observatory.local.postgres import LocalPostgres
from observatory.storage.maintain import maintain
from observatory.storage.migrate import migrate
from tests import bulk_requests, dashboard_queries

DAYS = 40
ROWS = 4000
WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "365d": timedelta(days=365)}
SELECTIONS = {
    "All": {},
    "one value": {k: [v] for k, v in {**bulk_requests.ONE_VALUE, "user": bulk_requests.ONE_USER}.items()},
}
OPTIONS = {**bulk_requests.VOCABULARY, "user": [bulk_requests.user_id(n) for n in range(1000)]}

# Queries that may read raw rows over any range, reviewed against issue 20: per-request tables bounded
# by time and LIMIT. Key: "<dashboard>/<panel slug>" (or "<dashboard>/variable:<name>"); value: why.
ALLOWED: dict[str, str] = {}

# Queries that still read raw rows until issue 20's rewrite puts them on the rollups. An entry whose
# query no longer reads raw rows fails the test, so this list only shrinks; it must end empty.
PENDING: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Loaded:
    conn: psycopg.Connection  # as the Grafana reader role
    watermark_day: datetime  # the start of the UTC day of the earliest rollup watermark
    partitions: dict[str, datetime]  # raw day partitions and where each starts
    now: datetime


@pytest.fixture(scope="module")
def loaded(postgres: LocalPostgres) -> Iterator[Loaded]:
    """A database of its own on the session's server: the postgres flavour, 40 days of requests up to
    now, the rollups brought up to date, statistics gathered; a connection as the reader role."""
    import secrets

    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    name = f"t_plans_{secrets.token_hex(4)}"
    dsn = admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    spec = dashboard_queries.postgres_spec(DAYS)
    now = datetime.now(UTC)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, spec)
            bulk_requests.load(dsn, first=0, count=ROWS, start=now - timedelta(days=DAYS), end=now)
            maintain(conn, spec, now)
            conn.execute("ANALYZE")
            row = conn.execute(
                f"SELECT date_trunc('day', min(computed_until), 'UTC') FROM {names.TABLE_ROLLUP_WATERMARKS}"
            ).fetchone()
            assert row and row[0], "maintain left no rollup watermark"
            partitions = dict(conn.execute(dashboard_queries.RAW_PARTITIONS).fetchall())
            conn.execute(f"SET ROLE {names.DB_READER_USER}")
            yield Loaded(conn, row[0], partitions, now)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def old_raw_partitions(loaded: Loaded, sql: str) -> list[str]:
    """The raw day partitions that start before the watermark's day and that `sql`'s plan ran."""
    row = loaded.conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}").fetchone()
    assert row
    read = {rel for rel, loops in dashboard_queries.scans(row[0][0]["Plan"]) if loops}
    return sorted(
        rel
        for rel in read
        if rel == names.TABLE_REQUESTS
        or (rel in loaded.partitions and loaded.partitions[rel] < loaded.watermark_day)
    )


def test_no_query_over_more_than_a_day_reads_raw_rows_the_rollups_hold_except_the_reviewed_ones(
    loaded: Loaded,
) -> None:
    spec = dashboard_queries.postgres_spec(DAYS)
    queries = dashboard_queries.queries(spec)
    keys = {f"{q.board}/{q.name}" for q in queries}
    assert len(queries) > 10
    assert not (ALLOWED.keys() | PENDING.keys()) - keys, "entries for queries no dashboard has"
    reading_raw: dict[str, str] = {}
    for query in queries:
        key = f"{query.board}/{query.name}"
        for label, selected in SELECTIONS.items():
            for window, span in WINDOWS.items():
                sql = dashboard_queries.as_sent(query, loaded.now - span, loaded.now, selected, OPTIONS)
                old = old_raw_partitions(loaded, sql)
                if old and key not in reading_raw:
                    reading_raw[key] = f"{window}, {label}: {len(old)} raw partitions ({old[0]} ...)"
    unexpected = {k: v for k, v in reading_raw.items() if k not in ALLOWED and k not in PENDING}
    stale = sorted((ALLOWED.keys() | PENDING.keys()) - reading_raw.keys())
    assert not unexpected, (
        "these queries scan raw rows older than the rollups' watermark; read a rollup (or, for a "
        f"per-request table bounded by time and LIMIT, add it to ALLOWED with the reason): {unexpected}"
    )
    assert not stale, f"these no longer read raw rows: remove them from ALLOWED or PENDING: {stale}"


def test_the_check_catches_a_raw_scan_and_passes_the_rollup_views_latest_bucket(loaded: Loaded) -> None:
    """The check itself: a sum over raw rows is caught, while the daily view (stored buckets and, from
    raw rows, only today's) and the query for a single day are not."""
    start = loaded.now - timedelta(days=30)
    raw = f"SELECT sum(cost_usd) FROM {names.TABLE_REQUESTS} WHERE time >= '{start.isoformat()}'"
    assert len(old_raw_partitions(loaded, raw)) >= 29
    daily = f"SELECT sum(cost_usd) FROM {names.VIEW_REQUESTS_DAILY} WHERE bucket >= '{start.isoformat()}'"
    assert old_raw_partitions(loaded, daily) == []
    row = loaded.conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {daily}").fetchone()
    assert row
    ran = {rel for rel, loops in dashboard_queries.scans(row[0][0]["Plan"]) if loops}
    assert any(rel in loaded.partitions for rel in ran), "the daily view read no raw rows for today"
