"""The spans of a body that does not parse as a whole, kept one by one: the slow path of `decode`.

Protobuf (or json_format) refused the request, so its envelope (resource spans, scope spans) is
walked on its own and every span parsed alone: the ones that parse are rebuilt into a request that
both decoders then convert, the others are left out and counted by reason (`decode.MALFORMED`), with
where the first of each was in the body as sent. A resource or scope that does not parse takes its
spans with it, for its own reason. Protobuf alone decides what does not parse; the reason is only a
label, found by walking what it refused. An envelope that cannot be walked is a 400.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from observatory.ingest.decode import (
    JSON_ERRORS,
    MALFORMED,
    BadRequest,
    Decoded,
    Position,
    hex_ids_to_base64,
    printable,
    where,
)

# Protobuf's default recursion limit (upb, C++, Go): messages nested deeper are refused.
_MAX_DEPTH = 100
Bad = tuple[str, str]  # (reason, why) of a resource or scope that does not parse


class _Rebuilt:
    """The request rebuilt from the spans that parse, and the spans left out: how many for each
    reason, and where and why the first was."""

    def __init__(self) -> None:
        self.request = ExportTraceServiceRequest()
        self.origin: dict[Position, Position] = {}  # position in `request` -> position in the body
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def leave_out(self, reason: str, position: Position, why: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.first.setdefault(reason, f"{where(position)}: {why}")

    def keep(self, rs: ResourceSpans, ss: ScopeSpans, span: Span, position: Position) -> None:
        """`span` into `ss`, which goes into `rs`, which goes into the request once it is complete
        if it holds a span: its position in the request is counted as it will be."""
        self.origin[(len(self.request.resource_spans), len(rs.scope_spans), len(ss.spans))] = position
        ss.spans.append(span)

    def decoded(self, error: str) -> Decoded:
        if not self.counts:  # the envelope alone is what was refused
            raise BadRequest(400, error)
        order = [reason for reason in MALFORMED if reason in self.counts]
        refused = tuple((reason, self.counts[reason]) for reason in order)
        first = tuple((reason, self.first[reason]) for reason in order)
        return Decoded(self.request, refused, first, self.origin)


# Protobuf's wire format, as far as the envelope needs it: field number and wire type in a varint key.
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: bytes) -> list[tuple[int, bytes | None]]:
    """(number, payload) of each field of a message; payload None for fields that are not
    length-delimited (the envelope's messages have none it needs)."""
    out: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            _, pos = _varint(buf, pos)
            out.append((number, None))
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(buf):
                raise ValueError("fixed-size field past the end")
            out.append((number, None))
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError("length past the end")
            out.append((number, buf[pos : pos + size]))
            pos += size
        else:
            raise ValueError(f"wire type {wire} in the envelope")
    return out


def _payloads(buf: bytes, number: int) -> list[bytes]:
    return [payload for field, payload in _fields(buf) if field == number and payload is not None]


def protobuf(body: bytes, error: DecodeError) -> Decoded:
    """The spans of a protobuf body that does not parse as a whole."""
    rebuilt = _Rebuilt()
    try:
        for r, resource_spans in enumerate(_payloads(body, 1)):
            _protobuf_resource(rebuilt, r, resource_spans)
    except ValueError as err:
        raise BadRequest(400, f"malformed OTLP protobuf: {error} ({err})") from None
    return rebuilt.decoded(f"malformed OTLP protobuf: {error}")


def _parsed(message: Any, payload: bytes, what: str) -> Bad | None:
    """Merges `payload` into `message`; (reason, why) when protobuf refuses it."""
    try:
        message.MergeFrom(type(message).FromString(payload))
    except DecodeError as err:
        return _wire_reason(payload, message.DESCRIPTOR), f"{what}: {err}"
    return None


def _schema_url(message: Any, payload: bytes, whose: str) -> Bad | None:
    """Sets `message`'s schema_url. It is not stored, but one that is not UTF-8 is what failed the
    whole body: it takes its resource's or scope's spans with it, not every span of the request."""
    try:
        message.schema_url = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8", f"{whose} schema_url is not UTF-8"
    return None


def _protobuf_resource(rebuilt: _Rebuilt, r: int, resource_spans: bytes) -> None:
    rs_out, bad = ResourceSpans(), None
    for field, payload in _fields(resource_spans):
        if payload is not None and field == 1:
            bad = _parsed(rs_out.resource, payload, "its resource") or bad
        elif payload is not None and field == 3:
            bad = _schema_url(rs_out, payload, "its resource's") or bad
    for s, scope_spans in enumerate(_payloads(resource_spans, 2)):
        ss_out, scope_bad = ScopeSpans(), bad
        for field, payload in _fields(scope_spans) if bad is None else []:
            if payload is not None and field == 1:
                scope_bad = _parsed(ss_out.scope, payload, "its scope") or scope_bad
            elif payload is not None and field == 3:
                scope_bad = _schema_url(ss_out, payload, "its scope's") or scope_bad
        for i, span in enumerate(_payloads(scope_spans, 2)):
            try:
                parsed = Span.FromString(span)
            except DecodeError as err:
                rebuilt.leave_out(_wire_reason(span, Span.DESCRIPTOR), (r, s, i), str(err))
                continue
            if scope_bad is not None:
                rebuilt.leave_out(scope_bad[0], (r, s, i), scope_bad[1])
                continue
            rebuilt.keep(rs_out, ss_out, parsed, (r, s, i))
        if ss_out.spans:
            rs_out.scope_spans.append(ss_out)
    if rs_out.scope_spans:
        rebuilt.request.resource_spans.append(rs_out)


def _wire_reason(buf: bytes, descriptor: Descriptor) -> str:
    """Why protobuf refused `buf` as a `descriptor` message, as a reason from MALFORMED: its string
    fields and nested messages walked on the wire, depth first (without recursion: the nesting is
    what may be too deep)."""
    stack = [(buf, descriptor, 0)]
    while stack:
        message, kind, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return "nested_too_deep"
        try:
            fields = _fields(message)
        except ValueError:
            return "malformed"
        for number, payload in reversed(fields):
            field = kind.fields_by_number.get(number)
            if field is None or payload is None:
                continue
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    return "not_utf8"
            elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                stack.append((payload, field.message_type, depth + 1))
    return "malformed"


def json_spans(data: dict[str, Any], error: Exception) -> Decoded:
    """The spans of an OTLP/JSON body that does not parse as a whole."""
    rebuilt = _Rebuilt()
    resource_spans = data.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise BadRequest(400, f"malformed OTLP JSON: {printable(str(error))[:200]}")
    for r, rs in enumerate(resource_spans):
        scopes = rs.get("scopeSpans") if isinstance(rs, dict) else None
        if not isinstance(scopes, list):
            raise BadRequest(400, "malformed OTLP JSON: resourceSpans[].scopeSpans must be a list")
        rs_out = ResourceSpans()
        # All of it but its spans (the resource, the schema_url): what does not parse takes them along.
        bad = _parse_json({k: v for k, v in rs.items() if k != "scopeSpans"}, rs_out, "its resource")
        for s, ss in enumerate(scopes):
            spans = ss.get("spans") if isinstance(ss, dict) else None
            if not isinstance(spans, list):
                raise BadRequest(400, "malformed OTLP JSON: scopeSpans[].spans must be a list")
            ss_out = ScopeSpans()
            envelope = {k: v for k, v in ss.items() if k != "spans"}
            scope_bad = bad or _parse_json(envelope, ss_out, "its scope")
            for i, span in enumerate(spans):
                _json_span(rebuilt, rs_out, ss_out, span, (r, s, i), scope_bad)
            if ss_out.spans:
                rs_out.scope_spans.append(ss_out)
        if rs_out.scope_spans:
            rebuilt.request.resource_spans.append(rs_out)
    return rebuilt.decoded(f"malformed OTLP JSON: {printable(str(error))[:200]}")


def _json_span(
    rebuilt: _Rebuilt, rs: ResourceSpans, ss: ScopeSpans, span: Any, at: Position, bad: Bad | None
) -> None:
    parsed = Span()
    try:
        if not isinstance(span, dict):
            raise BadRequest(400, "a span must be an object")
        hex_ids_to_base64(span)
        json_format.ParseDict(span, parsed, ignore_unknown_fields=True)
    except JSON_ERRORS as err:
        rebuilt.leave_out(_json_reason(span, err), at, printable(str(err))[:200])
        return
    if bad is not None:
        rebuilt.leave_out(bad[0], at, bad[1])
        return
    rebuilt.keep(rs, ss, parsed, at)


def _parse_json(node: Any, message: Any, what: str) -> Bad | None:
    """Parses `node` into `message`; (reason, why) when it does not parse."""
    try:
        json_format.ParseDict(node, message, ignore_unknown_fields=True)
    except JSON_ERRORS as err:
        return _json_reason(node, err), f"{what}: {printable(str(err))[:200]}"
    return None


def _json_reason(node: Any, err: BaseException) -> str:
    """Why `node` (a span, resource or scope of OTLP/JSON) did not parse, as a reason from MALFORMED."""
    if isinstance(err, RecursionError) or "too deep" in str(err):  # json_format's own depth limit
        return "nested_too_deep"
    stack = [node]
    while stack:  # without recursion, for the same reason as _wire_reason
        item = stack.pop()
        if isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: bytes of the body that were not UTF-8
                return "not_utf8"
    return "malformed"
