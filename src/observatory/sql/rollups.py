"""The rollups of the per-request table: their keys, their measures and their SQL.

Seven rollups. `llm_requests_hourly` (traffic, tokens, cost, latency by application, environment,
team, provider, model and operation) and `llm_requests_daily` (the same per user, kept for the cold
tier) are the first release's. `llm_requests_daily_totals` is the hourly rollup per day: the spend
panels over long ranges read it (the per-user daily rollup grows with the number of users; at 5,000
users it held 8.3 of 10 million rows). `llm_requests_detail_hourly`/`_daily` have the hourly keys
plus the response model, every measure of the others, and counts of finish reasons, error types and
output-length buckets: the quality panels read them. Migration 4 adds `llm_requests_daily_users`, the
per-user daily rollup per user alone, for the user panels and the user list, and
`llm_requests_daily_cache_reads`, priced cache reads per user and response model, for cache savings.
Migration 5 adds the monthly rollups of the daily totals, the per-user rollup per user alone and the
detail rollup (`llm_requests_monthly_totals`, `llm_requests_monthly_users`,
`llm_requests_detail_monthly`): panels over long ranges read the whole UTC months of their range
from them, and only the part-months at either end from the daily rollups; and weekly rollups of the
daily totals and the detail rollup (`llm_requests_weekly_totals`, `llm_requests_detail_weekly`),
weeks from Monday, UTC: time series over very long ranges have a point a week.

Grouping keys are never null ('' instead), so the postgres flavour can use them as a primary key and
both flavours group identically. TimescaleDB computes each rollup as a continuous aggregate of
`rollup_select` (or, for those with a `parent`, of `reaggregate_select` over that rollup) with
real-time rows on top; the postgres flavour stores it in a `<name>_store` table that `observatory
maintain` refills with `refresh_insert` (the same SELECT; for the weekly and monthly rollups,
`derive_insert` from their parent's store, which holds the cold tier), behind a view of the rollup's
name that adds the raw rows written after the last maintenance (`realtime_view`), so both flavours
answer with current figures under the same names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from observatory import names
from observatory.spec.types import RetentionTiers

T = names.TABLE_REQUESTS

Keys = tuple[tuple[str, str], ...]  # (rollup column, SQL over the raw table)
Measures = tuple[tuple[str, str], ...]  # (rollup column, aggregate over the raw table)

# The rollup measures, as SQL over the raw table.
MEASURES: Final[Measures] = (
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
# Only the daily rollups are per user.
USER_KEY: Final = ("user_id", "coalesce(user_id, '')")
DAILY_KEYS: Final[Keys] = (*KEYS, USER_KEY)
MEASURE_TYPES: Final = {
    "cost_usd": "double precision",
    "duration_ms_sum": "double precision",
    "duration_ms_max": "double precision",
    "ttft_ms_sum": "double precision",
}

# Output-length buckets of the detail rollups: two per power of two, each the whole numbers from its
# lower bound up to the next one's (the first also holds 0, the last everything from about 2**20 up).
# Percentiles estimated from them are within a factor of sqrt(2) of the true value, and far closer
# with interpolation inside the bucket; the distribution panel merges them in pairs.
OUTPUT_BOUNDS: Final = tuple(sorted({math.ceil(2 ** (k / 2)) for k in range(41)}))


def output_bucket_column(lower: int) -> str:
    return f"output_ge_{lower}"


def _output_buckets() -> Measures:
    out = []
    for i, lower in enumerate(OUTPUT_BOUNDS):
        conditions = [] if i == 0 else [f"output_tokens >= {lower}"]
        if i + 1 < len(OUTPUT_BOUNDS):
            conditions.append(f"output_tokens < {OUTPUT_BOUNDS[i + 1]}")
        out.append((output_bucket_column(lower), f"count(*) FILTER (WHERE {' AND '.join(conditions)})"))
    return tuple(out)


# error.type's closed vocabulary (dialects.yaml `error_types`, then `error_type_other`), as the detail
# rollups count it: one column each. Fixed here because migration 3 is: a type added to the vocabulary
# is counted as other until a new migration adds its column (tests/unit/test_rollups.py compares them).
ERROR_TYPES: Final = (
    "timeout",
    "rate_limit",
    "context_length",
    "content_filter",
    "auth",
    "cancelled",
    "connection",
    "not_found",
    "bad_request",
    "server_error",
)
ERROR_OTHER: Final = "other"


def _error_counts() -> Measures:
    known = ", ".join(f"'{t}'" for t in ERROR_TYPES)
    typed = tuple((f"errors_{t}", f"count(*) FILTER (WHERE error_type = '{t}')") for t in ERROR_TYPES)
    # A failure without a type, or with one outside the vocabulary, is `other` too.
    failed = "(status = 'error' OR error_type IS NOT NULL)"
    other = f"count(*) FILTER (WHERE {failed} AND coalesce(error_type, '') NOT IN ({known}))"
    return (*typed, (f"errors_{ERROR_OTHER}", other))


# Finish reasons and error types are counted in columns, not grouped by: as keys they multiplied the
# rows (and a 365-day panel's time) by the number of combinations present.
RESPONSE_MODEL_KEY: Final = ("response_model", "coalesce(response_model, '')")
DETAIL_KEYS: Final[Keys] = (*KEYS, RESPONSE_MODEL_KEY)
DETAIL_MEASURES: Final[Measures] = (
    *MEASURES,
    # Cache reads of priced requests: the cache savings panel prices them by response model, and an
    # empty response model (priced as itself, so unpriced) is '' here like a missing one.
    ("cache_read_tokens_priced", "coalesce(sum(cache_read_tokens) FILTER (WHERE NOT unpriced), 0)"),
    ("finished", "count(finish_reason)"),  # responses with a finish reason
    ("truncated", "count(*) FILTER (WHERE finish_reason = 'length')"),  # stopped at the token limit
    *_error_counts(),
    ("output_counted", "count(output_tokens)"),  # requests whose output length is known
    *_output_buckets(),
)


@dataclass(frozen=True, slots=True)
class Rollup:
    name: str  # what readers query: a continuous aggregate, or (postgres) a view over `store`
    field: str  # the date_trunc field of one bucket: 'hour' or 'day', in UTC
    keys: Keys
    measures: Measures
    since: int  # the migration that creates it
    where: str = ""  # the raw rows it holds, when not every one (its `requests` counts those)
    # The finer rollup it is computed from on TimescaleDB (a hierarchical continuous aggregate), whose
    # history reaches back as far as that rollup's (the cold tier), not only the raw rows'. The
    # postgres flavour computes the weekly and monthly ones (`derived`) from that rollup's store too.
    parent: Rollup | None = None

    @property
    def store(self) -> str:
        """The postgres flavour's table holding the computed buckets."""
        return f"{self.name}_store"

    @property
    def columns(self) -> tuple[str, ...]:
        """The store's (and the view's) columns, in order: bucket, keys, measures."""
        return ("bucket", *(k for k, _ in self.keys), *(m for m, _ in self.measures))

    def only(self, condition: str) -> str:
        """`condition` on raw rows, and this rollup's `where`."""
        return f"{condition} AND ({self.where})" if self.where else condition

    @property
    def interval(self) -> str:
        return f"1 {self.field}"

    @property
    def unit(self) -> timedelta:
        """The length of a bucket; only hours and days have one."""
        return UNITS[self.field]

    @property
    def longest(self) -> timedelta:
        """The length of the longest bucket (a month has up to 31 days)."""
        return LONGEST[self.field]

    @property
    def derived(self) -> bool:
        """Whether the postgres flavour computes it from its parent's store rather than raw rows."""
        return self.field in CALENDAR

    def kept_days(self, tiers: RetentionTiers) -> int:
        """How long its buckets are kept: hourly ones as long as raw rows (the warm tier), daily ones
        for the cold tier."""
        return tiers.warm_days if self.field == "hour" else tiers.cold_days


