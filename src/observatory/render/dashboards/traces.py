"""Traces: Tempo TraceQL tables of slow, failed and recent LLM calls, and one trace by id.

Tempo keeps only the traces tail sampling chose: every error, every call slower than the spec's
sampling threshold, and a baseline share of the rest, so "slow" here means that threshold.
"""

from __future__ import annotations

from observatory.render.dashboards.panels import Panel, TraceQL
from observatory.spec.types import Spec

TITLE = "LLM traces"
DESCRIPTION = "Slow and failed LLM calls in Tempo, by application and model; open one to see its trace."
VARIABLES = ("application", "environment", "model", "trace_id")
TIME_FROM = "now-1h"
# An LLM call is a span with a request model; `:regex` turns a multi-value selection into one regex,
# escaping metacharacters with backslashes (gemini-2\.5-flash). TraceQL reads escapes in "..." and
# refuses `\.`, so the regexes are backtick strings, which it takes as they are.
LLM_CALLS = (
    "span.gen_ai.request.model =~ `${model:regex}` && resource.service.name =~ `${application:regex}`"
    " && resource.deployment.environment.name =~ `${environment:regex}`"
)
SELECT = (
    " | select(resource.service.name, span.gen_ai.request.model, span.gen_ai.response.model,"
    " span.gen_ai.usage.output_tokens, span.error.type)"
)


def _table(slug: str, title: str, condition: str, description: str) -> Panel:
    query = "{ " + " && ".join((LLM_CALLS, condition) if condition else (LLM_CALLS,)) + " }" + SELECT
    return Panel(slug, title, "table", (TraceQL(query),), description, width=12, height=10)


def panels(spec: Spec) -> list[Panel]:
    slow = spec.sampling.default.slow_threshold_seconds
    return [
        _table(
            "slow_calls",
            f"LLM calls slower than {slow:g} s",
            f"duration > {slow:g}s",
            "The spec's sampling threshold for slow calls: every such trace is kept.",
        ),
        _table("failed_calls", "Failed LLM calls", "status = error", "Every failed call's trace is kept."),
        _table("recent_calls", "Recent LLM calls", "", "Includes the sampled baseline of ordinary calls."),
        Panel(
            "trace",
            "Trace",
            "traces",
            (TraceQL("${trace_id}"),),
            "Paste a trace id into the trace_id box (or click one in a table above).",
            width=12,
            height=14,
        ),
    ]
