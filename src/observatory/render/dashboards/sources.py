"""Which rollup an SQL panel reads, decided in the query by the dashboard's time range and variables.

Every SQL panel reads the coarsest rollup that answers it (`observatory.sql.rollups`):
- the hourly rollups when the time range is at most `SHORT_RANGE`, the daily totals (or, for
  detail columns, the detail daily rollup) beyond; for panels that need no finer bucket than a month
  (totals and breakdowns over the range), the monthly rollups for the range's whole UTC months and the
  daily ones only for the days before and after them; for time series over more than `WEEKS_RANGE`,
  the weekly rollups (a point a UTC week, from Monday), and for the truncation ratio, whose detail rows
  are wide, the monthly ones over more than `MONTHS_RANGE`;
- the per-user daily rollups when the panel groups by user, or when the dashboard's `user` variable
  holds a selection (no other rollup is per user): over long ranges; over short ones, that user's raw
  rows, which the user index finds. Of the two per-user rollups, the one per user alone (a quarter of
  the rows) while no other variable holds a selection; for the cache savings panel (detail columns),
  the per-user priced cache reads by response model.
The query holds one branch per rollup, each behind a condition on Grafana's time macros and the
`user` selection. Grafana writes those as literals, so PostgreSQL folds each condition to a constant
when it plans the query and never plans, let alone runs, the branches that do not apply.

Rollup buckets are UTC hours or days: a panel counts every bucket that overlaps the time range, so its
figures cover up to an hour (or a day) more than the range. Both flavours keep the last buckets current
(real-time aggregation, or the postgres flavour's views over the raw rows after the last maintenance).
"""

from __future__ import annotations

from datetime import date
from typing import Final

from observatory import names
from observatory.render.dashboards.panels import RAW_COLUMNS, ROLLUP_COLUMNS, sql_filter, sql_series, user_all
from observatory.sql import rollups

SHORT_RANGE: Final = "3 days"
SHORT = f"$__timeTo()::timestamptz - $__timeFrom()::timestamptz <= INTERVAL '{SHORT_RANGE}'"
LONG = f"$__timeTo()::timestamptz - $__timeFrom()::timestamptz > INTERVAL '{SHORT_RANGE}'"
# Time series over longer ranges have a point a UTC week (from Monday), from the weekly rollups.
WEEKS_RANGE: Final = "90 days"
WEEKS = f"$__timeTo()::timestamptz - $__timeFrom()::timestamptz > INTERVAL '{WEEKS_RANGE}'"
# Series from the detail rollups (wide rows: a year of weekly ones is 33,000 rows of 740 bytes at 10
# million requests) have a point a UTC month over longer ranges still, from the monthly rollups (8,000).
MONTHS_RANGE: Final = "180 days"
MONTHS = f"$__timeTo()::timestamptz - $__timeFrom()::timestamptz > INTERVAL '{MONTHS_RANGE}'"


def all_selected(variable: str) -> str:
    """True when `variable` is at All: its custom all value is written unformatted by Grafana."""
    if variable == "user":
        return user_all()
    return f"'${{{variable}:regex}}' = '.*'"


def some_selected(variable: str) -> str:
    return f"NOT {all_selected(variable)}"


def overlapping(rollup: rollups.Rollup) -> str:
    """The rollup's buckets that overlap the dashboard's time range."""
    return (
        f"bucket > $__timeFrom()::timestamptz - INTERVAL '{rollup.interval}'"
        " AND bucket < $__timeTo()::timestamptz"
    )


def _columns(rollup: rollups.Rollup) -> set[str]:
    return {"bucket", *(k for k, _ in rollup.keys), *(m for m, _ in rollup.measures)}


def _branch(
    rollup: rollups.Rollup,
    columns: tuple[str, ...],
    variables: tuple[str, ...],
    *when: str,
    span: str = "",
    negated: bool = False,
) -> str:
    """`negated`: the measures with their sign changed, to subtract this branch's rows."""
    missing = set(columns) - _columns(rollup)
    assert not missing, f"{rollup.name} has no column {sorted(missing)}"
    # A branch without the user key is only taken with the user variable at All.
    filters = [sql_filter((v,), ROLLUP_COLUMNS) for v in variables if ROLLUP_COLUMNS[v] in _columns(rollup)]
    where = "\n    AND ".join((span or overlapping(rollup), *filters, *when))
    keys = {k for k, _ in rollup.keys}
    selected = [c if c in keys or not negated else f"-{c} AS {c}" for c in columns]
    return f"  SELECT {', '.join(('bucket', *selected))}\n  FROM {rollup.name}\n  WHERE {where}"


