"""Bad request bodies for the OTLP listeners, reproducible from a seed.

Each body is a good OTLP request (demo traffic, every dialect) broken in one of the ways a buggy
client, a proxy or an attacker breaks them: flipped bits, cut or spliced bytes, garbage, wrong media
type or encoding, gzip that is corrupt or inflates to a gigabyte, lengths that point past the end,
kvlists nested 10,000 deep, strings that are not UTF-8, ids of the wrong length, times and numbers
that cannot be true, JSON of the wrong shape or nested too deep. Some mutations leave a body that is
still valid; a listener may accept those.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass(frozen=True)
class Body:
    kind: str  # the mutation, for the failure message
    data: bytes
    media: str = PROTOBUF
    encoding: str | None = None  # Content-Encoding

    def headers(self) -> dict[str, str]:
        out = {"Content-Type": self.media}
        if self.encoding:
            out["Content-Encoding"] = self.encoding
        return out


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


@cache
def nested_kvlist(depth: int) -> bytes:
    """An AnyValue holding a kvlist holding a kvlist ... `depth` deep, written straight to the wire
    (the protobuf library refuses to build one that deep)."""
    value = field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        key_value = field(1, b"k") + field(2, value)  # KeyValue{key, value}
        value = field(6, field(1, key_value))  # AnyValue.kvlist_value{values}
    return value


def span_with_attribute(span: bytes, key: bytes, any_value: bytes) -> bytes:
    """`span` (wire bytes) with one more attribute: fields may appear in any order on the wire."""
    return span + field(9, field(1, key) + field(2, any_value))


@cache
def gzip_bomb() -> bytes:
    """About a megabyte of gzip that inflates to a gigabyte of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(2**20)
    return b"".join(compressor.compress(chunk) for _ in range(1024)) + compressor.flush()


def _semantic(request: ExportTraceServiceRequest, rng: random.Random) -> tuple[str, bytes]:
    """A body protobuf reads, with one span whose values cannot be true."""
    bad = ExportTraceServiceRequest()
    bad.CopyFrom(request)
    spans = [s for rs in bad.resource_spans for ss in rs.scope_spans for s in ss.spans]
    span = rng.choice(spans)
    choice = rng.randrange(8)
    if choice == 0:
        span.start_time_unix_nano = 2**64 - 1
        return "start 2^64-1", bad.SerializeToString()
    if choice == 1:
        span.end_time_unix_nano, span.start_time_unix_nano = (
            span.start_time_unix_nano,
            span.end_time_unix_nano,
        )
        return "end before start", bad.SerializeToString()
    if choice == 2:
        span.trace_id = span.trace_id + bytes(10)
        return "26-byte trace id", bad.SerializeToString()
    if choice == 3:
        span.span_id = b""
        return "empty span id", bad.SerializeToString()
    attrs = {kv.key: kv for kv in span.attributes}
    if choice == 4:
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
            if key in attrs:
                attrs[key].value.int_value = -rng.randrange(1, 2**62)
        return "negative tokens", bad.SerializeToString()
    value = rng.choice([math.nan, math.inf, -math.inf, -1.0, 1e308])
    if choice == 5:
        kv = span.attributes.add(key="llm.cost.usd")
        kv.value.double_value = value
        return f"cost {value}", bad.SerializeToString()
    if choice == 6:
        kv = span.attributes.add(key="gen_ai.usage.input_tokens")
        kv.value.double_value = value
        return f"token count {value}", bad.SerializeToString()
    span.start_time_unix_nano = 0
    return "start 0", bad.SerializeToString()


def _json(text: str, rng: random.Random) -> tuple[str, bytes]:
    """A mutation of `text`, a request in OTLP/JSON."""
    choice = rng.randrange(6)
    if choice == 0:
        return "JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000
    if choice == 1:
        return "JSON cut short", text.encode()[: rng.randrange(len(text))]
    doc = json.loads(text)
    spans = [s for rs in doc.get("resourceSpans", []) for ss in rs.get("scopeSpans", []) for s in ss["spans"]]
    span = rng.choice(spans)
    if choice == 2:
        span["traceId"] = "not-hex-" + "z" * 24
        return "JSON trace id not hex", json.dumps(doc).encode()
    if choice == 3:
        span["attributes"] = {"not": "a list"}
        return "JSON attributes of the wrong type", json.dumps(doc).encode()
    if choice == 4:
        span["startTimeUnixNano"] = "-5"
        return "JSON negative time", json.dumps(doc).encode()
    return "JSON top level is a list", json.dumps([doc]).encode()


