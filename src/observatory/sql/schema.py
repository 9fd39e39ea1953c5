"""The per-request database's migrations: schema and policies for TimescaleDB, or for plain PostgreSQL.

Both flavours give dashboards the same relations with the same columns: `llm_requests` (one row per
LLM request), `llm_requests_hourly` and `llm_requests_daily` (rollups; the daily one per user too).
- timescaledb: a hypertable with daily chunks, compressed after the hot tier, continuous aggregates
  refreshed by policy, raw rows dropped after the warm tier and daily rollups after the cold tier.
- postgres: native range partitions by day and rollup tables; `observatory maintain` creates
  partitions, refreshes rollups incrementally and drops what retention says.

A `Migration` with a version is applied once and never edited (a change is a new migration); one
without holds what the spec decides (policies, grants) and is applied every time.
`observatory.render.storage` writes exactly these texts out; `observatory.storage.migrate` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory import names
from observatory.spec.types import Spec
from observatory.sql import feedback, rollups
from observatory.sql.columns import COLUMNS, UNIQUE_KEY
from observatory.sql.policies import timescaledb_policies
from observatory.sql.rollups import (
    ADVANCE_VIEWS,
    CACHE_READS_DAILY,
    DAILY_KEYS,
    KEYS,
    MEASURES,
    MTD,
    MTD_COLUMNS,
    MTD_MEASURES,
    MTD_SINCE,
    MTD_STORE,
    PARENT,
    ROLLUPS,
    USERS_DAILY,
    Keys,
    Measures,
    Rollup,
    advance_views_function,
    mtd_select,
    mtd_view,
    reaggregate_select,
    rollup_select,
    rollup_table,
    utc_bucket,
)

T = names.TABLE_REQUESTS
HOURLY, DAILY = names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY
READER = names.DB_READER_USER
API = names.DB_API_USER


@dataclass(frozen=True, slots=True)
class Migration:
    version: int | None  # None: repeatable, applied on every migrate
    name: str
    sql: str
    # Statements that must run outside a transaction (TimescaleDB's refreshes), each on its own, once
    # the run that applied this migration has committed. The file holds them at its end, commented out.
    after: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The migration's file: its SQL, then what runs after the commit."""
        if not self.after:
            return self.sql
        lines = "".join(f"-- {statement}\n" for statement in self.after)
        return (
            self.sql
            + "\n-- After this migration's transaction commits, `observatory migrate` runs:\n"
            + lines
        )

    @property
    def filename(self) -> str:
        return f"V{self.version:03d}__{self.name}.sql" if self.version is not None else f"R__{self.name}.sql"


def _table(partitioned: bool) -> str:
    first = [c for c in COLUMNS if c.since == 1]
    cols = ",\n".join(f"    {c.name} {c.sql_type}{' NOT NULL' if c.not_null else ''}" for c in first)
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
        + rollup_table(HOURLY, KEYS)
        + rollup_table(DAILY, DAILY_KEYS)
        + f"""
-- How far the rollups have been computed; maintenance recomputes from a little before it.
CREATE TABLE IF NOT EXISTS {names.TABLE_ROLLUP_WATERMARKS} (
    rollup text PRIMARY KEY,
    computed_until timestamptz NOT NULL
);
"""
    )


def _continuous_aggregate(
    name: str, interval: str, keys: Keys, measures: Measures = MEASURES, where: str = ""
) -> str:
    condition = f"\nWHERE {where}" if where else ""
    select = rollup_select(f"time_bucket(INTERVAL '{interval}', time)", keys, condition, measures)
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        f"{select}\nWITH NO DATA;\n"
    )


def timescaledb_schema() -> str:
    return (
        "CREATE EXTENSION IF NOT EXISTS timescaledb;\n\n"
        + _table(partitioned=False)
        + f"SELECT create_hypertable('{T}', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);\n"
        + _indexes()
        # The spelling every 2.x release accepts (2.18 renamed these to columnstore options).
        + f"ALTER TABLE {T} SET (timescaledb.compress, timescaledb.compress_segmentby = 'application',\n"
        "    timescaledb.compress_orderby = 'time DESC');\n\n"
        + "-- Continuous aggregates with real-time rows on top (materialized_only = false).\n"
        + _continuous_aggregate(HOURLY, "1 hour", KEYS)
        + "\n"
        + _continuous_aggregate(DAILY, "1 day", DAILY_KEYS)
    )