# The whole UTC months of the time range: from the first month start on or after the range's first day
# to the start of the month holding its end (none when the first is not before the second). Written on
# timestamps, whose date_trunc and AT TIME ZONE are immutable, so PostgreSQL folds them when it plans.
_FIRST_DAY = "date_trunc('day', $__timeFrom()::timestamptz AT TIME ZONE 'UTC')"
MONTHS_FROM = (
    f"(date_trunc('month', {_FIRST_DAY} - INTERVAL '1 day') + INTERVAL '1 month') AT TIME ZONE 'UTC'"
)
MONTHS_TO = "date_trunc('month', $__timeTo()::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _by_day(
    rollup: rollups.Rollup,
    columns: tuple[str, ...],
    variables: tuple[str, ...],
    *when: str,
    span: str = "",
    months: bool = False,
    weeks: bool = False,
    breaks: tuple[date, ...] = (),
) -> list[str]:
    """Branches over a daily rollup. With `months`, its monthly rollup (if it has one) answers the
    whole UTC months of the time range, and the daily one the days before and after them, each a
    range of the rollup's index; or, with a `span` too (whole months), the monthly rollup alone.
    With `weeks`, its weekly rollup (if it has one) answers ranges longer than `WEEKS_RANGE`; with
    `months` too, its monthly rollup those longer than `MONTHS_RANGE` (a point a month)."""
    weekly = rollups.WEEKLY.get(rollup.name) if weeks and not span else None
    if weekly is not None:
        branches = [_branch(rollup, columns, variables, *when, f"NOT ({WEEKS})")]
        monthly = rollups.MONTHLY.get(rollup.name) if months else None
        if monthly is None:
            return [*branches, _branch(weekly, columns, variables, *when, WEEKS)]
        return [
            *branches,
            _branch(weekly, columns, variables, *when, WEEKS, f"NOT ({MONTHS})"),
            _branch(monthly, columns, variables, *when, MONTHS),
        ]
    monthly = rollups.MONTHLY.get(rollup.name) if months else None
    if monthly is None:
        return [_branch(rollup, columns, variables, *when, span=span)]
    if span:
        return [_branch(monthly, columns, variables, *when, span=span)]
    return [_branch(r, columns, variables, *when, span=part) for r, part in calendar_split(rollup, breaks)]