UNITS: Final = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Buckets made of whole days, computed from the daily rollups: weeks (from Monday) and months, UTC.
CALENDAR: Final = ("week", "month")
LONGEST: Final = {**UNITS, "week": timedelta(days=7), "month": timedelta(days=31)}


HOURLY: Final = Rollup(names.VIEW_REQUESTS_HOURLY, "hour", KEYS, MEASURES, 1)
DAILY: Final = Rollup(names.VIEW_REQUESTS_DAILY, "day", DAILY_KEYS, MEASURES, 1)
DETAIL_HOURLY: Final = Rollup(names.VIEW_DETAIL_HOURLY, "hour", DETAIL_KEYS, DETAIL_MEASURES, 3)
DETAIL_DAILY: Final = Rollup(names.VIEW_DETAIL_DAILY, "day", DETAIL_KEYS, DETAIL_MEASURES, 3)
# The hourly rollup's keys and measures per day: narrow rows, for the spend panels over long ranges.
TOTALS_DAILY: Final = Rollup(names.VIEW_TOTALS_DAILY, "day", KEYS, MEASURES, 3)
# The per-user daily rollup per user alone: what the user panels and the user list read when no other
# variable holds a selection (at 5,000 users, 2 of the per-user daily rollup's 8.3 million rows).
USERS_DAILY: Final = Rollup(names.VIEW_USERS_DAILY, "day", (USER_KEY,), MEASURES, 4, parent=DAILY)
# A selected user's priced cache reads by response model, for the cache savings panel: the per-user
# daily rollup has no response model (the price lookup needs it), and without this rollup the panel read
# that user's raw rows over the whole range. Only requests with priced cache reads (about a third).
CACHE_READS_DAILY: Final = Rollup(
    names.VIEW_CACHE_READS_DAILY,
    "day",
    (*DAILY_KEYS, RESPONSE_MODEL_KEY),
    (("requests", "count(*)"), ("cache_read_tokens_priced", "coalesce(sum(cache_read_tokens), 0)")),
    4,
    where="cache_read_tokens > 0 AND NOT unpriced",
)
# The whole UTC months of a long range: at 5,000 users a year of the per-user rollup per user alone is
# 1.8 million rows, 60,000 per month here; a year of daily totals 114,000 rows, 3,800 here.
TOTALS_MONTHLY: Final = Rollup(names.VIEW_TOTALS_MONTHLY, "month", KEYS, MEASURES, 5, parent=TOTALS_DAILY)
USERS_MONTHLY: Final = Rollup(names.VIEW_USERS_MONTHLY, "month", (USER_KEY,), MEASURES, 5, parent=USERS_DAILY)
DETAIL_MONTHLY: Final = Rollup(
    names.VIEW_DETAIL_MONTHLY, "month", DETAIL_KEYS, DETAIL_MEASURES, 5, parent=DETAIL_DAILY
)
# Time series over very long ranges: a point a week (a year of daily totals is 114,000 rows for
# 38,000 points; of weekly ones, 16,000 for 5,500).
TOTALS_WEEKLY: Final = Rollup(names.VIEW_TOTALS_WEEKLY, "week", KEYS, MEASURES, 5, parent=TOTALS_DAILY)
DETAIL_WEEKLY: Final = Rollup(
    names.VIEW_DETAIL_WEEKLY, "week", DETAIL_KEYS, DETAIL_MEASURES, 5, parent=DETAIL_DAILY
)
# In the order maintenance refreshes them: a rollup after its parent.
ROLLUPS: Final = (
    HOURLY,
    DAILY,
    DETAIL_HOURLY,
    DETAIL_DAILY,
    TOTALS_DAILY,
    USERS_DAILY,
    CACHE_READS_DAILY,
    TOTALS_MONTHLY,
    USERS_MONTHLY,
    DETAIL_MONTHLY,
    TOTALS_WEEKLY,
    DETAIL_WEEKLY,
)
PARENT: Final = {r.name: r.parent for r in ROLLUPS if r.parent is not None}
# The monthly and the weekly rollup of each daily one that has one.
MONTHLY: Final = {r.parent.name: r for r in ROLLUPS if r.parent is not None and r.field == "month"}
WEEKLY: Final = {r.parent.name: r for r in ROLLUPS if r.parent is not None and r.field == "week"}


