"""The hourly and daily rollups of the per-request table: their keys, their measures and their SQL.

Grouping keys are never null ('' instead), so the postgres flavour can use them as a primary key and
both flavours group identically. TimescaleDB computes the rollups as continuous aggregates of
`rollup_select`; the postgres flavour stores them in tables that `observatory maintain` refills with
`refresh_insert`, the same SELECT.
"""

from __future__ import annotations

from typing import Final

from observatory import names

T = names.TABLE_REQUESTS

Keys = tuple[tuple[str, str], ...]  # (rollup column, SQL over the raw table)

# The rollup measures, as SQL over the raw table.
MEASURES: Final = (
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
KEYS: Final[Keys] = (
    ("application", "application"),
    ("environment", "environment"),
    ("team", "coalesce(team, '')"),
    ("provider", "coalesce(provider, '')"),
    ("model", "coalesce(request_model, '')"),
    ("operation", "coalesce(operation, '')"),
)
# Only the daily rollup is per user.
DAILY_KEYS: Final[Keys] = (*KEYS, ("user_id", "coalesce(user_id, '')"))
MEASURE_TYPES: Final = {
    "cost_usd": "double precision",
    "duration_ms_sum": "double precision",
    "duration_ms_max": "double precision",
    "ttft_ms_sum": "double precision",
}


def rollup_select(bucket_sql: str, keys: Keys, where: str = "") -> str:
    """The SELECT that computes a rollup: also what the postgres flavour's maintenance runs."""
    columns = [f"{bucket_sql} AS bucket"] + [f"{sql} AS {name}" for name, sql in keys]
    columns += [f"{sql} AS {name}" for name, sql in MEASURES]
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return f"SELECT {', '.join(columns)}\nFROM {T}{where}\nGROUP BY {group}"


def rollup_table(name: str, keys: Keys) -> str:
    """The postgres flavour's table for a rollup, keyed by bucket and every grouping key."""
    cols = ["    bucket timestamptz NOT NULL"] + [f"    {k} text NOT NULL" for k, _ in keys]
    cols += [f"    {m} {MEASURE_TYPES.get(m, 'bigint')}" for m, _ in MEASURES]
    pk = ", ".join(["bucket", *(k for k, _ in keys)])
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(cols) + f",\n    PRIMARY KEY ({pk})\n);\n"


def refresh_insert(table: str, field: str, keys: Keys) -> str:
    """Recompute the buckets of `table` (each one date_trunc `field` long) in [%(start)s, %(end)s)."""
    columns = ", ".join(["bucket", *(k for k, _ in keys), *(m for m, _ in MEASURES)])
    # The three-argument date_trunc buckets in UTC whatever the session's time zone.
    bucket = f"date_trunc('{field}', time, 'UTC')"
    where = "\nWHERE time >= %(start)s AND time < %(end)s"
    return f"INSERT INTO {table} ({columns})\n{rollup_select(bucket, keys, where)}"
