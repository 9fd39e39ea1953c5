"""Performance: latency percentiles and heatmaps by model and provider, TTFT, throughput, errors.

Latency queries ask for exemplars: the collector attaches trace ids to histogram samples, and the
Prometheus datasource turns each exemplar into a link to its trace in Tempo.
"""

from __future__ import annotations

from observatory import names
from observatory.render.dashboards.panels import (
    STANDARD_VARIABLES,
    Panel,
    Prom,
    errors_by_type_panel,
    legend,
    prom_filter,
    prom_group,
    quantile,
    rate,
)
from observatory.spec.types import Spec

TITLE = "LLM performance"
DESCRIPTION = "Latency, time to first token, throughput and errors by model and provider."
VARIABLES = STANDARD_VARIABLES
TIME_FROM = "now-6h"
F = prom_filter(VARIABLES)


def _latency(slug: str, title: str, q: float, labels: tuple[str, ...], objective: float | None) -> Panel:
    return Panel(
        slug,
        title,
        "timeseries",
        (Prom(quantile(q, names.METRIC_DURATION, F, labels), legend(labels), exemplar=True),),
        description="Dashed line: the objective from the spec's SLOs." if objective else "",
        unit="s",
        width=12,
        thresholds=((objective, "red"),) if objective else (),
        show_thresholds=objective is not None,
    )


def _heatmap(slug: str, title: str, metric: str) -> Panel:
    expr = f"sum by (le) (increase({metric}_bucket{F}[$__rate_interval]))"
    return Panel(
        slug,
        title,
        "heatmap",
        (Prom(expr, "{{le}}", exemplar=True, format="heatmap"),),
        description="Requests per latency bucket; exemplar points open their trace.",
        width=12,
    )


def panels(spec: Spec) -> list[Panel]:
    slo = spec.slos.default
    group = prom_group(spec.dashboards.group_by)
    ttft = tuple(
        Prom(quantile(q, names.METRIC_TTFT, F), f"p{round(q * 100)}", exemplar=True)
        for q in (0.5, 0.95, 0.99)
    )
    return [
        _latency(
            "latency_p95_by_group",
            "Latency p95 by " + (", ".join(group) or "all"),
            0.95,
            group,
            slo.latency_p95_seconds,
        ),
        _latency(
            "latency_p99_by_group",
            "Latency p99 by " + (", ".join(group) or "all"),
            0.99,
            group,
            slo.latency_p99_seconds,
        ),
        _heatmap("latency_heatmap", "Latency distribution", names.METRIC_DURATION),
        _latency("latency_by_model", "Latency p95 by model", 0.95, (names.LABEL_MODEL,), None),
        _latency("latency_by_provider", "Latency p95 by provider", 0.95, (names.LABEL_PROVIDER,), None),
        Panel(
            "ttft_percentiles",
            "Time to first token p50 / p95 / p99",
            "timeseries",
            ttft,
            description="Streamed responses only. Dashed line: the TTFT objective.",
            unit="s",
            width=12,
            thresholds=((slo.ttft_p95_seconds, "red"),),
            show_thresholds=True,
        ),
        _heatmap("ttft_heatmap", "Time to first token distribution", names.METRIC_TTFT),
        Panel(
            "output_tokens_per_second",
            "Output tokens per second by model",
            "timeseries",
            (Prom(f"sum by (model) ({rate(names.METRIC_OUTPUT_TOKENS, F)})", "{{model}}"),),
            unit="short",
            width=12,
        ),
        errors_by_type_panel(VARIABLES),
    ]
