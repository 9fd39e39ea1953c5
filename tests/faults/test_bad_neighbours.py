"""One bad span among 1,000 good ones costs only itself: sent through the real collector to the real
ingester, the 1,000 good LLM requests are stored and the bad one is not, for each kind of span the
collector lets through but the ingester refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from observatory.spec import load
from observatory.traffic import Workload, generate
from tests.faults import fuzz
from tests.faults.pipeline import PROTOBUF, SPEC_PATH, Pipeline

GOOD = 1000


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    from observatory.local import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL server binaries are not installed")
    stack = Pipeline(tmp_path_factory.mktemp("neighbours"))
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


def _set(span: Span, key: str, **value: object) -> None:
    for kv in span.attributes:
        if kv.key == key:
            kv.value.Clear()
            break
    else:
        kv = span.attributes.add(key=key)
    for field, v in value.items():
        setattr(kv.value, field, v)


def _future(span: Span) -> None:
    span.start_time_unix_nano = time.time_ns() + 3600 * 10**9
    span.end_time_unix_nano = span.start_time_unix_nano + 10**9


def _backwards(span: Span) -> None:
    span.end_time_unix_nano = span.start_time_unix_nano - 10**9


# Each defect as a change to a copy of a good LLM span (protobuf can write these) ...
DEFECTS: dict[str, Callable[[Span], None]] = {
    "start 2^64-1": lambda s: setattr(s, "start_time_unix_nano", 2**64 - 1),
    "start an hour ahead": _future,
    "end before start": _backwards,
    "all-zero span id": lambda s: setattr(s, "span_id", bytes(8)),
    "negative input tokens": lambda s: _set(s, "gen_ai.usage.input_tokens", int_value=-5),
    "NaN time to first chunk": lambda s: _set(
        s, "gen_ai.response.time_to_first_chunk", double_value=float("nan")
    ),
}
# ... and the ones it cannot, written on the wire.
WIRE_DEFECTS = ("model name not UTF-8", "kvlist nested 10,000 deep")


def _request(seed: int) -> tuple[ExportTraceServiceRequest, list[str], Span]:
    """A request holding exactly 1,000 LLM requests (and other spans), their span ids, and a further
    LLM span to spoil."""
    traffic = generate(load(SPEC_PATH), Workload(seed=seed, traces=900, start_unix_nano=time.time_ns()))
    llm = set(traffic.truth.span_cost)
    merged = ExportTraceServiceRequest()
    kept: list[str] = []
    spare: Span | None = None
    for message in traffic.traces:
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in list(ss.spans):
                    if span.span_id.hex() not in llm:
                        continue
                    if len(kept) == GOOD:
                        spare = spare or Span.FromString(span.SerializeToString())
                        ss.spans.remove(span)
                    else:
                        kept.append(span.span_id.hex())
            merged.resource_spans.append(rs)
    assert len(kept) == GOOD and spare is not None, "the demo holds fewer LLM requests than needed"
    return merged, kept, spare


ALL = sorted([*DEFECTS, *WIRE_DEFECTS])


def _bad_id(defect: str) -> str:
    """The bad span's id: its own for each defect, so one test cannot hide another's row."""
    return f"bad{ALL.index(defect):013x}"


def _with_bad(request: ExportTraceServiceRequest, spare: Span, defect: str) -> bytes:
    bad = Span.FromString(spare.SerializeToString())
    bad.span_id = bytes.fromhex(_bad_id(defect))
    if defect in DEFECTS:
        DEFECTS[defect](bad)
        request.resource_spans[0].scope_spans[0].spans.append(bad)
        return request.SerializeToString()
    if defect == "kvlist nested 10,000 deep":
        wire_span = fuzz.span_with_attribute(bad.SerializeToString(), b"deep", fuzz.nested_kvlist(10_000))
    else:
        _set(bad, "gen_ai.request.model", string_value="neighbour-model-0123")
        wire_span = bad.SerializeToString().replace(b"neighbour-model-0123", b"\xff\xfe" * 10)
    # A ResourceSpans of its own (resource and scope copied from the first), appended on the wire.
    first = request.resource_spans[0]
    scope = fuzz.field(1, first.scope_spans[0].scope.SerializeToString()) + fuzz.field(2, wire_span)
    resource_spans = fuzz.field(1, first.resource.SerializeToString()) + fuzz.field(2, scope)
    return request.SerializeToString() + fuzz.field(1, resource_spans)


@pytest.mark.parametrize("defect", [*DEFECTS, *WIRE_DEFECTS])
def test_one_bad_span_among_1000_good_ones_costs_only_itself(pipeline: Pipeline, defect: str) -> None:
    request, good, spare = _request(seed=31 + ALL.index(defect))
    body = _with_bad(request, spare, defect)
    before = set(pipeline.stored_span_ids())
    response = requests.post(f"{pipeline.collector.url}/v1/traces", data=body, headers=PROTOBUF, timeout=30)
    assert response.status_code == 200, f"the collector refused the request: {response.status_code}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = set(pipeline.stored_span_ids()) - before
        if len(stored) >= GOOD:
            break
        time.sleep(0.5)
    time.sleep(2)  # the bad span, if it were going to be stored, has had its chance
    stored = set(pipeline.stored_span_ids()) - before
    assert stored == set(good), (
        f"{defect}: {len(set(good) - stored)} good requests lost, "
        f"{len(stored - set(good))} other rows stored (the bad span: {_bad_id(defect) in stored})"
    )


def test_an_id_of_the_wrong_length_makes_the_collector_refuse_the_whole_request(pipeline: Pipeline) -> None:
    """The one bad span that still costs its neighbours: the collector's OTLP decoder (v0.161) refuses
    a request holding a trace id that is not 16 bytes with a 400, before any of it is accepted. Nothing
    is acknowledged, so nothing acknowledged is lost; docs/RELIABILITY.md states the exception."""
    request, good, spare = _request(seed=30)
    bad = Span.FromString(spare.SerializeToString())
    bad.trace_id += bytes(10)
    request.resource_spans[0].scope_spans[0].spans.append(bad)
    before = set(pipeline.stored_span_ids())
    response = requests.post(
        f"{pipeline.collector.url}/v1/traces", data=request.SerializeToString(), headers=PROTOBUF, timeout=30
    )
    assert response.status_code == 400
    time.sleep(3)
    assert not set(good) & (set(pipeline.stored_span_ids()) - before)
