"""Performance: latency percentiles and heatmaps by model and provider, TTFT, throughput, errors.

Every panel reads the recording rules (names.REC_DIM_*), heatmaps and percentiles alike. None asks for
exemplars: the collector's signal_to_metrics connector attaches none to the metrics it derives, so
slow requests are found on the Traces dashboard (slow and failed traces are always kept).
"""

from __future__ import annotations

from observatory import names
from observatory.render.dashboards.panels import (
    STANDARD_VARIABLES,
    Panel,
    Prom,
    errors_by_type_panel,
    legend,
    objective_steps,
    objective_text,
    prom_filter,
    prom_group,
    quantile,
    recorded,
    scoped_quantiles,
)
from observatory.spec.types import Spec

TITLE = "LLM performance"
DESCRIPTION = "Latency, time to first token, throughput and errors by model and provider."
VARIABLES = STANDARD_VARIABLES
TIME_FROM = "now-6h"
F = prom_filter(VARIABLES)
TTFT = "ttft_p95_seconds"  # an objective (a field of the spec's Objectives), in seconds


def _latency(
    spec: Spec, slug: str, title: str, q: float, labels: tuple[str, ...], objective: str | None
) -> Panel:
    """Quantile `q` of latency by `labels`; with an `objective` (a field of the spec's `Objectives`),
    one query per objective scope, each drawn against its own objective."""
    bucket_rule = names.REC_DIM_DURATION_BUCKET_RATE
    queries = (
        scoped_quantiles(spec, VARIABLES, bucket_rule, (q,), objective, labels)
        if objective
        else (Prom(quantile(q, bucket_rule, F, labels), legend(labels)),)
    )
    return Panel(
        slug,
        title,
        "timeseries",
        queries,
        description=f"Dashed line: the objective ({objective_text(spec, objective, ' s')})."
        if objective
        else "",
        unit="s",
        width=12,
        thresholds=objective_steps(spec.slos.default, objective) if objective else (),
        show_thresholds=objective is not None,
    )


def _heatmap(slug: str, title: str, bucket_rule: str) -> Panel:
    expr = f"sum by (le) ({recorded(bucket_rule, F)})"
    return Panel(
        slug,
        title,
        "heatmap",
        (Prom(expr, "{{le}}", format="heatmap"),),
        description="Requests per second in each bucket, from the recorded 5-minute rates.",
        width=12,
    )


def panels(spec: Spec) -> list[Panel]:
    slo = spec.slos.default
    group = prom_group(spec.dashboards.group_by)
    ttft = scoped_quantiles(spec, VARIABLES, names.REC_DIM_TTFT_BUCKET_RATE, (0.5, 0.95, 0.99), TTFT)
    return [
        _latency(
            spec,
            "latency_p95_by_group",
            "Latency p95 by " + (", ".join(group) or "all"),
            0.95,
            group,
            "latency_p95_seconds",
        ),
        _latency(
            spec,
            "latency_p99_by_group",
            "Latency p99 by " + (", ".join(group) or "all"),
            0.99,
            group,
            "latency_p99_seconds",
        ),
        _heatmap("latency_heatmap", "Latency distribution", names.REC_DIM_DURATION_BUCKET_RATE),
        _latency(spec, "latency_by_model", "Latency p95 by model", 0.95, (names.LABEL_MODEL,), None),
        _latency(spec, "latency_by_provider", "Latency p95 by provider", 0.95, (names.LABEL_PROVIDER,), None),
        Panel(
            "ttft_percentiles",
            "Time to first token p50 / p95 / p99",
            "timeseries",
            ttft,
            description=(
                "Streamed responses only. Dashed line: the p95 objective"
                f" ({objective_text(spec, TTFT, ' s')})."
            ),
            unit="s",
            width=12,
            thresholds=objective_steps(slo, TTFT),
            show_thresholds=True,
        ),
        _heatmap("ttft_heatmap", "Time to first token distribution", names.REC_DIM_TTFT_BUCKET_RATE),
        Panel(
            "output_tokens_per_second",
            "Output tokens per second by model",
            "timeseries",
            (Prom(f"sum by (model) ({recorded(names.REC_DIM_OUTPUT_TOKENS_RATE, F)})", "{{model}}"),),
            unit="short",
            width=12,
        ),
        errors_by_type_panel(VARIABLES),
    ]