def grants() -> str:
    readable = ", ".join([T, *(r.name for r in (*ROLLUPS, *rollups.CUMULATIVE)), *feedback.TABLES])
    return (
        f"-- Grafana reads through {READER}, and the query API through {API}: each can read these and\n"
        "-- nothing else.\n"
        f"GRANT USAGE ON SCHEMA public TO {READER}, {API};\n"
        f"GRANT SELECT ON {readable} TO {READER}, {API};\n"
        "-- Panels are short queries planned afresh each time: compiling one with JIT took longer (up to\n"
        "-- 180 ms at 10 million rows) than running it.\n"
        f"ALTER ROLE {READER} SET jit = off;\n"
        f"ALTER ROLE {API} SET jit = off;\n"
        "-- The API's sessions only read, and no query of a client holds the database for long.\n"
        f"ALTER ROLE {API} SET default_transaction_read_only = on;\n"
        f"ALTER ROLE {API} SET statement_timeout = '5s';\n"
    )


def detail_rollups(engine: str) -> str:
    """Migration 3: the detail rollups and the daily totals; for postgres also the rollup tables' move
    behind views."""
    header = (
        "-- Detail rollups (response model; finish reasons, error types and output lengths counted) and\n"
        "-- daily totals (the hourly rollup per day).\n"
    )
    # The per-user rollup by user first: a selected user's spend over a year reads that user's rows.
    by_user = "-- A selected user's rows of the per-user rollup, found without reading everyone's.\n"
    if engine == "timescaledb":
        aggregates = [
            _continuous_aggregate(r.name, r.interval, r.keys, r.measures) for r in ROLLUPS if r.since == 3
        ]
        index = f"CREATE INDEX IF NOT EXISTS {DAILY}_user ON {DAILY} (user_id, bucket);\n"
        return header + "\n".join(aggregates) + f"\n{by_user}{index}"
    renames = "".join(f"ALTER TABLE {r.name} RENAME TO {r.store};\n" for r in ROLLUPS if r.since < 3)
    index = f"CREATE INDEX IF NOT EXISTS {DAILY}_store_user ON {DAILY}_store (user_id, bucket);\n"
    return (
        header + "-- Every rollup is stored in <name>_store; <name> becomes a view that adds the buckets\n"
        "-- maintenance has not completed from the raw table (see the repeatable migration).\n"
        + renames
        + "".join(rollup_table(r.store, r.keys, r.measures) for r in ROLLUPS if r.since == 3)
        + by_user
        + index
    )


def users_rollups(engine: str) -> Migration:
    """Migration 4: the per-user daily rollup per user alone, with the per-user daily rollup's history
    (which may reach past the raw rows, into the cold tier); and priced cache reads per user and
    response model, from the raw rows still kept."""
    users, cache = USERS_DAILY, CACHE_READS_DAILY
    parent = PARENT[users.name]
    header = (
        "-- The per-user daily rollup per user alone: the user panels and the user list read it.\n"
        "-- Priced cache reads per user and response model: cache savings with a user selected.\n"
    )
    if engine == "timescaledb":
        text = (
            header
            + "-- The first, a continuous aggregate of the per-user daily rollup, not of the raw rows.\n"
            + _hierarchical(users)
            + "\n"
            + _continuous_aggregate(cache.name, cache.interval, cache.keys, cache.measures, cache.where)
            + f"CREATE INDEX IF NOT EXISTS {cache.name}_user ON {cache.name} (user_id, bucket);\n"
        )
        # A refresh cannot run in a transaction: migrate runs these after this one commits. The first
        # gets every bucket the per-user daily rollup holds, cold tier included; the second every day
        # whose raw rows are kept (the aggregate is new: there is nothing older to lose).
        after = tuple(f"CALL refresh_continuous_aggregate('{r.name}', NULL, NULL);" for r in (users, cache))
        return Migration(4, "users_rollups", text, after)
    columns = ", ".join(users.columns)
    seed = reaggregate_select(users, parent, "bucket", relation=parent.store)
    return Migration(
        4,
        "users_rollups",
        header
        + rollup_table(users.store, users.keys, users.measures)
        + "-- Filled from the per-user daily rollup, so it starts with all of its history, and as far as\n"
        + "-- that one is computed; maintenance then keeps it as it keeps the others (its view is the\n"
        + "-- repeatable migration's).\n"
        + f"INSERT INTO {users.store} ({columns})\n{seed}\nON CONFLICT DO NOTHING;\n"
        + f"INSERT INTO {names.TABLE_ROLLUP_WATERMARKS} (rollup, computed_until)\n"
        + f"SELECT '{users.name}', computed_until FROM {names.TABLE_ROLLUP_WATERMARKS}"
        + f" WHERE rollup = '{parent.name}'\nON CONFLICT DO NOTHING;\n"
        + "-- Maintenance fills this one from the raw rows kept; it is read for one user at a time.\n"
        + rollup_table(cache.store, cache.keys, cache.measures)
        + f"CREATE INDEX IF NOT EXISTS {cache.store}_user ON {cache.store} (user_id, bucket);\n",
    )


