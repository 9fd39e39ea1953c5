"""LLM spans to table rows, in `observatory.sql.columns` order: the reference implementation.

Only LLM requests become rows (an inference operation with a provider or a model); other spans are
counted and skipped. A descriptive value of the wrong type becomes NULL. A value that cannot be true
refuses the span's row, with a reason (`REFUSALS`), and never its neighbours': ids that are not 16 and
8 bytes or are all zero, a start outside the window (before the raw rows' retention, or later than a
few minutes ahead), an end before the start or past the window, a token count that is negative or
not a whole number (a double), a cost or time to first token that is negative, infinite or NaN (or,
for the time to first token, infinite once in milliseconds).

The ingester runs a port of this module in Rust (native/src/lib.rs) that must write the same rows
byte for byte; tests/processes/test_ingest_native.py compares the two. Change both together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory import dialects, names
from observatory import semconv as sc

Row = tuple[Any, ...]
# Why a span's row is refused, in the order the checks run (the first failing one is reported).
REFUSALS = (
    "bad_id",
    "start_too_old",
    "start_in_future",
    "negative_duration",
    "end_in_future",
    "bad_tokens",
    "bad_cost",
    "bad_ttft",
)
_TOKENS = (
    sc.INPUT_TOKENS,
    sc.OUTPUT_TOKENS,
    sc.CACHE_READ_TOKENS,
    sc.CACHE_WRITE_TOKENS,
    sc.REASONING_TOKENS,
)


@dataclass(frozen=True, slots=True)
class Window:
    """The start times a row may have, in nanoseconds since 1970 (UTC)."""

    earliest: int
    latest: int


_STATUS = {0: "unset", 1: "ok", 2: "error"}
LLM_OPERATIONS = tuple(sorted(dialects.load().llm_operations))
_LLM_OPERATIONS = frozenset(LLM_OPERATIONS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: \d would take any script's


def _int(value: Any) -> int | None:
    return value.int_value if value is not None and value.HasField("int_value") else None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if value.HasField("double_value"):
        return float(value.double_value)
    return float(value.int_value) if value.HasField("int_value") else None


def _str(value: Any) -> str | None:
    return value.string_value if value is not None and value.HasField("string_value") else None


def _bool(value: Any) -> bool | None:
    return value.bool_value if value is not None and value.HasField("bool_value") else None


def _day(value: Any) -> date | None:
    # Only YYYY-MM-DD, as the collector writes it (date.fromisoformat would also take week dates).
    text = _str(value)
    try:
        return date.fromisoformat(text) if text and _ISO_DAY.fullmatch(text) else None
    except ValueError:
        return None


def _time(unix_nano: int) -> datetime:
    # Integer arithmetic: a float of the nanoseconds since 1970 is off by up to a few hundred ns.
    return _EPOCH + timedelta(microseconds=unix_nano // 1000)


def _first(value: Any) -> str | None:
    if value is not None and value.HasField("array_value"):
        items = value.array_value.values
        return _str(items[0]) if items else None
    return _str(value)


def _llm_request(a: dict[str, Any]) -> tuple[str, str | None] | None:
    """(operation, request model) of a span that becomes a row, the rule of the collector's
    filter/llm_only: an LLM operation, and a provider or a model; None for any other span."""
    operation, model = _str(a.get(sc.OPERATION)), _str(a.get(sc.REQUEST_MODEL)) or None
    if operation not in _LLM_OPERATIONS:
        return None
    named = model or _str(a.get(sc.PROVIDER)) or _str(a.get(sc.RESPONSE_MODEL))
    return (operation, model) if named else None


def is_llm_request(span: Any) -> bool:
    """Whether `span` becomes a row."""
    return _llm_request({kv.key: kv.value for kv in span.attributes}) is not None


def _number_ok(value: Any) -> bool:
    """Not a number (absent, or another type: NULL), or a finite number >= 0."""
    number = _float(value)
    return number is None or (math.isfinite(number) and number >= 0)


def _refusal(span: Any, a: dict[str, Any], window: Window | None) -> str | None:
    """Why `span`'s row cannot be stored, or None."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or len(span_id) != 8 or not any(trace_id) or not any(span_id):
        return "bad_id"
    start = span.start_time_unix_nano
    if window is not None and start < window.earliest:
        return "start_too_old"
    if window is not None and start > window.latest:
        return "start_in_future"
    if span.end_time_unix_nano < start:
        return "negative_duration"
    # A span is exported after it ends: an end past the window's is a broken clock, and would be
    # stored as a duration of up to 584 years.
    if window is not None and span.end_time_unix_nano > window.latest:
        return "end_in_future"
    for key in _TOKENS:
        value = a.get(key)
        if value is not None and (value.HasField("double_value") or (_int(value) or 0) < 0):
            return "bad_tokens"
    if not _number_ok(a.get(sc.COST_USD)):
        return "bad_cost"
    ttft = _float(a.get(sc.TIME_TO_FIRST_CHUNK))
    # Stored in milliseconds: a finite number of seconds can still overflow to infinity there.
    if ttft is not None and not (math.isfinite(ttft) and ttft >= 0 and math.isfinite(ttft * 1000)):
        return "bad_ttft"
    return None


