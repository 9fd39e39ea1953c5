"""The span-to-row mapping, field by field: the row is built as a positional tuple for speed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observatory.ingest.rows import rows
from observatory.otlp import key_values
from observatory.sql.columns import NAMES

START = 1_764_000_000_123_000_000


def _request(attributes: dict[str, object], status: int = 0) -> ExportTraceServiceRequest:
    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        start_time_unix_nano=START,
        end_time_unix_nano=START + 1_500_000_000,
        attributes=key_values(attributes),  # type: ignore[arg-type]
        status=Status(code=status),
    )  # type: ignore[arg-type]
    resource = Resource(
        attributes=key_values(
            {"service.name": "chat", "deployment.environment.name": "prod", "team": "search"}
        )
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )


def test_every_column_gets_its_attribute() -> None:
    request = _request(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024",
            "gen_ai.provider.name": "openai",
            "user.id": "h1",
            "error.type": "timeout",
            "llm.error.raw_type": "APITimeoutError",
            "gen_ai.response.finish_reasons": ["length"],
            "gen_ai.response.time_to_first_chunk": 0.25,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 30,
            "gen_ai.usage.cache_creation.input_tokens": 5,
            "gen_ai.usage.reasoning.output_tokens": 7,
            "llm.cost.usd": 0.0125,
            "llm.cost.unpriced": False,
            "llm.cost.price_effective_from": "2024-01-01",
        },
        status=2,
    )
    (row,) = list(rows(request))
    assert row is not None
    assert dict(zip(NAMES, row, strict=True)) == {
        "time": datetime.fromtimestamp(START / 1e9, UTC),
        "trace_id": bytes(range(16)).hex(),
        "span_id": bytes(range(8)).hex(),
        "application": "chat",
        "environment": "prod",
        "team": "search",
        "user_id": "h1",
        "provider": "openai",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024",
        "operation": "chat",
        "status": "error",
        "error_type": "timeout",
        "error_type_raw": "APITimeoutError",
        "finish_reason": "length",
        "duration_ms": 1500.0,
        "ttft_ms": 250.0,
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_tokens": 30,
        "cache_write_tokens": 5,
        "reasoning_tokens": 7,
        "cost_usd": 0.0125,
        "unpriced": False,
        "price_version": date(2024, 1, 1),
    }


def test_a_span_that_is_not_an_llm_request_gives_no_row() -> None:
    assert list(rows(_request({"gen_ai.operation.name": "execute_tool", "gen_ai.request.model": "x"}))) == [
        None
    ]
    assert list(rows(_request({"gen_ai.operation.name": "chat"}))) == [None]
    assert list(rows(_request({"gen_ai.operation.name": "chat", "gen_ai.provider.name": ""}))) == [None]


def test_a_failed_call_without_a_request_model_is_a_request_when_it_names_its_provider() -> None:
    # OpenInference's failed calls carry no model at all: provider and operation are enough.
    failed = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "error.type": "rate_limit"}
    (row,) = list(rows(_request(failed, status=2)))
    assert row is not None
    by_name = dict(zip(NAMES, row, strict=True))
    assert (by_name["request_model"], by_name["provider"], by_name["error_type"]) == (
        None,
        "openai",
        "rate_limit",
    )
    (row,) = list(rows(_request({"gen_ai.operation.name": "embeddings", "gen_ai.response.model": "m-1"})))
    assert row is not None and dict(zip(NAMES, row, strict=True))["response_model"] == "m-1"


def test_wrong_types_become_null_and_an_unpriced_span_is_never_zero() -> None:
    (row,) = list(
        rows(
            _request(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "m",
                    "gen_ai.usage.input_tokens": "many",
                    "llm.cost.price_effective_from": "soon",
                }
            )
        )
    )
    assert row is not None
    values = dict(zip(NAMES, row, strict=True))
    assert (values["input_tokens"], values["price_version"], values["cost_usd"], values["unpriced"]) == (
        None,
        None,
        None,
        True,
    )
    assert (values["application"], values["status"]) == ("chat", "unset")


def test_the_start_time_is_exact_to_the_microsecond_and_truncated() -> None:
    # 1,764,000,000.123456999 s: a float of the nanoseconds rounds it up to ...457 µs.
    start = 1_764_000_000_123_456_999
    request = _request({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})
    request.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = start
    (row,) = list(rows(request))
    assert row is not None
    assert row[0] == datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC)


def test_a_price_date_must_be_year_month_day() -> None:
    for text, expected in [("2024-02-29", date(2024, 2, 29)), ("2024-W01-1", None), ("20240101", None)]:
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
        (row,) = list(rows(_request({**attributes, "llm.cost.price_effective_from": text})))
        assert row is not None
        assert dict(zip(NAMES, row, strict=True))["price_version"] == expected, text


def test_copy_text_escapes_separators_and_replaces_nul_which_postgresql_cannot_store() -> None:
    from observatory.ingest.convert import copy_line

    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "user.id": "a\tb\\c\nd\0e"}
    (row,) = list(rows(_request(attributes)))
    assert row is not None
    assert "\ta\\tb\\\\c\\nd\ufffde\t" in copy_line(row)