def _type(measure: str) -> str:
    return MEASURE_TYPES.get(measure, "bigint")


def rollup_select(bucket_sql: str, keys: Keys, where: str = "", measures: Measures = MEASURES) -> str:
    """The SELECT that computes a rollup: also what the postgres flavour's maintenance runs."""
    columns = [f"{bucket_sql} AS bucket"] + [f"{sql} AS {name}" for name, sql in keys]
    columns += [f"{sql} AS {name}" for name, sql in measures]
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return f"SELECT {', '.join(columns)}\nFROM {T}{where}\nGROUP BY {group}"


def rollup_table(name: str, keys: Keys, measures: Measures = MEASURES) -> str:
    """The postgres flavour's table for a rollup, keyed by bucket and every grouping key."""
    cols = ["    bucket timestamptz NOT NULL"] + [f"    {k} text NOT NULL" for k, _ in keys]
    cols += [f"    {m} {_type(m)}" for m, _ in measures]
    pk = ", ".join(["bucket", *(k for k, _ in keys)])
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(cols) + f",\n    PRIMARY KEY ({pk})\n);\n"


def utc_bucket(field: str, column: str = "time") -> str:
    # The three-argument date_trunc buckets in UTC whatever the session's time zone.
    return f"date_trunc('{field}', {column}, 'UTC')"


