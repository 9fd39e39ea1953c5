"""OTLP protobuf helpers: build attribute lists, and flatten export requests into plain dicts.

Shared by the synthetic traffic generator (which encodes) and by whatever reads OTLP (the tests'
capture endpoints, the ingester), so attribute values are converted one way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

AttrValue = str | bool | int | float | list[Any]


def any_value(value: AttrValue) -> AnyValue:
    # bool before int: in Python a bool is an int.
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))


def key_values(attributes: Mapping[str, AttrValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def from_any(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [from_any(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: from_any(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: from_any(kv.value) for kv in kvs}


@dataclass(frozen=True, slots=True)
class FlatSpan:
    trace_id: str
    span_id: str
    name: str
    start_unix_nano: int
    end_unix_nano: int
    status_code: int  # 0 unset, 1 ok, 2 error
    resource: dict[str, Any]
    attributes: dict[str, Any]
    events: tuple[dict[str, Any], ...]


def spans(request: ExportTraceServiceRequest) -> Iterator[FlatSpan]:
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield FlatSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    name=span.name,
                    start_unix_nano=span.start_time_unix_nano,
                    end_unix_nano=span.end_time_unix_nano,
                    status_code=span.status.code,
                    resource=resource,
                    attributes=attributes(span.attributes),
                    events=tuple({"name": e.name, **attributes(e.attributes)} for e in span.events),
                )


def log_records(request: ExportLogsServiceRequest) -> Iterator[dict[str, Any]]:
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                yield {
                    "resource": resource,
                    "body": from_any(record.body),
                    "attributes": attributes(record.attributes),
                    "trace_id": record.trace_id.hex(),
                    "event_name": record.event_name,
                }
