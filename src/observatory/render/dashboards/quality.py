"""Quality: truncated responses, errors, drift (a request model answered by a changing response
model; the output length distribution this week against last week), and user satisfaction (the
ratings of `observatory_sdk.feedback`) by model, application, latency and cost.

Truncation and drift need columns (finish reason, response model, output length) that are not metric
labels, so they are SQL on the detail rollups (`sources`): hourly up to three days, daily beyond.
"""

from __future__ import annotations

import math

from observatory import names
from observatory.render.alerts.rules import Scope
from observatory.render.dashboards.panels import (
    HAS_ERROR,
    RAW_COLUMNS,
    ROLLUP_COLUMNS,
    STANDARD_VARIABLES,
    UTC_DAY_START,
    Panel,
    Sql,
    by,
    errors_by_type_panel,
    objective_steps,
    objective_text,
    per_scope,
    prom_group,
    recorded,
    scope_filter,
    sql_filter,
)
from observatory.render.dashboards.sources import (
    MONTHS_RANGE,
    SHORT_RANGE,
    WEEKS_RANGE,
    rollup_rows,
    series_group,
    series_over_time,
)
from observatory.spec.types import Spec
from observatory.sql import feedback
from observatory.sql.rollups import OUTPUT_BOUNDS, output_bucket_column

TITLE = "LLM quality"
DESCRIPTION = (
    "Truncated responses, errors, drift of models and response lengths, and user satisfaction by"
    " model, application, latency and cost."
)
VARIABLES = STANDARD_VARIABLES
TIME_FROM = "now-7d"
REQUESTS = names.REC_DIM_REQUESTS_RATE
TRUNCATED = "sum(truncated)"
FINISHED = "sum(finished)"
# The week-over-week panels compare the last 7 UTC days (today's included) with the 7 before.
THIS_WEEK_START = f"{UTC_DAY_START} - INTERVAL '6 days'"
LAST_WEEK_START = f"{UTC_DAY_START} - INTERVAL '13 days'"


def _group(spec: Spec) -> tuple[str, ...]:
    """The spec's group-by keys the detail rollups have (they are not per user)."""
    return tuple(g for g in spec.dashboards.group_by if g != "user")


def _truncated(spec: Spec) -> list[Panel]:
    group = _group(spec)
    keys = tuple(ROLLUP_COLUMNS[g] for g in group)
    ratio = f"{TRUNCATED}::float8 / nullif({FINISHED}, 0)"
    # Over the longest ranges a point a month: a year of weekly detail rows is 33,000 wide rows.
    rows = rollup_rows((*keys, "finished", "truncated"), VARIABLES, detail=True, weeks=True, months=True)
    over_time = (
        f"SELECT {series_over_time(f'{ratio} AS value', group)}\n"
        f"FROM {rows}\n"
        f"{series_group(group)} ORDER BY 1"
    )
    by_model = (
        f"SELECT model, {FINISHED} AS finished, {TRUNCATED} AS truncated,\n"
        f"  {ratio} AS truncated_ratio\n"
        f"FROM {rollup_rows(('model', 'finished', 'truncated'), VARIABLES, detail=True, months=True)}\n"
        "GROUP BY 1 ORDER BY 4 DESC NULLS LAST"
    )
    description = (
        "Responses that stopped at the token limit (finish reason `length`), of all finished ones."
        f" One point per UTC hour up to {SHORT_RANGE}, per UTC day beyond, per UTC week beyond {WEEKS_RANGE},"
        f" per UTC month beyond {MONTHS_RANGE}."
    )
    return [
        Panel(
            "truncated_ratio",
            "Truncated responses by " + (", ".join(group) or "all"),
            "timeseries",
            (Sql(over_time, ("time", "metric", "value"), "time_series"),),
            description,
            "percentunit",
            width=12,
        ),
        Panel(
            "truncated_by_model",
            "Truncated responses by model",
            "table",
            (Sql(by_model, ("model", "finished", "truncated", "truncated_ratio")),),
            description,
            width=12,
        ),
    ]