def refresh_insert(rollup: Rollup, listed: bool = False) -> str:
    """Recompute the buckets of `rollup`'s store in [%(start)s, %(end)s); with `listed`, only those
    in the array %(buckets)s."""
    columns = ", ".join(rollup.columns)
    where = "time >= %(start)s AND time < %(end)s"
    if listed:
        where += f" AND {utc_bucket(rollup.field)} = ANY(%(buckets)s)"
    where = "\nWHERE " + rollup.only(where)
    select = rollup_select(utc_bucket(rollup.field), rollup.keys, where, rollup.measures)
    return f"INSERT INTO {rollup.store} ({columns})\n{select}{_by_user(rollup)}"


def _by_user(rollup: Rollup) -> str:
    """The ORDER BY of a per-user store's insert: each bucket's rows stored by user, so a selected
    user's year is about one page per day, not scattered over every page of the year (25,000 pages for
    the heaviest of 5,000 users)."""
    return f"\nORDER BY 1, {rollup.keys.index(USER_KEY) + 2}" if USER_KEY in rollup.keys else ""


def derive_insert(rollup: Rollup) -> str:
    """Recompute the buckets of a `derived` rollup's store in [%(start)s, %(end)s) (whole buckets),
    from its parent's store."""
    assert rollup.derived and rollup.parent is not None, rollup.name
    where = "bucket >= %(start)s AND bucket < %(end)s"
    select = reaggregate_select(
        rollup, rollup.parent, utc_bucket(rollup.field, "bucket"), where, rollup.parent.store
    )
    return f"INSERT INTO {rollup.store} ({', '.join(rollup.columns)})\n{select}{_by_user(rollup)}"


def stale_buckets(rollup: Rollup) -> str:
    """The buckets in [%(start)s, %(end)s) whose count of raw rows differs from what `rollup`'s store
    counted. Rows are only inserted (a retried one is ignored by the unique key) or dropped with their
    day's partition, so a bucket whose count still matches holds exactly the rows it was made from."""
    return (
        f"SELECT bucket FROM (SELECT {utc_bucket(rollup.field)} AS bucket, count(*) AS n FROM {T}\n"
        f"    WHERE {rollup.only('time >= %(start)s AND time < %(end)s')} GROUP BY 1) AS raw\n"
        f"FULL JOIN (SELECT bucket, sum(requests) AS n FROM {rollup.store}\n"
        "    WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1) AS stored USING (bucket)\n"
        "WHERE raw.n IS DISTINCT FROM stored.n ORDER BY 1"
    )


