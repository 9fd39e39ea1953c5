"""The per-request database: schema and policies for TimescaleDB, or for plain PostgreSQL.

Both flavours give dashboards the same relations with the same columns: `llm_requests` (one row per
LLM request), `llm_requests_hourly` and `llm_requests_daily` (rollups; the daily one per user too).
- timescaledb: a hypertable with daily chunks, compressed after the hot tier, continuous aggregates
  refreshed by policy, raw rows dropped after the warm tier and daily rollups after the cold tier.
- postgres: native range partitions by day and rollup tables; `observatory maintain` creates
  partitions, refreshes rollups incrementally and drops what retention says.

Files named `V<nnn>__*.sql` are versioned migrations (applied once, never edited: a change is a new
file); `R__*.sql` files hold what the spec decides (policies, grants) and are applied every time.
`observatory.storage.migrate` runs exactly these texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory import names
from observatory.render.artifact import Artifact
from observatory.spec.types import Spec
from observatory.storage.columns import COLUMNS, UNIQUE_KEY

T = names.TABLE_REQUESTS
HOURLY, DAILY = names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
READER = names.DB_READER_USER


@dataclass(frozen=True, slots=True)
class Migration:
    version: int | None  # None: repeatable, applied on every migrate
    name: str
    sql: str

    @property
    def filename(self) -> str:
        return f"V{self.version:03d}__{self.name}.sql" if self.version is not None else f"R__{self.name}.sql"


def folder(spec: Spec) -> str:
    return "stack/timescaledb" if spec.storage.engine == "timescaledb" else "stack/postgres"


def _table(partitioned: bool) -> str:
    cols = ",\n".join(f"    {c.name} {c.sql_type}{' NOT NULL' if c.not_null else ''}" for c in COLUMNS)
    tail = " PARTITION BY RANGE (time)" if partitioned else ""
    key = ", ".join(UNIQUE_KEY)
    return f"CREATE TABLE IF NOT EXISTS {T} (\n{cols},\n    CONSTRAINT {T}_key UNIQUE ({key})\n){tail};\n"


# The indexes the dashboards' queries need: by application, model and user over time, and a trace.
INDEXES = (
    ("application_time", "application, time DESC"),
    ("model_time", "request_model, time DESC"),
    ("user_time", "user_id, time DESC"),
    ("trace", "trace_id"),
)


def _indexes() -> str:
    return "".join(f"CREATE INDEX IF NOT EXISTS {T}_{name} ON {T} ({cols});\n" for name, cols in INDEXES)


# The rollup measures, as SQL over the raw table. Grouping keys are never null ('' instead), so the
# postgres flavour can use them as a primary key and both flavours group identically.
MEASURES = (
    ("requests", "count(*)"),
    ("errors", "count(*) FILTER (WHERE status = 'error')"),
    ("unpriced_requests", "count(*) FILTER (WHERE unpriced)"),
    ("input_tokens", "coalesce(sum(input_tokens), 0)"),
    ("output_tokens", "coalesce(sum(output_tokens), 0)"),
    ("cache_read_tokens", "coalesce(sum(cache_read_tokens), 0)"),
    ("cache_write_tokens", "coalesce(sum(cache_write_tokens), 0)"),
    ("reasoning_tokens", "coalesce(sum(reasoning_tokens), 0)"),
    ("cost_usd", "coalesce(sum(cost_usd), 0)"),
    ("duration_ms_sum", "sum(duration_ms)"),
    ("duration_ms_max", "max(duration_ms)"),
    ("ttft_ms_sum", "coalesce(sum(ttft_ms), 0)"),
    ("ttft_count", "count(ttft_ms)"),
)
KEYS = (
    ("application", "application"),
    ("environment", "environment"),
    ("team", "coalesce(team, '')"),
    ("provider", "coalesce(provider, '')"),
    ("model", "coalesce(request_model, '')"),
    ("operation", "coalesce(operation, '')"),
)
DAILY_KEYS = (*KEYS, ("user_id", "coalesce(user_id, '')"))
MEASURE_TYPES = {
    "cost_usd": "double precision",
    "duration_ms_sum": "double precision",
    "duration_ms_max": "double precision",
    "ttft_ms_sum": "double precision",
}


def rollup_select(bucket_sql: str, keys: tuple[tuple[str, str], ...], where: str = "") -> str:
    """The SELECT that computes a rollup: also what the postgres flavour's maintenance runs."""
    columns = [f"{bucket_sql} AS bucket"] + [f"{sql} AS {name}" for name, sql in keys]
    columns += [f"{sql} AS {name}" for name, sql in MEASURES]
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return f"SELECT {', '.join(columns)}\nFROM {T}{where}\nGROUP BY {group}"


def _rollup_table(name: str, keys: tuple[tuple[str, str], ...]) -> str:
    cols = ["    bucket timestamptz NOT NULL"] + [f"    {k} text NOT NULL" for k, _ in keys]
    cols += [f"    {m} {MEASURE_TYPES.get(m, 'bigint')}" for m, _ in MEASURES]
    pk = ", ".join(["bucket", *(k for k, _ in keys)])
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(cols) + f",\n    PRIMARY KEY ({pk})\n);\n"


