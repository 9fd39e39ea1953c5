"""Answers from the per-request store: spend, errors, requests, budgets. The GraphQL resolvers and
`observatory report` both call these; they take a connection and plain values and return plain data.

A range [start, end) is answered exactly, whatever its bounds: its whole UTC months come from the
monthly rollups, its other whole days from the daily ones, its other whole hours from the hourly ones
and the minutes left at either end from raw rows (`pieces`). Both flavours name their rollups alike
and keep their last buckets current, so the same SQL answers on either. Per user there are only daily
and monthly rollups: grouped or filtered by user, a range's part-days are read from raw rows (at most
two days', which the time index bounds).
"""

from __future__ import annotations

import base64
import binascii
import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql

from observatory import names
from observatory.sql import feedback, rollups
from observatory.sql.rollups import Rollup

T = names.TABLE_REQUESTS


class QueryError(ValueError):
    """An argument the store cannot answer: the message names the argument and what is allowed."""


class Unavailable(Exception):
    """A backend the API reads besides the store (Prometheus, Tempo) did not answer, or not as it
    should: the client is told which backend, the log the details."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend}: {detail}")
        self.backend = backend


# Dimensions a query may group or filter by: the rollup column, and the raw column's expression.
DIMENSIONS: Final = {
    "application": ("application", "application"),
    "environment": ("environment", "environment"),
    "team": ("team", "coalesce(team, '')"),
    "provider": ("provider", "coalesce(provider, '')"),
    "model": ("model", "coalesce(request_model, '')"),
    "operation": ("operation", "coalesce(operation, '')"),
    "user": ("user_id", "coalesce(user_id, '')"),
}
SPEND_MEASURES: Final = (
    "requests",
    "errors",
    "unpriced_requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
)
ERROR_TYPES: Final = (*rollups.ERROR_TYPES, rollups.ERROR_OTHER)
GRANULARITIES: Final = ("hour", "day", "month")
# Limits on what one query may ask for: a series point count, and the width of a raw-rows read.
MAX_POINTS: Final = 2000
MAX_REQUESTS_RANGE: Final = timedelta(days=31)
# Raw rows an aggregate may read: the part-hours at either end, or per user the part-days (and, at an
# hour granularity, every hour: per user there is no hourly rollup).
MAX_RAW_SPAN: Final = timedelta(days=7)
MAX_PAGE: Final = 500


@dataclass(frozen=True)
class Filter:
    """Rows whose dimension holds one of the values; an empty filter selects every row."""

    values: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @staticmethod
    def of(**given: Sequence[str] | None) -> Filter:
        return Filter(tuple((d, tuple(v)) for d, v in sorted(given.items()) if v is not None))

    def dimensions(self) -> set[str]:
        return {d for d, _ in self.values}


NO_FILTER: Final = Filter()


@dataclass(frozen=True)
class Group:
    keys: dict[str, str]  # dimension -> value
    bucket: datetime | None  # the series point, or None for the range's total
    measures: dict[str, float]


def check_range(start: datetime, end: datetime) -> None:
    for name, t in (("from", start), ("to", end)):
        if t.tzinfo is None:
            raise QueryError(
                f"{name} must carry a time zone (e.g. 2026-01-31T00:00:00Z), got {t.isoformat()}"
            )
    if start >= end:
        raise QueryError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")


def _floor(t: datetime, field: str) -> datetime:
    t = t.astimezone(UTC)
    if field == "month":
        return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if field == "day":
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def _next(t: datetime, field: str) -> datetime:
    """The start of the bucket after the one starting at `t`."""
    if field == "month":
        return (t.replace(day=28) + timedelta(days=4)).replace(day=1)
    return t + (timedelta(days=1) if field == "day" else timedelta(hours=1))


def _ceil(t: datetime, field: str) -> datetime:
    floor = _floor(t, field)
    return floor if floor == t else _next(floor, field)


def pieces(
    start: datetime, end: datetime, fields: Sequence[str]
) -> list[tuple[str | None, datetime, datetime]]:
    """[start, end) as disjoint pieces, each the whole buckets of one of `fields` (coarsest first) or,
    for the field None, what no whole bucket covers: raw rows."""
    if start >= end:
        return []
    if not fields:
        return [(None, start, end)]
    field, finer = fields[0], fields[1:]
    a, b = _ceil(start, field), _floor(end, field)
    if a >= b:
        return pieces(start, end, finer)
    return [*pieces(start, a, finer), (field, a, b), *pieces(b, end, finer)]


def _tiers(dimensions: set[str], detail: bool) -> dict[str, Rollup]:
    """The rollup that answers each bucket size, for queries over these dimensions."""
    if detail:
        if "user" in dimensions:
            raise QueryError("errors cannot be grouped or filtered by user (no per-user detail rollup)")
        return {"month": rollups.DETAIL_MONTHLY, "day": rollups.DETAIL_DAILY, "hour": rollups.DETAIL_HOURLY}
    if dimensions == {"user"}:
        return {"month": rollups.USERS_MONTHLY, "day": rollups.USERS_DAILY}
    if "user" in dimensions:
        return {"day": rollups.DAILY}
    return {"month": rollups.TOTALS_MONTHLY, "day": rollups.TOTALS_DAILY, "hour": rollups.HOURLY}


def _where(flt: Filter, raw: bool) -> tuple[list[sql.Composable], list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for dim, values in flt.values:
        column = DIMENSIONS[dim][1 if raw else 0]
        parts.append(sql.SQL("{} = ANY(%s)").format(sql.SQL(column)))
        params.append(list(values))
    return parts, params


def _piece_sql(
    field: str | None,
    start: datetime,
    end: datetime,
    tiers: dict[str, Rollup],
    group: Sequence[str],
    measures: Sequence[tuple[str, str]],
    granularity: str | None,
    flt: Filter,
) -> tuple[sql.Composable, list[Any]]:
    """One piece's rows: the group keys, the series point and the measures, summed over the piece."""
    raw = field is None
    bucket = (
        sql.SQL(rollups.utc_bucket(granularity, "time" if raw else "bucket"))
        if granularity
        else sql.SQL("NULL")
    )
    keys = [sql.SQL(DIMENSIONS[g][1 if raw else 0]) for g in group]
    values: list[sql.Composable]
    if raw:
        values = [sql.SQL(expr) for _, expr in measures]
        source, column = sql.Identifier(T), sql.Identifier("time")
    else:
        values = [sql.SQL("sum({})").format(sql.Identifier(m)) for m, _ in measures]
        assert field is not None
        source, column = sql.Identifier(tiers[field].name), sql.Identifier("bucket")
    conditions, params = _where(flt, raw)
    where = sql.SQL(" AND ").join([sql.SQL("{c} >= %s AND {c} < %s").format(c=column), *conditions])
    select = sql.SQL("SELECT {bucket} AS bucket, {columns} FROM {source} WHERE {where} GROUP BY {by}").format(
        bucket=bucket,
        columns=sql.SQL(", ").join(
            [
                *(
                    sql.SQL("{} AS {}").format(k, sql.Identifier(f"k_{g}"))
                    for k, g in zip(keys, group, strict=True)
                ),
                *(
                    sql.SQL("{} AS {}").format(v, sql.Identifier(m))
                    for v, (m, _) in zip(values, measures, strict=True)
                ),
            ]
        ),
        source=source,
        where=where,
        by=sql.SQL(", ").join([sql.SQL(str(i + 1)) for i in range(len(group) + 1)]),
    )
    return select, [start, end, *params]