ADVANCE_VIEWS: Final = "observatory_advance_rollup_views"


def _reaggregate(measure: str, sql: str) -> str:
    """`measure` (computed by `sql` from raw rows) over finer buckets."""
    if sql.startswith("max("):
        return f"max({measure})"
    assert sql.startswith(("count(", "sum(", "coalesce(sum(")), f"{measure} cannot be re-aggregated: {sql}"
    return f"sum({measure})::{_type(measure)}"


def reaggregate_select(
    rollup: Rollup, source: Rollup, bucket_sql: str, where: str = "", relation: str = ""
) -> str:
    """The SELECT that computes `rollup` from the rows of `source`, a finer rollup whose keys include
    its keys and whose measures are its measures (read from `relation`, by default its name)."""
    assert {k for k, _ in rollup.keys} <= {k for k, _ in source.keys}, (rollup.name, source.name)
    assert rollup.measures == source.measures, (rollup.name, source.name)
    keys = ", ".join(k for k, _ in rollup.keys)
    measures = ", ".join(f"{_reaggregate(m, sql)} AS {m}" for m, sql in rollup.measures)
    group = ", ".join(str(i) for i in range(1, len(rollup.keys) + 2))
    condition = f"\nWHERE {where}" if where else ""
    return (
        f"SELECT {bucket_sql} AS bucket, {keys}, {measures}\n"
        f"FROM {relation or source.name}{condition}\nGROUP BY {group}"
    )


def realtime_view(rollup: Rollup) -> str:
    """The postgres flavour's view `rollup.name`, current to the last raw row, as TimescaleDB's
    real-time aggregation is: the store's buckets, and in the buckets from the one holding the
    rollup's watermark on, the raw rows after the watermark added to what the store counted.

    Maintenance computes the bucket holding its run's time from the raw rows before it, and sets the
    watermark to it in the same transaction, so the raw rows after the watermark are exactly those
    the store has not counted: the view adds a few minutes of raw rows, not a day's.

    The watermark is written into the view as a literal, `format`'s `%1$L` (and its bucket, `%2$L`;
    see `advance_views_function`): with a literal the planner prunes the raw table's day partitions
    when it plans, so a panel plans one or two of them rather than every day of the warm tier (60 ms
    of planning at 300 days). The watermark read when the query runs is what decides which raw rows
    count; the literal, never later than it, only bounds where to look, so a view rewritten late
    is only slower, never wrong."""
    columns = ", ".join(rollup.columns)
    # The raw side's measures cast to the store's types (sum(bigint) is numeric).
    typed = tuple((name, f"({sql})::{_type(name)}") for name, sql in rollup.measures)
    watermark = (
        f"(SELECT coalesce(max(computed_until), '-infinity') FROM {names.TABLE_ROLLUP_WATERMARKS}"
        f" WHERE rollup = '{rollup.name}')"
    )
    raw = rollup_select(
        utc_bucket(rollup.field),
        rollup.keys,
        "\nWHERE " + rollup.only(f"time >= %1$L AND time >= {watermark}"),
        typed,
    )
    recent = f"(\nSELECT {columns}\nFROM {rollup.store}\nWHERE bucket >= %2$L\nUNION ALL\n{raw}\n) AS recent"
    return (
        f"CREATE OR REPLACE VIEW {rollup.name} AS\n"
        f"SELECT {columns}\nFROM {rollup.store}\nWHERE bucket < %2$L\n"
        f"UNION ALL\n{reaggregate_select(rollup, rollup, 'bucket', relation=recent)}"
    )


