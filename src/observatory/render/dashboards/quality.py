"""Quality: truncated responses, errors, and drift (a request model answered by a changing response
model; the output length distribution this week against last week).

Truncation and drift need per-request columns (finish reason, response model, token counts) that are
not metric labels, so they are SQL on the per-request table.
"""

from __future__ import annotations

from observatory import names
from observatory.render.dashboards.panels import (
    HAS_ERROR,
    RAW_COLUMNS,
    STANDARD_VARIABLES,
    Panel,
    Prom,
    Sql,
    by,
    errors_by_type_panel,
    legend,
    prom_filter,
    prom_group,
    rate,
    sql_filter,
    sql_series,
)
from observatory.spec.types import Spec

TITLE = "LLM quality"
DESCRIPTION = "Truncated responses, errors and drift of models and response lengths."
VARIABLES = STANDARD_VARIABLES
TIME_FROM = "now-7d"
RAW = names.TABLE_REQUESTS
F = prom_filter(VARIABLES)
FILTER = sql_filter(VARIABLES, RAW_COLUMNS)
WHERE = f"$__timeFilter(time) AND {FILTER}"
TRUNCATED = "count(*) FILTER (WHERE finish_reason = 'length')"
FINISHED = "count(*) FILTER (WHERE finish_reason IS NOT NULL)"
THIS_WEEK = "time >= now() - INTERVAL '7 days'"
LAST_WEEK = "time < now() - INTERVAL '7 days'"


def _truncated(spec: Spec) -> list[Panel]:
    group = spec.dashboards.group_by
    over_time = (
        f"SELECT $__timeGroupAlias(time, $__interval), {sql_series(group, RAW_COLUMNS)},\n"
        f"  {TRUNCATED}::float8 / nullif({FINISHED}, 0) AS value\n"
        f"FROM {RAW}\nWHERE {WHERE}\nGROUP BY 1, 2 ORDER BY 1"
    )
    by_model = (
        f"SELECT coalesce(request_model, '') AS model, {FINISHED} AS finished, {TRUNCATED} AS truncated,\n"
        f"  {TRUNCATED}::float8 / nullif({FINISHED}, 0) AS truncated_ratio\n"
        f"FROM {RAW}\nWHERE {WHERE}\nGROUP BY 1 ORDER BY 4 DESC NULLS LAST"
    )
    description = "Responses that stopped at the token limit (finish reason `length`), of all finished ones."
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
    errors = f"sum{by(group)} ({rate(names.METRIC_REQUESTS, prom_filter(VARIABLES, HAS_ERROR))})"
    total = f"sum{by(group)} ({rate(names.METRIC_REQUESTS, F)})"
    slo = spec.slos.default.error_ratio
    return [
        errors_by_type_panel(VARIABLES),
        Panel(
            "error_ratio_by_group",
            "Error ratio by " + (", ".join(group) or "all"),
            "timeseries",
            # A group without errors has no error series: count it as 0, not as missing.
            (Prom(f"({errors} or {total} * 0) / {total}", legend(group)),),
            description=f"Dashed line: the SLO's error ratio ({slo:g}).",
            unit="percentunit",
            width=12,
            thresholds=((slo, "red"),),
            show_thresholds=True,
        ),
    ]


def _drift() -> list[Panel]:
    per_model = (
        "SELECT $__timeGroupAlias(time, $__interval), coalesce(request_model, '') AS metric,\n"
        "  count(DISTINCT response_model) AS value\n"
        f"FROM {RAW}\nWHERE {WHERE} AND response_model IS NOT NULL\nGROUP BY 1, 2 ORDER BY 1"
    )
    pairs = (
        "SELECT coalesce(request_model, '') AS request_model, response_model, count(*) AS requests,\n"
        "  min(time) AS first_seen, max(time) AS last_seen,\n"
        "  count(*) OVER (PARTITION BY coalesce(request_model, '')) AS response_models\n"
        f"FROM {RAW}\nWHERE {WHERE} AND response_model IS NOT NULL\n"
        "GROUP BY 1, 2 ORDER BY 6 DESC, 1, 4"
    )
    return [
        Panel(
            "response_models_per_request_model",
            "Response models per request model",
            "timeseries",
            (Sql(per_model, ("time", "metric", "value"), "time_series"),),
            "More than one means the provider answered a fixed request model with different models.",
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
            "Each pair seen in the time range; request models with several response models first.",
            width=12,
        ),
    ]


def _lengths() -> list[Panel]:
    def pct(q: float, week: str) -> str:
        return f"percentile_cont({q}) WITHIN GROUP (ORDER BY output_tokens) FILTER (WHERE {week})"

    recent = f"{RAW}\nWHERE time >= now() - INTERVAL '14 days' AND output_tokens IS NOT NULL AND {FILTER}"
    week_over_week = (
        "SELECT coalesce(request_model, '') AS model,\n"
        f"  {pct(0.5, THIS_WEEK)} AS p50_this_week, {pct(0.5, LAST_WEEK)} AS p50_last_week,\n"
        f"  {pct(0.9, THIS_WEEK)} AS p90_this_week, {pct(0.9, LAST_WEEK)} AS p90_last_week,\n"
        f"  count(*) FILTER (WHERE {THIS_WEEK}) AS requests_this_week,\n"
        f"  count(*) FILTER (WHERE {LAST_WEEK}) AS requests_last_week\n"
        f"FROM {recent}\nGROUP BY 1 ORDER BY 1"
    )
    # Power-of-two buckets of output length: 1, 2, 4, ... tokens and up.
    distribution = (
        "SELECT '>= ' || tokens_from AS output_tokens, this_week, last_week FROM (\n"
        "  SELECT (2 ^ floor(log(2, greatest(output_tokens, 1)::numeric)))::bigint AS tokens_from,\n"
        f"    count(*) FILTER (WHERE {THIS_WEEK}) AS this_week,\n"
        f"    count(*) FILTER (WHERE {LAST_WEEK}) AS last_week\n"
        f"  FROM {recent}\n  GROUP BY 1) AS buckets\nORDER BY tokens_from"
    )
    columns = (
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
            (Sql(week_over_week, columns),),
            "Percentiles of output length per request model over the last 7 days and the 7 before.",
            width=12,
        ),
        Panel(
            "output_tokens_distribution",
            "Output length distribution: this week against last",
            "barchart",
            (Sql(distribution, ("output_tokens", "this_week", "last_week")),),
            "Requests per power-of-two output length bucket.",
            "short",
            width=12,
        ),
    ]


def panels(spec: Spec) -> list[Panel]:
    return [*_truncated(spec), *_errors(spec), *_drift(), *_lengths()]
