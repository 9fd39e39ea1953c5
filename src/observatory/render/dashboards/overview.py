"""LLM overview: traffic, errors, latency, time to first token, tokens and spend against budget."""

from __future__ import annotations

from observatory import names
from observatory.render.alerts.rules import Scope
from observatory.render.dashboards.panels import (
    HAS_ERROR,
    STANDARD_VARIABLES,
    UTC_DAY_START,
    UTC_MONTH_START,
    Panel,
    Prom,
    Sql,
    by,
    legend,
    objective_steps,
    objective_text,
    per_scope,
    prom_filter,
    prom_group,
    recorded,
    scope_filter,
    scoped_quantiles,
    sql_filter,
)
from observatory.render.dashboards.panels import ROLLUP_COLUMNS as RC
from observatory.spec.types import Spec

TITLE = "LLM overview"
DESCRIPTION = "Requests, errors, latency, tokens and spend of every LLM application at a glance."
VARIABLES = STANDARD_VARIABLES
TIME_FROM = "now-6h"
F = prom_filter(VARIABLES)
DAILY_FILTER = sql_filter(VARIABLES, RC)
P95, TTFT = "latency_p95_seconds", "ttft_p95_seconds"  # objectives (fields of spec Objectives)


def budgets_cte(spec: Spec) -> str:
    """The spec's budgets as a relation (kind, name, daily_usd, monthly_usd); empty without budgets."""
    rows = [
        (
            "application" if b.application else "team",
            b.application or b.team or "",
            "NULL" if b.daily_usd is None else repr(float(b.daily_usd)),
            "NULL" if b.monthly_usd is None else repr(float(b.monthly_usd)),
        )
        for b in spec.budgets
    ]
    if not rows:
        return (
            "budgets AS (SELECT NULL::text AS kind, NULL::text AS name, NULL::float8 AS daily_usd,"
            " NULL::float8 AS monthly_usd WHERE false)"
        )
    values = ", ".join(f"('{k}', '{n}', {d}::float8, {m}::float8)" for k, n, d, m in rows)
    return f"budgets (kind, name, daily_usd, monthly_usd) AS (VALUES {values})"


def _error_ratio(scope: Scope) -> str:
    errors = f"sum({recorded(names.REC_DIM_REQUESTS_RATE, scope_filter(VARIABLES, scope, HAS_ERROR))})"
    total = f"sum({recorded(names.REC_DIM_REQUESTS_RATE, scope_filter(VARIABLES, scope))})"
    return f"({errors} or vector(0)) / {total}"


def _spend_since(start: str, title: str, slug: str, budget: float | None) -> Panel:
    sql = (
        f"SELECT coalesce(sum(cost_usd), 0) AS spend_usd FROM {names.VIEW_TOTALS_DAILY}\n"
        f"WHERE bucket >= {start} AND {DAILY_FILTER}"
    )
    return Panel(
        slug,
        title,
        "stat",
        (Sql(sql, ("spend_usd",)),),
        description=(
            "From the daily rollup (UTC days; today's figure is current). Turns orange at 80% and red"
            " at 100% of the budget."
        ),
        unit="currencyUSD",
        width=4,
        height=5,
        thresholds=((0.8 * budget, "orange"), (budget, "red")) if budget else (),
        links=(("Cost", "cost"),),
    )


def _total(spec: Spec, field: str) -> float | None:
    """The sum of the per-application budgets: applications do not overlap, team budgets might."""
    values = [getattr(b, field) for b in spec.budgets if b.application and getattr(b, field)]
    return sum(values) if values else None


def _budget_status(spec: Spec) -> Panel:
    spend = (
        f"coalesce(sum(d.cost_usd) FILTER (WHERE d.bucket >= {UTC_DAY_START}), 0) AS today_usd,\n"
        f"  coalesce(sum(d.cost_usd) FILTER (WHERE d.bucket >= {UTC_MONTH_START}), 0) AS month_usd"
    )
    sql = (
        f"WITH {budgets_cte(spec)}\n"
        "SELECT b.kind, b.name, b.daily_usd, b.monthly_usd,\n"
        f"  {spend}\n"
        f"FROM budgets b LEFT JOIN {names.VIEW_TOTALS_DAILY} d\n"
        "  ON (b.kind = 'application' AND d.application = b.name OR b.kind = 'team' AND d.team = b.name)\n"
        f"  AND d.bucket >= {UTC_MONTH_START}\n"
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2"
    )
    return Panel(
        "budget_status",
        "Spend against budget (today, this month)",
        "table",
        (Sql(sql, ("kind", "name", "daily_usd", "monthly_usd", "today_usd", "month_usd")),),
        description="Every budget in the spec; spend from the daily rollup, UTC days and months.",
        unit="currencyUSD",
        width=12,
        links=(("Cost", "cost"),),
    )


