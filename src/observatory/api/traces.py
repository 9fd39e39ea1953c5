"""A trace by its id from Tempo, for the query API: every span with its service, timing, status and
attributes. Tempo keeps every failed and slow trace and a sample of the rest (the collector's tail
sampling), so a trace that is not there was sampled away or is past trace retention: None, not an
error. Tempo 2.x answers `batches`, 3.x `resourceSpans`; ids may come base64-encoded (protobuf JSON)
or as hex (OTLP JSON): both read as hex here.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any, Final

import requests

from observatory.api.store import QueryError, Unavailable

TRACE_ID: Final = re.compile(r"^[0-9a-fA-F]{32}$")
TIMEOUT_SECONDS: Final = 10


def _hex(value: str, length: int) -> str:
    if len(value) == length and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex() if value else ""
    except (binascii.Error, ValueError):
        return value


def _value(value: dict[str, Any]) -> str:
    """An OTLP AnyValue as text: strings as they are, numbers and booleans as JSON writes them."""
    for key in ("stringValue", "intValue", "doubleValue"):
        if key in value:
            return str(value[key])
    if "boolValue" in value:
        return "true" if value["boolValue"] else "false"
    return str(value.get("arrayValue") or value.get("kvlistValue") or "")


def _attributes(items: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    return sorted((a["key"], _value(a.get("value", {}))) for a in items or [])


def spans(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of Tempo's answer, in start order."""
    out = []
    for batch in found.get("batches") or found.get("resourceSpans") or []:
        resource = dict(_attributes(batch.get("resource", {}).get("attributes")))
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for span in scope.get("spans", []):
                start, end = int(span.get("startTimeUnixNano", 0)), int(span.get("endTimeUnixNano", 0))
                status = span.get("status", {}).get("code", "STATUS_CODE_UNSET")
                out.append(
                    {
                        "span_id": _hex(span.get("spanId", ""), 16),
                        "parent_span_id": _hex(span.get("parentSpanId", ""), 16) or None,
                        "name": span.get("name", ""),
                        "service": resource.get("service.name", ""),
                        "start_time": datetime.fromtimestamp(start / 1e9, UTC),
                        "duration_ms": (end - start) / 1e6,
                        "status": str(status).removeprefix("STATUS_CODE_").lower(),
                        "attributes": _attributes(span.get("attributes")),
                    }
                )
    return sorted(out, key=lambda s: (s["start_time"], s["span_id"]))


def trace(tempo_url: str | None, trace_id: str) -> list[dict[str, Any]] | None:
    """The trace's spans, or None when Tempo does not hold it."""
    if tempo_url is None:
        raise QueryError("trace needs Tempo, and this API has none (--tempo-url)")
    if not TRACE_ID.match(trace_id):
        raise QueryError(f"id must be a trace id of 32 hexadecimal digits, got {trace_id[:40]!r}")
    try:
        response = requests.get(
            f"{tempo_url.rstrip('/')}/api/traces/{trace_id.lower()}",
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as err:
        raise Unavailable("Tempo", f"{tempo_url} did not answer: {err}") from err
    if response.status_code == 404:
        return None
    if not response.ok:
        raise Unavailable("Tempo", f"{tempo_url} answered {response.status_code}: {response.text[:200]}")
    try:
        found = response.json()
    except ValueError as err:
        raise Unavailable("Tempo", f"{tempo_url} answered something other than JSON: {err}") from err
    if isinstance(found, dict) and "trace" in found:  # /api/v2 shape, should a proxy rewrite the path
        found = found["trace"]
    return spans(found) or None
