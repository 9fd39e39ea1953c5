"""User feedback: one row per rating, joined to the LLM request it rates (migration 8).

An application rates an answer with `observatory_sdk.feedback(score, comment, trace_id)`: an OTLP log
record named `gen_ai.evaluation.result` (the GenAI conventions' evaluation event), parented to the
rated span when the application knows it, else to its trace. The collector routes those records to
the ingester (user id hashed, comment redacted like every other text), which inserts them here and
then finds the request each one rates: the span it names, or, for a rating of a whole trace, the
trace's LLM request that ended last. The rated request's keys and measures are copied into the row
(`RATED`): a request row never changes once written, so the copy never goes stale, and it outlives
the raw rows: feedback is kept as long as the daily rollups (the cold tier), and the quality panels
read this table alone.

A rating that arrives before its request (the two travel through different pipelines) stays
unmatched until the request is written: the ingester retries the match every few seconds for
`MATCH_WINDOW` after a rating arrived.

`llm_feedback_daily` counts the users' matched ratings (`RATED`) per UTC day of the rating and per
application, environment, provider and model of the rated request: ratings, score sums, unhappy ones,
latency and cost sums, and ratings and score sums per latency and per cost bucket of the rated request
(columns, as the detail rollups count output lengths, so a day has one row per key). Panels read the
whole days of their range from it and the part-days at either end from the ratings. TimescaleDB: a
continuous aggregate with real-time rows. Postgres: `<name>_store`, which `observatory maintain`
recomputes for the days whose count of counted ratings changed (every kept day is compared on each
run), behind a view that adds the ratings from the start of the day it ran.
"""

from __future__ import annotations

from typing import Final

from observatory import names
from observatory.spec.types import Spec

T: Final = names.TABLE_FEEDBACK
DAILY: Final = names.VIEW_FEEDBACK_DAILY
STORE: Final = f"{DAILY}_store"
REQUESTS: Final = names.TABLE_REQUESTS
SINCE: Final = 8
# The relations of this module that the repeatable migration grants (and, on TimescaleDB, gives their
# policies) and maintenance keeps: the seam the upgrade tests empty to stand for a release before
# migration 8, as they do with `rollups.ROLLUPS`.
TABLES: tuple[str, ...] = (T, DAILY)

EVENT_NAME: Final = "gen_ai.evaluation.result"
# The evaluation name the SDK gives a user's rating; other evaluators' results are stored too, by name.
USER_FEEDBACK: Final = "user_feedback"
# How far before a rating its request may have started, and how long after a rating arrived the
# ingester keeps looking for a request that has not been written yet.
LOOKBACK: Final = "2 days"
MATCH_WINDOW: Final = "1 hour"
# A sender's clock may run ahead of the rated service's: a request that started this much after the
# rating is still the rated one.
SKEW: Final = "5 minutes"

