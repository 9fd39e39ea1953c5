"""What a dashboard module says about a panel, as plain data, and the query helpers they share.

A dashboard module returns `Panel`s: slug, title, type, queries and display hints. `build` turns them
into grafanalib objects; the tests read them too (an SQL query declares the columns it returns, so a
test can run it and compare). Queries filter by the dashboard variables and group by the spec's
`dashboards.group_by`; team and user are not metric labels (they would be unbounded or not on the
metrics at all), so PromQL groups by the remaining dimensions and SQL by all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from observatory import names
from observatory.sql.rollups import DAILY_KEYS

Format = Literal["time_series", "table", "heatmap"]


@dataclass(frozen=True, slots=True)
class Prom:
    expr: str
    legend: str = ""
    instant: bool = False
    exemplar: bool = False
    format: Format = "time_series"


@dataclass(frozen=True, slots=True)
class Sql:
    sql: str
    # The columns the query returns, in order; checked by running it against a real PostgreSQL.
    columns: tuple[str, ...]
    format: Format = "table"


@dataclass(frozen=True, slots=True)
class TraceQL:
    query: str
    limit: int = 20


@dataclass(frozen=True, slots=True)
class LogQL:
    expr: str
    legend: str = ""


Query = Prom | Sql | TraceQL | LogQL


@dataclass(frozen=True, slots=True)
class Panel:
    slug: str
    title: str
    type: str
    queries: tuple[Query, ...]
    description: str = ""
    unit: str | None = None
    width: int = 8
    height: int = 8
    # (value, color) steps above the base (green) step, e.g. ((0.01, "red"),) for an SLO.
    thresholds: tuple[tuple[float, str], ...] = ()
    # Draw the thresholds on time series (as dashed lines); stats colour their value instead.
    show_thresholds: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (title, dashboard key) of panel header links
    decimals: int | None = None
    custom: dict[str, Any] = field(default_factory=dict)  # merged over the type's fieldConfig custom


# --- Dashboard variables: name -> the metric label (PromQL) and the SQL columns it filters.
PROM_LABELS = {
    "application": names.LABEL_APPLICATION,
    "environment": names.LABEL_ENVIRONMENT,
    "provider": names.LABEL_PROVIDER,
    "model": names.LABEL_MODEL,
    "operation": names.LABEL_OPERATION,
}
# The SQL variables are the daily rollup's keys; only `user` is named apart from its key, user_id.
_KEY_VARIABLE = {"user_id": "user"}
# Raw table columns: each key's expression in the rollups, so a filter on the raw table selects the
# rows the rollups group under that key; nullable keys compare as '' so "All" (the regex .*) keeps them.
RAW_COLUMNS = {_KEY_VARIABLE.get(key, key): raw for key, raw in DAILY_KEYS}
# Rollup key columns (never null there). Only the daily rollup is per user.
ROLLUP_COLUMNS = {_KEY_VARIABLE.get(key, key): key for key, _ in DAILY_KEYS}
STANDARD_VARIABLES = ("application", "environment", "provider", "model")


def prom_filter(variables: tuple[str, ...], *extra: str) -> str:
    """A label matcher list: each variable as a regex (Grafana formats multi-values and All as one)."""
    matchers = [f'{PROM_LABELS[v]}=~"${v}"' for v in variables if v in PROM_LABELS]
    return "{" + ",".join([*matchers, *extra]) + "}"


def sql_filter(variables: tuple[str, ...], columns: dict[str, str]) -> str:
    """`AND`-ed regex matches of each variable; `${v:regex}` is the selection as one anchored regex.

    At All, Grafana writes the variable's custom all value `.*` as it is, whatever the format, so
    `'.*' = '.*'` is true and PostgreSQL, folding constants, drops the whole condition: All costs
    nothing (a `~ '^(.*)$'` on every row cost seven times the sum it filtered, and kept TimescaleDB
    from aggregating compressed chunks vectorised)."""
    return " AND ".join(
        f"('${{{v}:regex}}' = '.*' OR {columns[v]} ~ '^(${{{v}:regex}})$')" for v in variables if v in columns
    )


def prom_group(group_by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(PROM_LABELS[g] for g in group_by if g in PROM_LABELS)


def by(labels: tuple[str, ...]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def legend(labels: tuple[str, ...], default: str = "all") -> str:
    return " / ".join(f"{{{{{label}}}}}" for label in labels) or default


def sql_series(group_by: tuple[str, ...], columns: dict[str, str]) -> str:
    """The series name column of a long-format time series: the group-by keys joined by ' / '."""
    keys = [columns[g] for g in group_by if g in columns]
    return f"concat_ws(' / ', {', '.join(keys)}) AS metric" if keys else "'all' AS metric"


def rollup_range(unit: str) -> str:
    """Rollup buckets (each `unit` long) that overlap the dashboard's time range."""
    return f"bucket > $__timeFrom()::timestamptz - INTERVAL '1 {unit}' AND bucket <= $__timeTo()::timestamptz"


def rate(metric: str, flt: str) -> str:
    return f"rate({metric}{flt}[$__rate_interval])"


def quantile(q: float, metric: str, flt: str, labels: tuple[str, ...] = ()) -> str:
    return f"histogram_quantile({q}, sum by ({', '.join(('le', *labels))}) ({rate(metric + '_bucket', flt)}))"


UTC_MONTH_START = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
UTC_DAY_START = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


# error_type is only set on failed requests, so "has an error type" selects the failures.
HAS_ERROR = f'{names.LABEL_ERROR_TYPE}!=""'


def errors_by_type_panel(variables: tuple[str, ...]) -> Panel:
    """Failed requests per second by error type (rate limits, timeouts, content filter, ...)."""
    expr = f"sum by (error_type) ({rate(names.METRIC_REQUESTS, prom_filter(variables, HAS_ERROR))})"
    return Panel(
        "errors_by_type",
        "Errors per second by type",
        "timeseries",
        (Prom(expr, "{{error_type}}"),),
        unit="reqps",
        width=12,
    )