def _row(resource: tuple[str, str, str | None], span: Any, window: Window | None = None) -> Row | str | None:
    """The span's row; a reason from REFUSALS when it cannot be stored; None when it is no request."""
    # Only the attributes a row needs are converted; the AnyValue objects are read in place. This
    # is the ingester's hottest loop (measured: docs/BENCHMARKS.md). The tuple is in the order of
    # observatory.sql.columns.NAMES; tests/unit/test_ingest_rows.py checks it field by field.
    a = {kv.key: kv.value for kv in span.attributes}
    llm = _llm_request(a)
    if llm is None:
        return None
    refused = _refusal(span, a, window)
    if refused is not None:
        return refused
    operation, model = llm
    cost = _float(a.get(sc.COST_USD))
    unpriced = _bool(a.get(sc.UNPRICED))
    ttft = _float(a.get(sc.TIME_TO_FIRST_CHUNK))
    application, environment, team = resource
    return (
        _time(span.start_time_unix_nano),
        span.trace_id.hex(),
        span.span_id.hex(),
        application,
        environment,
        team or _str(a.get(sc.TEAM)),
        _str(a.get(sc.USER_ID)),
        _str(a.get(sc.PROVIDER)),
        model,
        _str(a.get(sc.RESPONSE_MODEL)),
        operation,
        _STATUS.get(span.status.code, "unset"),
        _str(a.get(sc.ERROR_TYPE)),
        _first(a.get(sc.FINISH_REASONS)),
        (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
        None if ttft is None else ttft * 1000,
        _int(a.get(sc.INPUT_TOKENS)),
        _int(a.get(sc.OUTPUT_TOKENS)),
        _int(a.get(sc.CACHE_READ_TOKENS)),
        _int(a.get(sc.CACHE_WRITE_TOKENS)),
        _int(a.get(sc.REASONING_TOKENS)),
        cost,
        # A span the collector did not price counts as unpriced: never a silent zero.
        unpriced if unpriced is not None else cost is None,
        _day(a.get(sc.PRICE_VERSION)),
        _str(a.get(sc.ERROR_RAW_TYPE)),
    )


def _resource(rs: Any) -> tuple[str, str, str | None]:
    r = {kv.key: kv.value for kv in rs.resource.attributes}
    return (
        _str(r.get(sc.SERVICE_NAME)) or names.UNKNOWN,
        _str(r.get(sc.DEPLOYMENT_ENVIRONMENT)) or names.UNKNOWN,
        _str(r.get(sc.TEAM)),
    )


def rows(request: ExportTraceServiceRequest, window: Window | None = None) -> Iterator[Row | str | None]:
    """Per span: its row, the reason it is refused (REFUSALS), or None when it is no LLM request.
    Without a window, start times are not checked."""
    for rs in request.resource_spans:
        resource = _resource(rs)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield _row(resource, span, window)