# The range ends today (UTC) and its last month is in it from its first day: that month's bucket then
# holds no row after the range but today's, which the day bucket holding the range's end counts
# anyway, so the month is read whole from the monthly rollup rather than day by day. (now() is only
# stable: PostgreSQL evaluates this once per query, as a condition on the whole branch.)
LAST_MONTH_WHOLE = (
    f"{MONTHS_FROM} <= {MONTHS_TO}\n    AND $__timeTo()::timestamptz"
    " >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)


def calendar_split(daily: rollups.Rollup, breaks: tuple[date, ...] = ()) -> list[tuple[rollups.Rollup, str]]:
    """The buckets overlapping the time range as three disjoint ranges, each with its rollup: the
    days before the range's whole months, those months (from `daily`'s monthly rollup; the month
    holding the range's end too when `LAST_MONTH_WHOLE`), the days after them. Every bucket
    overlapping the range is in one of them once.

    `breaks`: days a panel must tell apart from the days before them (a price change): a month with
    one after its first day is read day by day, from a fourth range for each."""
    days = overlapping(daily)
    months = (
        f"bucket >= {MONTHS_FROM}\n    AND bucket <= {MONTHS_TO}\n"
        f"    AND (bucket < {MONTHS_TO} OR {LAST_MONTH_WHOLE})"
    )
    broken = sorted({day.replace(day=1) for day in breaks if day.day != 1})
    parts = [
        (daily, f"{days}\n    AND bucket < {MONTHS_FROM}"),
        (
            rollups.MONTHLY[daily.name],
            months + "".join(f"\n    AND bucket <> {_utc(month)}" for month in broken),
        ),
        (
            daily,
            f"{days}\n    AND bucket >= greatest({MONTHS_FROM},\n      {MONTHS_TO})\n"
            f"    AND NOT ({LAST_MONTH_WHOLE})",
        ),
    ]
    for month in broken:
        after = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        parts.append(
            (daily, f"{days}\n    AND {months}\n    AND bucket >= {_utc(month)} AND bucket < {_utc(after)}")
        )
    return parts


def _utc(day: date) -> str:
    return f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"


# The first and last UTC days overlapping the time range, the months holding them, and today; as
# timestamps (immutable, folded when PostgreSQL plans) and, in the `_AT` forms, as bucket values.
_LAST_DAY = "date_trunc('day', $__timeTo()::timestamptz AT TIME ZONE 'UTC' - INTERVAL '1 microsecond')"
_FIRST_MONTH = f"date_trunc('month', {_FIRST_DAY})"
_LAST_MONTH_AT = f"date_trunc('month', {_LAST_DAY}) AT TIME ZONE 'UTC'"
# The range's last day is today or later: its month's bucket holds nothing after the range.
_ENDS_TODAY = f"{_LAST_DAY} >= date_trunc('day', now() AT TIME ZONE 'UTC')"


def _month_to_date(columns: tuple[str, ...], variables: tuple[str, ...], *when: str) -> list[str]:
    """Branches over the per-user rollups per user alone that count every day overlapping the time
    range once, reading one bucket per user for each part: the whole months from the one holding the
    first day to the one before the last day's (that one too when the range ends today or later), the
    month to date of the last day (otherwise), less the month to date of the day before the first
    (unless the first is a month's first day). The outer query drops the users whose requests come to
    nothing (rows with `requests`)."""
    monthly, mtd = rollups.USERS_MONTHLY, rollups.USERS_MTD
    months = (
        f"bucket >= {_FIRST_MONTH} AT TIME ZONE 'UTC'\n    AND bucket <= {_LAST_MONTH_AT}\n"
        f"    AND (bucket < {_LAST_MONTH_AT} OR {_ENDS_TODAY})"
    )
    last = f"bucket = {_LAST_DAY} AT TIME ZONE 'UTC'\n    AND NOT ({_ENDS_TODAY})"
    before = f"bucket = ({_FIRST_DAY} - INTERVAL '1 day') AT TIME ZONE 'UTC'\n"
    before += f"    AND {_FIRST_DAY} > {_FIRST_MONTH}"
    return [
        _branch(monthly, columns, variables, *when, span=months),
        _branch(mtd, columns, variables, *when, span=last),
        _branch(mtd, columns, variables, *when, span=before, negated=True),
    ]


def _raw_branch(columns: tuple[str, ...], variables: tuple[str, ...], *when: str) -> str:
    """Hourly buckets computed from the raw rows in the range, as the detail hourly rollup has them:
    for a selected user, whose rows are few (the user index finds them)."""
    sql = dict((*rollups.DAILY_KEYS, *rollups.DETAIL_KEYS, *rollups.DETAIL_MEASURES))
    keys = {k for k, _ in (*rollups.DAILY_KEYS, *rollups.DETAIL_KEYS)}
    selected = [f"{sql[c]} AS {c}" for c in columns]
    group = ", ".join(["1", *(str(i + 2) for i, c in enumerate(columns) if c in keys)])
    # Immutable all through (date_trunc with a time zone is only stable): PostgreSQL folds the bound
    # when it plans and prunes the raw day partitions then, not when it runs (planning 403 of them
    # took 60 to 90 ms).
    start = "date_trunc('hour', $__timeFrom()::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    span = f"time >= {start} AND time <= $__timeTo()::timestamptz"
    filters = [sql_filter((v,), RAW_COLUMNS) for v in variables]
    where = "\n    AND ".join((span, *filters, *when))
    return (
        f"  SELECT {', '.join((rollups.utc_bucket('hour') + ' AS bucket', *selected))}\n"
        f"  FROM {names.TABLE_REQUESTS}\n  WHERE {where}\n  GROUP BY {group}"
    )


def rollup_rows(
    columns: tuple[str, ...],
    variables: tuple[str, ...],
    detail: bool = False,
    by_user: bool = False,
    daily: bool = False,
    when: tuple[str, ...] = (),
    span: str = "",
    months: bool = False,
    weeks: bool = False,
    breaks: tuple[date, ...] = (),
) -> str:
    """A FROM item `r` with `bucket` and `columns`, from the rollup that answers the time range,
    filtered by the dashboard's `variables`. `detail`: the columns include response model, finish
    reason, error type or output-length buckets. `by_user`: the panel groups by user. `daily`: daily
    buckets whatever the range. `when`: conditions every branch adds (constant ones, as gates). `span`:
    the buckets to read, instead of those overlapping the time range. `months`: the panel needs no
    bucket finer than a UTC month, so whole months are read from the monthly rollups (with `span`, the
    span is whole months, all read from those). `weeks`: a time series, whose points may be UTC weeks
    (from Monday) over ranges longer than `WEEKS_RANGE`; with `months` too, UTC months over ranges
    longer than `MONTHS_RANGE`. `breaks`: with `months`, days the panel tells
    apart from the days before them (see `calendar_split`).

    With a user selected, a panel reads a per-user daily rollup over long ranges, and that user's raw
    rows (hourly) over short ones."""
    if by_user:
        assert not breaks, "the per-user rollups are split by months without breaks"
        return _union(_per_user(columns, variables, when, span=span, months=months))
    user = tuple(all_selected(u) for u in ("user",) if u in variables)
    long = () if daily else (LONG,)
    daily_rollup = rollups.DETAIL_DAILY if detail else rollups.TOTALS_DAILY
    branches = _by_day(
        daily_rollup,
        columns,
        variables,
        *long,
        *user,
        *when,
        span=span,
        months=months,
        weeks=weeks,
        breaks=breaks,
    )
    if not daily:
        hourly = rollups.DETAIL_HOURLY if detail else rollups.HOURLY
        branches.insert(0, _branch(hourly, columns, variables, SHORT, *user, *when, span=span))
    if user:
        selected = some_selected("user")
        if detail:
            assert not span and not daily, "raw rows are only read over the time range, hourly"
            cache = rollups.CACHE_READS_DAILY
            assert set(columns) <= _columns(cache), (
                f"no per-user rollup has {sorted(set(columns) - _columns(cache))}"
            )
            branches.append(_branch(cache, columns, variables, LONG, selected, *when))
            branches.append(_raw_branch(columns, variables, SHORT, selected, *when))
        else:
            branches += _per_user(columns, variables, (*long, selected, *when), span=span, months=months)
            if not daily:
                branches.append(_raw_branch(columns, variables, SHORT, selected, *when))
    return _union(branches)


def _per_user(
    columns: tuple[str, ...], variables: tuple[str, ...], when: tuple[str, ...], span: str, months: bool
) -> list[str]:
    """Branches over the per-user daily rollups: the one per user alone while no other variable holds a
    selection (and the columns are its; with `months`, and its monthly rollup), the one with every key
    otherwise."""
    others = [all_selected(v) for v in variables if v != "user"]
    if not set(columns) <= _columns(rollups.USERS_DAILY):
        return [_branch(rollups.DAILY, columns, variables, *when, span=span)]
    at_all = " AND ".join(others)
    gate = (at_all,) if others else ()
    if months and not span and set(columns) <= _columns(rollups.USERS_MTD):
        alone = _month_to_date(columns, variables, *when, *gate)
    else:
        alone = _by_day(rollups.USERS_DAILY, columns, variables, *when, *gate, span=span, months=months)
    if not others:
        return alone
    return [*alone, _branch(rollups.DAILY, columns, variables, *when, f"NOT ({at_all})", span=span)]


def _union(branches: list[str]) -> str:
    return "(\n" + "\n  UNION ALL\n".join(branches) + "\n) AS r"


def series_over_time(columns: str, group_by: tuple[str, ...]) -> str:
    """The time and series columns of a long-format time series over `rollup_rows`: one point per
    bucket (an hour up to `SHORT_RANGE`, a day beyond, with `weeks` a week beyond `WEEKS_RANGE` and
    with `months` too a month beyond `MONTHS_RANGE`), named by the group-by keys."""
    return f'bucket AS "time", {sql_series(group_by, ROLLUP_COLUMNS)}, {columns}'


def series_group(group_by: tuple[str, ...]) -> str:
    """The GROUP BY of a `series_over_time` query: the bucket and the keys themselves, so each series
    name is built once per point, not once per row (a fifth of a 365-day series' time)."""
    keys = [ROLLUP_COLUMNS[g] for g in group_by if g in ROLLUP_COLUMNS]
    return "GROUP BY " + ", ".join(("bucket", *keys))