# (column, type, doc) of the rating itself, as the ingester inserts it.
GIVEN: Final = (
    ("time", "timestamptz NOT NULL", "when the rating was given (the log record's time)"),
    ("trace_id", "text NOT NULL", "the rated trace, 32 hex digits"),
    ("span_id", "text NOT NULL", "the rated span, 16 hex digits; '' rates the trace's last request"),
    ("name", "text NOT NULL", f"gen_ai.evaluation.name ('{USER_FEEDBACK}' for the SDK's ratings)"),
    ("score", "double precision", "gen_ai.evaluation.score.value (thumbs: 1 up, 0 down)"),
    ("label", "text", "gen_ai.evaluation.score.label (thumbs: 'thumbs_up', 'thumbs_down')"),
    ("comment", "text", "gen_ai.evaluation.explanation, redacted by the collector"),
    ("rater_id", "text", "user.id of whoever rated, after the collector's keyed hash"),
    ("source", "text NOT NULL", "service.name of the application that sent the rating"),
    ("response_id", "text", "gen_ai.response.id, when the rating names it"),
    ("received", "timestamptz NOT NULL DEFAULT now()", "when the ingester stored it"),
)
# (column of this table, column of the request table) copied from the rated request; all NULL until
# it is found.
RATED: Final = (
    ("request_time", "time"),
    ("request_span_id", "span_id"),
    ("application", "application"),
    ("environment", "environment"),
    ("team", "team"),
    ("user_id", "user_id"),
    ("provider", "provider"),
    ("request_model", "request_model"),
    ("response_model", "response_model"),
    ("operation", "operation"),
    ("status", "status"),
    ("error_type", "error_type"),
    ("duration_ms", "duration_ms"),
    ("ttft_ms", "ttft_ms"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cost_usd", "cost_usd"),
    ("unpriced", "unpriced"),
)
_RATED_TYPES: Final = {
    "request_time": "timestamptz",
    "duration_ms": "double precision",
    "ttft_ms": "double precision",
    "input_tokens": "bigint",
    "output_tokens": "bigint",
    "cost_usd": "double precision",
    "unpriced": "boolean",
}
KEY: Final = ("time", "trace_id", "span_id", "name")
INSERTED: Final = tuple(c for c, _, _ in GIVEN if c != "received")


def _table() -> str:
    given = [f"    {c} {t}" for c, t, _ in GIVEN]
    rated = [f"    {c} {_RATED_TYPES.get(c, 'text')}" for c, _ in RATED]
    return (
        f"CREATE TABLE IF NOT EXISTS {T} (\n"
        + ",\n".join(given + rated)
        + f",\n    CONSTRAINT {T}_key PRIMARY KEY ({', '.join(KEY)})\n);\n"
    )


def migration_sql(engine: str) -> str:
    """Migration 8: the feedback table, its indexes, (TimescaleDB) its hypertable, and its daily rollup."""
    hypertable = (
        # No default index on time: the primary key starts with it.
        f"SELECT create_hypertable('{T}', by_range('time', INTERVAL '30 days'), if_not_exists => TRUE,\n"
        "    create_default_indexes => FALSE);\n"
        if engine == "timescaledb"
        else ""
    )
    return (
        "-- User feedback (observatory_sdk.feedback): one row per rating, with the keys and measures of\n"
        "-- the request it rates copied in once the ingester has found it.\n"
        + _table()
        + hypertable
        + "-- The ratings still looking for their request: the ingester's match reads only these.\n"
        + f"CREATE INDEX IF NOT EXISTS {T}_unmatched ON {T} (received) WHERE request_time IS NULL;\n"
        + "-- The counted ratings per UTC day and per application, environment, provider and model.\n"
        + _rollup(engine)
    )


def insert() -> str:
    """One rating; a retried one (same time, trace, span and name) is ignored."""
    columns = ", ".join(INSERTED)
    values = ", ".join(f"%({c})s" for c in INSERTED)
    return f"INSERT INTO {T} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"


def match() -> str:
    """Copy each unmatched rating's request into it (ratings that arrived within MATCH_WINDOW);
    returns the ratings matched. The rated request: the span named, else the trace's LLM request
    that ended last among those that started within LOOKBACK before the rating (and at most SKEW
    after it)."""
    copied = ", ".join(f"r.{source} AS {column}" for column, source in RATED)
    assigned = ", ".join(f"{column} = m.{column}" for column, _ in RATED)
    return f"""WITH matched AS (
    SELECT f.time AS f_time, f.trace_id AS f_trace, f.span_id AS f_span, f.name AS f_name, r.*
    FROM {T} AS f
    CROSS JOIN LATERAL (
        SELECT {copied}
        FROM {REQUESTS} AS r
        WHERE r.trace_id = f.trace_id AND (f.span_id = '' OR r.span_id = f.span_id)
          AND r.time >= f.time - INTERVAL '{LOOKBACK}' AND r.time <= f.time + INTERVAL '{SKEW}'
        ORDER BY r.time + r.duration_ms * INTERVAL '1 millisecond' DESC, r.span_id DESC
        LIMIT 1
    ) AS r
    WHERE f.request_time IS NULL AND f.received > now() - INTERVAL '{MATCH_WINDOW}'
)
UPDATE {T} SET {assigned}
FROM matched AS m
WHERE {T}.time = m.f_time AND {T}.trace_id = m.f_trace AND {T}.span_id = m.f_span
  AND {T}.name = m.f_name"""


# What the daily rollup counts: end users' ratings with a score, joined to their request.
COUNTED: Final = f"name = '{USER_FEEDBACK}' AND score IS NOT NULL AND request_time IS NOT NULL"
ROLLUP_KEYS: Final = (
    ("application", "coalesce(application, '')"),
    ("environment", "coalesce(environment, '')"),
    ("provider", "coalesce(provider, '')"),
    ("model", "coalesce(request_model, '')"),
)
# Buckets of the rated request's latency (ms) and cost (USD): (label, lower bound), lowest first.
LATENCY_BUCKETS: Final = (
    ("< 1 s", 0),
    ("1-2 s", 1000),
    ("2-5 s", 2000),
    ("5-10 s", 5000),
    ("10-30 s", 10000),
    (">= 30 s", 30000),
)
COST_BUCKETS: Final = (("< $0.001", 0), ("$0.001-0.01", 0.001), ("$0.01-0.1", 0.01), (">= $0.1", 0.1))
UNPRICED: Final = "unpriced"


def _in_bucket(column: str, buckets: tuple[tuple[str, float], ...], i: int) -> str:
    upper = f" AND {column} < {buckets[i + 1][1]}" if i + 1 < len(buckets) else ""
    return f"{column} >= {buckets[i][1]}{upper}"


def bucket_columns(kind: str) -> list[tuple[str, str, str]]:
    """(label, ratings column, score sum column) of each latency (`kind` latency) or cost bucket (cost;
    unpriced last), in bucket order."""
    buckets = LATENCY_BUCKETS if kind == "latency" else COST_BUCKETS
    out = [(label, f"ratings_{kind}_{i}", f"score_{kind}_{i}") for i, (label, _) in enumerate(buckets)]
    return out + ([(UNPRICED, "ratings_unpriced", "score_unpriced")] if kind == "cost" else [])


def _measures() -> tuple[tuple[str, str, str], ...]:
    """(column, type, aggregate over ratings) of the daily rollup."""
    out = [
        ("ratings", "bigint", "count(*)"),
        ("score_sum", "double precision", "sum(score)"),
        ("unhappy", "bigint", "count(*) FILTER (WHERE score < 0.5)"),
        ("duration_ms_sum", "double precision", "coalesce(sum(duration_ms), 0)"),
        ("cost_usd_sum", "double precision", "coalesce(sum(cost_usd), 0)"),
        ("priced", "bigint", "count(cost_usd)"),
    ]
    for kind, column, buckets in (
        ("latency", "duration_ms", LATENCY_BUCKETS),
        ("cost", "cost_usd", COST_BUCKETS),
    ):
        for i, (_, ratings, score) in enumerate(bucket_columns(kind)):
            condition = _in_bucket(column, buckets, i) if i < len(buckets) else "cost_usd IS NULL"
            out += [
                (ratings, "bigint", f"count(*) FILTER (WHERE {condition})"),
                (score, "double precision", f"coalesce(sum(score) FILTER (WHERE {condition}), 0)"),
            ]
    return tuple(out)


MEASURES: Final = _measures()
ROLLUP_COLUMNS: Final = ("bucket", *(k for k, _ in ROLLUP_KEYS), *(m for m, _, _ in MEASURES))


def rollup_select(bucket: str, where: str = "") -> str:
    """The SELECT that computes the daily rollup's rows from the ratings (`where`: more conditions)."""
    columns = [f"{bucket} AS bucket", *(f"{sql} AS {key}" for key, sql in ROLLUP_KEYS)]
    columns += [f"{sql} AS {name}" for name, _, sql in MEASURES]
    group = ", ".join(str(i) for i in range(1, len(ROLLUP_KEYS) + 2))
    condition = f"{COUNTED} AND {where}" if where else COUNTED
    listed = ",\n  ".join(columns)
    return f"SELECT {listed}\nFROM {T}\nWHERE {condition}\nGROUP BY {group}"


def over_range(start: str, end: str, rollup_filter: str = "true", raw_filter: str = "true") -> str:
    """The daily rollup's rows of the ratings given in [start, end) (SQL timestamptz expressions): the
    range's whole UTC days from the rollup, the part-days at either end computed from the ratings, so
    the sums are the exact range's. `rollup_filter` (on the rollup's keys) and `raw_filter` (on the
    ratings' columns) must select the same ratings. What the quality panels and the query API read."""
    first = f"date_trunc('day', {start} - INTERVAL '1 microsecond', 'UTC') + INTERVAL '1 day'"
    last = f"date_trunc('day', {end}, 'UTC')"
    whole = (
        f"SELECT {', '.join(ROLLUP_COLUMNS)}\nFROM {DAILY}\n"
        f"WHERE bucket >= {first} AND bucket < {last}\n  AND {rollup_filter}"
    )
    part_days = f"NOT (time >= {first} AND time < {last})"
    ends = rollup_select(
        "date_trunc('day', time, 'UTC')",
        f"time >= {start} AND time < {end}\n  AND {part_days}\n  AND {raw_filter}",
    )
    return f"{whole}\nUNION ALL\n{ends}"


def _utc_day(column: str) -> str:
    return f"date_trunc('day', {column}, 'UTC')"


def _rollup(engine: str) -> str:
    if engine == "timescaledb":
        select = rollup_select("time_bucket(INTERVAL '1 day', time)")
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DAILY}\n"
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
            f"{select}\nWITH NO DATA;\n"
        )
    cols = ["    bucket timestamptz NOT NULL", *(f"    {k} text NOT NULL" for k, _ in ROLLUP_KEYS)]
    cols += [f"    {name} {kind}" for name, kind, _ in MEASURES]
    key = ", ".join(["bucket", *(k for k, _ in ROLLUP_KEYS)])
    return (
        f"CREATE TABLE IF NOT EXISTS {STORE} (\n" + ",\n".join(cols) + f",\n    PRIMARY KEY ({key})\n);\n"
        "-- Maintenance rewrites the view with the day it stored up to; until then every rating is read.\n"
        + daily_view("'-infinity'")
    )