def _bytes(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A byte-level mutation of `data`."""
    choice = rng.randrange(7)
    if choice == 0:
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return "bits flipped", bytes(out)
    if choice == 1:
        return "cut short", data[: rng.randrange(len(data))]
    if choice == 2:
        at = rng.randrange(len(data))
        return "bytes inserted", data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]
    if choice == 3:
        at = rng.randrange(len(data))
        return "bytes removed", data[:at] + data[at + rng.randint(1, 64) :]
    if choice == 4:
        at, size = rng.randrange(len(data)), rng.randint(1, 256)
        return "bytes repeated", data[:at] + data[at : at + size] * rng.randint(2, 5) + data[at:]
    if choice == 5:
        return "garbage", rng.randbytes(rng.randrange(4096))
    # A length that points far past the end of the body.
    return "length past the end", varint(1 << 3 | 2) + varint(2**62) + data[:64]


def _utf8(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Same-length replacement of a known string by bytes that are not UTF-8."""
    for needle in (b"gen_ai.request.model", b"service.name", b"gen_ai.system", b"chat"):
        if needle in data:
            bad = bytes(rng.choice((0xFF, 0xFE, 0xC0, 0x80)) for _ in needle)
            return "not UTF-8", data.replace(needle, bad, 1)
    return "not UTF-8 (no string found)", data + field(9, b"\xff")


def _nested(request: ExportTraceServiceRequest, rng: random.Random) -> tuple[str, bytes]:
    """One span of `request` with an attribute nested thousands deep, then the rest as they were."""
    bad = ExportTraceServiceRequest()
    bad.CopyFrom(request)
    scope = bad.resource_spans[0].scope_spans[0]
    first = scope.spans[0].SerializeToString()
    del scope.spans[0]
    depth = rng.choice((200, 2_000, 10_000))
    deep = span_with_attribute(first, b"deep", nested_kvlist(depth))
    # Put the span back by hand: ResourceSpans{resource, ScopeSpans{scope, spans...}}.
    resource_spans = bad.resource_spans[0]
    scope_bytes = scope.SerializeToString() + field(2, deep)
    rest = b"".join(field(1, rs.SerializeToString()) for rs in bad.resource_spans[1:])
    head = field(1, resource_spans.resource.SerializeToString()) + field(2, scope_bytes)
    head += b"".join(field(2, ss.SerializeToString()) for ss in resource_spans.scope_spans[1:])
    return f"kvlist nested {depth} deep", field(1, head) + rest


def bodies(
    good: list[ExportTraceServiceRequest], count: int, seed: int, json_too: bool = True
) -> Iterator[Body]:
    """`count` bad bodies made from `good`, reproducible from `seed`."""
    rng = random.Random(seed)
    wire = [g.SerializeToString() for g in good]
    texts = [json.dumps(json_format.MessageToDict(g)) for g in good] if json_too else []
    makers: list[Callable[[int], Body]] = [
        lambda i: Body(*_bytes(wire[i], rng)),
        lambda i: Body(*_semantic(good[i], rng)),
        lambda i: Body(*_utf8(wire[i], rng)),
        lambda i: Body(*_nested(good[i], rng)),
        lambda i: Body("gzip of a mutated body", gzip.compress(_bytes(wire[i], rng)[1]), encoding="gzip"),
        lambda i: Body("corrupt gzip", gzip.compress(wire[i])[: rng.randrange(10, 40)], encoding="gzip"),
        lambda i: Body("gzip bomb", gzip_bomb(), encoding="gzip"),
        lambda i: Body("unknown encoding", wire[i], encoding=rng.choice(["br", "zstd", "x-custom"])),
        lambda i: Body("protobuf sent as JSON", wire[i], media=JSON),
        lambda i: Body("wrong media type", wire[i], media=rng.choice(["text/plain", "application/xml", ""])),
    ]
    if json_too:
        makers.append(lambda i: Body(*_json(texts[i], rng), media=JSON))
    for _ in range(count):
        index = rng.randrange(len(good))
        # The gzip bomb is a megabyte that takes the server a while: about one body in a hundred.
        maker = rng.choice(makers)
        while maker is makers[6] and rng.random() > 0.1:
            maker = rng.choice(makers)
        yield maker(index)
