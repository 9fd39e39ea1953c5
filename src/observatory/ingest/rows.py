"""LLM spans to table rows, in `observatory.storage.columns` order.

Only LLM requests become rows (an inference operation on a named model); other spans are counted
and skipped. A value of the wrong type becomes NULL rather than failing the request: one odd span
must not make the collector retry a whole batch forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory import dialects
from observatory.otlp import attributes
from observatory.storage.columns import NAMES

Row = tuple[Any, ...]
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_LLM_OPERATIONS = frozenset(dialects.load().llm_operations)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, int | float) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _row(resource: dict[str, Any], span: Any) -> Row | None:
    a = attributes(span.attributes)
    operation, model = _str(a.get("gen_ai.operation.name")), _str(a.get("gen_ai.request.model"))
    if operation not in _LLM_OPERATIONS or not model:
        return None
    reasons = a.get("gen_ai.response.finish_reasons")
    ttft = _float(a.get("gen_ai.response.time_to_first_chunk"))
    cost = _float(a.get("llm.cost.usd"))
    unpriced = a.get("llm.cost.unpriced")
    values = {
        "time": datetime.fromtimestamp(span.start_time_unix_nano / 1e9, UTC),
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "application": _str(resource.get("service.name")) or "unknown",
        "environment": _str(resource.get("deployment.environment.name")) or "unknown",
        "team": _str(resource.get("team")) or _str(a.get("team")),
        "user_id": _str(a.get("user.id")),
        "provider": _str(a.get("gen_ai.provider.name")),
        "request_model": model,
        "response_model": _str(a.get("gen_ai.response.model")),
        "operation": operation,
        "status": _STATUS.get(span.status.code, "unset"),
        "error_type": _str(a.get("error.type")),
        "finish_reason": _str(reasons[0]) if isinstance(reasons, list) and reasons else _str(reasons),
        "duration_ms": max(0, span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
        "ttft_ms": None if ttft is None else ttft * 1000,
        "input_tokens": _int(a.get("gen_ai.usage.input_tokens")),
        "output_tokens": _int(a.get("gen_ai.usage.output_tokens")),
        "cache_read_tokens": _int(a.get("gen_ai.usage.cache_read.input_tokens")),
        "cache_write_tokens": _int(a.get("gen_ai.usage.cache_creation.input_tokens")),
        "reasoning_tokens": _int(a.get("gen_ai.usage.reasoning.output_tokens")),
        "cost_usd": cost,
        # A span the collector did not price counts as unpriced: never a silent zero.
        "unpriced": unpriced if isinstance(unpriced, bool) else cost is None,
        "price_version": _day(a.get("llm.cost.price_effective_from")),
    }
    return tuple(values[name] for name in NAMES)


def rows(request: ExportTraceServiceRequest) -> Iterator[Row | None]:
    """A row per LLM span, and None for each span that is not an LLM request."""
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield _row(resource, span)