def daily_view(boundary: str) -> str:
    """Postgres: the rollup's view, the store's days before `boundary` (an SQL timestamptz literal) and
    the ratings from it on, computed when read. A literal, so the planner prunes by it (a value read
    from a table when the query runs made it scan every rating). The store holds every day before the
    boundary of any view maintenance wrote, so a view left with an older boundary is still whole."""
    return (
        f"CREATE OR REPLACE VIEW {DAILY} AS\n"
        f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM {STORE} WHERE bucket < {boundary}\n"
        "UNION ALL\n"
        f"{rollup_select(_utc_day('time'), f'time >= {boundary}')};\n"
    )


def refresh_days() -> tuple[str, str]:
    """Postgres: (the days in [%(start)s, %(end)s) whose count of counted ratings differs from the
    store's, the INSERT that recomputes the days in %(days)s)."""
    stale = (
        f"SELECT bucket FROM (SELECT {_utc_day('time')} AS bucket, count(*) AS n FROM {T}\n"
        f"    WHERE {COUNTED} AND time >= %(start)s AND time < %(end)s GROUP BY 1) AS raw\n"
        f"FULL JOIN (SELECT bucket, sum(ratings) AS n FROM {STORE}\n"
        "    WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1) AS stored USING (bucket)\n"
        "WHERE raw.n IS DISTINCT FROM stored.n ORDER BY 1"
    )
    insert = f"INSERT INTO {STORE} ({', '.join(ROLLUP_COLUMNS)})\n" + rollup_select(
        _utc_day("time"), f"{_utc_day('time')} = ANY(%(days)s)"
    )
    return stale, insert


def refresh_start_hours(spec: Spec) -> int:
    """TimescaleDB: how far back the daily rollup's refresh reaches. Ratings are matched within
    MATCH_WINDOW of arriving and come in late like requests do; a refresh must span two buckets."""
    return (spec.storage.late_data_days + 3) * 24


def cold_days(spec: Spec) -> int:
    """Ratings are kept as long as the daily rollups: the cold tier."""
    return spec.retention.requests.cold_days
