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
"""

from __future__ import annotations

from typing import Final

from observatory import names
from observatory.spec.types import Spec

T: Final = names.TABLE_FEEDBACK
REQUESTS: Final = names.TABLE_REQUESTS
SINCE: Final = 8
# The tables of this module that the repeatable migration grants (and, on TimescaleDB, gives a
# retention policy) and maintenance expires: the seam the upgrade tests empty to stand for a release
# before migration 8, as they do with `rollups.ROLLUPS`.
TABLES: tuple[str, ...] = (T,)

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
    """Migration 8: the feedback table, its indexes and (TimescaleDB) its hypertable."""
    hypertable = (
        f"SELECT create_hypertable('{T}', by_range('time', INTERVAL '30 days'), if_not_exists => TRUE);\n"
        if engine == "timescaledb"
        else ""
    )
    return (
        "-- User feedback (observatory_sdk.feedback): one row per rating, with the keys and measures of\n"
        "-- the request it rates copied in once the ingester has found it.\n"
        + _table()
        + hypertable
        + f"CREATE INDEX IF NOT EXISTS {T}_application_time ON {T} (application, time DESC);\n"
        + "-- The ratings still looking for their request: the ingester's match reads only these.\n"
        + f"CREATE INDEX IF NOT EXISTS {T}_unmatched ON {T} (received) WHERE request_time IS NULL;\n"
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


def cold_days(spec: Spec) -> int:
    """Ratings are kept as long as the daily rollups: the cold tier."""
    return spec.retention.requests.cold_days
