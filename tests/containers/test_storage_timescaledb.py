"""The TimescaleDB flavour on the pinned image (testcontainers): migrations, continuous aggregates
and the policies the spec's retention tiers decide.

Needs a Docker engine: without one these tests skip with the reason (and fail under
REQUIRE_DOCKER=1, as in the GitHub Actions 'containers' job, so they cannot silently stop running).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from observatory import names
from observatory.spec import load
from observatory.storage.migrate import MigrateReport, migrate
from tests.conftest import REPO, require_docker
from tests.processes.test_storage_maintain import expected, insert, rollup, synthetic_rows

pytestmark = pytest.mark.containers

SPEC = load(REPO / "observatory.yaml")
T, HOURLY, DAILY = names.TABLE_REQUESTS, names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
EVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Migrated:
    dsn: str
    first: MigrateReport
    second: MigrateReport


@pytest.fixture(scope="module")
def timescaledb() -> Iterator[Migrated]:
    """The pinned TimescaleDB image with the repository spec's schema migrated twice."""
    require_docker()
    from testcontainers.community.postgres import PostgresContainer

    assert SPEC.storage.engine == "timescaledb"
    container = PostgresContainer(
        SPEC.images.timescaledb,
        username="postgres",
        password=secrets.token_urlsafe(18),
        dbname=names.DB_NAME,
    )
    # start() waits until psql answers over TCP inside the container, which the image's entrypoint
    # allows only once its init scripts (CREATE EXTENSION timescaledb) are done.
    with container:
        dsn = container.get_connection_url(driver=None)
        with psycopg.connect(dsn, autocommit=True) as conn:
            first, second = migrate(conn, SPEC), migrate(conn, SPEC)
        yield Migrated(dsn, first, second)


def test_migrating_twice_applies_the_schema_once_and_the_policies_each_time(timescaledb: Migrated) -> None:
    assert (timescaledb.first.applied, timescaledb.first.repeated) == (
        ["V001__schema.sql", "V002__error_type_raw.sql"],
        ["R__policies.sql"],
    )
    assert (timescaledb.second.applied, timescaledb.second.unchanged, timescaledb.second.repeated) == (
        [],
        ["V001__schema.sql", "V002__error_type_raw.sql"],
        ["R__policies.sql"],
    )


def test_continuous_aggregates_equal_a_plain_group_by_after_a_refresh(timescaledb: Migrated) -> None:
    # Two days back and no more: the hot tier is longer, so no policy compresses or drops these rows
    # while the test runs.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    assert SPEC.retention.requests.hot_days > 2
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        insert(conn, synthetic_rows(now, days=2))
        for view in (HOURLY, DAILY):  # a procedure that refuses to run inside a transaction
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        assert rollup(conn, HOURLY) == expected(conn, "hour", EVER)
        assert rollup(conn, DAILY) == expected(conn, "day", EVER)
        # The refresh materialized rows (the views would agree from real-time rows alone).
        for view in (HOURLY, DAILY):
            table = conn.execute(
                "SELECT materialization_hypertable_schema, materialization_hypertable_name"
                " FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
                (view,),
            ).fetchone()
            assert table is not None, view
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table))).fetchone()
            assert count is not None and count[0] > 0, view


# Each background job with the relation it works on: a continuous aggregate's jobs name its
# materialization hypertable, mapped back to the view here.
JOBS = """SELECT j.proc_name, coalesce(ca.view_name, j.hypertable_name), j.schedule_interval,
    (j.config->>'compress_after')::interval, (j.config->>'drop_after')::interval,
    (j.config->>'start_offset')::interval, (j.config->>'end_offset')::interval
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.continuous_aggregates ca
    ON ca.materialization_hypertable_schema = j.hypertable_schema
    AND ca.materialization_hypertable_name = j.hypertable_name
WHERE j.proc_name IN ('policy_compression', 'policy_retention', 'policy_refresh_continuous_aggregate')
ORDER BY 1, 2"""


def test_the_policies_follow_the_spec_retention_tiers(timescaledb: Migrated) -> None:
    tiers = SPEC.retention.requests
    hot, warm, cold = (timedelta(days=d) for d in (tiers.hot_days, tiers.warm_days, tiers.cold_days))
    with psycopg.connect(timescaledb.dsn, autocommit=True) as conn:
        jobs = conn.execute(JOBS).fetchall()
    # Exactly one of each, though the policies were applied twice. Compared as a multiset: how the
    # server sorts 'llm_requests' against 'llm_requests_daily' is its collation's business (a real
    # TimescaleDB put the table first, which the old expectation had last).
    assert Counter((proc, rel) for proc, rel, *_ in jobs) == Counter(
        [
            ("policy_compression", T),
            ("policy_refresh_continuous_aggregate", DAILY),
            ("policy_refresh_continuous_aggregate", HOURLY),
            ("policy_retention", DAILY),
            ("policy_retention", HOURLY),
            ("policy_retention", T),
        ]
    )
    by = {(proc, rel): rest for proc, rel, *rest in jobs}
    assert by["policy_compression", T][1] == hot
    assert [by["policy_retention", r][2] for r in (T, HOURLY, DAILY)] == [warm, warm, cold]
    for view, every in ((HOURLY, timedelta(minutes=15)), (DAILY, timedelta(hours=1))):
        schedule, _, _, start_offset, end_offset = by["policy_refresh_continuous_aggregate", view]
        assert (schedule, end_offset) == (every, timedelta(hours=1))
        # A refresh never reaches back past raw retention, where it would erase rollups of dropped days.
        assert timedelta(hours=2) <= start_offset <= warm - timedelta(days=1)
