"""OTLP/HTTP request bodies to export requests: protobuf or JSON, optionally gzip, with size limits.

Every way a whole body can be wrong becomes a `BadRequest` with the HTTP status and a reason a sender
can act on; nothing here raises anything else for bad input. A body whose envelope reads but some of
whose spans do not is salvaged: the spans that parse are kept, the others counted by reason
(`MALFORMED`: a string that is not UTF-8, messages nested past protobuf's limit, anything else), with
where the first of each was, so one bad span never costs the good ones (the ingester answers with
OTLP's partial success). Protobuf alone decides whether a span parses; the reason is only a label.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __reduce__(self) -> tuple[type[BadRequest], tuple[int, str]]:
        # Raised in a worker process and re-raised in the server: pickle both arguments.
        return BadRequest, (self.status, self.reason)


def content_type(header: str | None) -> str:
    """The media type of a Content-Type header, or BadRequest 415 when it is not OTLP's."""
    media = (header or "").split(";", 1)[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise BadRequest(415, f"unsupported content type {media or '(none)'!r}: send {PROTOBUF} or {JSON}")
    return media


INFLATE_CHUNK = 2**20


def gunzip(body: bytes, limit: int, charge: Callable[[int], bool] | None = None) -> bytes:
    """Decompress gzip a megabyte at a time, refusing more than `limit` bytes out (a small body can
    inflate enormously: 413) and, when `charge` refuses the next chunk's bytes (the in-flight byte
    budget is spent by other requests), refusing for now (503)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    # The chunks as they come, joined once at the end: a growing bytearray is reallocated as it
    # grows, and each reallocation may hold the old and the new copy at once (and it was copied once
    # more into bytes at the end); a bomb never gets to the join.
    chunks: list[bytes] = []
    size = 0
    pending = body
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"body is larger than {limit} bytes once decompressed")
            if charge is not None and not charge(len(chunk)):
                raise BadRequest(503, "too many request bytes in flight")
            chunks.append(chunk)
    except zlib.error as err:
        raise BadRequest(400, f"invalid gzip body: {err}") from err
    if not inflater.eof:
        raise BadRequest(400, "invalid gzip body: truncated")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _hex_ids_to_base64(node: Any) -> None:
    # OTLP/JSON writes trace and span ids as hex; the protobuf JSON mapping expects base64.
    if isinstance(node, dict):
        for key in ("traceId", "spanId", "parentSpanId"):
            value = node.get(key)
            if isinstance(value, str) and value:
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as err:
                    raise BadRequest(400, f"{key} {value!r} is not hex") from err
        for item in node.values():
            _hex_ids_to_base64(item)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


Position = tuple[int, int, int]  # (resource spans, scope spans, span) indices in a request


def where(position: Position) -> str:
    return "resource {} scope {} span {}".format(*position)


# Why a span does not parse, in the order they are reported: a string that is not UTF-8, messages
# nested deeper than protobuf's limit, anything else (a truncated field, a JSON value of the wrong
# shape, an id that is not hex). A span whose resource or scope does not parse goes with it, for the
# resource's or scope's reason.
MALFORMED = ("malformed", "not_utf8", "nested_too_deep")


@dataclass(frozen=True, slots=True)
class Decoded:
    request: ExportTraceServiceRequest  # the spans that parse
    refused: tuple[tuple[str, int], ...] = ()  # (reason, spans) that do not, left out; MALFORMED order
    first: tuple[tuple[str, str], ...] = ()  # (reason, "where: why") of the first span of each reason
    # Salvaged bodies only: each kept span's position in `request` -> its position in the body.
    origin: dict[Position, Position] | None = None

    @property
    def malformed(self) -> int:
        return sum(n for _, n in self.refused)

    def position(self, position: Position) -> Position:
        """Where the span at `position` in `request` was in the body as sent."""
        return position if self.origin is None else self.origin[position]


class _Left:
    """The spans a salvage leaves out: how many for each reason, and where and why the first was."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, reason: str, position: Position, why: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.first.setdefault(reason, f"{where(position)}: {why}")

    def decoded(self, request: ExportTraceServiceRequest, origin: dict[Position, Position]) -> Decoded:
        order = [reason for reason in MALFORMED if reason in self.counts]
        refused = tuple((reason, self.counts[reason]) for reason in order)
        return Decoded(request, refused, tuple((reason, self.first[reason]) for reason in order), origin)


def traces(body: bytes, media: str) -> Decoded:
    """The request in `body`, salvaged span by span when it does not parse whole."""
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as err:
            return _salvage_protobuf(body, err)
        return Decoded(request)
    data = _load_json(body)
    if not isinstance(data, dict):
        raise BadRequest(400, "OTLP JSON must be an object with resourceSpans")
    try:
        _hex_ids_to_base64(data)
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except _JSON_ERRORS as err:
        # The ids were rewritten in place up to the failure (and base64 is seldom hex): salvage
        # from the body as sent, not from the half-converted tree.
        return _salvage_json(_load_json(body), err)
    return Decoded(request)


# What parsing untrusted OTLP/JSON into a message raises. json_format raises more than ParseError on
# odd input (an enum name holding a lone surrogate: SystemError from upb; a list where a message
# belongs: AttributeError or TypeError), and each means "this part is malformed".
_JSON_ERRORS = (
    BadRequest,
    json_format.ParseError,
    RecursionError,
    ValueError,
    TypeError,
    AttributeError,
    SystemError,
)


def printable(text: str) -> str:
    """`text` as UTF-8 can carry it: lone surrogates (bytes of the body that were not UTF-8, quoted
    in an error) become backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _load_json(body: bytes) -> Any:
    """The JSON document in `body`. Bytes that are not UTF-8 (a client's bug, usually inside one
    string) become lone surrogates (U+DC80-U+DCFF) rather than failing the document: protobuf refuses
    such a string, so only the span or resource holding it is lost."""
    try:
        try:
            return json.loads(body)
        except UnicodeDecodeError:
            return json.loads(body.decode("utf-8", "surrogateescape"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise BadRequest(400, f"malformed JSON: {str(err)[:200]}") from None


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


def _salvage_protobuf(body: bytes, error: DecodeError) -> Decoded:
    """The spans of a body protobuf refuses as a whole: the envelope (resource spans, scope spans) is
    walked on the wire and each span parsed on its own. A resource or scope that does not parse
    takes its spans with it; an envelope that cannot be walked is a 400."""
    request, left, origin = ExportTraceServiceRequest(), _Left(), {}
    try:
        resources = [p for n, p in _fields(body) if n == 1 and p is not None]
        for r, resource_spans in enumerate(resources):
            rs_out = ResourceSpans()
            scopes: list[bytes] = []
            resource_bad: tuple[str, str] | None = None  # (reason, why) when the resource does not parse
            for field, payload in _fields(resource_spans):
                if payload is None:
                    continue
                if field == 1:
                    try:
                        rs_out.resource.MergeFrom(Resource.FromString(payload))
                    except DecodeError as err:
                        resource_bad = (_wire_reason(payload, Resource.DESCRIPTOR), f"its resource: {err}")
                elif field == 2:
                    scopes.append(payload)
                elif field == 3:
                    # Not stored, but a schema_url that is not UTF-8 is what failed the whole body:
                    # it takes its resource's spans with it, not every span of the request.
                    try:
                        rs_out.schema_url = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        resource_bad = resource_bad or ("not_utf8", "its resource's schema_url is not UTF-8")
            for s, scope_spans in enumerate(scopes):
                ss_out = ScopeSpans()
                spans = [p for f, p in _fields(scope_spans) if f == 2 and p is not None]
                bad = resource_bad
                for field, payload in _fields(scope_spans):
                    if field == 3 and payload is not None and bad is None:
                        try:
                            ss_out.schema_url = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            bad = ("not_utf8", "its scope's schema_url is not UTF-8")
                    if field == 1 and payload is not None and bad is None:
                        try:
                            ss_out.scope.MergeFrom(InstrumentationScope.FromString(payload))
                        except DecodeError as err:
                            bad = (
                                _wire_reason(payload, InstrumentationScope.DESCRIPTOR),
                                f"its scope: {err}",
                            )
                for i, span in enumerate(spans):
                    try:
                        parsed = Span.FromString(span)
                    except DecodeError as err:
                        left.add(_wire_reason(span, Span.DESCRIPTOR), (r, s, i), str(err))
                        continue
                    if bad is not None:
                        left.add(bad[0], (r, s, i), bad[1])
                        continue
                    origin[(len(request.resource_spans), len(rs_out.scope_spans), len(ss_out.spans))] = (
                        r,
                        s,
                        i,
                    )
                    ss_out.spans.append(parsed)
                if ss_out.spans:
                    rs_out.scope_spans.append(ss_out)
            if rs_out.scope_spans:
                request.resource_spans.append(rs_out)
    except ValueError as err:
        raise BadRequest(400, f"malformed OTLP protobuf: {error} ({err})") from None
    if not left.counts:  # the envelope alone is what protobuf refused
        raise BadRequest(400, f"malformed OTLP protobuf: {error}")
    return left.decoded(request, origin)


# Protobuf's default recursion limit (upb, C++, Go): messages nested deeper are refused.
_MAX_DEPTH = 100


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


def _salvage_json(data: dict[str, Any], error: Exception) -> Decoded:
    """The spans of an OTLP/JSON body that does not parse as a whole, each parsed on its own."""
    request, left, origin = ExportTraceServiceRequest(), _Left(), {}
    resource_spans = data.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise BadRequest(400, f"malformed OTLP JSON: {printable(str(error))[:200]}")
    for r, rs in enumerate(resource_spans):
        scopes = rs.get("scopeSpans") if isinstance(rs, dict) else None
        if not isinstance(scopes, list):
            raise BadRequest(400, "malformed OTLP JSON: resourceSpans[].scopeSpans must be a list")
        rs_out = ResourceSpans()
        # All but its spans (the resource, the schema_url): what does not parse takes them with it.
        envelope = {k: v for k, v in rs.items() if k != "scopeSpans"}
        resource_bad = _parse_json(envelope, rs_out, "its resource")
        for s, ss in enumerate(scopes):
            spans = ss.get("spans") if isinstance(ss, dict) else None
            if not isinstance(spans, list):
                raise BadRequest(400, "malformed OTLP JSON: scopeSpans[].spans must be a list")
            ss_out = ScopeSpans()
            envelope = {k: v for k, v in ss.items() if k != "spans"}
            bad = resource_bad or _parse_json(envelope, ss_out, "its scope")
            for i, span in enumerate(spans):
                parsed = Span()
                try:
                    if not isinstance(span, dict):
                        raise BadRequest(400, "a span must be an object")
                    _hex_ids_to_base64(span)
                    json_format.ParseDict(span, parsed, ignore_unknown_fields=True)
                except _JSON_ERRORS as err:
                    left.add(_json_reason(span, err), (r, s, i), printable(str(err))[:200])
                    continue
                if bad is not None:
                    left.add(bad[0], (r, s, i), bad[1])
                    continue
                origin[(len(request.resource_spans), len(rs_out.scope_spans), len(ss_out.spans))] = (r, s, i)
                ss_out.spans.append(parsed)
            if ss_out.spans:
                rs_out.scope_spans.append(ss_out)
        if rs_out.scope_spans:
            request.resource_spans.append(rs_out)
    if not left.counts:
        raise BadRequest(400, f"malformed OTLP JSON: {printable(str(error))[:200]}")
    return left.decoded(request, origin)


def _parse_json(node: Any, message: Any, what: str) -> tuple[str, str] | None:
    """Parses `node` into `message`; (reason, why) when it does not parse."""
    try:
        json_format.ParseDict(node, message, ignore_unknown_fields=True)
    except _JSON_ERRORS as err:
        return _json_reason(node, err), f"{what}: {printable(str(err))[:200]}"
    return None