def aggregate(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    group: Sequence[str],
    measures: Sequence[tuple[str, str]],
    granularity: str | None = None,
    flt: Filter = NO_FILTER,
    detail: bool = False,
) -> list[Group]:
    """`measures` (rollup column, SQL over raw rows) summed over [start, end) per `group` keys and,
    with a `granularity`, per UTC hour, day or month."""
    check_range(start, end)
    unknown = sorted(set(group) - DIMENSIONS.keys())
    if unknown:
        raise QueryError(f"unknown dimension {unknown[0]!r}; known: {', '.join(DIMENSIONS)}")
    if granularity is not None and granularity not in GRANULARITIES:
        raise QueryError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    if granularity is not None:
        points = (end - start) / {
            "hour": timedelta(hours=1),
            "day": timedelta(days=1),
            "month": timedelta(days=28),
        }[granularity]
        if points > MAX_POINTS:
            raise QueryError(
                f"{granularity} granularity over {end - start} is over {MAX_POINTS} points; use a coarser one"
            )
    tiers = _tiers(set(group) | flt.dimensions(), detail)
    # A series point holds whole buckets of the tiers no coarser than its granularity.
    order = [f for f in GRANULARITIES[::-1] if f in tiers]
    if granularity is not None:
        order = [f for f in order if GRANULARITIES.index(f) <= GRANULARITIES.index(granularity)]
    parts = pieces(start.astimezone(UTC), end.astimezone(UTC), order)
    raw = sum((b - a for f, a, b in parts if f is None), timedelta())
    if raw > MAX_RAW_SPAN:
        raise QueryError(
            f"this would read {raw} of raw rows (over {MAX_RAW_SPAN}): per user there is no hourly"
            " rollup, so ask for day or month granularity"
        )
    selects, params = [], []
    for field, a, b in parts:
        text, values = _piece_sql(field, a, b, tiers, group, measures, granularity, flt)
        selects.append(text)
        params += values
    outer = sql.SQL(
        "SELECT bucket, {keys} {measures} FROM ({union}) AS p GROUP BY {by} ORDER BY {by}"
    ).format(
        keys=sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier(f"k_{g}")) for g in group),
        measures=sql.SQL(", ").join(
            sql.SQL("sum({0}) AS {0}").format(sql.Identifier(m)) for m, _ in measures
        ),
        union=sql.SQL(" UNION ALL ").join(selects),
        by=sql.SQL(", ").join([sql.SQL("1"), *(sql.SQL(str(i + 2)) for i in range(len(group)))]),
    )
    out = []
    for row in conn.execute(outer, params):
        found = {m: float(v or 0) for (m, _), v in zip(measures, row[1 + len(group) :], strict=True)}
        out.append(Group(dict(zip(group, row[1 : 1 + len(group)], strict=True)), row[0], found))
    return out