def _hierarchical(rollup: Rollup) -> str:
    """TimescaleDB: `rollup` as a continuous aggregate of its parent."""
    assert rollup.parent is not None, rollup.name
    select = reaggregate_select(rollup, rollup.parent, f"time_bucket(INTERVAL '{rollup.interval}', bucket)")
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {rollup.name}\n"
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        f"{select}\nWITH NO DATA;\n"
    )


def _seeded(rollup: Rollup) -> str:
    """Postgres: `rollup`'s store filled from its parent's, with the parent's watermark (so it starts
    with all of that one's history, as far as that one is computed; maintenance then keeps it as it
    keeps the others)."""
    parent = rollup.parent
    assert parent is not None, rollup.name
    bucket = utc_bucket(rollup.field, "bucket") if rollup.field != parent.field else "bucket"
    return (
        rollup_table(rollup.store, rollup.keys, rollup.measures)
        + f"INSERT INTO {rollup.store} ({', '.join(rollup.columns)})\n"
        + reaggregate_select(rollup, parent, bucket, relation=parent.store)
        + "\nON CONFLICT DO NOTHING;\n"
        + f"INSERT INTO {names.TABLE_ROLLUP_WATERMARKS} (rollup, computed_until)\n"
        + f"SELECT '{rollup.name}', computed_until FROM {names.TABLE_ROLLUP_WATERMARKS}"
        + f" WHERE rollup = '{parent.name}'\nON CONFLICT DO NOTHING;\n"
    )


def calendar_rollups(engine: str) -> Migration:
    """Migration 5: the weekly and monthly rollups, computed from the daily ones (whose history may
    reach past the raw rows, into the cold tier)."""
    derived = [r for r in ROLLUPS if r.since == 5]
    header = (
        "-- Monthly rollups of the daily totals, the per-user rollup per user alone and the detail\n"
        "-- rollup: panels over long ranges read their range's whole UTC months from them. Weekly\n"
        "-- rollups of the daily totals and the detail rollup: a point a week for very long series.\n"
    )
    if engine == "timescaledb":
        text = header + "\n".join(_hierarchical(r) for r in derived)
        # Each is new, and its parent holds the whole history: refreshing from the start loses nothing.
        # Up to the current week or month only: materializing it would move the watermark past it,
        # and real-time aggregation would not add its later rows until a refresh covered it.
        after = tuple(
            f"CALL refresh_continuous_aggregate('{r.name}', NULL, date_trunc('{r.field}', now(), 'UTC'));"
            for r in derived
        )
        return Migration(5, "calendar_rollups", text, after)
    return Migration(5, "calendar_rollups", header + "".join(_seeded(r) for r in derived))


def realtime_views() -> str:
    """The postgres flavour's rollup views, current to the last raw row (rewritten on every migrate)."""
    return advance_views_function() + f"SELECT {ADVANCE_VIEWS}();\n"