def _errors(spec: Spec) -> list[Panel]:
    group = prom_group(spec.dashboards.group_by)

    def ratio(scope: Scope) -> str:
        errors = f"sum{by(group)} ({recorded(REQUESTS, scope_filter(VARIABLES, scope, HAS_ERROR))})"
        total = f"sum{by(group)} ({recorded(REQUESTS, scope_filter(VARIABLES, scope))})"
        # A group without errors has no error series: count it as 0, not as missing.
        return f"({errors} or {total} * 0) / {total}"

    return [
        errors_by_type_panel(VARIABLES),
        Panel(
            "error_ratio_by_group",
            "Error ratio by " + (", ".join(group) or "all"),
            "timeseries",
            per_scope(spec, ratio, "error_ratio", group),
            description=f"Dashed line: the SLO's error ratio ({objective_text(spec, 'error_ratio')}).",
            unit="percentunit",
            width=12,
            thresholds=objective_steps(spec.slos.default, "error_ratio"),
            show_thresholds=True,
        ),
    ]


def _drift() -> list[Panel]:
    # Over very long ranges both read weeks: a year of daily detail rows is 195,000 wide rows.
    series = rollup_rows(("model", "response_model", "requests"), VARIABLES, detail=True, weeks=True)
    per_model = (
        'SELECT bucket AS "time", model AS metric, count(DISTINCT response_model) AS value\n'
        f"FROM {series}\nWHERE response_model <> ''\nGROUP BY 1, 2 ORDER BY 1"
    )
    pairs = (
        "SELECT model AS request_model, response_model, sum(requests) AS requests,\n"
        "  min(bucket) AS first_seen, max(bucket) AS last_seen,\n"
        "  count(*) OVER (PARTITION BY model) AS response_models\n"
        f"FROM {series}\nWHERE response_model <> ''\n"
        "GROUP BY 1, 2 ORDER BY 6 DESC, 1, 4"
    )
    return [
        Panel(
            "response_models_per_request_model",
            "Response models per request model",
            "timeseries",
            (Sql(per_model, ("time", "metric", "value"), "time_series"),),
            "More than one means the provider answered a fixed request model with different models"
            f" (per UTC hour up to {SHORT_RANGE}, per UTC day beyond, per UTC week beyond {WEEKS_RANGE}).",
            "short",
            width=12,
            thresholds=((2, "orange"),),
            show_thresholds=True,
        ),
        Panel(
            "response_model_drift",
            "Request model to response model",
            "table",
            (
                Sql(
                    pairs,
                    (
                        "request_model",
                        "response_model",
                        "requests",
                        "first_seen",
                        "last_seen",
                        "response_models",
                    ),
                ),
            ),
            "Each pair seen in the time range, request models with several response models first;"
            " first and last seen are the start of the first and last hour it was seen in (day beyond"
            f" {SHORT_RANGE}, week beyond {WEEKS_RANGE}).",
            width=12,
        ),
    ]