def advance_views_function() -> str:
    """The postgres flavour's function that (re)writes every rollup view with its watermark (-infinity
    before maintenance first runs: all from raw rows). Migrations call it; maintenance calls it after
    each refresh."""
    body = []
    for rollup in ROLLUPS:
        body.append(
            f"    until := coalesce((SELECT computed_until FROM {names.TABLE_ROLLUP_WATERMARKS}\n"
            f"                       WHERE rollup = '{rollup.name}'), '-infinity');\n"
            f"    EXECUTE format($view$\n{realtime_view(rollup)}\n$view$, until,"
            f" {utc_bucket(rollup.field, 'until')});\n"
        )
    # The month-to-date view (once migration 7 made its store): the store's days before its watermark's.
    for _ in (r for r in CUMULATIVE if r is USERS_MTD):
        body.append(
            f"    until := coalesce((SELECT computed_until FROM {names.TABLE_ROLLUP_WATERMARKS}\n"
            f"                       WHERE rollup = '{MTD}'), '-infinity');\n"
            f"    EXECUTE format($view$\n{mtd_view('postgres')}\n$view$,"
            f" until, {utc_bucket('day', 'until')});\n"
        )
    return (
        f"CREATE OR REPLACE FUNCTION {ADVANCE_VIEWS}() RETURNS void\n"
        "LANGUAGE plpgsql AS $function$\n"
        "DECLARE\n    until timestamptz;\nBEGIN\n" + "".join(body) + "END\n$function$;\n"
    )


# --- Month to date per user. Top users over a range that starts or ends inside a month read each of
# those days from the per-user daily rollup: at 5,000 users a day is 5,000 rows, so a range from the
# 2nd of a month read 28 days (140,000 rows) before its first whole month. `llm_requests_mtd_users`
# holds, for each UTC day and each user with requests in its month up to that day, the sums from the
# month's first day through that day. A range's days are then the whole months from the one holding
# its first day to the one before its last day's (monthly rollup), plus the month to date of its last
# day, minus the month to date of the day before its first (when that is in the same month): one
# bucket per side, whatever the days. Only sums can be subtracted: no maximum.
#
# It is not a GROUP BY of rows in its bucket (a day's figure counts the days before it), so no
# continuous aggregate can hold it. TimescaleDB: a view computing it from the per-user daily rollup
# (correct and current; it reads the month's days up to the day asked for, no faster than before).
# Postgres: a store that maintenance keeps for the complete days before the per-user daily rollup's
# watermark, behind a view that computes the days from the watermark's on as TimescaleDB's does.
MTD: Final = names.VIEW_USERS_MTD
MTD_STORE: Final = f"{MTD}_store"
MTD_SINCE: Final = 7
MTD_MEASURES: Final[Measures] = tuple((m, sql) for m, sql in MEASURES if not sql.startswith("max("))
MTD_COLUMNS: Final = ("bucket", "user_id", *(m for m, _ in MTD_MEASURES))
# The first day the TimescaleDB view (and the postgres view before maintenance first runs) can answer
# for: a bound for the series of days it filters.
MTD_ORIGIN: Final = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


# Described as a rollup for the panels' SQL (`observatory.render.dashboards.sources`), which reads it
# like one; not in ROLLUPS, since nothing refreshes or expires it as one.
USERS_MTD: Final = Rollup(MTD, "day", (USER_KEY,), MTD_MEASURES, MTD_SINCE, parent=USERS_DAILY)
# The relations besides ROLLUPS that readers are granted and the postgres flavour keeps a view of.
CUMULATIVE: tuple[Rollup, ...] = (USERS_MTD,)


def mtd_select(days: str, source: str) -> str:
    """Month to date per user for each day of `days` (a FROM item `d(day)` of UTC day starts), from
    `source` (a FROM item `u` with the month-to-date columns): each day's sums of the rows of `u` from
    its month's first day through that day."""
    measures = ", ".join(f"sum(u.{m})::{_type(m)} AS {m}" for m, _ in MTD_MEASURES)
    return (
        f"SELECT d.day AS bucket, u.user_id, {measures}\n"
        f"FROM {days}\n"
        f"JOIN {source} ON u.bucket >= {utc_bucket('month', 'd.day')} AND u.bucket <= d.day\n"
        "GROUP BY 1, 2"
    )


