"""Synthetic LLM traffic with its ground truth: OTLP traces and logs in every dialect, and the totals
they must produce (requests, tokens and cost per application and model; error and slow trace ids).

Deterministic for a seed and a start time. Each trace is an application request (a server span)
with one or two LLM calls under it and sometimes a tool call; calls fail by type, some are slow,
some stream (time to first token), and prompts and logs carry PII that must never leave the collector.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observatory import dialects as dialect_table
from observatory.dialects import Alias
from observatory.otlp import AttrValue, key_values
from observatory.pricing import Usage, cost_usd, find_price, priced_model
from observatory.spec.types import Spec

DIALECTS = ("official", "openllmetry", "openlit", "openinference", "legacy")
# (application, environment, team)
APPLICATIONS = (
    ("support-bot", "prod", "support"),
    ("search-assistant", "prod", "search"),
    ("code-review", "staging", "platform"),
)
# (provider, request model, response model or None); the last two have no price in the default table.
MODELS = (
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini", None),
    ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ("gcp.gemini", "gemini-2.5-flash", None),
    ("openai", "gpt-7-preview", None),
    ("mistral_ai", "mistral-large-latest", None),
)
# Failed calls as libraries report them: error.type is whatever the library wrote (class names, their
# repr(), provider codes); the collector maps each to its vocabulary (dialects.yaml, error_types).
ERROR_TYPES = (
    ("<class 'openai.RateLimitError'>", "rate_limit"),
    ("RateLimitError", "rate_limit"),
    ("APITimeoutError", "timeout"),
    ("InternalServerError", "server_error"),
    ("overloaded_error", "server_error"),
    ("ContentFilterFinishReasonError", "content_filter"),
)
# One call in this many is an embedding: input tokens only, priced from them alone.
EMBEDDING_MODEL = ("openai", "text-embedding-3-small")
EMBEDDING_SHARE = 0.1
# Where each dialect puts the prompt: the collector must drop every one of these keys.
PROMPT_KEYS = {
    "official": "gen_ai.input.messages",
    "legacy": "gen_ai.prompt.0.content",
    "openllmetry": "gen_ai.prompt.0.content",
    "openinference": "llm.input_messages.0.message.content",
    "openlit": "gen_ai.input.messages",
}
# Provider names as the older dialects spelled them, to exercise value normalisation.
LEGACY_PROVIDER = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gcp.gemini": "gemini",
    "mistral_ai": "mistralai",
}
# Strings that are PII by the built-in patterns; none of them may reach any backend.
PII = (
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "sk-proj-AbCdEfGhIjKlMnOpQrStUv012345",
    "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
)
Key = tuple[str, str]  # (application, request model)


@dataclass
class Truth:
    """What the traffic must add up to in every store, whatever the sampling."""

    requests: Counter[Key] = field(default_factory=Counter)
    input_tokens: Counter[Key] = field(default_factory=Counter)
    output_tokens: Counter[Key] = field(default_factory=Counter)
    cache_read_tokens: Counter[Key] = field(default_factory=Counter)
    cache_write_tokens: Counter[Key] = field(default_factory=Counter)
    cost_usd: dict[Key, float] = field(default_factory=lambda: defaultdict(float))
    unpriced_requests: Counter[Key] = field(default_factory=Counter)
    span_cost: dict[str, float | None] = field(default_factory=dict)  # LLM span id -> cost, None unpriced
    error_traces: set[str] = field(default_factory=set)
    slow_traces: set[str] = field(default_factory=set)
    other_traces: set[str] = field(default_factory=set)
    trace_app: dict[str, str] = field(default_factory=dict)
    dialect_spans: Counter[str] = field(default_factory=Counter)
    user_ids: set[str] = field(default_factory=set)
    error_types: Counter[tuple[str, str]] = field(default_factory=Counter)  # (application, vocabulary type)
    pii: tuple[str, ...] = PII


@dataclass(frozen=True)
class Workload:
    seed: int = 7
    traces: int = 1000
    error_ratio: float = 0.05
    slow_ratio: float = 0.04
    start_unix_nano: int = 0  # required in practice: the time of the first trace
    dialects: tuple[str, ...] = DIALECTS
    # Spans as the collector hands them on: canonical names and llm.cost.* already set, user ids as
    # they are (the ingester's input), rather than as applications send them (the collector's).
    as_collector_output: bool = False


@dataclass
class Traffic:
    traces: list[ExportTraceServiceRequest]
    logs: list[ExportLogsServiceRequest]
    truth: Truth


def _speak(dialect: str, canonical: dict[str, AttrValue]) -> tuple[dict[str, AttrValue], bool]:
    """The canonical LLM span attributes as `dialect` would send them, and whether that needs normalising."""
    if dialect == "official":
        return canonical, False
    table = dialect_table.load()
    first_alias: dict[str, Alias] = {}
    for candidate in table.attributes:
        if candidate.dialect == dialect and candidate.canonical not in first_alias:
            first_alias[candidate.canonical] = candidate
    out: dict[str, AttrValue] = {}
    aliased = False
    for key, value in canonical.items():
        alias = first_alias.get(key)
        if alias is None:
            out[key] = value
        else:
            out[alias.alias] = value[0] if alias.wrap and isinstance(value, list) else value
            aliased = True
    provider = str(canonical["gen_ai.provider.name"])
    for key in ("gen_ai.system", "gen_ai.provider.name", "llm.provider"):
        if key in out and dialect in ("legacy", "openllmetry", "openlit"):
            out[key] = LEGACY_PROVIDER.get(provider, provider)
    if dialect == "openinference":
        operation = out.pop("gen_ai.operation.name", None)
        out[table.span_kind_attribute] = "EMBEDDING" if operation == "embeddings" else "LLM"
        aliased = True
    return out, aliased


class _Builder:
    def __init__(self, spec: Spec, workload: Workload) -> None:
        self.spec, self.w = spec, workload
        self.rng = random.Random(workload.seed)
        self.truth = Truth()
        self.slow_ns = int(spec.sampling.default.slow_threshold_seconds * 1e9)
        self.spans: dict[tuple[str, str, str], list[Span]] = defaultdict(list)
        self.logs: dict[tuple[str, str, str], list[LogRecord]] = defaultdict(list)

    def _id(self, size: int) -> bytes:
        return self.rng.getrandbits(size * 8).to_bytes(size, "big")

    def trace(self, index: int) -> None:
        rng = self.rng
        app = APPLICATIONS[index % len(APPLICATIONS)]
        dialect = self.w.dialects[index % len(self.w.dialects)]
        trace_id = self._id(16)
        kind = (
            "error"
            if rng.random() < self.w.error_ratio
            else "slow"
            if rng.random() < self.w.slow_ratio
            else "ok"
        )
        start = self.w.start_unix_nano + index * 2_000_000  # 2 ms apart
        root_id = self._id(8)
        cursor = start + 5_000_000
        for call in range(1 + (rng.random() < 0.3)):
            failing = kind == "error" and call == 0
            duration = (
                self.slow_ns + rng.randint(1, 15) * 10**9
                if kind == "slow" and call == 0
                else rng.randint(200, 2000) * 10**6
            )
            self._llm_span(app, dialect, trace_id, root_id, cursor, duration, failing)
            cursor += duration + 1_000_000
        if rng.random() < 0.25:
            tool = Span(
                trace_id=trace_id,
                span_id=self._id(8),
                parent_span_id=root_id,
                name="execute_tool search",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=cursor,
                end_time_unix_nano=cursor + 50_000_000,
                attributes=key_values(
                    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
                ),
            )
            self.spans[app].append(tool)
            cursor += 51_000_000
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            name="POST /chat",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start,
            end_time_unix_nano=cursor + 1_000_000,
            attributes=key_values({"http.route": "/chat", "user.id": f"user-{index % 40:03d}"}),
        )
        self.spans[app].append(root)
        tid = trace_id.hex()
        self.truth.trace_app[tid] = app[0]
        {"error": self.truth.error_traces, "slow": self.truth.slow_traces, "ok": self.truth.other_traces}[
            kind
        ].add(tid)
        # Severities as an application logs them: failures at ERROR, slow answers at WARN.
        severity, text = {
            "error": (SeverityNumber.SEVERITY_NUMBER_ERROR, "chat request from {} failed: provider error"),
            "slow": (SeverityNumber.SEVERITY_NUMBER_WARN, "chat request from {} answered slowly"),
            "ok": (SeverityNumber.SEVERITY_NUMBER_INFO, "chat request from {} answered"),
        }[kind]
        self.logs[app].append(
            LogRecord(
                time_unix_nano=start,
                severity_number=severity,
                severity_text=SeverityNumber.Name(severity).removeprefix("SEVERITY_NUMBER_"),
                trace_id=trace_id,
                span_id=root_id,
                body=AnyValue(string_value=text.format(PII[index % len(PII)])),
                attributes=key_values({"user.email": PII[0]}),
            )
        )

    def _llm_span(
        self,
        app: tuple[str, str, str],
        dialect: str,
        trace_id: bytes,
        parent: bytes,
        start: int,
        duration: int,
        failing: bool,
    ) -> None:
        rng = self.rng
        embedding = rng.random() < EMBEDDING_SHARE
        if embedding:
            (provider, model), response_model = EMBEDDING_MODEL, None
        else:
            provider, model, response_model = MODELS[rng.randrange(len(MODELS))]
        # A failed call reports no tokens and no response model, as every real library does.
        usage = Usage(
            input_tokens=0 if failing else rng.randint(50, 6000),
            output_tokens=0 if failing or embedding else rng.randint(1, 1500),
        )
        if provider == "anthropic" and not failing:
            read = rng.randint(0, usage.input_tokens // 2)
            usage = Usage(
                usage.input_tokens, usage.output_tokens, read, rng.randint(0, usage.input_tokens - read)
            )
        user = f"user-{rng.randrange(40):03d}"
        attrs: dict[str, AttrValue] = {
            "gen_ai.operation.name": "embeddings" if embedding else "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "user.id": user,
            PROMPT_KEYS.get(dialect, "gen_ai.input.messages"): json.dumps(
                [{"role": "user", "content": f"I am {PII[rng.randrange(5)]}"}]
            ),
        }
        if not failing:
            attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
            if not embedding:
                attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
        if usage.cache_read_tokens or usage.cache_write_tokens:
            attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
        if response_model and not failing:
            attrs["gen_ai.response.model"] = response_model
        if not failing and not embedding:
            attrs["gen_ai.response.finish_reasons"] = ["stop" if rng.random() < 0.9 else "length"]
            if rng.random() < 0.5:
                attrs["gen_ai.response.time_to_first_chunk"] = round(rng.uniform(0.1, 1.5), 3)
                attrs["gen_ai.request.stream"] = True
        status = Status()
        if failing:
            raw, kind = ERROR_TYPES[rng.randrange(len(ERROR_TYPES))]
            attrs["error.type"] = kind if self.w.as_collector_output else raw
            if self.w.as_collector_output:
                attrs["llm.error.raw_type"] = raw
            status = Status(code=Status.STATUS_CODE_ERROR, message="provider error")
            self.truth.error_types[(app[0], kind)] += 1
        span_id = self._id(8)
        cost = self._count(
            app[0], provider, model, response_model if not failing else None, usage, span_id, start, failing
        )
        if self.w.as_collector_output:
            attrs.pop(PROMPT_KEYS.get(dialect, "gen_ai.input.messages"), None)
            attrs.pop("gen_ai.input.messages", None)
            attrs["llm.cost.unpriced"] = cost is None
            if cost is not None:
                attrs["llm.cost.usd"] = cost[0]
                if cost[1] is not None:
                    attrs["llm.cost.price_effective_from"] = cost[1]
        spoken, aliased = _speak("official" if self.w.as_collector_output else dialect, attrs)
        self.spans[app].append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=f"{attrs['gen_ai.operation.name']} {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + duration,
                attributes=key_values(spoken),
                status=status,
            )
        )
        if aliased:
            self.truth.dialect_spans[dialect] += 1
        self.truth.user_ids.add(user)

    def _count(
        self,
        app: str,
        provider: str,
        model: str,
        response_model: str | None,
        usage: Usage,
        span_id: bytes,
        start: int,
        failing: bool = False,
    ) -> tuple[float, str | None] | None:
        """Adds the call to the truth; its (cost, price row date), or None when unpriced. A failed call
        without tokens costs 0 and has no price row, whatever its model."""
        from datetime import UTC, datetime

        t, key = self.truth, (app, model)
        t.requests[key] += 1
        t.input_tokens[key] += usage.input_tokens
        t.output_tokens[key] += usage.output_tokens
        t.cache_read_tokens[key] += usage.cache_read_tokens
        t.cache_write_tokens[key] += usage.cache_write_tokens
        if failing:
            t.span_cost[span_id.hex()] = 0.0
            t.cost_usd[key] += 0.0  # the collector counts the 0: the series exists
            return 0.0, None
        day = datetime.fromtimestamp(start / 1e9, UTC).date()
        row = find_price(self.spec.models, provider, priced_model(model, response_model), day)
        cost = None if row is None else cost_usd(row, usage)
        t.span_cost[span_id.hex()] = cost
        if cost is None or row is None:
            t.unpriced_requests[key] += 1
            return None
        t.cost_usd[key] += cost
        return cost, row.effective_from.isoformat()

    def requests(
        self, batch_traces: int
    ) -> tuple[list[ExportTraceServiceRequest], list[ExportLogsServiceRequest]]:
        traces, logs = [], []
        for app, spans in sorted(self.spans.items()):
            resource = Resource(
                attributes=key_values(
                    {"service.name": app[0], "deployment.environment.name": app[1], "team": app[2]}
                )
            )
            for i in range(0, len(spans), batch_traces * 3):
                traces.append(
                    ExportTraceServiceRequest(
                        resource_spans=[
                            ResourceSpans(
                                resource=resource,
                                scope_spans=[ScopeSpans(spans=spans[i : i + batch_traces * 3])],
                            )
                        ]
                    )
                )
            logs.append(
                ExportLogsServiceRequest(
                    resource_logs=[
                        ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=self.logs[app])])
                    ]
                )
            )
        return traces, logs


def generate(spec: Spec, workload: Workload, batch_traces: int = 100) -> Traffic:
    """The traffic of `workload` priced by `spec`, with its truth."""
    builder = _Builder(spec, workload)
    for index in range(workload.traces):
        builder.trace(index)
    traces, logs = builder.requests(batch_traces)
    return Traffic(traces, logs, builder.truth)