def postgres_schema() -> str:
    return (
        "-- Per-request table, partitioned by day; the partitions are created by\n"
        f"-- {T}_ensure_partition(day), which the ingester calls for each day it writes.\n"
        + _table(partitioned=True)
        + _indexes()
        + f"""
CREATE OR REPLACE FUNCTION {T}_ensure_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part text := '{T}_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NULL THEN
        -- Two writers may meet here: the lock makes the second wait, then find the table.
        PERFORM pg_advisory_xact_lock(hashtext(part));
        -- Days are UTC days whatever the session's time zone, so every writer agrees on the bounds.
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF {T} FOR VALUES FROM (%L) TO (%L)',
                       part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    ELSIF NOT EXISTS (SELECT 1 FROM pg_inherits
                      WHERE inhrelid = to_regclass(part) AND inhparent = '{T}'::regclass) THEN
        RAISE EXCEPTION 'table % exists but is not a partition of {T}', part;
    END IF;
END
$$;

-- Rollups, kept up to date by `observatory maintain`: per hour, and per day and user.
"""
        + _rollup_table(HOURLY, KEYS)
        + _rollup_table(DAILY, DAILY_KEYS)
        + f"""
-- How far the rollups have been computed; maintenance recomputes from a little before it.
CREATE TABLE IF NOT EXISTS {names.TABLE_ROLLUP_WATERMARKS} (
    rollup text PRIMARY KEY,
    computed_until timestamptz NOT NULL
);
"""
    )


def timescaledb_schema() -> str:
    def cagg(name: str, interval: str, keys: tuple[tuple[str, str], ...]) -> str:
        select = rollup_select(f"time_bucket(INTERVAL '{interval}', time)", keys)
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}\n"
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
            f"{select}\nWITH NO DATA;\n"
        )

    return (
        "CREATE EXTENSION IF NOT EXISTS timescaledb;\n\n"
        + _table(partitioned=False)
        + f"SELECT create_hypertable('{T}', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);\n"
        + _indexes()
        # The spelling every 2.x release accepts (2.18 renamed these to columnstore options).
        + f"ALTER TABLE {T} SET (timescaledb.compress, timescaledb.compress_segmentby = 'application',\n"
        "    timescaledb.compress_orderby = 'time DESC');\n\n"
        + "-- Continuous aggregates with real-time rows on top (materialized_only = false).\n"
        + cagg(HOURLY, "1 hour", KEYS)
        + "\n"
        + cagg(DAILY, "1 day", DAILY_KEYS)
    )


def timescaledb_policies(spec: Spec) -> str:
    tiers = spec.retention.requests
    # A refresh must never reach back past raw retention: it would replace rollups of dropped days
    # with nothing. So the refresh window starts at most warm_days - 1 back (and at least 2 hours).
    back_hours = max(2, min(3 * 24, (tiers.warm_days - 1) * 24))
    days = f"hot {tiers.hot_days}, warm {tiers.warm_days}, cold {tiers.cold_days}"
    return f"""-- From the spec's retention.requests tiers (days): {days}.
SELECT remove_compression_policy('{T}', if_exists => TRUE);
SELECT add_compression_policy('{T}', compress_after => INTERVAL '{tiers.hot_days} days');
SELECT remove_retention_policy('{T}', if_exists => TRUE);
SELECT add_retention_policy('{T}', drop_after => INTERVAL '{tiers.warm_days} days');

SELECT remove_continuous_aggregate_policy('{HOURLY}', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('{HOURLY}', start_offset => INTERVAL '{back_hours} hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');
SELECT remove_retention_policy('{HOURLY}', if_exists => TRUE);
SELECT add_retention_policy('{HOURLY}', drop_after => INTERVAL '{tiers.warm_days} days');

SELECT remove_continuous_aggregate_policy('{DAILY}', if_exists => TRUE);
SELECT add_continuous_aggregate_policy('{DAILY}', start_offset => INTERVAL '{back_hours} hours',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT remove_retention_policy('{DAILY}', if_exists => TRUE);
SELECT add_retention_policy('{DAILY}', drop_after => INTERVAL '{tiers.cold_days} days');
"""


def grants() -> str:
    return (
        f"-- Grafana reads through {READER}, which can read these and nothing else.\n"
        f"GRANT USAGE ON SCHEMA public TO {READER};\n"
        f"GRANT SELECT ON {T}, {HOURLY}, {DAILY} TO {READER};\n"
    )


def migrations(spec: Spec) -> list[Migration]:
    if spec.storage.engine == "timescaledb":
        return [
            Migration(1, "schema", timescaledb_schema()),
            Migration(None, "policies", timescaledb_policies(spec) + "\n" + grants()),
        ]
    return [Migration(1, "schema", postgres_schema()), Migration(None, "grants", grants())]


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(f"{folder(spec)}/{m.filename}", m.sql, "sql") for m in migrations(spec)]