def _continued(base: str, daily: str, start: str, end: str = "") -> str:
    """A FROM item `u`: the month to date of the day before `start` from the store (`base`, a value),
    then the per-user daily rows of `daily` from `start` (to `end`). Days are added to a stored day,
    never recomputed from the month's first day: that one's daily rows may be gone (cold tier), while
    the stored day still counts them, as the monthly rollup does."""
    columns = ", ".join(MTD_COLUMNS)
    upper = f" AND bucket < {end}" if end else ""
    return (
        f"(\n    SELECT {columns} FROM {MTD_STORE} WHERE bucket = {base}\n    UNION ALL\n"
        f"    SELECT {columns} FROM {daily} WHERE bucket >= {start}{upper}\n) AS u"
    )


def mtd_refresh_insert() -> str:
    """Recompute the postgres store's days in the array %(days)s, all in [%(start)s, %(end)s), from
    the stored day before %(start)s and the per-user daily rollup's store, each day's rows by user (a
    top-users query reads one day whole)."""
    source = _continued(
        "%(start)s::timestamptz - INTERVAL '1 day'", USERS_DAILY.store, "%(start)s", "%(end)s"
    )
    select = mtd_select("unnest(%(days)s::timestamptz[]) AS d(day)", source)
    return f"INSERT INTO {MTD_STORE} ({', '.join(MTD_COLUMNS)})\n{select}\nORDER BY 1, 2"


def mtd_stale_days() -> str:
    """The days in [%(start)s, %(end)s) whose requests in the postgres store differ from what
    `mtd_refresh_insert` would count: the days to recompute (a changed day changes every later day of
    its month, so each of those is found too)."""
    source = _continued(
        "%(start)s::timestamptz - INTERVAL '1 day'", USERS_DAILY.store, "%(start)s", "%(end)s"
    )
    days = (
        "generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '1 day', INTERVAL '1 day')"
    )
    month = utc_bucket("month", "d.day")
    return (
        f"SELECT d.day FROM {days} AS d(day)\n"
        f"LEFT JOIN (SELECT d.day, sum(u.requests) AS n FROM {days} AS d(day)\n"
        f"    JOIN {source} ON u.bucket >= {month} AND u.bucket <= d.day\n"
        "    GROUP BY 1) AS counted USING (day)\n"
        f"LEFT JOIN (SELECT bucket AS day, sum(requests) AS n FROM {MTD_STORE}\n"
        "    WHERE bucket >= %(start)s AND bucket < %(end)s GROUP BY 1) AS stored USING (day)\n"
        "WHERE counted.n IS DISTINCT FROM stored.n ORDER BY 1"
    )


def mtd_view(engine: str) -> str:
    """TimescaleDB: the view, every day computed from the per-user daily rollup. Postgres: the body
    that `advance_views_function` formats with the watermark's day (`%2$L`): the store's days before
    it, and the days from it to today, the stored day before it plus the per-user daily rollup's view
    from it on (current to the last raw row)."""
    today = utc_bucket("day", "now()")
    if engine == "timescaledb":
        days = f"generate_series({MTD_ORIGIN}, {today}, INTERVAL '1 day') AS d(day)"
        return f"CREATE OR REPLACE VIEW {MTD} AS\n{mtd_select(days, f'{USERS_DAILY.name} AS u')};\n"
    lower = f"greatest(%2$L::timestamptz, {MTD_ORIGIN})"
    days = f"generate_series({lower}, {today}, INTERVAL '1 day') AS d(day)"
    source = _continued(f"{lower} - INTERVAL '1 day'", USERS_DAILY.name, lower)
    return (
        f"CREATE OR REPLACE VIEW {MTD} AS\n"
        f"SELECT {', '.join(MTD_COLUMNS)}\nFROM {MTD_STORE}\nWHERE bucket < %2$L\n"
        f"UNION ALL\n{mtd_select(days, source)}"
    )
