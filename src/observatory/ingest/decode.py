"""OTLP/HTTP request bodies to export requests: protobuf or JSON, optionally gzip, with size limits.

Every way a whole body can be wrong becomes a `BadRequest` with the HTTP status and a reason a sender
can act on; nothing here raises anything else for bad input. A body whose envelope reads but some of
whose spans do not is salvaged span by span (`salvage`): the spans that parse are kept, the others
counted by reason (`MALFORMED`), so one bad span never costs the good ones (the ingester answers with
OTLP's partial success).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

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


def inflate(body: bytes, encoding: str, limit: int, charge: Callable[[int], bool] | None = None) -> bytes:
    """The body as sent before its Content-Encoding (`gzip` or `identity`); 415 for another."""
    if encoding == "gzip":
        return gunzip(body, limit, charge)
    if encoding != "identity":
        raise BadRequest(415, f"unsupported content encoding {encoding!r}: use gzip or none")
    return body


def hex_ids_to_base64(node: Any) -> None:
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
            hex_ids_to_base64(item)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


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


def traces(body: bytes, media: str) -> Decoded:
    """The request in `body`, salvaged span by span when it does not parse whole."""
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as err:
            from observatory.ingest import salvage  # bad bodies only; it imports this module

            return salvage.protobuf(body, err)
        return Decoded(request)
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadRequest(400, "OTLP JSON must be an object with resourceSpans")
    try:
        hex_ids_to_base64(data)
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except JSON_ERRORS as err:
        # The ids were rewritten in place up to the failure (and base64 is seldom hex): salvage
        # from the body as sent, not from the half-converted tree.
        from observatory.ingest import salvage  # bad bodies only; it imports this module

        return salvage.json_spans(load_json(body), err)
    return Decoded(request)


# What parsing untrusted OTLP/JSON into a message raises. json_format raises more than ParseError on
# odd input (an enum name holding a lone surrogate: SystemError from upb; a list where a message
# belongs: AttributeError or TypeError), and each means "this part is malformed".
JSON_ERRORS = (
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


def load_json(body: bytes) -> Any:
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
