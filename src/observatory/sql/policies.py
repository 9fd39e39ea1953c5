"""The TimescaleDB flavour's repeatable migration: compression settings and the policy jobs, from the spec.

Removing and re-adding a policy gives its job a new id and loses its history (last run, last
success, failures), so each policy is a DO block that looks its job up in
`timescaledb_information.jobs` and replaces it only when it is missing, doubled or set otherwise.
A second `migrate` with the same spec changes nothing.

Refresh windows: each continuous aggregate's policy recomputes, from the raw rows, the invalidated
buckets between `start_offset` and `end_offset` before now. TimescaleDB rounds that window inward to
whole buckets, so the bucket holding now (today's, for the daily rollups) is never materialized by
a policy and real-time aggregation answers it from raw rows: today's spend is always current.
"""

from __future__ import annotations

from datetime import timedelta

from observatory import names
from observatory.spec.types import Spec
from observatory.sql import feedback
from observatory.sql.rollups import ROLLUPS, Rollup

T = names.TABLE_REQUESTS

COMPRESS_SEGMENTBY = "application"
# The unique key's columns after time: TimescaleDB warns ("column trace_id should be used for
# segmenting or ordering") when a unique key's column is in neither list, since it then checks a
# duplicate against a compressed chunk by decompressing more of it. Within one segment the rows are
# in time order either way, so the extra columns cost nothing in compression.
COMPRESS_ORDERBY = "time DESC, trace_id, span_id"
END_OFFSET = "1 hour"  # a bucket is materialized an hour after it ends, when its stragglers are in
SCHEDULE = {"hour": "15 minutes", "day": "1 hour", "week": "1 hour", "month": "1 hour"}

# Each policy job with the relation it works on. A continuous aggregate's jobs name the view itself
# on TimescaleDB 2.28; releases that name its materialization hypertable are mapped back to the view.
_JOBS = """timescaledb_information.jobs j
        LEFT JOIN timescaledb_information.continuous_aggregates ca
            ON ca.materialization_hypertable_schema = j.hypertable_schema
            AND ca.materialization_hypertable_name = j.hypertable_name"""


def refresh_start_offset_hours(rollup: Rollup, spec: Spec) -> int:
    """How far back `rollup`'s refresh policy reaches: `storage.late_data_days` and two buckets (a
    row that late lands in a bucket the next run still covers, after rounding inward), but never
    past the last day of what it is computed from (raw rows, or its parent rollup), where a refresh
    would replace rollups of dropped chunks with nothing. The spec refuses a raw retention too short
    for the daily rollups' two-bucket minimum."""
    late = spec.storage.late_data_days * 24 + 2 * (rollup.longest // timedelta(hours=1))
    tiers = spec.retention.requests
    kept = rollup.parent.kept_days(tiers) if rollup.parent is not None else tiers.warm_days
    return min(late, (kept - 1) * 24)


def _ensure(proc: str, relation: str, wanted: dict[str, str], schedule: str | None, replace: str) -> str:
    """A DO block that runs `replace` unless exactly one `proc` job on `relation` has the `wanted`
    config intervals (and `schedule`)."""
    checks = [f"(j.config->>'{key}')::interval = INTERVAL '{value}'" for key, value in wanted.items()]
    if schedule is not None:
        checks.append(f"j.schedule_interval = INTERVAL '{schedule}'")
    same = "\n            AND ".join(checks)
    return f"""DO $$
BEGIN
    IF (SELECT count(*) <> 1 OR NOT coalesce(bool_and(
            {same}), FALSE)
        FROM {_JOBS}
        WHERE j.proc_name = '{proc}' AND coalesce(ca.view_name, j.hypertable_name) = '{relation}')
    THEN
{replace}    END IF;
END
$$;
"""


def _compression_settings() -> str:
    """Migration 1 set `time DESC` alone; this brings an existing table (and a new one) to the
    settings above. Chunks compressed before keep theirs until recompressed."""
    orderby = (
        "string_agg(attname || CASE WHEN orderby_asc THEN '' ELSE ' DESC' END, ', '"
        " ORDER BY orderby_column_index)"
    )
    return f"""-- Compression: segments per application, rows in time order then by the unique key.
DO $$
BEGIN
    IF (SELECT {orderby}
        FROM timescaledb_information.compression_settings
        WHERE hypertable_name = '{T}' AND orderby_column_index IS NOT NULL)
        IS DISTINCT FROM '{COMPRESS_ORDERBY}'
    THEN
        ALTER TABLE {T} SET (timescaledb.compress, timescaledb.compress_segmentby = '{COMPRESS_SEGMENTBY}',
            timescaledb.compress_orderby = '{COMPRESS_ORDERBY}');
    END IF;
END
$$;
"""


def _retention(relation: str, days: int) -> str:
    replace = (
        f"        PERFORM remove_retention_policy('{relation}', if_exists => TRUE);\n"
        f"        PERFORM add_retention_policy('{relation}', drop_after => INTERVAL '{days} days');\n"
    )
    return _ensure("policy_retention", relation, {"drop_after": f"{days} days"}, None, replace)


def _refresh(rollup: Rollup, spec: Spec) -> str:
    return _refresh_policy(rollup.name, refresh_start_offset_hours(rollup, spec), SCHEDULE[rollup.field])


def _refresh_policy(name: str, start_hours: int, schedule: str) -> str:
    start = f"{start_hours} hours"
    replace = (
        f"        PERFORM remove_continuous_aggregate_policy('{name}', if_exists => TRUE);\n"
        f"        PERFORM add_continuous_aggregate_policy('{name}', start_offset => INTERVAL '{start}',\n"
        f"            end_offset => INTERVAL '{END_OFFSET}', schedule_interval => INTERVAL '{schedule}');\n"
    )
    wanted = {"start_offset": start, "end_offset": END_OFFSET}
    return _ensure("policy_refresh_continuous_aggregate", name, wanted, schedule, replace)


def timescaledb_policies(spec: Spec) -> str:
    tiers = spec.retention.requests
    days = f"hot {tiers.hot_days}, warm {tiers.warm_days}, cold {tiers.cold_days}"
    compress = (
        f"        PERFORM remove_compression_policy('{T}', if_exists => TRUE);\n"
        f"        PERFORM add_compression_policy('{T}', compress_after => INTERVAL '{tiers.hot_days} days');"
        "\n"
    )
    out = [
        _compression_settings(),
        f"-- From the spec's retention.requests tiers (days): {days}; and storage.late_data_days: "
        f"{spec.storage.late_data_days}.\n"
        "-- Each job is replaced only when it differs, so its id and history survive a migrate.\n",
        _ensure("policy_compression", T, {"compress_after": f"{tiers.hot_days} days"}, None, compress),
        _retention(T, tiers.warm_days),
    ]
    for rollup in ROLLUPS:
        out += [_refresh(rollup, spec), _retention(rollup.name, rollup.kept_days(tiers))]
    if feedback.TABLES:
        # The ratings and their daily rollup, kept as long as the request rollups' daily buckets.
        out += [
            _retention(feedback.T, feedback.cold_days(spec)),
            _refresh_policy(feedback.DAILY, feedback.refresh_start_hours(spec), SCHEDULE["day"]),
            _retention(feedback.DAILY, feedback.cold_days(spec)),
        ]
    return "\n".join(out)