def _top(label: str, title: str, slug: str) -> Panel:
    # The recorded 5-minute rates taken every minute of the range, times 60 s, add up to the requests
    # of the range: each request is in five of those windows, each counting a fifth of it (requests
    # within five minutes of either end of the range count in part), whatever the rules' evaluation
    # interval.
    windows = f"sum_over_time({names.REC_DIM_REQUESTS_RATE}{F}[$__range:1m])"
    expr = f"topk(10, 60 * sum by ({label}) ({windows}))"
    return Panel(
        slug,
        title,
        "bargauge",
        (Prom(expr, f"{{{{{label}}}}}", instant=True),),
        description="Requests over the dashboard's time range, from the recorded 5-minute rates.",
        unit="short",
        width=6,
    )


def _slis(spec: Spec) -> list[Panel]:
    """The stats of the SLIs, each red above its objective: one value per objective scope."""
    slo = spec.slos.default
    return [
        Panel(
            "error_ratio",
            "Error ratio",
            "stat",
            per_scope(spec, _error_ratio, "error_ratio"),
            description=f"Red above the SLO's error ratio ({objective_text(spec, 'error_ratio')}).",
            unit="percentunit",
            width=4,
            height=5,
            thresholds=objective_steps(slo, "error_ratio"),
            links=(("Quality", "quality"),),
        ),
        Panel(
            "latency_p95",
            "Latency p95",
            "stat",
            scoped_quantiles(spec, VARIABLES, names.REC_DIM_DURATION_BUCKET_RATE, (0.95,), P95),
            description=f"Red above the p95 objective ({objective_text(spec, P95, ' s')}).",
            unit="s",
            width=4,
            height=5,
            thresholds=objective_steps(slo, P95),
            links=(("Performance", "performance"),),
        ),
        Panel(
            "ttft_p95",
            "Time to first token p95",
            "stat",
            scoped_quantiles(spec, VARIABLES, names.REC_DIM_TTFT_BUCKET_RATE, (0.95,), TTFT),
            description=(
                f"Streamed responses only. Red above the objective ({objective_text(spec, TTFT, ' s')})."
            ),
            unit="s",
            width=4,
            height=5,
            thresholds=objective_steps(slo, TTFT),
        ),
    ]


def panels(spec: Spec) -> list[Panel]:
    slo = spec.slos.default
    group = prom_group(spec.dashboards.group_by)
    tokens = (
        Prom(f"sum({recorded(names.REC_DIM_INPUT_TOKENS_RATE, F)})", "input"),
        Prom(f"sum({recorded(names.REC_DIM_OUTPUT_TOKENS_RATE, F)})", "output"),
    )
    return [
        Panel(
            "requests_per_second",
            "Requests per second",
            "stat",
            (Prom(f"sum({recorded(names.REC_DIM_REQUESTS_RATE, F)})"),),
            unit="reqps",
            width=4,
            height=5,
        ),
        *_slis(spec),
        _spend_since(UTC_DAY_START, "Spend today", "spend_today", _total(spec, "daily_usd")),
        _spend_since(UTC_MONTH_START, "Spend this month", "spend_month", _total(spec, "monthly_usd")),
        Panel(
            "latency_percentiles",
            "Latency p50 / p95 / p99",
            "timeseries",
            scoped_quantiles(spec, VARIABLES, names.REC_DIM_DURATION_BUCKET_RATE, (0.5, 0.95, 0.99), P95),
            description=f"Dashed line: the p95 objective ({objective_text(spec, P95, ' s')}).",
            unit="s",
            width=12,
            thresholds=objective_steps(slo, P95),
            show_thresholds=True,
        ),
        Panel("tokens_per_second", "Tokens per second", "timeseries", tokens, unit="short", width=12),
        Panel(
            "requests_by_group",
            "Requests per second by " + (", ".join(group) or "all"),
            "timeseries",
            (Prom(f"sum{by(group)} ({recorded(names.REC_DIM_REQUESTS_RATE, F)})", legend(group)),),
            unit="reqps",
            width=12,
        ),
        _budget_status(spec),
        _top(names.LABEL_MODEL, "Top models", "top_models"),
        _top(names.LABEL_APPLICATION, "Top applications", "top_applications"),
    ]
