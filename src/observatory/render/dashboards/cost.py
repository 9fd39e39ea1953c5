"""Cost: spend by model, application, team and user, trends, budget burn, cache savings, unpriced share.

Everything here is SQL: the per-request table for exact sums over the time range, and the daily
rollup (the only relation per user, kept for the cold tier) for breakdowns and trends. Rollup buckets
are UTC days; a breakdown counts every day that overlaps the time range.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.dashboards.overview import budgets_cte
from observatory.render.dashboards.panels import (
    RAW_COLUMNS,
    ROLLUP_COLUMNS,
    STANDARD_VARIABLES,
    UTC_MONTH_START,
    Panel,
    Sql,
    rollup_range,
    sql_filter,
    sql_series,
)
from observatory.spec.types import Spec
from observatory.sql.prices import cache_read_saving, price_row, priced_model, prices_cte

TITLE = "LLM cost"
DESCRIPTION = "Spend in USD from the spec's price table, by model, application, team and user."
VARIABLES = (*STANDARD_VARIABLES, "team", "user")
TIME_FROM = "now-30d"
RAW = names.TABLE_REQUESTS
DAILY = names.VIEW_REQUESTS_DAILY
RAW_WHERE = f"$__timeFilter(time) AND {sql_filter(VARIABLES, RAW_COLUMNS)}"
DAILY_WHERE = f"{rollup_range('day')} AND {sql_filter(VARIABLES, ROLLUP_COLUMNS)}"
# Table and bar gauge rows are the query's rows, not one reduced value per column.
ROWS: dict[str, Any] = {"reduceOptions": {"values": True, "calcs": [], "fields": ""}}


def _breakdown(slug: str, title: str, key: str, panel_type: str, limit: int = 20) -> Panel:
    column = ROLLUP_COLUMNS[key]
    sql = (
        f"SELECT {column} AS {key}, sum(cost_usd) AS spend_usd\nFROM {DAILY}\nWHERE {DAILY_WHERE}\n"
        f"GROUP BY 1 ORDER BY 2 DESC LIMIT {limit}"
    )
    return Panel(
        slug,
        title,
        panel_type,
        (Sql(sql, (key, "spend_usd")),),
        description="From the daily rollup: whole UTC days overlapping the time range.",
        unit="currencyUSD",
        width=6 if panel_type != "table" else 12,
        options=ROWS if panel_type in ("piechart", "bargauge") else {},
    )


def _over_time(slug: str, title: str, value: str, group_by: tuple[str, ...], unit: str) -> Panel:
    sql = (
        f"SELECT $__timeGroupAlias(time, $__interval), {sql_series(group_by, RAW_COLUMNS)},\n"
        f"  {value} AS value\nFROM {RAW}\nWHERE {RAW_WHERE}\nGROUP BY 1, 2 ORDER BY 1"
    )
    return Panel(
        slug,
        title,
        "timeseries",
        (Sql(sql, ("time", "metric", "value"), "time_series"),),
        unit=unit,
        width=12,
    )


def _stat(slug: str, title: str, column: str, value: str, unit: str, description: str) -> Panel:
    sql = f"SELECT {value} AS {column}\nFROM {RAW}\nWHERE {RAW_WHERE}"
    return Panel(slug, title, "stat", (Sql(sql, (column,)),), description, unit, width=6, height=5)


def _cache_savings(spec: Spec) -> Panel:
    # Each request's cache reads at the price row that priced it (the collector's rule, from
    # observatory.sql.prices), summed first per provider, priced model and UTC day: the rule needs
    # the response model and the day, which only the per-request table has.
    model = priced_model("request_model", "response_model")
    sql = (
        f"WITH {prices_cte(spec.models)},\n"
        "reads AS (\n"
        f"  SELECT provider, {model} AS model, (time AT TIME ZONE 'UTC')::date AS day,\n"
        "    sum(cache_read_tokens) AS cache_read_tokens\n"
        f"  FROM {RAW}\n  WHERE {RAW_WHERE} AND cache_read_tokens > 0\n  GROUP BY 1, 2, 3)\n"
        f"SELECT coalesce(sum(r.cache_read_tokens * ({cache_read_saving('p')}) / 1e6), 0) AS savings_usd\n"
        "FROM reads r\n"
        f"JOIN LATERAL ({price_row('r.provider', 'r.model', 'r.day')}) p ON true"
    )
    return Panel(
        "cache_savings",
        "Cache savings",
        "stat",
        (Sql(sql, ("savings_usd",)),),
        description=(
            "Cache-read tokens priced at the input price minus the cache-read price of the row that"
            " priced each request. Exact, from the per-request table (kept for the warm tier)."
        ),
        unit="currencyUSD",
        width=6,
        height=5,
    )


def _budget_burn(spec: Spec) -> Panel:
    elapsed_days = f"greatest(extract(epoch FROM now() - {UTC_MONTH_START}) / 86400, 1.0 / 24)"
    month_days = f"extract(day FROM {UTC_MONTH_START} + INTERVAL '1 month' - INTERVAL '1 day')"
    sql = (
        f"WITH {budgets_cte(spec)},\n"
        "spend AS (\n"
        "  SELECT b.kind, b.name, b.monthly_usd, coalesce(sum(d.cost_usd), 0) AS month_to_date_usd\n"
        f"  FROM budgets b LEFT JOIN {DAILY} d\n"
        "    ON (b.kind = 'application' AND d.application = b.name OR b.kind = 'team' AND d.team = b.name)\n"
        f"    AND d.bucket >= {UTC_MONTH_START}\n"
        "  WHERE b.monthly_usd IS NOT NULL GROUP BY 1, 2, 3)\n"
        "SELECT kind, name, monthly_usd, month_to_date_usd,\n"
        f"  month_to_date_usd / {elapsed_days} * {month_days} AS projected_usd,\n"
        f"  month_to_date_usd / {elapsed_days} * {month_days} / monthly_usd AS projected_ratio\n"
        "FROM spend ORDER BY projected_ratio DESC"
    )
    columns = ("kind", "name", "monthly_usd", "month_to_date_usd", "projected_usd", "projected_ratio")
    return Panel(
        "budget_burn",
        "Budget burn and projected month-end",
        "table",
        (Sql(sql, columns),),
        description="Month-to-date spend extrapolated at this month's average daily rate (UTC month).",
        width=24,
        decimals=2,
    )


def panels(spec: Spec) -> list[Panel]:
    group = spec.dashboards.group_by
    monthly = (
        "SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(cost_usd) AS spend_usd\n"
        f"FROM {DAILY}\nWHERE bucket >= {UTC_MONTH_START} - INTERVAL '11 months' AND "
        f"{sql_filter(VARIABLES, ROLLUP_COLUMNS)}\nGROUP BY 1 ORDER BY 1"
    )
    daily = (
        f"SELECT $__timeGroupAlias(bucket, '1d'), {sql_series(group, ROLLUP_COLUMNS)},\n"
        "  sum(cost_usd) AS value\n"
        f"FROM {DAILY}\nWHERE {DAILY_WHERE}\nGROUP BY 1, 2 ORDER BY 1"
    )
    return [
        _stat(
            "spend_in_range",
            "Spend in time range",
            "spend_usd",
            "coalesce(sum(cost_usd), 0)",
            "currencyUSD",
            "Exact, from the per-request table (kept for the warm tier).",
        ),
        _stat(
            "cost_per_request",
            "Cost per priced request",
            "usd_per_request",
            "sum(cost_usd) / nullif(count(*) FILTER (WHERE NOT unpriced), 0)",
            "currencyUSD",
            "Unpriced requests are left out of both sides.",
        ),
        _cache_savings(spec),
        _stat(
            "unpriced_share",
            "Unpriced share of requests",
            "unpriced_share",
            "coalesce(count(*) FILTER (WHERE unpriced)::float8 / nullif(count(*), 0), 0)",
            "percentunit",
            "Requests to models with no row in the spec's price table: their cost is unknown, not zero.",
        ),
        _over_time(
            "spend_over_time",
            "Spend by " + (", ".join(group) or "all"),
            "sum(cost_usd)",
            group,
            "currencyUSD",
        ),
        _breakdown("spend_by_model", "Spend by model", "model", "piechart"),
        _breakdown("spend_by_application", "Spend by application", "application", "bargauge"),
        _breakdown("spend_by_team", "Spend by team", "team", "bargauge"),
        _breakdown("spend_by_user", "Top users by spend", "user", "table", limit=50),
        Panel(
            "daily_trend",
            "Daily spend",
            "timeseries",
            (Sql(daily, ("time", "metric", "value"), "time_series"),),
            unit="currencyUSD",
            width=12,
            custom={"drawStyle": "bars", "fillOpacity": 80},
        ),
        Panel(
            "monthly_trend",
            "Monthly spend (last 12 months)",
            "barchart",
            (Sql(monthly, ("month", "spend_usd")),),
            unit="currencyUSD",
            width=12,
        ),
        _budget_burn(spec),
    ]
