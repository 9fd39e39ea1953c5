"""What a dashboard module says about a panel, as plain data, and the query helpers they share.

A dashboard module returns `Panel`s: slug, title, type, queries and display hints. `build` turns them
into grafanalib objects; the tests read them too (an SQL query declares the columns it returns, so a
test can run it and compare). Queries filter by the dashboard variables and group by the spec's
`dashboards.group_by`; team and user are not metric labels (they would be unbounded or not on the
metrics at all), so PromQL groups by the remaining dimensions and SQL by all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from observatory import names
from observatory.render.alerts.recording import slow_bucket_edge
from observatory.render.alerts.rules import Scope, scopes
from observatory.spec.types import Objectives, Spec
from observatory.sql.rollups import DAILY_KEYS

Format = Literal["time_series", "table", "heatmap"]


@dataclass(frozen=True, slots=True)
class SeriesThresholds:
    """Threshold steps for the series whose display name matches `pattern` (a JavaScript regex in
    Grafana's `/.../` form): Grafana matches overrides by name, and legends carry the scope."""

    pattern: str
    steps: tuple[tuple[float, str], ...]


@dataclass(frozen=True, slots=True)
class Prom:
    expr: str
    legend: str = ""
    instant: bool = False
    exemplar: bool = False
    format: Format = "time_series"
    # Steps of this query's series when they differ from the panel's: an application with objectives
    # of its own (`slos.applications`) is drawn against them, as its alerts are.
    thresholds: SeriesThresholds | None = None


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
RAW_COLUMNS = {_KEY_VARIABLE.get(key, key): raw for key, raw in DAILY_KEYS} | {"user": "user_id"}
# Rollup key columns (never null there). Only the daily rollup is per user.
ROLLUP_COLUMNS = {_KEY_VARIABLE.get(key, key): key for key, _ in DAILY_KEYS}
STANDARD_VARIABLES = ("application", "environment", "provider", "model")


def prom_filter(variables: tuple[str, ...], *extra: str) -> str:
    """A label matcher list: each variable as a regex (Grafana formats multi-values and All as one)."""
    matchers = [f'{PROM_LABELS[v]}=~"${v}"' for v in variables if v in PROM_LABELS]
    return "{" + ",".join([*matchers, *extra]) + "}"


# The user variable is SQL only, and its custom all value a quoted sentinel: Grafana writes it as it
# is, and quotes selected values with `sqlstring`, so a selection is `user_id IN ('a', 'b')`, which the
# indexes on user find (a regex on a column is a scan of every row in the range).
USER_ALL = "'__all__'"


def user_all() -> str:
    return f"{USER_ALL} IN (${{user:sqlstring}})"


def sql_filter(variables: tuple[str, ...], columns: dict[str, str]) -> str:
    """`AND`-ed regex matches of each variable; `${v:regex}` is the selection as one anchored regex.

    At All, Grafana writes the variable's custom all value `.*` as it is, whatever the format, so
    `'.*' = '.*'` is true and PostgreSQL, folding constants, drops the whole condition: All costs
    nothing (a `~ '^(.*)$'` on every row cost seven times the sum it filtered, and kept TimescaleDB
    from aggregating compressed chunks vectorised). The user variable compares with IN (`USER_ALL`).

    With a selection, a row is compared with the selected values as an array (`${v:pipe}` split on
    `|`): PostgreSQL builds it once, when it plans, and compares by equality, where a regex on each of
    a year's 95,000 rows of one user took most of the query. The split is exact when the pipe form
    holds as many `|` as the regex form has unescaped ones (no value holds a `|`); the planner decides
    that from the literals and keeps the regex otherwise."""

    def one(v: str) -> str:
        if v == "user":
            return f"({user_all()} OR {columns[v]} IN (${{user:sqlstring}}))"
        column, regex, pipe = columns[v], f"${{{v}:regex}}", f"'${{{v}:pipe}}'"
        unescaped = f"regexp_replace('{regex}', '\\\\.', '', 'g')"
        exact = f"{_bars(pipe)} = {_bars(unescaped)}"
        return (
            f"('{regex}' = '.*' OR CASE WHEN {exact}\n      THEN {column} = ANY(string_to_array({pipe}, '|'))"
            f" ELSE {column} ~ '^({regex})$' END)"
        )

    return " AND ".join(one(v) for v in variables if v in columns)


def _bars(text: str) -> str:
    """How many `|` the SQL text expression `text` holds."""
    return f"length({text}) - length(replace({text}, '|', ''))"


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


def recorded(rule: str, flt: str) -> str:
    """A dashboard recording rule (a 5-minute rate, names.REC_DIM_*) averaged over Grafana's window:
    at a wide time range one point stands for every recorded sample since the previous point, not
    only the last one; at a narrow one it is the 5-minute rate itself, a little smoothed."""
    return f"avg_over_time({rule}{flt}[$__rate_interval])"


def quantile(q: float, bucket_rule: str, flt: str, labels: tuple[str, ...] = ()) -> str:
    """Quantile `q` of a histogram from its recorded bucket rates (names.REC_DIM_*_BUCKET_RATE)."""
    return f"histogram_quantile({q}, sum by ({', '.join(('le', *labels))}) ({recorded(bucket_rule, flt)}))"


def scope_filter(variables: tuple[str, ...], scope: Scope, *extra: str) -> str:
    """The variables' filter narrowed to the applications of one objective scope (as the alerts)."""
    return prom_filter(variables, *([scope.matchers[1:-1]] if scope.matchers else []), *extra)


def scope_name(scope: Scope) -> str:
    return scope.application or "other applications"


def alert_threshold(objectives: Objectives, objective: str) -> float:
    """Where the alerts draw the line for `objective` (a field of `Objectives`). The p95 latency
    objective is the histogram bucket edge the latency burn-rate alert counts slow requests above
    (recording.slow_bucket_edge): a p95 from the same buckets crosses that edge exactly when more than
    5% of requests are slower. Every other objective is drawn as it is (p99 has no alert)."""
    value: float = getattr(objectives, objective)
    edge = slow_bucket_edge(value) if objective == "latency_p95_seconds" else None
    return value if edge is None else edge


def objective_steps(objectives: Objectives, objective: str) -> tuple[tuple[float, str], ...]:
    """Red above the alert threshold of `objective`."""
    return ((alert_threshold(objectives, objective), "red"),)


def objective_text(spec: Spec, objective: str, unit: str = "") -> str:
    """`10 s`, or `default 10 s; batch-summariser: 60 s` when applications have objectives of their
    own; an objective drawn at a bucket edge above it says so."""

    def text(objectives: Objectives) -> str:
        value, drawn = getattr(objectives, objective), alert_threshold(objectives, objective)
        edge = f", drawn at the {drawn:g}{unit} bucket edge the alert uses" if drawn != value else ""
        return f"{value:g}{unit}{edge}"

    own = [f"{app}: {text(obj)}" for app, obj in spec.slos.applications]
    return "; ".join([f"default {text(spec.slos.default)}" if own else text(spec.slos.default), *own])


def _scope_legend(scope: Scope, multi: bool, labels: tuple[str, ...], prefix: str) -> str:
    """The legend of one scope's query. With several scopes, each series of an application with its own
    objectives is called `<application>` or `<application>: ...` (what `scope_series` matches), and
    the others' name their application, or say "other applications" when they are not by application."""
    rest = tuple(label for label in labels if label != names.LABEL_APPLICATION)
    if multi and scope.application:
        parts = [scope.application, prefix, legend(rest, "")]
    elif multi and rest == labels:
        parts = [scope_name(scope), prefix, legend(labels, "")]
    else:
        parts = [prefix, legend(labels, "")]
    return ": ".join(part for part in parts if part)


def scope_series(application: str) -> str:
    """A JavaScript regex (Grafana's `/.../` form) matching the display names `_scope_legend` gives the
    series of `application`; `[...]` classes keep it free of backslashes, as in `alternation`."""
    escaped = "".join(f"[{c}]" if c in ".+*?()|{}$^" else c for c in application)
    return f"/^{escaped}(: .*)?$/"


def per_scope(
    spec: Spec,
    expr: Callable[[Scope], str],
    objective: str,
    labels: tuple[str, ...] = (),
    prefix: str = "",
) -> tuple[Prom, ...]:
    """One query per objective scope of the alerts (each application with objectives of its own, then
    the others), each with that scope's `objective` (a field of `Objectives`), so no series is drawn
    against another application's objective. With no application objectives this is one query over
    every application. `labels` are those the query groups by; `prefix` starts each legend."""
    all_scopes = scopes(spec)
    multi = len(all_scopes) > 1
    out = []
    for scope in all_scopes:
        # The default scope's steps are the panel's own; the others' override them.
        steps = (
            SeriesThresholds(scope_series(scope.application), objective_steps(scope.objectives, objective))
            if scope.application
            else None
        )
        out.append(Prom(expr(scope), _scope_legend(scope, multi, labels, prefix), thresholds=steps))
    return tuple(out)


def scoped_quantiles(
    spec: Spec,
    variables: tuple[str, ...],
    bucket_rule: str,
    qs: tuple[float, ...],
    objective: str,
    labels: tuple[str, ...] = (),
) -> tuple[Prom, ...]:
    """Quantiles `qs` of a recorded histogram by `labels`, per objective scope (see `per_scope`)."""

    def query(q: float) -> Callable[[Scope], str]:
        return lambda scope: quantile(q, bucket_rule, scope_filter(variables, scope), labels)

    return tuple(
        prom
        for q in qs
        for prom in per_scope(spec, query(q), objective, labels, f"p{round(q * 100)}" if len(qs) > 1 else "")
    )


UTC_MONTH_START = "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
UTC_DAY_START = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


# error_type is only set on failed requests, so "has an error type" selects the failures.
HAS_ERROR = f'{names.LABEL_ERROR_TYPE}!=""'


def errors_by_type_panel(variables: tuple[str, ...]) -> Panel:
    """Failed requests per second by error type (rate limits, timeouts, content filter, ...)."""
    expr = f"sum by (error_type) ({recorded(names.REC_DIM_REQUESTS_RATE, prom_filter(variables, HAS_ERROR))})"
    return Panel(
        "errors_by_type",
        "Errors per second by type",
        "timeseries",
        (Prom(expr, "{{error_type}}"),),
        unit="reqps",
        width=12,
    )