def total(groups: Sequence[Group]) -> dict[str, float]:
    """The spend measures over all `groups`: every row is in exactly one group and one point, so
    their sum is the range's total (no second query); a measure not computed counts 0."""
    return {m: sum(g.measures.get(m, 0.0) for g in groups) for m in SPEND_MEASURES}


def top_groups(groups: list[Group], keys: Sequence[str], n: int) -> list[Group]:
    """The rows of the `n` groups with the highest cost over all their points, most expensive first
    (ties by key), each group's points in time order."""
    cost: dict[tuple[str, ...], float] = {}
    for g in groups:
        key = tuple(g.keys[k] for k in keys)
        cost[key] = cost.get(key, 0.0) + g.measures["cost_usd"]
    rank = {k: i for i, k in enumerate(sorted(cost, key=lambda k: (-cost[k], k))[:n])}
    kept = [g for g in groups if tuple(g.keys[k] for k in keys) in rank]
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(kept, key=lambda g: (rank[tuple(g.keys[k] for k in keys)], g.bucket or earliest))


def spend_measures() -> list[tuple[str, str]]:
    raw = dict(rollups.MEASURES)
    return [(m, raw[m]) for m in SPEND_MEASURES]


def error_measures() -> list[tuple[str, str]]:
    raw = dict(rollups.DETAIL_MEASURES)
    return [("requests", raw["requests"]), *((f"errors_{t}", raw[f"errors_{t}"]) for t in ERROR_TYPES)]


# End users' ratings (observatory.sql.feedback): grouped and filtered by the rated request's keys.
SATISFACTION_DIMENSIONS: Final = tuple(k for k, _ in feedback.ROLLUP_KEYS)
SATISFACTION_MEASURES: Final = (
    "ratings",
    "score_sum",
    "unhappy",
    "duration_ms_sum",
    "cost_usd_sum",
    "priced",
)


def satisfaction(
    conn: psycopg.Connection, start: datetime, end: datetime, dims: Sequence[str], flt: Filter = NO_FILTER
) -> list[Group]:
    """The counted ratings given in [start, end) per group of `dims`, as the quality panels read them:
    the whole UTC days from the ratings' daily rollup, the part-days at either end from the ratings."""
    check_range(start, end)
    wrong = sorted((set(dims) | flt.dimensions()) - set(SATISFACTION_DIMENSIONS))
    if wrong:
        allowed = ", ".join(SATISFACTION_DIMENSIONS)
        raise QueryError(f"satisfaction cannot be grouped or filtered by {wrong[0]}; by {allowed}")
    raw = dict(feedback.ROLLUP_KEYS)
    params: dict[str, Any] = {"start": start, "end": end}
    whole, ends = ["true"], ["true"]
    for d, values in flt.values:
        params[f"f_{d}"] = list(values)
        whole.append(f"{d} = ANY(%(f_{d})s)")
        ends.append(f"{raw[d]} = ANY(%(f_{d})s)")
    rows = feedback.over_range(
        "%(start)s::timestamptz", "%(end)s::timestamptz", " AND ".join(whole), " AND ".join(ends)
    )
    keys = "".join(f"{d}, " for d in dims)
    group = f" GROUP BY {', '.join(dims)}" if dims else ""
    sums = ", ".join(f"sum({m})" for m in SATISFACTION_MEASURES)
    query = f"SELECT {keys}{sums} FROM (\n{rows}\n) AS r{group} HAVING sum(ratings) > 0"
    out = []
    for row in conn.execute(query.encode(), params):
        keyed = dict(zip(dims, row[: len(dims)], strict=True))
        measures = {m: float(v or 0) for m, v in zip(SATISFACTION_MEASURES, row[len(dims) :], strict=True)}
        out.append(Group(keyed, None, measures))
    # Least satisfied first, as the quality panels.
    return sorted(out, key=lambda g: (g.measures["score_sum"] / g.measures["ratings"], list(g.keys.values())))


