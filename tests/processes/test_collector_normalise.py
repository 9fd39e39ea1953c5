"""The collector's normalisation, error vocabulary and pricing, case by case, in the real collector.

Each case is one span as a library sends it; the rendered `transform/normalise`, `transform/price`,
`transform/redact` and `redact` processors run alone between an OTLP receiver and a capture endpoint, and
the case says which attributes must come out. The corpus test (real libraries' output) covers the same rules
end to end; this one names each rule and its edge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observatory import names
from observatory.otlp import key_values, spans
from observatory.render.collector import config
from observatory.spec import load
from tests.collector_stages import stages_config
from tests.conftest import REPO, ManagedProcess, collector_binary, free_port, poll_until
from tests.otlp_capture import OtlpCapture

ERROR = Status.STATUS_CODE_ERROR
START = 1_764_000_000_000_000_000  # 2025-11-24, after every default price row's date
ABSENT = object()  # the attribute must not be there
HASH_KEY = "normalise-test-key"


@dataclass(frozen=True)
class Case:
    name: str
    attributes: dict[str, Any]
    expect: dict[str, Any]
    status: int = 0
    events: tuple[tuple[str, int], ...] = ()  # (name, nanoseconds after the span's start)
    exception_type: str | None = None  # an `exception` event with this exception.type
    scope: str = "a-library"  # the instrumentation scope that made the span
    resource: dict[str, Any] = field(default_factory=lambda: {"service.name": "normalise-cases"})


OPENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
GPT4O_USD_PER_TOKEN = (2.50 / 1e6, 10.00 / 1e6)

# Raw error types as the libraries write them (class names, repr()s, provider codes), and the vocabulary.
ERROR_TYPES = [
    ("<class 'openai.RateLimitError'>", "rate_limit"),
    ("RateLimitError", "rate_limit"),
    ("rate_limit_exceeded", "rate_limit"),
    ("APITimeoutError", "timeout"),
    ("httpx.ReadTimeout", "timeout"),
    ("InternalServerError", "server_error"),
    ("overloaded_error", "server_error"),
    ("<class 'anthropic.APIStatusError'>", "other"),
    ("APIConnectionError", "connection"),
    ("BadRequestError", "bad_request"),
    ("UnprocessableEntityError", "bad_request"),
    ("context_length_exceeded", "context_length"),
    ("AuthenticationError", "auth"),
    ("PermissionDeniedError", "auth"),
    ("NotFoundError", "not_found"),
    ("ContentFilterFinishReasonError", "content_filter"),
    ("asyncio.exceptions.CancelledError", "cancelled"),
    ("_OTHER", "other"),
    ("SomethingNobodyExpected", "other"),
    ("server_error", "server_error"),  # already the vocabulary's: unchanged
]

CASES = [
    *(
        Case(
            f"error type {raw}",
            {**OPENAI, "error.type": raw},
            {"error.type": kind, "llm.error.raw_type": raw, "llm.cost.usd": 0.0, "llm.cost.unpriced": False},
            status=ERROR,
        )
        for raw, kind in ERROR_TYPES
    ),
    Case(
        "a failed call with only an HTTP status code",
        {**OPENAI, "http.response.status_code": 429},
        {"error.type": "rate_limit", "llm.error.raw_type": "429"},
        status=ERROR,
    ),
    Case(
        "a failed call with the older HTTP status attribute",
        {**OPENAI, "http.status_code": 503},
        {"error.type": "server_error", "llm.error.raw_type": "503"},
        status=ERROR,
    ),
    Case(
        "a failed call that says nothing",
        dict(OPENAI),
        {"error.type": "other", "llm.error.raw_type": "_OTHER"},
        status=ERROR,
    ),
    Case(
        "a successful call has no error type",
        {**OPENAI, "gen_ai.usage.input_tokens": 10},
        {"error.type": ABSENT},
    ),
    Case(
        "a failed call on an unpriced model without tokens costs 0 and is not unpriced",
        {**OPENAI, "gen_ai.request.model": "mystery-1", "error.type": "RateLimitError"},
        {"llm.cost.usd": 0.0, "llm.cost.unpriced": False, "llm.cost.price_effective_from": ABSENT},
        status=ERROR,
    ),
    Case(
        "a failed call that used tokens is priced",
        {**OPENAI, "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10},
        {
            "llm.cost.usd": 1000 * GPT4O_USD_PER_TOKEN[0] + 10 * GPT4O_USD_PER_TOKEN[1],
            "llm.cost.unpriced": False,
        },
        status=ERROR,
    ),
    Case(
        "an embedding is priced from its input tokens alone",
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 1_000_000,
        },
        {"llm.cost.usd": 0.02, "llm.cost.unpriced": False, "llm.cost.price_effective_from": "2024-01-01"},
    ),
    Case(
        "an unpriced model with tokens stays unpriced",
        {**OPENAI, "gen_ai.request.model": "mystery-1", "gen_ai.usage.input_tokens": 5},
        {"llm.cost.unpriced": True, "llm.cost.usd": ABSENT},
    ),
    Case(
        "OpenInference: the model name is the response model, the request model is in the parameters",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o-mini-2024-07-18",
            "llm.invocation_parameters": '{"model": "gpt-4o-mini", "stream": false, "temperature": 0}',
            "llm.token_count.prompt": 1_000_000,
            "llm.token_count.completion": 0,
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.request.stream": False,
            "llm.invocation_parameters": '{"model": "gpt-4o-mini", "stream": false, "temperature": 0}',
            "llm.cost.usd": 0.15,
        },
    ),
    Case(
        "OpenInference: a failed call's model comes from the parameters alone",
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.invocation_parameters": '{"model": "gpt-4o"}',
        },
        {
            "gen_ai.request.model": "gpt-4o",
            "error.type": "rate_limit",
            "llm.error.raw_type": "openai.RateLimitError",
            "llm.cost.usd": 0.0,
        },
        status=ERROR,
        exception_type="openai.RateLimitError",
    ),
    Case(
        "an exception event does not override the error type a library set",
        {**OPENAI, "error.type": "APITimeoutError"},
        {"error.type": "timeout", "llm.error.raw_type": "APITimeoutError"},
        status=ERROR,
        exception_type="httpx.ConnectError",
    ),
    Case(
        "the Anthropic SDK's own span of a call is not a second request",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 2250,
            "gen_ai.usage.cache_write.input_tokens": 400,
        },
        {
            "llm.cost.unpriced": ABSENT,
            "llm.cost.usd": ABSENT,
            "llm.request": ABSENT,
        },
        scope="com.anthropic.sdk.python",
    ),
    Case(
        "a mark of an LLM request that arrives with a span is the sender's, and is dropped",
        {"http.route": "/chat", "llm.request": True},
        {"llm.request": ABSENT, "llm.cost.unpriced": ABSENT},
    ),
    Case(
        "OpenLIT's Anthropic input tokens leave out the cached ones: they are added back",
        {
            "telemetry.sdk.name": "openlit",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 15,
            "gen_ai.usage.cache_read.input_tokens": 1800,
            "gen_ai.usage.cache_creation.input_tokens": 400,
        },
        {
            "gen_ai.usage.input_tokens": 2250,
            "llm.cost.usd": (50 * 3.00 + 1800 * 0.30 + 400 * 3.75 + 15 * 15.00) / 1e6,
        },
    ),
    Case(
        "OpenLIT's OpenAI input tokens already hold the cached ones",
        {
            "telemetry.sdk.name": "openlit",
            **OPENAI,
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.cache_read.input_tokens": 1024,
        },
        {"gen_ai.usage.input_tokens": 2000},
    ),
    Case(
        "an empty user id names nobody and is dropped, not hashed",
        {**OPENAI, "gen_ai.request.user": ""},
        {"user.id": ABSENT},
    ),
    Case(
        "a user id is a keyed hash",
        {**OPENAI, "gen_ai.user": "u-123"},
        {"user.id": hashlib.sha256(f"{HASH_KEY}:u-123".encode()).hexdigest()},
    ),
    Case(
        "OpenInference: parameters that are not a JSON object are left alone",
        {"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.invocation_parameters": "[1, 2]"},
        {"gen_ai.request.model": ABSENT, "gen_ai.provider.name": "openai", "llm.cost.unpriced": True},
    ),
    Case(
        "with only a response model, it is the request model too",
        {"gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-4o-2024-08-06"},
        {"gen_ai.request.model": "gpt-4o-2024-08-06"},
    ),
    Case(
        "no time to first token on a call that was not streamed",
        {**OPENAI, "gen_ai.server.time_to_first_token": 0.4, "gen_ai.request.stream": False},
        {"gen_ai.response.time_to_first_chunk": ABSENT, "gen_ai.request.stream": False},
    ),
    Case(
        "time to first token kept on a streamed call",
        {**OPENAI, "gen_ai.server.time_to_first_token": 0.4, "gen_ai.request.stream": True},
        {"gen_ai.response.time_to_first_chunk": 0.4, "gen_ai.request.stream": True},
    ),
    Case(
        "no time to first token on an embedding",
        {**OPENAI, "gen_ai.operation.name": "embeddings", "gen_ai.response.time_to_first_chunk": 0.1},
        {"gen_ai.response.time_to_first_chunk": ABSENT},
    ),
    Case(
        "a first-token event gives the time to first token of a streamed call",
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.model_name": "claude-sonnet-4-5",
        },
        {"gen_ai.response.time_to_first_chunk": 0.25, "gen_ai.request.stream": True},
        events=(("First Token Stream Event", 250_000_000),),
    ),
    Case(
        "a span that is not an LLM call keeps its error type as it came",
        {"gen_ai.operation.name": "execute_tool", "error.type": "ValueError"},
        {"error.type": "ValueError", "llm.error.raw_type": ABSENT, "llm.cost.unpriced": ABSENT},
        status=ERROR,
    ),
]


def _request() -> bytes:
    scopes: dict[str, list[Span]] = {}
    for i, case in enumerate(CASES):
        span = Span(
            trace_id=(i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            name=case.name,
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=START,
            end_time_unix_nano=START + 10**9,
            attributes=key_values(case.attributes),
            status=Status(code=case.status),  # type: ignore[arg-type]
        )
        for name, offset in case.events:
            span.events.add(name=name, time_unix_nano=START + offset)
        if case.exception_type is not None:
            event = span.events.add(name="exception", time_unix_nano=START + 1)
            event.attributes.extend(key_values({"exception.type": case.exception_type}))
        scopes.setdefault(case.scope, []).append(span)
    resource = ResourceSpans(
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name=n), spans=s) for n, s in scopes.items()]
    )
    resource.resource.attributes.extend(key_values({"service.name": "normalise-cases"}))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def _config(otlp_port: int, health_port: int, capture_url: str) -> str:
    rendered = config(load(REPO / "observatory.yaml"))["processors"]
    stages = ["transform/normalise", "transform/price", "transform/redact", "redact"]
    return stages_config(rendered, stages, otlp_port, health_port, capture_url)


@pytest.fixture(scope="module")
def normalised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    binary = collector_binary()
    tmp = tmp_path_factory.mktemp("normalise")
    capture, otlp, health = OtlpCapture(), free_port(), free_port()
    Path(tmp / "config.yaml").write_text(_config(otlp, health, capture.url))
    env = {names.ENV_USER_ID_HASH_KEY: HASH_KEY}
    collector = ManagedProcess([str(binary), f"--config={tmp / 'config.yaml'}"], tmp / "collector.log", env)
    try:
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        response = requests.post(
            f"http://127.0.0.1:{otlp}/v1/traces",
            data=_request(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

        def by_name() -> dict[str, dict[str, Any]]:
            return {s.name: dict(s.attributes) for r in list(capture.traces) for s in spans(r)}

        poll_until(lambda: len(by_name()) == len(CASES), f"{len(CASES)} spans at the capture endpoint")
        yield by_name()
    finally:
        collector.stop()
        capture.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_collector_normalises_each_case(case: Case, normalised: dict[str, dict[str, Any]]) -> None:
    got = normalised[case.name]
    wrong = {}
    for key, want in case.expect.items():
        if want is ABSENT:
            if key in got:
                wrong[key] = got[key]
        elif isinstance(want, float) and isinstance(got.get(key), float):
            if abs(got[key] - want) > 1e-9:
                wrong[key] = got[key]
        elif got.get(key, ABSENT) != want:
            wrong[key] = got.get(key, "<absent>")
    assert not wrong, f"{case.name}: {wrong} (all attributes: {got})"
