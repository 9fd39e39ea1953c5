"""The metrics the collector derives from every span, before sampling (the signal_to_metrics connector).

Prometheus names come from the names module: the exporter appends `_total` to monotonic sums and the
unit (`_seconds`) to histograms, so each OTel name here is the Prometheus name minus that suffix.
Labels are bounded: application, environment, provider, model, operation, error type, and on the
cost counter the team (the resource attribute `team`, which budgets are set for; an application
belongs to one team, so it adds no series). Never a user, conversation or trace id.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory import semconv as sc
from observatory.dialects import Dialects
from observatory.render.collector import ottl

_RESOURCE: list[dict[str, Any]] = [
    {"key": sc.SERVICE_NAME, "default_value": names.UNKNOWN},
    {"key": sc.DEPLOYMENT_ENVIRONMENT, "default_value": names.UNKNOWN},
]
# Optional: spans of an application without a team still count, with no team label.
_RESOURCE_WITH_TEAM: list[dict[str, Any]] = [*_RESOURCE, {"key": sc.TEAM, "optional": True}]
_LABELS = [
    {"key": sc.PROVIDER, "default_value": names.UNKNOWN},
    {"key": sc.REQUEST_MODEL, "default_value": names.UNKNOWN},
    {"key": sc.OPERATION, "default_value": names.UNKNOWN},
    {"key": sc.ERROR_TYPE, "optional": True},
]


def _otel_name(prometheus_name: str, suffix: str) -> str:
    assert prometheus_name.endswith(suffix), (prometheus_name, suffix)
    return prometheus_name.removesuffix(suffix)


def _counter(
    prom: str, description: str, value: str, condition: str, resource: list[dict[str, Any]] = _RESOURCE
) -> dict[str, Any]:
    return {
        "name": _otel_name(prom, "_total"),
        "description": description,
        "include_resource_attributes": resource,
        "attributes": _LABELS,
        "conditions": [condition],
        "sum": {"value": value, "monotonic": True},
    }


def _histogram(
    prom: str, description: str, value: str, condition: str, buckets: list[float]
) -> dict[str, Any]:
    return {
        "name": _otel_name(prom, "_seconds"),
        "description": description,
        "unit": "s",
        "include_resource_attributes": _RESOURCE,
        "attributes": _LABELS,
        "conditions": [condition],
        "histogram": {"buckets": buckets, "value": value},
    }


def signal_to_metrics(table: Dialects) -> dict[str, Any]:
    llm = ottl.is_llm_span(table)

    # A sum takes the type of its first value and panics on the other (signaltometrics v0.161: a
    # double token count after int ones killed the collector through its gRPC receiver), so each
    # metric counts only values of its type that can be true. The ingester refuses such a span's row
    # and says why; the request itself is still counted.
    def count_of(name: str) -> str:
        return f"{llm} and IsInt({ottl.attr(name)}) and {ottl.attr(name)} >= 0"

    def seconds(name: str) -> str:
        value = ottl.attr(name)
        return f"{llm} and (IsDouble({value}) or IsInt({value})) and {value} >= 0"

    spans = [
        _counter(names.METRIC_REQUESTS, "LLM requests", "1", llm),
        _histogram(
            names.METRIC_DURATION,
            "LLM request duration",
            "Seconds(span.end_time - span.start_time)",
            llm,
            list(names.DURATION_BUCKETS_SECONDS),
        ),
        _histogram(
            names.METRIC_TTFT,
            "Time to first token of streamed LLM responses",
            f"Double({ottl.attr(sc.TIME_TO_FIRST_CHUNK)})",
            seconds(sc.TIME_TO_FIRST_CHUNK),
            list(names.TTFT_BUCKETS_SECONDS),
        ),
        _counter(
            names.METRIC_INPUT_TOKENS,
            "Input tokens, cached ones included",
            ottl.attr(sc.INPUT_TOKENS),
            count_of(sc.INPUT_TOKENS),
        ),
        _counter(
            names.METRIC_OUTPUT_TOKENS,
            "Output tokens, reasoning included",
            ottl.attr(sc.OUTPUT_TOKENS),
            count_of(sc.OUTPUT_TOKENS),
        ),
        _counter(
            names.METRIC_CACHE_READ_TOKENS,
            "Input tokens read from the provider's cache",
            ottl.attr(sc.CACHE_READ_TOKENS),
            count_of(sc.CACHE_READ_TOKENS),
        ),
        _counter(
            names.METRIC_CACHE_WRITE_TOKENS,
            "Input tokens written to the provider's cache",
            ottl.attr(sc.CACHE_WRITE_TOKENS),
            count_of(sc.CACHE_WRITE_TOKENS),
        ),
        _counter(
            names.METRIC_COST,
            "Cost in USD from the spec's price table",
            ottl.attr(sc.COST_USD),
            f"{llm} and IsDouble({ottl.attr(sc.COST_USD)}) and {ottl.attr(sc.COST_USD)} >= 0.0",
            _RESOURCE_WITH_TEAM,
        ),
        _counter(
            names.METRIC_UNPRICED_REQUESTS,
            "LLM requests whose model has no price in the table",
            "1",
            f"{llm} and {ottl.attr(sc.UNPRICED)} == true",
        ),
    ]
    normalised = {
        "name": _otel_name(names.METRIC_NORMALISED_SPANS, "_total"),
        "description": "Spans that arrived in an older or other dialect and were normalised",
        "include_resource_attributes": _RESOURCE,
        "attributes": [{"key": sc.NORMALISED_FROM}],
        "conditions": [f"{ottl.attr(sc.NORMALISED_FROM)} != nil"],
        "sum": {"value": "1", "monotonic": True},
    }
    return {"spans": [*spans, normalised]}