# Per-request rows, newest first, and the cursor that continues after one of them.
REQUEST_COLUMNS: Final = (
    "time",
    "trace_id",
    "span_id",
    "application",
    "environment",
    "team",
    "user_id",
    "provider",
    "request_model",
    "response_model",
    "operation",
    "status",
    "error_type",
    "finish_reason",
    "duration_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced",
)


def encode_cursor(row: dict[str, Any]) -> str:
    key = f"{row['time'].astimezone(UTC).isoformat()}|{row['trace_id']}|{row['span_id']}"
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        at, trace_id, span_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), trace_id, span_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise QueryError(f"after: {cursor[:40]!r} is not a cursor this API returned") from None


def requests(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    flt: Filter = NO_FILTER,
    first: int = 50,
    after: str | None = None,
    errors_only: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `first` rows in [start, end) newest first, after the cursor `after`; and whether more follow.
    Keyset pagination on the table's unique key: rows inserted meanwhile never shift a page."""
    check_range(start, end)
    if end - start > MAX_REQUESTS_RANGE:
        raise QueryError(f"requests reads raw rows: from..to may span at most {MAX_REQUESTS_RANGE.days} days")
    if not 1 <= first <= MAX_PAGE:
        raise QueryError(f"first must be between 1 and {MAX_PAGE}, got {first}")
    conditions, params = _where(flt, raw=True)
    conditions.insert(0, sql.SQL("time >= %s AND time < %s"))
    params[:0] = [start, end]
    if after is not None:
        conditions.append(sql.SQL("(time, trace_id, span_id) < (%s, %s, %s)"))
        params += list(decode_cursor(after))
    if errors_only:
        conditions.append(sql.SQL("status = 'error'"))
    query = sql.SQL(
        "SELECT {cols} FROM {t} WHERE {where} ORDER BY time DESC, trace_id DESC, span_id DESC LIMIT %s"
    ).format(
        cols=sql.SQL(", ").join(map(sql.Identifier, REQUEST_COLUMNS)),
        t=sql.Identifier(T),
        where=sql.SQL(" AND ").join(conditions),
    )
    rows = [dict(zip(REQUEST_COLUMNS, r, strict=True)) for r in conn.execute(query, [*params, first + 1])]
    return rows[:first], len(rows) > first


@dataclass(frozen=True)
class BudgetState:
    kind: str  # "application" or "team"
    name: str
    daily_usd: float | None
    monthly_usd: float | None
    spent_today_usd: float
    spent_month_usd: float
    projected_day_usd: float
    projected_month_usd: float

    @property
    def state(self) -> str:
        """over: a limit is already passed; at_risk: on course to pass one; ok otherwise."""
        pairs = [
            (self.daily_usd, self.spent_today_usd, self.projected_day_usd),
            (self.monthly_usd, self.spent_month_usd, self.projected_month_usd),
        ]
        if any(limit is not None and spent > limit for limit, spent, _ in pairs):
            return "over"
        if any(limit is not None and projected > limit for limit, _, projected in pairs):
            return "at_risk"
        return "ok"


def _spent(
    conn: psycopg.Connection, dim: str, flt: Filter, since: datetime, now: datetime
) -> dict[str, float]:
    """Cost per value of `dim` in [since, now); none at all when `since` is `now` (00:00 exactly)."""
    if since >= now:
        return {}
    cost = [("cost_usd", "coalesce(sum(cost_usd), 0)")]
    return {g.keys[dim]: g.measures["cost_usd"] for g in aggregate(conn, since, now, [dim], cost, flt=flt)}


def budgets(conn: psycopg.Connection, spec_budgets: Sequence[Any], now: datetime) -> list[BudgetState]:
    """Each budget's spend today and this UTC month, and both projected at the elapsed share's rate."""
    if not spec_budgets:
        return []
    day, month = _floor(now, "day"), _floor(now, "month")
    month_days = calendar.monthrange(month.year, month.month)[1]
    out = []
    for dim in ("application", "team"):
        wanted = [b for b in spec_budgets if getattr(b, dim) is not None]
        if not wanted:
            continue
        flt = Filter.of(**{dim: [getattr(b, dim) for b in wanted]})
        today, to_date = _spent(conn, dim, flt, day, now), _spent(conn, dim, flt, month, now)
        day_share = max((now - day) / timedelta(days=1), 1 / 24)
        month_share = max((now - month) / timedelta(days=month_days), 1 / (24 * month_days))
        for b in wanted:
            name = getattr(b, dim)
            spent_today, spent_month = today.get(name, 0.0), to_date.get(name, 0.0)
            out.append(
                BudgetState(
                    dim,
                    name,
                    b.daily_usd,
                    b.monthly_usd,
                    spent_today,
                    spent_month,
                    spent_today / day_share,
                    spent_month / month_share,
                )
            )
    return out
