"""Cost: spend by model, application, team and user, trends, budget burn, cache savings, unpriced share.

Everything here is SQL over the rollups (`sources`): the hourly ones for ranges up to three days, the
daily totals beyond, and the per-user daily rollup for the user panels and, over long ranges,
whenever the `user` variable holds a selection (over short ones, that user's raw rows). Buckets are UTC
hours or days; a panel counts every bucket overlapping the time range.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from observatory import names
from observatory.render.dashboards.overview import budgets_cte
from observatory.render.dashboards.panels import (
    ROLLUP_COLUMNS,
    STANDARD_VARIABLES,
    UTC_MONTH_START,
    Panel,
    Sql,
)
from observatory.render.dashboards.sources import (
    SHORT_RANGE,
    WEEKS_RANGE,
    rollup_rows,
    series_group,
    series_over_time,
)
from observatory.spec.types import Spec
from observatory.sql.prices import cache_read_saving, price_row, priced_model, prices_cte

TITLE = "LLM cost"
DESCRIPTION = "Spend in USD from the spec's price table, by model, application, team and user."
VARIABLES = (*STANDARD_VARIABLES, "team", "user")
TIME_FROM = "now-30d"
BUCKETS = f"UTC hours for ranges up to {SHORT_RANGE}, UTC days beyond, overlapping the time range"
# Table and bar gauge rows are the query's rows, not one reduced value per column.
ROWS: dict[str, Any] = {"reduceOptions": {"values": True, "calcs": [], "fields": ""}}


def _breakdown(slug: str, title: str, key: str, panel_type: str, limit: int = 20) -> Panel:
    column = ROLLUP_COLUMNS[key]
    if key == "user":  # month to date is subtracted: users whose requests come to nothing go
        rows = rollup_rows((column, "cost_usd", "requests"), VARIABLES, by_user=True, months=True)
        having = "HAVING sum(requests) > 0 "
    else:
        rows, having = rollup_rows((column, "cost_usd"), VARIABLES, months=True), ""
    sql = f"SELECT {column} AS {key}, sum(cost_usd) AS spend_usd\nFROM {rows}\n"
    sql += f"GROUP BY 1 {having}ORDER BY 2 DESC LIMIT {limit}"
    return Panel(
        slug,
        title,
        panel_type,
        (Sql(sql, (key, "spend_usd")),),
        description=(
            "From the per-user rollups (whole months, and each side's month to date): whole UTC days"
            " overlapping the time range."
            if key == "user"
            else f"From the rollups: {BUCKETS}."
        ),
        unit="currencyUSD",
        width=6 if panel_type != "table" else 12,
        options=ROWS if panel_type in ("piechart", "bargauge") else {},
    )


def _over_time(
    slug: str, title: str, value: str, measures: tuple[str, ...], group_by: tuple[str, ...]
) -> Panel:
    keys = tuple(ROLLUP_COLUMNS[g] for g in group_by if g in ROLLUP_COLUMNS)
    rows = rollup_rows((*keys, *measures), VARIABLES, by_user="user" in group_by, weeks=True)
    sql = (
        f"SELECT {series_over_time(f'{value} AS value', group_by)}\nFROM {rows}\n"
        f"{series_group(group_by)} ORDER BY 1"
    )
    return Panel(
        slug,
        title,
        "timeseries",
        (Sql(sql, ("time", "metric", "value"), "time_series"),),
        description=f"One point per rollup bucket: {BUCKETS}; UTC weeks beyond {WEEKS_RANGE}.",
        unit="currencyUSD",
        width=12,
    )


def _stat(
    slug: str, title: str, column: str, value: str, measures: tuple[str, ...], unit: str, description: str
) -> Panel:
    sql = f"SELECT {value} AS {column}\nFROM {rollup_rows(measures, VARIABLES, months=True)}"
    description = f"{description} From the rollups: {BUCKETS}."
    return Panel(slug, title, "stat", (Sql(sql, (column,)),), description, unit, width=6, height=5)


def _price_epoch(changes: tuple[date, ...], day: str) -> str:
    """The last of `changes` (the days price rows take effect) on or before `day` (a date expression),
    or -infinity: every day of one epoch is priced by the same rows, so reads are priced per epoch, not
    per day (a year of days was 5,900 price lookups)."""
    cases = "".join(
        f" WHEN {day} >= DATE '{d.isoformat()}' THEN DATE '{d.isoformat()}'" for d in reversed(changes)
    )
    return f"CASE{cases} ELSE DATE '-infinity' END" if cases else "DATE '-infinity'"


def _cache_savings(spec: Spec) -> Panel:
    # Each request's cache reads at the price row that priced it (the collector's rule, from
    # observatory.sql.prices), summed first per provider, priced model and price epoch. Whole months
    # come from the monthly rollup, except those in which a price row takes effect after their first
    # day (read by day, so each day lands in its epoch).
    model = priced_model("nullif(model, '')", "nullif(response_model, '')")
    columns = ("provider", "model", "response_model", "cache_read_tokens_priced")
    changes = tuple(sorted({row.effective_from for row in spec.models}))
    rows = rollup_rows(columns, VARIABLES, detail=True, months=True, breaks=changes)
    epoch = _price_epoch(changes, "(bucket AT TIME ZONE 'UTC')::date")
    sql = (
        f"WITH {prices_cte(spec.models)},\n"
        "reads AS (\n"
        f"  SELECT provider, {model} AS model,\n    {epoch} AS day,\n"
        "    sum(cache_read_tokens_priced) AS cache_read_tokens\n"
        f"  FROM {rows}\n  WHERE cache_read_tokens_priced > 0\n"
        "  GROUP BY 1, 2, 3)\n"
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
            f" priced each request. From the detail rollups: {BUCKETS}."
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
        f"  FROM budgets b LEFT JOIN {names.VIEW_TOTALS_DAILY} d\n"
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
    months = f"bucket >= {UTC_MONTH_START} - INTERVAL '11 months'"
    # Whole UTC months: the monthly rollups alone.
    month_rows = rollup_rows(("cost_usd",), VARIABLES, daily=True, span=months, months=True)
    monthly = (
        "SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM') AS month, sum(cost_usd) AS spend_usd\n"
        f"FROM {month_rows}\nGROUP BY 1 ORDER BY 1"
    )
    group_keys = tuple(ROLLUP_COLUMNS[g] for g in group if g in ROLLUP_COLUMNS)
    daily_rows = rollup_rows(
        (*group_keys, "cost_usd"), VARIABLES, by_user="user" in group, daily=True, weeks=True
    )
    daily = (
        f"SELECT {series_over_time('sum(cost_usd) AS value', group)}\n"
        f"FROM {daily_rows}\n{series_group(group)} ORDER BY 1"
    )
    return [
        _stat(
            "spend_in_range",
            "Spend in time range",
            "spend_usd",
            "coalesce(sum(cost_usd), 0)",
            ("cost_usd",),
            "currencyUSD",
            "Priced requests only (unpriced ones have no cost).",
        ),
        _stat(
            "cost_per_request",
            "Cost per priced request",
            "usd_per_request",
            "sum(cost_usd) / nullif(sum(requests) - sum(unpriced_requests), 0)",
            ("cost_usd", "requests", "unpriced_requests"),
            "currencyUSD",
            "Unpriced requests are left out of both sides.",
        ),
        _cache_savings(spec),
        _stat(
            "unpriced_share",
            "Unpriced share of requests",
            "unpriced_share",
            "coalesce(sum(unpriced_requests)::float8 / nullif(sum(requests), 0), 0)",
            ("requests", "unpriced_requests"),
            "percentunit",
            "Requests to models with no row in the spec's price table: their cost is unknown, not zero.",
        ),
        _over_time(
            "spend_over_time",
            "Spend by " + (", ".join(group) or "all"),
            "sum(cost_usd)",
            ("cost_usd",),
            group,
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
            description=f"UTC days overlapping the time range; UTC weeks (from Monday) beyond {WEEKS_RANGE}.",
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