def _weeks(keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """The detail daily rollup's `columns` summed over this week and last (the last 14 UTC days) per
    `keys`: summed before the panels turn the columns into rows, which then number a few per key."""
    grouped = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return (
        f"  SELECT bucket >= {THIS_WEEK_START} AS this_week, {''.join(k + ', ' for k in keys)}"
        f"{', '.join(f'sum({c}) AS {c}' for c in columns)}\n"
        f"  FROM {names.VIEW_DETAIL_DAILY}\n"
        f"  WHERE bucket >= {LAST_WEEK_START} AND {sql_filter(VARIABLES, ROLLUP_COLUMNS)}\n"
        f"  GROUP BY {grouped}"
    )


def _lengths() -> list[Panel]:
    # Output-length buckets as rows (lower bound, upper bound, count); the last one's upper bound is
    # the next half power of two.
    bounds = [*OUTPUT_BOUNDS, math.ceil(2**20.5)]
    columns = tuple(output_bucket_column(lower) for lower in OUTPUT_BOUNDS)
    as_rows = ", ".join(f"({lo}, {hi}, {c})" for lo, hi, c in zip(bounds, bounds[1:], columns, strict=False))
    # Within a bucket, a percentile is interpolated geometrically: lower * (upper/lower)^fraction.
    week_over_week = (
        "WITH weeks AS (\n"
        f"{_weeks(('model',), columns)}),\n"
        "buckets AS (\n"
        "  SELECT model, this_week, b.lower, b.upper, sum(b.n) AS n\n"
        f"  FROM weeks CROSS JOIN LATERAL (VALUES {as_rows}) AS b(lower, upper, n)\n"
        "  GROUP BY 1, 2, 3, 4),\n"
        "running AS (\n"
        "  SELECT *, sum(n) OVER (PARTITION BY model, this_week ORDER BY lower) AS upto,\n"
        "    sum(n) OVER (PARTITION BY model, this_week) AS total\n"
        "  FROM buckets),\n"
        "estimates AS (\n"
        "  SELECT model, this_week, total, q.q,\n"
        "    lower * power(upper::float8 / lower, (q.q * total - (upto - n)) / n) AS value\n"
        "  FROM running CROSS JOIN (VALUES (0.5), (0.9)) AS q(q)\n"
        "  WHERE n > 0 AND upto - n < q.q * total AND upto >= q.q * total)\n"
        "SELECT model,\n"
        "  max(value) FILTER (WHERE q = 0.5 AND this_week) AS p50_this_week,\n"
        "  max(value) FILTER (WHERE q = 0.5 AND NOT this_week) AS p50_last_week,\n"
        "  max(value) FILTER (WHERE q = 0.9 AND this_week) AS p90_this_week,\n"
        "  max(value) FILTER (WHERE q = 0.9 AND NOT this_week) AS p90_last_week,\n"
        "  coalesce(max(total) FILTER (WHERE this_week), 0) AS requests_this_week,\n"
        "  coalesce(max(total) FILTER (WHERE NOT this_week), 0) AS requests_last_week\n"
        "FROM estimates\nGROUP BY 1 ORDER BY 1"
    )
    # Power-of-two buckets of output length (1, 2, 4, ... tokens and up): two detail buckets each.
    as_powers = ", ".join(
        f"({1 << (lo.bit_length() - 1)}, {c})" for lo, c in zip(OUTPUT_BOUNDS, columns, strict=True)
    )
    distribution = (
        "WITH weeks AS (\n"
        f"{_weeks((), columns)})\n"
        "SELECT '>= ' || tokens_from AS output_tokens, this_week, last_week FROM (\n"
        "  SELECT b.tokens_from, sum(b.n) FILTER (WHERE this_week) AS this_week,\n"
        "    sum(b.n) FILTER (WHERE NOT this_week) AS last_week\n"
        f"  FROM weeks CROSS JOIN LATERAL (VALUES {as_powers}) AS b(tokens_from, n)\n"
        "  GROUP BY 1) AS powers\n"
        "WHERE this_week > 0 OR last_week > 0\nORDER BY tokens_from"
    )
    columns_out = (
        "model",
        "p50_this_week",
        "p50_last_week",
        "p90_this_week",
        "p90_last_week",
        "requests_this_week",
        "requests_last_week",
    )
    return [
        Panel(
            "output_tokens_week_over_week",
            "Output tokens per response: this week against last",
            "table",
            (Sql(week_over_week, columns_out),),
            "Percentiles of output length per request model over the last 7 UTC days (today's included)"
            " and the 7 before, estimated from the detail rollup's buckets (two per power of two):"
            " within a factor of 1.41 of the exact value, usually far closer.",
            width=12,
        ),
        Panel(
            "output_tokens_distribution",
            "Output length distribution: this week against last",
            "barchart",
            (Sql(distribution, ("output_tokens", "this_week", "last_week")),),
            "Requests per power-of-two output length bucket, the last 7 UTC days against the 7 before.",
            "short",
            width=12,
        ),
    ]


# The end users' ratings (observatory.sql.feedback) given in the time range, as sums per UTC day and
# per application, environment, provider and model of the rated request (the dashboard's variables):
# the whole days of the range from the ratings' daily rollup, the part-days at either end computed
# from the ratings themselves, so the figures are those of the exact range.
def _rated() -> str:
    """A FROM item `r` with the daily rollup's columns over the time range, filtered by the variables."""
    rows = feedback.over_range(
        "$__timeFrom()::timestamptz",
        "$__timeTo()::timestamptz",
        sql_filter(VARIABLES, ROLLUP_COLUMNS),
        sql_filter(VARIABLES, RAW_COLUMNS),
    )
    return f"(\n{rows}\n) AS r"


def _bucketed(kind: str) -> str:
    """Satisfaction per latency (`kind` latency) or cost bucket of the rated request, in bucket order:
    the rollup's bucket columns summed over the range, then turned into rows."""
    buckets = feedback.bucket_columns(kind)
    sums = ", ".join(
        f"sum({ratings}) AS n{i}, sum({score}) AS s{i}" for i, (_, ratings, score) in enumerate(buckets)
    )
    rows = ", ".join(f"({i}, '{label}', n{i}, s{i})" for i, (label, _, _) in enumerate(buckets))
    return (
        "SELECT b.label AS bucket, b.score / b.n AS satisfaction, b.n AS ratings\n"
        f"FROM (SELECT {sums}\nFROM {_rated()}) AS t\n"
        f"CROSS JOIN LATERAL (VALUES {rows}) AS b(k, label, n, score)\n"
        "WHERE b.n > 0 ORDER BY b.k"
    )


def _feedback() -> list[Panel]:
    def by(column: str) -> str:
        return (
            f"SELECT {column}, sum(score_sum) / sum(ratings) AS satisfaction, sum(ratings) AS ratings,\n"
            "  sum(unhappy) AS unhappy, sum(duration_ms_sum) / sum(ratings) AS mean_latency_ms,\n"
            "  sum(cost_usd_sum) / nullif(sum(priced), 0) AS mean_cost_usd\n"
            f"FROM {_rated()}\nGROUP BY 1 HAVING sum(ratings) > 0 ORDER BY 2, 1"
        )

    columns = ("satisfaction", "ratings", "unhappy", "mean_latency_ms", "mean_cost_usd")
    scale = (
        "Satisfaction is the mean score of end users' ratings (observatory_sdk.feedback: thumbs up 1,"
        " down 0, else the application's own scale) given in the time range; unhappy counts scores"
        " under 0.5. Each rating is joined to the LLM request it rates: the span it names, else its"
        " trace's request that ended last."
    )
    return [
        Panel(
            "satisfaction_by_model",
            "User satisfaction by model",
            "table",
            (Sql(by("model"), ("model", *columns)),),
            scale + " Least satisfied first.",
            width=12,
        ),
        Panel(
            "satisfaction_by_application",
            "User satisfaction by application",
            "table",
            (Sql(by("application"), ("application", *columns)),),
            scale + " Least satisfied first.",
            width=12,
        ),
        Panel(
            "satisfaction_by_latency",
            "User satisfaction by latency of the rated answer",
            "barchart",
            (Sql(_bucketed("latency"), ("bucket", "satisfaction", "ratings")),),
            scale + " Grouped by how long the rated request took.",
            width=12,
        ),
        Panel(
            "satisfaction_by_cost",
            "User satisfaction by cost of the rated answer",
            "barchart",
            (Sql(_bucketed("cost"), ("bucket", "satisfaction", "ratings")),),
            scale + " Grouped by what the rated request cost (unpriced: its model has no price).",
            width=12,
        ),
    ]


def panels(spec: Spec) -> list[Panel]:
    return [*_truncated(spec), *_errors(spec), *_drift(), *_lengths(), *_feedback()]