def added_columns(version: int) -> str:
    """The columns migration `version` adds: nullable and without a default, so adding one rewrites
    nothing, on a partitioned table or a compressed hypertable alike."""
    added = [c for c in COLUMNS if c.since == version]
    assert added and not any(c.not_null for c in added), version
    return "".join(f"ALTER TABLE {T} ADD COLUMN IF NOT EXISTS {c.name} {c.sql_type};\n" for c in added)


def users_rollup_order() -> Migration:
    """Migration 6, postgres flavour only: the per-user daily rollup per user alone rewritten in bucket
    and user order (its primary key's), the order maintenance writes each day in. Migration 4 filled it
    from the per-user daily rollup in hash order, so each day's rows lay scattered over the whole store:
    at 5,000 users a day's 4,500 rows were on 4,000 of its 37,500 pages, all of which top users read
    for each day before a range's first whole month; in order, on 93. (TimescaleDB stores its aggregates
    by chunk, and has no migration 6.)"""
    store = USERS_DAILY.store
    return Migration(
        6,
        "users_rollup_order",
        "-- The per-user daily rollup per user alone, in the order maintenance writes each day in.\n"
        f"CLUSTER {store} USING {store}_pkey;\n",
    )


def month_to_date(engine: str) -> Migration:
    """Migration 7: each day's month to date per user (`observatory.sql.rollups.MTD`). TimescaleDB: a
    view over the per-user daily rollup. Postgres: its store, filled from the per-user daily rollup's
    store for the complete days before that one's watermark (so it starts with the whole history,
    cold tier included), with that watermark; the view is the repeatable migration's."""
    header = (
        "-- Each day's month to date per user: top users over a range that starts or ends inside a\n"
        "-- month read one day of it per side, not every day up to the month's edge.\n"
    )
    if engine == "timescaledb":
        return Migration(MTD_SINCE, "users_month_to_date", header + mtd_view("timescaledb"))
    users = names.VIEW_USERS_DAILY
    watermark = f"(SELECT computed_until FROM {names.TABLE_ROLLUP_WATERMARKS} WHERE rollup = '{users}')"
    days = (
        f"generate_series((SELECT min(bucket) FROM {USERS_DAILY.store}),\n"
        f"    {utc_bucket('day', watermark)} - INTERVAL '1 day', INTERVAL '1 day') AS d(day)"
    )
    return Migration(
        MTD_SINCE,
        "users_month_to_date",
        header
        + rollup_table(MTD_STORE, (("user_id", ""),), MTD_MEASURES)
        + f"INSERT INTO {MTD_STORE} ({', '.join(MTD_COLUMNS)})\n"
        + mtd_select(days, f"{USERS_DAILY.store} AS u")
        + "\nORDER BY 1, 2;\n"
        + f"INSERT INTO {names.TABLE_ROLLUP_WATERMARKS} (rollup, computed_until)\n"
        + f"SELECT '{MTD}', computed_until FROM {names.TABLE_ROLLUP_WATERMARKS} WHERE rollup = '{users}'\n"
        + "ON CONFLICT DO NOTHING;\n",
    )


def migrations(spec: Spec) -> list[Migration]:
    """The migrations of the spec's storage engine, in the order they are applied."""
    schema = timescaledb_schema() if spec.storage.engine == "timescaledb" else postgres_schema()
    versioned = [
        Migration(1, "schema", schema),
        Migration(
            2,
            "error_type_raw",
            "-- error.type as the library wrote it; error_type is the vocabulary's.\n" + added_columns(2),
        ),
        Migration(3, "detail_rollups", detail_rollups(spec.storage.engine)),
        users_rollups(spec.storage.engine),
        calendar_rollups(spec.storage.engine),
    ]
    if spec.storage.engine == "timescaledb":
        return [
            *versioned,
            month_to_date("timescaledb"),
            Migration(feedback.SINCE, "feedback", feedback.migration_sql("timescaledb")),
            Migration(None, "policies", timescaledb_policies(spec) + "\n" + grants()),
        ]
    return [
        *versioned,
        users_rollup_order(),
        month_to_date("postgres"),
        Migration(feedback.SINCE, "feedback", feedback.migration_sql("postgres")),
        Migration(None, "views_and_grants", realtime_views() + grants()),
    ]
