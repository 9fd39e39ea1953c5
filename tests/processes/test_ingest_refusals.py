"""What the ingester refuses and why, as a real process against a real PostgreSQL.

The partial-success answer names each reason and where the first span refused for it was in the
request, and both decoders agree on it; one bad span among 1,000 good ones costs only itself, also
when it is PostgreSQL that refuses its row.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from observatory import names
from observatory.ingest import convert as convert_module
from observatory.ingest.rows import Window
from observatory.otlp import key_values
from tests.conftest import missing_tool
from tests.processes.test_ingest_native import LLM, START, both
from tests.processes.test_ingester import PROTOBUF, Ingester, _assert_exact, _send_all, _traffic, ingester

__all__ = ["ingester"]  # the fixture, shared with test_ingester.py
WINDOW = Window(START - 10**12, START + 10**12)


def _merged(traces: int, seed: int) -> tuple[ExportTraceServiceRequest, object]:
    traffic = _traffic(traces=traces, seed=seed)
    merged = ExportTraceServiceRequest()
    for message in traffic.traces:
        merged.resource_spans.extend(message.resource_spans)
    return merged, traffic


def test_a_value_postgresql_refuses_costs_only_its_own_row(ingester: Ingester) -> None:
    # A real value, not a constraint made up for the test: every check the decoders make lets a
    # request model of 8,000 random characters through, and PostgreSQL refuses its row because the
    # model is indexed (model_time) and a btree entry holds at most 2,704 bytes (SQLSTATE 54000,
    # program_limit_exceeded). That error used to read as a lost connection: 503, retried for ever,
    # and the 1,000 rows sent with it never stored. Now the request is split until the row is alone.
    merged, traffic = _merged(traces=900, seed=11)
    spans = [s for rs in merged.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(traffic.truth.span_cost) >= 1000
    template = next(s for s in spans if any(kv.key == "gen_ai.request.model" for kv in s.attributes))
    bad = merged.resource_spans[-1].scope_spans[-1].spans.add()
    bad.CopyFrom(template)
    bad.span_id = b"toolong!"
    for kv in bad.attributes:
        if kv.key == "gen_ai.request.model":
            kv.value.CopyFrom(AnyValue(string_value=secrets.token_hex(4000)))
    response = requests.post(
        f"{ingester.url}/v1/traces", data=merged.SerializeToString(), headers=PROTOBUF, timeout=60
    )
    assert response.status_code == 200, response.text
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert partial.error_message.startswith("1 span refused: 1 refused_by_database"), partial.error_message
    assert "index row size" in partial.error_message
    _assert_exact(ingester.dsn, traffic)
    with psycopg.connect(ingester.dsn) as conn:
        stored = conn.execute(
            f"SELECT count(*) FROM {names.TABLE_REQUESTS} WHERE span_id = %s", (bad.span_id.hex(),)
        ).fetchone()
    assert stored == (0,)
    assert ingester.metric('ingester_spans_refused_total{reason="refused_by_database"}') == 1
    assert ingester.metric("ingester_rows_refused_total") == 1
    assert ingester.metric("ingester_write_failures_total") == 0  # the connection was never dropped
    assert requests.get(f"{ingester.url}/readyz", timeout=5).ok


def _native_or_skip() -> None:
    if why := convert_module.native_missing():
        missing_tool(why)


def _span(number: int, **fields: Any) -> Span:
    defaults: dict[str, Any] = {
        "trace_id": bytes(range(1, 17)),
        "span_id": number.to_bytes(8, "big"),
        "start_time_unix_nano": START,
        "end_time_unix_nano": START + 10**9,
    }
    return Span(attributes=key_values(LLM), **(defaults | fields))


def _body(*resources: list[list[Span]]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(scope_spans=[ScopeSpans(spans=spans) for spans in scopes]) for scopes in resources
        ]
    )


def test_both_decoders_say_where_the_first_span_of_each_reason_is() -> None:
    _native_or_skip()
    body = _body(
        [[_span(1), _span(2)], [_span(3, start_time_unix_nano=2**64 - 1), _span(4)]],
        [[_span(5), _span(6), _span(7, trace_id=bytes(26)), _span(8, span_id=bytes(8))]],
    )
    result = both(body.SerializeToString(), window=WINDOW)
    assert (result.rows, result.refused) == (5, (("bad_id", 2), ("start_in_future", 1)))
    assert result.first == (
        ("bad_id", "resource 1 scope 0 span 2"),
        ("start_in_future", "resource 0 scope 1 span 0"),
    )


def test_positions_in_a_salvaged_body_are_those_of_the_body_as_sent() -> None:
    # The good spans of a body protobuf refuses are rebuilt into a new request, in which the spans
    # after a malformed one move up: what is reported is where they were in what the sender sent.
    _native_or_skip()
    placeholder = _span(2, name="NOT-UTF-8!")
    body = _body([[_span(1), placeholder, _span(3), _span(4, end_time_unix_nano=START - 1)]])
    wire = body.SerializeToString().replace(b"NOT-UTF-8!", b"\xff\xfe" * 5)
    result = both(wire, window=WINDOW)
    assert (result.rows, result.refused) == (2, (("not_utf8", 1), ("negative_duration", 1)))
    (malformed, why), negative = result.first
    assert (malformed, negative) == ("not_utf8", ("negative_duration", "resource 0 scope 0 span 3"))
    assert why.startswith("resource 0 scope 0 span 1: ") and why == result.detail


def test_a_time_to_first_token_infinite_in_milliseconds_is_refused_identically() -> None:
    # 1e306 s is finite, but the row stores milliseconds: 1e309 is infinity, which PostgreSQL takes.
    _native_or_skip()
    span = _span(1)
    span.attributes.extend(key_values({"gen_ai.response.time_to_first_chunk": 1e306}))
    result = both(_body([[span]]).SerializeToString(), window=WINDOW)
    assert (result.rows, result.refused) == (0, (("bad_ttft", 1),))
    span.attributes[-1].value.double_value = 1e300  # large, but finite in milliseconds: stored
    assert both(_body([[span]]).SerializeToString(), window=WINDOW).rows == 1


def test_the_partial_success_names_each_reason_and_where_its_first_span_is(ingester: Ingester) -> None:
    merged, traffic = _merged(traces=900, seed=12)
    spans = [s for rs in merged.resource_spans for ss in rs.scope_spans for s in ss.spans]
    template = next(s for s in spans if any(kv.key == "gen_ai.request.model" for kv in s.attributes))
    future = merged.resource_spans[2].scope_spans[0].spans.add()
    future.CopyFrom(template)
    future.span_id, future.start_time_unix_nano = b"future!!", 2**64 - 1
    at = f"resource 2 scope 0 span {len(merged.resource_spans[2].scope_spans[0].spans) - 1}"
    not_utf8 = merged.resource_spans.add().scope_spans.add().spans.add()
    not_utf8.CopyFrom(template)
    not_utf8.span_id, not_utf8.name = b"notutf8!", "NOT-UTF-8!"
    last = len(merged.resource_spans) - 1
    wire = merged.SerializeToString().replace(b"NOT-UTF-8!", b"\xff\xfe" * 5)
    response = requests.post(f"{ingester.url}/v1/traces", data=wire, headers=PROTOBUF, timeout=60)
    assert response.status_code == 200, response.text
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    message = partial.error_message
    assert message.startswith(f"2 spans refused: 1 not_utf8 (resource {last} scope 0 span 0: "), message
    assert message.endswith(f", 1 start_in_future ({at})"), message
    assert len(message) < 1000
    _assert_exact(ingester.dsn, traffic)


def test_a_window_wider_than_a_start_time_can_be_still_takes_every_row(database: str, tmp_path: Path) -> None:
    # 100,000 days back is before 1970 and 1e30 s ahead is past 2^64 ns: the window is clamped to what
    # a span's fixed64 start can hold, instead of overflowing the native decoder's arguments (every
    # request's thread died and the sender got no answer at all).
    service = Ingester(database, tmp_path, max_age_days="100000", max_future_seconds="1e30")
    service.start()
    try:
        traffic = _traffic(traces=40, seed=13)
        assert _send_all(service.url, traffic) == 0
        _assert_exact(database, traffic)
    finally:
        service.stop()


def _wire_defect(defect: str) -> bytes:
    """Spans 1-4 in one scope, and one more resource with spans 5-6, with `defect` in span 2 (or in
    the second resource): bytes protobuf refuses, so the body is salvaged span by span. Built on the
    wire, where the defects exist."""
    from tests.faults import fuzz

    spans = [_span(n).SerializeToString() for n in range(1, 7)]
    resource = Resource(attributes=key_values({"service.name": "chat"})).SerializeToString()
    if defect == "span not UTF-8":
        spans[1] = _span(2, name="PLACEHOLDER").SerializeToString().replace(b"PLACEHOLDER", b"\xff" * 11)
    elif defect == "span nested 10,000 deep":
        spans[1] = fuzz.span_with_attribute(spans[1], b"deep", fuzz.nested_kvlist(10_000))
    elif defect == "span truncated inside":  # an attribute whose length runs past the span's end
        spans[1] += b"\x4a\x7f"
    elif defect == "resource not UTF-8":
        resource = resource.replace(b"chat", b"\xfe" * 4)

    def scope(*numbers: int) -> bytes:
        return fuzz.field(2, b"".join(fuzz.field(2, spans[n - 1]) for n in numbers))

    return fuzz.field(1, scope(1, 2, 3, 4)) + fuzz.field(1, fuzz.field(1, resource) + scope(5, 6))


@pytest.mark.parametrize(
    ("defect", "reason", "rows", "refused"),
    [
        ("span not UTF-8", "not_utf8", 5, 1),
        ("span nested 10,000 deep", "nested_too_deep", 5, 1),
        ("span truncated inside", "malformed", 5, 1),
        ("resource not UTF-8", "not_utf8", 4, 2),  # its spans go with it
    ],
)
def test_a_span_that_does_not_parse_is_refused_for_its_own_reason_by_both_decoders(
    defect: str, reason: str, rows: int, refused: int
) -> None:
    _native_or_skip()
    result = both(_wire_defect(defect), window=WINDOW)
    assert (result.rows, result.refused) == (rows, ((reason, refused),))
    ((first_reason, why),) = result.first
    at = (
        "resource 1 scope 0 span 0: its resource"
        if defect.startswith("resource")
        else "resource 0 scope 0 span 1"
    )
    assert first_reason == reason and why.startswith(at), why


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (2**64 - 1, "end_in_future"),  # stored, it was a duration of 584 years
        (START + 10**12 + 1, "end_in_future"),  # one nanosecond past the window
        (START + 10**12, None),  # the window's end is inside it
        (START - 1, "negative_duration"),  # checked first: it is the more precise reason
    ],
)
def test_an_end_past_the_window_is_refused_identically(end: int, reason: str | None) -> None:
    _native_or_skip()
    result = both(_body([[_span(1, end_time_unix_nano=end)]]).SerializeToString(), window=WINDOW)
    assert (result.rows, result.refused) == ((0, ((reason, 1),)) if reason else (1, ()))
