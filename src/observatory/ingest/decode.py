"""OTLP/HTTP request bodies to export requests: protobuf or JSON, optionally gzip, with size limits.

Every way a body can be wrong becomes a `BadRequest` with the HTTP status and a reason a sender can
act on; nothing here raises anything else for bad input.
"""

from __future__ import annotations

import base64
import json
import zlib
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


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress gzip, refusing more than `limit` bytes out (a small body can inflate enormously)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise BadRequest(400, f"invalid gzip body: {err}") from err
    if len(out) > limit or inflater.unconsumed_tail:
        raise BadRequest(413, f"body is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise BadRequest(400, "invalid gzip body: truncated")
    return out


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


def traces(body: bytes, media: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as err:
            raise BadRequest(400, f"malformed OTLP protobuf: {err}") from err
        return request
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(400, f"malformed JSON: {err}") from err
    if not isinstance(data, dict):
        raise BadRequest(400, "OTLP JSON must be an object with resourceSpans")
    _hex_ids_to_base64(data)
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise BadRequest(400, f"malformed OTLP JSON: {err}") from err
    return request
