"""The native decoder (Rust, native/src/lib.rs) writes exactly the bytes of the Python reference.

Every case goes through `ingest.convert.convert` with both decoders and compares the whole result
(COPY text, row and span counts, days), so any difference in any column of any row fails. The
inputs are generated traffic in every dialect, hand-made odd values, seeded random spans and
corrupted bodies; the last also checks that the native code never does anything but return or
raise ValueError, whatever bytes it is given.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import struct
import subprocess
import sys
import time
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observatory import names
from observatory.ingest import convert as convert_module
from observatory.ingest import decode
from observatory.ingest.convert import Converted, convert
from observatory.ingest.rows import Window, rows
from observatory.otlp import key_values
from observatory.spec import load
from observatory.traffic import Workload, generate
from tests.conftest import REPO, missing_tool
from tests.faults.fuzz import varint

LIMIT = 64 * 2**20
START = 1_764_000_000_123_456_789
LLM = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


@pytest.fixture(autouse=True, scope="module")
def _native_installed() -> None:
    if why := convert_module.native_missing():
        missing_tool(why)


def both(body: bytes, media: str = decode.PROTOBUF, window: Window | None = None) -> Converted:
    """The conversion of `body`, after checking that the two decoders agree on every byte (and on
    every refusal)."""
    reference = convert(body, media, "identity", LIMIT, "python", window)
    native = convert(body, media, "identity", LIMIT, "native", window)
    assert native.data.decode().splitlines() == reference.data.decode().splitlines()
    assert native == reference
    return reference


def request(
    attributes: list[KeyValue] | dict[str, Any],
    *,
    start: int = START,
    end: int = START + 1_234_567_890,
    status: int = 0,
    resource: dict[str, Any] | None = None,
) -> bytes:
    kvs = key_values(attributes) if isinstance(attributes, dict) else attributes
    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=kvs,
        status=Status(code=status),  # type: ignore[arg-type]
    )
    res = {"service.name": "chat", "deployment.environment.name": "prod"} if resource is None else resource
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=key_values(res)), scope_spans=[ScopeSpans(spans=[span])]
            )
        ]
    ).SerializeToString()


def test_generated_traffic_in_every_dialect_converts_identically() -> None:
    spec = load(REPO / "tests/specs/valid/full.yaml")
    rows = 0
    for as_output in (True, False):  # what the ingester receives, and what applications send
        workload = Workload(seed=11, traces=400, start_unix_nano=START, as_collector_output=as_output)
        for traces in generate(spec, workload, batch_traces=40).traces:
            rows += both(traces.SerializeToString()).rows
    assert rows >= 400  # the collector's output alone holds at least one LLM request per trace


def test_json_bodies_go_through_the_native_decoder_too() -> None:
    body = request({**LLM, "gen_ai.usage.input_tokens": 12, "llm.cost.usd": 0.5})
    message = ExportTraceServiceRequest.FromString(body)
    data = json.loads(json_format.MessageToJson(message))
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"], span["spanId"] = bytes(range(16)).hex(), bytes(range(8)).hex()  # OTLP/JSON: hex
    assert both(json.dumps(data).encode(), decode.JSON).rows == 1


def _json_span(number: int) -> dict[str, Any]:
    message = ExportTraceServiceRequest.FromString(request(LLM))
    span = json.loads(json_format.MessageToJson(message))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"], span["spanId"] = f"{number:032x}", f"{number:016x}"  # OTLP/JSON: hex, distinct
    return span


_DEEP = json.loads('{"arrayValue": {"values": [' * 250 + "]}}" * 250)  # 750 levels
JSON_DEFECTS: dict[str, Any] = {
    "an id that is not hex": {"traceId": "zz" * 16},
    "a field of the wrong shape": {"kind": {"not": "an enum"}},
    "a span that is not an object": None,
    "a string that is not UTF-8": {"name": "NOT-UTF-8"},  # the bytes replaced once serialized
    "an enum name that is not UTF-8": {"kind": "NOT-UTF-8"},  # upb raised SystemError: no answer
    "an attribute nested past the recursion limit": {"attributes": [{"key": "deep", "value": _DEEP}]},
}
JSON_REASONS = {  # the finer reasons; any other defect is "malformed"
    "a string that is not UTF-8": "not_utf8",
    "an enum name that is not UTF-8": "not_utf8",
    "an attribute nested past the recursion limit": "nested_too_deep",
}


@pytest.mark.parametrize("defect", list(JSON_DEFECTS))
def test_one_malformed_json_span_costs_only_itself(defect: str) -> None:
    # The good spans before the bad one had their hex ids rewritten to base64 in place when the
    # whole body failed, so salvaging that tree refused them too: all 10 spans for 1 bad one.
    spans = [_json_span(n) for n in range(1, 11)]
    patch = JSON_DEFECTS[defect]
    spans[5] = 7 if patch is None else {**spans[5], **patch}
    body = json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
    result = both(body.encode().replace(b"NOT-UTF-8", b"\xff\xfe"), decode.JSON)
    assert (result.rows, result.refused) == (9, ((JSON_REASONS.get(defect, "malformed"), 1),))
    stored = {line.split("\t")[2] for line in result.data.decode().splitlines()}
    assert stored == {f"{n:016x}" for n in range(1, 11) if n != 6}


ODD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("wrong types everywhere", {k: 7 for k in ("gen_ai.response.model", "user.id", "error.type")}),
    ("tokens as a string and a bool", {"gen_ai.usage.input_tokens": "3", "gen_ai.usage.output_tokens": True}),
    ("tokens at the int64 limit", {"gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 2**63 - 1}),
    ("cost as an int", {"llm.cost.usd": 3}),
    ("cost as a string", {"llm.cost.usd": "0.1"}),
    ("unpriced as a string", {"llm.cost.unpriced": "true", "llm.cost.usd": 0.2}),
    ("unpriced true with a cost", {"llm.cost.unpriced": True, "llm.cost.usd": 0.2}),
    ("ttft as an int", {"gen_ai.response.time_to_first_chunk": 2}),
    ("finish reasons as a string", {"gen_ai.response.finish_reasons": "stop"}),
    ("finish reasons empty", {"gen_ai.response.finish_reasons": []}),
    ("finish reasons of ints", {"gen_ai.response.finish_reasons": [1, 2]}),
    ("finish reasons, several", {"gen_ai.response.finish_reasons": ["length", "stop"]}),
    ("escapes and NUL", {"user.id": "a\tb\nc\rd\\e\0f", "error.type": "\\N"}),
    ("raw error type", {"error.type": "rate_limit", "llm.error.raw_type": "<class 'openai.RateLimitError'>"}),
    ("non-ASCII", {"gen_ai.provider.name": "ōpenai ✓ 🤖", "user.id": ""}),
    ("span team when the resource has none", {"team": "search"}),
]
ARABIC_INDIC_DAY = "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661"  # digits, but not ASCII
ODD_VALUES += [(f"price date {d!r}", {"llm.cost.price_effective_from": d}) for d in (
    "2024-02-29", "2023-02-29", "2024-W01-1", "20240101", ARABIC_INDIC_DAY, "0000-01-01", "2024-13-01",
    "2024-1-01", "9999-12-31", " 2024-01-01", "",
)]  # fmt: skip
ODD_VALUES += [(f"cost {c!r}", {"llm.cost.usd": c}) for c in (
    0.0, -0.0, 1e-5, 1e-4, 0.1, 1 / 3, 1e15, 1e16, 1.5e16, 123456789012345678.0, 5e-324,
    1.7976931348623157e308, 12.5,
)]  # fmt: skip


@pytest.mark.parametrize(("case", "attributes"), ODD_VALUES, ids=[c for c, _ in ODD_VALUES])
def test_odd_attribute_values_convert_identically(case: str, attributes: dict[str, Any]) -> None:
    assert both(request({**LLM, **attributes})).rows == 1


IMPOSSIBLE_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("negative input tokens", {"gen_ai.usage.input_tokens": -1}, "bad_tokens"),
    ("tokens at the int64 minimum", {"gen_ai.usage.output_tokens": -(2**63)}, "bad_tokens"),
    ("a fractional token count", {"gen_ai.usage.cache_read.input_tokens": 2.5}, "bad_tokens"),
    ("a token count as a double", {"gen_ai.usage.reasoning.output_tokens": 1.0}, "bad_tokens"),
    ("a NaN token count", {"gen_ai.usage.input_tokens": math.nan}, "bad_tokens"),
    ("a NaN cost", {"llm.cost.usd": math.nan}, "bad_cost"),
    ("an infinite cost", {"llm.cost.usd": math.inf}, "bad_cost"),
    ("a negative cost", {"llm.cost.usd": -0.01}, "bad_cost"),
    ("a negative integer cost", {"llm.cost.usd": -1}, "bad_cost"),
    ("a negative time to first chunk", {"gen_ai.response.time_to_first_chunk": -0.5}, "bad_ttft"),
    ("an infinite time to first chunk", {"gen_ai.response.time_to_first_chunk": -math.inf}, "bad_ttft"),
    ("tokens checked before cost", {"gen_ai.usage.input_tokens": -1, "llm.cost.usd": math.nan}, "bad_tokens"),
]


@pytest.mark.parametrize(
    ("case", "attributes", "reason"), IMPOSSIBLE_VALUES, ids=[c for c, _, _ in IMPOSSIBLE_VALUES]
)
def test_values_that_cannot_be_true_are_refused_identically(
    case: str, attributes: dict[str, Any], reason: str
) -> None:
    result = both(request({**LLM, **attributes}))
    assert (result.rows, result.refused, result.data) == (0, ((reason, 1),), b"")


def _with_ids(trace_id: bytes, span_id: bytes) -> bytes:
    message = ExportTraceServiceRequest.FromString(request(LLM))
    span = message.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id, span.span_id = trace_id, span_id
    return message.SerializeToString()


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (bytes(range(16)) + bytes(10), bytes(range(8))),  # 26 bytes
        (bytes(range(15)), bytes(range(8))),
        (b"", bytes(range(8))),
        (bytes(16), bytes(range(8))),  # all zero: "no trace"
        (bytes(range(16)), bytes(8)),
        (bytes(range(16)), bytes(range(9))),
    ],
)
def test_ids_of_the_wrong_length_or_zero_are_refused_identically(trace_id: bytes, span_id: bytes) -> None:
    result = both(_with_ids(trace_id, span_id))
    assert (result.rows, result.refused) == (0, (("bad_id", 1),))


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (START - 1, START, "start_too_old"),
        (START + 10**9 + 1, START + 2 * 10**9, "start_in_future"),
        (2**64 - 1, 2**64 - 1, "start_in_future"),
        (0, 1, "start_too_old"),
        (START, START - 1, "negative_duration"),
        (START, START, None),
        (START + 10**9, START + 10**9, None),  # the window's ends are inside it
    ],
)
def test_the_start_window_and_the_duration_are_checked_identically(
    start: int, end: int, reason: str | None
) -> None:
    result = both(request(LLM, start=start, end=end), window=Window(START, START + 10**9))
    assert result.refused == (((reason, 1),) if reason else ())
    assert result.rows == (0 if reason else 1)


def test_nul_is_replaced_and_counted_identically() -> None:
    result = both(request({**LLM, "user.id": "a\0b", "error.type": "\0", "team": "ok"}))
    assert (result.rows, result.repaired) == (1, 2)
    assert "\ufffd" in result.data.decode()


@pytest.mark.parametrize(
    ("case", "attributes", "expected_rows"),
    [
        ("not an LLM operation", {"gen_ai.operation.name": "execute_tool", "gen_ai.request.model": "m"}, 0),
        ("no model and no provider", {"gen_ai.operation.name": "chat"}, 0),
        ("an empty model", {**LLM, "gen_ai.request.model": ""}, 0),
        (
            "an empty model and an empty provider",
            {**LLM, "gen_ai.request.model": "", "gen_ai.provider.name": ""},
            0,
        ),
        (
            "no model but a provider (a failed call)",
            {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"},
            1,
        ),
        (
            "no model but a response model",
            {"gen_ai.operation.name": "chat", "gen_ai.response.model": "m-1"},
            1,
        ),
        ("a provider that is not a string", {"gen_ai.operation.name": "chat", "gen_ai.provider.name": 1}, 0),
        ("an operation that is not a string", {**LLM, "gen_ai.operation.name": 1}, 0),
        ("embeddings", {**LLM, "gen_ai.operation.name": "embeddings"}, 1),
    ],
)
def test_only_llm_requests_become_rows(case: str, attributes: dict[str, Any], expected_rows: int) -> None:
    result = both(request(attributes))
    assert (result.rows, result.spans) == (expected_rows, 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 0),  # 1970-01-01, the partition of an unset timestamp
        (1_764_000_000_000_000_000, 1_764_000_000_000_000_999),  # a whole second: no fraction
        (1_764_000_000_000_000_999, 1_764_000_000_000_001_000),  # nanoseconds below a microsecond
        (2**63 - 1, 2**64 - 1),  # year 2262, and the largest end
    ],
)
def test_times_convert_identically(start: int, end: int) -> None:
    assert both(request(LLM, start=start, end=end)).rows == 1


@pytest.mark.parametrize("status", [0, 1, 2, 3, -1])
def test_status_codes_convert_identically(status: int) -> None:
    assert both(request(LLM, status=status)).rows == 1


@pytest.mark.parametrize(
    "resource",
    [
        {},
        {"service.name": "", "deployment.environment.name": ""},
        {"service.name": 5, "team": ""},
        {"service.name": "svc", "deployment.environment.name": "dev", "team": "core"},
    ],
)
def test_resources_convert_identically(resource: dict[str, Any]) -> None:
    assert both(request({**LLM, "team": "from-span"}, resource=resource)).rows == 1


def test_repeated_keys_missing_values_and_other_kinds_convert_identically() -> None:
    attributes = [
        *key_values(LLM),
        KeyValue(key="user.id", value=AnyValue(string_value="first")),
        KeyValue(key="user.id", value=AnyValue(string_value="last")),  # a dict keeps the last
        KeyValue(key="gen_ai.response.model"),  # no value at all
        KeyValue(key="error.type", value=AnyValue()),  # a value with nothing set
        KeyValue(key="gen_ai.provider.name", value=AnyValue(bytes_value=b"openai")),
        KeyValue(key="team", value=AnyValue(kvlist_value=KeyValueList(values=key_values({"a": 1})))),
        KeyValue(
            key="gen_ai.response.finish_reasons",
            value=AnyValue(array_value=ArrayValue(values=[AnyValue(), AnyValue(string_value="x")])),
        ),
        KeyValue(value=AnyValue(string_value="no key")),
    ]
    assert both(request(attributes)).rows == 1


def test_merged_messages_and_unknown_fields_convert_identically() -> None:
    # Protobuf reads two concatenated messages as one, merged; unknown fields are kept, not refused.
    first = request({**LLM, "user.id": "u1"})
    second = request({**LLM, "user.id": "u2"}, resource={"service.name": "other", "team": "t"})
    assert both(first + second).rows == 2
    unknown = bytes([0xA0, 0x06, 0x01])  # field 100, varint 1
    group = bytes([0xA3, 0x06, 0x08, 0x01, 0xA4, 0x06])  # field 100 as a group holding field 1
    span = Span.FromString(
        ExportTraceServiceRequest.FromString(first)
        .resource_spans[0]
        .scope_spans[0]
        .spans[0]
        .SerializeToString()
    )
    raw_span = span.SerializeToString() + unknown + group
    scope = bytes([0x12]) + varint(len(raw_span)) + raw_span  # ScopeSpans.spans = 2
    resource_spans = bytes([0x12]) + varint(len(scope)) + scope  # ResourceSpans.scope_spans = 2
    body = bytes([0x0A]) + varint(len(resource_spans)) + resource_spans + unknown
    assert both(body).rows == 1


def _random_value(rng: random.Random) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(["", "x", "chat", "gpt-4o", "a\tb", "é", "2024-05-06", "\\", "\0"])
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-(2**63), 2**63)
    if kind == 3:  # any 64-bit pattern: subnormals, huge exponents, NaN payloads
        return struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
    if kind == 4:
        return rng.uniform(0, 10) * 10 ** rng.randrange(-8, 20)
    if kind == 5:
        return [rng.choice(["stop", "length", ""])] * rng.randrange(3)
    return rng.randrange(1000)


KEYS = (
    "gen_ai.response.model", "user.id", "gen_ai.provider.name", "error.type", "team",
    "gen_ai.response.finish_reasons", "gen_ai.response.time_to_first_chunk", "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.reasoning.output_tokens", "llm.cost.usd",
    "llm.cost.unpriced", "llm.cost.price_effective_from", "llm.error.raw_type", "unrelated.key",
)  # fmt: skip


def test_seeded_random_spans_convert_identically() -> None:
    rng = random.Random(20261127)
    total = refused = 0
    window = Window(2**62, 2**63)  # about half the random start times fall outside it
    for _ in range(60):
        spans = []
        for _ in range(50):
            attributes = {
                **LLM,
                **{k: _random_value(rng) for k in rng.sample(KEYS, rng.randrange(len(KEYS)))},
            }
            start = rng.randrange(2**64)
            spans.append(
                Span(
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                    start_time_unix_nano=start,
                    # Near the start, mostly after it: ends anywhere would nearly all be past the window.
                    end_time_unix_nano=min(2**64 - 1, max(0, start + rng.randrange(-(2**58), 2**62))),
                    attributes=key_values(attributes),
                    status=Status(code=rng.randrange(-2, 4)),  # type: ignore[arg-type]
                )
            )
        body = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(spans=spans)])]
        ).SerializeToString()
        result = both(body, window=window)
        total, refused = total + result.rows, refused + result.rejected
    assert total + refused == 3000
    assert min(total, refused) > 100  # both outcomes exercised


@pytest.mark.parametrize("holder", ["resource", "scope"])
def test_a_schema_url_that_is_not_utf8_costs_only_the_spans_under_it(holder: str) -> None:
    # protobuf refuses the whole body for it, and every span parses alone: the salvage found nothing
    # malformed and answered 400, so the good resources' spans went too.
    good = ExportTraceServiceRequest.FromString(request(LLM))
    two = ResourceSpans()
    two.CopyFrom(good.resource_spans[0])
    two.scope_spans[0].spans[0].span_id = bytes(range(8, 16))
    good.resource_spans.append(two)
    bad = ResourceSpans()
    bad.CopyFrom(good.resource_spans[0])
    (bad if holder == "resource" else bad.scope_spans[0]).schema_url = "PLACEHOLDER"
    good.resource_spans.append(bad)
    result = both(good.SerializeToString().replace(b"PLACEHOLDER", b"\xff" * 11))
    assert (result.rows, result.refused) == (2, (("not_utf8", 1),))


@pytest.mark.parametrize("holder", ["resource", "scope"])
def test_a_json_schema_url_that_is_not_utf8_costs_only_the_spans_under_it(holder: str) -> None:
    def resource_spans(number: int, schema_url: str = "") -> dict[str, Any]:
        scope: dict[str, Any] = {"spans": [_json_span(number)]}
        rs: dict[str, Any] = {"resource": {}, "scopeSpans": [scope]}
        (rs if holder == "resource" else scope)["schemaUrl"] = schema_url
        return rs

    data = {"resourceSpans": [resource_spans(1), resource_spans(2), resource_spans(3, "NOT-UTF-8")]}
    result = both(json.dumps(data).encode().replace(b"NOT-UTF-8", b"\xff\xfe"), decode.JSON)
    assert (result.rows, result.refused) == (2, (("not_utf8", 1),))


def test_corrupted_bodies_are_refused_or_converted_identically_never_crash() -> None:
    import observatory_native

    rng = random.Random(7)
    spec = load(REPO / "tests/specs/valid/minimal.yaml")
    workload = Workload(seed=3, traces=30, start_unix_nano=START, as_collector_output=True)
    valid = generate(spec, workload, batch_traces=10).traces[0].SerializeToString()
    outcomes = {"accepted": 0, "refused": 0, "salvaged": 0}
    for _ in range(3000):
        body = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            choice, at = rng.randrange(3), rng.randrange(len(body))
            if choice == 0:
                body[at] ^= 1 << rng.randrange(8)
            elif choice == 1:
                del body[at : at + rng.randrange(1, 16)]
            else:
                body[at:at] = rng.randbytes(rng.randrange(1, 8))
        # The native code alone, on bytes protobuf may refuse: a result or ValueError, nothing else.
        with contextlib.suppress(ValueError):
            observatory_native.copy_rows(bytes(body), ["chat"], 0, 2**64 - 1)
        try:
            ExportTraceServiceRequest.FromString(bytes(body))
        except DecodeError:
            # Refused whole (the envelope is broken) or salvaged span by span, the same either way.
            try:
                salvaged = both(bytes(body))
            except decode.BadRequest:
                outcomes["refused"] += 1
                continue
            assert sum(n for reason, n in salvaged.refused if reason in decode.MALFORMED) >= 1
            outcomes["salvaged"] += 1
            continue
        outcomes["accepted"] += 1
        both(bytes(body))
    assert min(outcomes.values()) > 20, outcomes  # every path was exercised


def test_the_ingester_refuses_to_start_without_the_native_decoder_and_says_how_to_fix_it() -> None:
    code = (
        "import sys; sys.modules['observatory_native'] = None; "  # makes the import fail
        "from observatory.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "ingest", "--dsn", "postgresql://127.0.0.1:1/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "native decoder is not installed" in result.stderr
    assert "--decoder=python" in result.stderr


def test_postgresql_takes_every_row_either_decoder_writes_from_random_spans(database: str) -> None:
    # Whatever values a span holds, its row must COPY: a refused row fails its whole batch, and
    # the collector would retry that batch forever.
    import psycopg

    from observatory.ingest.metrics import Metrics
    from observatory.ingest.writer import Writer
    from observatory.storage.migrate import migrate

    with psycopg.connect(database) as conn:
        migrate(conn, load(REPO / "tests/specs/valid/postgres.yaml"))
    rng = random.Random(5)
    starts = [0, 2**64 - 1, START, START + 86_400 * 10**9 - 1]  # the epoch, year 2554, a day's ends
    spans: list[Span] = []
    while len(spans) < 500:  # random spans whose values can be true (the others are refused)
        start = rng.choice(starts)
        span = Span(
            trace_id=rng.randbytes(16),
            span_id=rng.randbytes(8),
            start_time_unix_nano=start,
            end_time_unix_nano=rng.randrange(start, 2**64),
            attributes=key_values({**LLM, **{k: _random_value(rng) for k in rng.sample(KEYS, 8)}}),
            status=Status(code=rng.randrange(-2, 4)),  # type: ignore[arg-type]
        )
        one = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(spans=[span])])]
        )
        if not any(isinstance(row, str) for row in rows(one)):
            spans.append(span)
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()
    batch = both(body)
    assert batch.rows == 500
    writer = Writer(database, True, Metrics(), max_queue_rows=10_000, batch_rows=10_000)
    writer.start()
    try:
        pending = None
        for _ in range(100):  # the writer connects in the background
            pending = writer.submit(batch)
            if pending is not None:
                break
            time.sleep(0.05)
        assert pending is not None, "the writer never connected"
        assert pending.done.wait(30)
        assert pending.error is None
    finally:
        writer.stop()
    with psycopg.connect(database) as conn:
        assert conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone() == (500,)


def test_no_span_a_real_library_sent_is_refused() -> None:
    # tests/corpus holds what real instrumentation libraries exported; the refusals (ids, times,
    # token counts, costs) must only ever catch broken senders, never one of these.
    corpus = sorted((REPO / "tests" / "corpus").glob("*/*/traces.binpb"))
    assert len(corpus) > 100
    rows = 0
    for path in corpus:
        result = both(path.read_bytes())
        assert (result.refused, result.detail) == ((), ""), path
        rows += result.rows
    assert rows > 100  # 119: the spans already in the semantic conventions, before the collector
