"""User feedback through the ingester (a real process) into a real PostgreSQL: ratings sent as OTLP
log records (the GenAI evaluation event) land joined to the request they rate.

The requests are the traffic generator's spans as the collector hands them on; the ratings are built
here as the SDK sends them (tests/processes/test_sdk.py sends real ones through the real collector).
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import time
from typing import Any

import psycopg
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from observatory import names
from observatory.processes import poll_until
from observatory.sql import feedback
from tests.processes.test_ingester import PROTOBUF, Ingester, _send_all, _traffic, ingester

__all__ = ["ingester"]  # the fixture, imported so pytest finds it here

T = names.TABLE_FEEDBACK


def _kv(key: str, value: Any) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, float):
        kv.value.double_value = value
    elif isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value
    return kv


def rating(
    trace_id: str,
    span_id: str = "",
    *,
    score: float | None = 1.0,
    label: str | None = None,
    comment: str | None = None,
    name: str | None = feedback.USER_FEEDBACK,
    event_name: str = feedback.EVENT_NAME,
    as_attribute: bool = False,
    when_ns: int | None = None,
    user: str | None = None,
) -> LogRecord:
    """A log record as observatory_sdk.feedback() sends it (or, `as_attribute`, as SDKs before 1.35
    name an event: an `event.name` attribute)."""
    now = time.time_ns() if when_ns is None else when_ns
    record = LogRecord(time_unix_nano=now, observed_time_unix_nano=now)
    record.trace_id = bytes.fromhex(trace_id) if trace_id else b""
    record.span_id = bytes.fromhex(span_id) if span_id else b""
    if as_attribute:
        record.attributes.append(_kv("event.name", event_name))
    else:
        record.event_name = event_name
    for key, value in (
        ("gen_ai.evaluation.name", name),
        ("gen_ai.evaluation.score.value", score),
        ("gen_ai.evaluation.score.label", label),
        ("gen_ai.evaluation.explanation", comment),
        ("user.id", user),
    ):
        if value is not None:
            record.attributes.append(_kv(key, value))
    return record


def logs(*records: LogRecord, service: str = "support-web") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(_kv("service.name", service))
    resource_logs.scope_logs.add().log_records.extend(records)
    return request


def post(
    url: str, request: ExportLogsServiceRequest, *, as_json: bool = False, gzip_body: bool = False
) -> Any:
    if as_json:
        data = json_format.MessageToDict(request)
        for resource_logs in data["resourceLogs"]:  # OTLP/JSON writes ids as hex, not base64
            for scope_logs in resource_logs["scopeLogs"]:
                for record in scope_logs["logRecords"]:
                    for key in ("traceId", "spanId"):
                        if key in record:
                            record[key] = base64.b64decode(record[key]).hex()
        body, headers = json.dumps(data).encode(), {"Content-Type": "application/json"}
    else:
        body, headers = request.SerializeToString(), dict(PROTOBUF)
    if gzip_body:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    return requests.post(f"{url}/v1/logs", data=body, headers=headers, timeout=30)


def _answer(response: Any) -> ExportLogsServiceResponse:
    answer = ExportLogsServiceResponse()
    if response.headers["Content-Type"] == "application/json":
        json_format.Parse(response.content, answer)
    else:
        answer.ParseFromString(response.content)
    return answer


REQUEST_COLUMNS = ("time", "span_id", "application", "request_model", "duration_ms", "cost_usd", "user_id")


def _requests_by_trace(dsn: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(dsn) as conn:
        for row in conn.execute(f"SELECT trace_id, {', '.join(REQUEST_COLUMNS)} FROM {names.TABLE_REQUESTS}"):
            out.setdefault(row[0], []).append(dict(zip(REQUEST_COLUMNS, row[1:], strict=True)))
    return out


def _ratings(dsn: str, where: str = "true") -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(f"SELECT * FROM {T} WHERE {where} ORDER BY time").fetchall()


def _last_to_end(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return max(calls, key=lambda c: (c["time"].timestamp() + c["duration_ms"] / 1000, c["span_id"]))


def test_ratings_are_stored_once_joined_to_the_span_named_or_the_trace_last_request(
    ingester: Ingester, database: str
) -> None:
    _send_all(ingester.url, _traffic(traces=40))
    by_trace = _requests_by_trace(database)
    single = next(t for t, calls in by_trace.items() if len(calls) == 1)
    double = [t for t, calls in by_trace.items() if len(calls) == 2]
    named = by_trace[double[0]][0]  # the first of two, named by its span
    body = logs(
        rating(single, score=1.0, label="thumbs_up", comment="great", user="hashed-rater"),
        rating(double[0], named["span_id"], score=0.0, label="thumbs_down"),
        rating(double[1], score=0.25, comment="slow"),
    )
    first = post(ingester.url, body)
    assert first.status_code == 200, first.text
    assert _answer(first).partial_success.rejected_log_records == 0
    again = post(ingester.url, body)  # the collector retries a batch whose answer it missed
    assert again.status_code == 200, again.text
    # The same ratings again in OTLP/JSON, gzipped: ignored as the retries they are.
    assert post(ingester.url, body, as_json=True, gzip_body=True).status_code == 200

    stored = {(r["trace_id"], r["span_id"]): r for r in _ratings(database)}
    assert set(stored) == {(single, ""), (double[0], named["span_id"]), (double[1], "")}
    expected = {
        (single, ""): by_trace[single][0],
        (double[0], named["span_id"]): named,
        (double[1], ""): _last_to_end(by_trace[double[1]]),
    }
    for key, request in expected.items():
        row = stored[key]
        assert row["request_span_id"] == request["span_id"], key
        assert row["request_time"] == request["time"]
        for column in ("application", "request_model", "duration_ms", "user_id"):
            assert row[column] == request[column], (key, column)
        assert row["cost_usd"] == request["cost_usd"] or (
            row["cost_usd"] is not None and math.isclose(row["cost_usd"], request["cost_usd"])
        )
        assert row["source"] == "support-web" and row["name"] == feedback.USER_FEEDBACK
    assert (stored[(single, "")]["score"], stored[(single, "")]["label"]) == (1.0, "thumbs_up")
    assert (stored[(single, "")]["comment"], stored[(single, "")]["rater_id"]) == ("great", "hashed-rater")
    assert (stored[(double[1], "")]["score"], stored[(double[1], "")]["label"]) == (0.25, None)
    assert ingester.metric('ingester_ratings_total{outcome="stored"}') == 9
    assert ingester.metric("ingester_ratings_matched_total") == 3


def test_a_rating_that_arrives_before_its_request_is_joined_once_the_request_is_written(
    ingester: Ingester, database: str
) -> None:
    traffic = _traffic(traces=4, seed=11)
    span = traffic.traces[0].resource_spans[0].scope_spans[0].spans[0]
    trace_id = span.trace_id.hex()
    response = post(ingester.url, logs(rating(trace_id, score=3.0, as_attribute=True)))
    assert response.status_code == 200, response.text
    (waiting,) = _ratings(database)
    assert waiting["request_time"] is None and waiting["score"] == 3.0
    _send_all(ingester.url, traffic)
    calls = _requests_by_trace(database)[trace_id]
    poll_until(
        lambda: _ratings(database)[0]["request_span_id"] is not None,
        "the waiting rating joined to its request",
        30,
    )
    assert _ratings(database)[0]["request_span_id"] == _last_to_end(calls)["span_id"]


def test_other_log_records_are_skipped_and_bad_ratings_refused_with_their_reason_and_place(
    ingester: Ingester, database: str
) -> None:
    trace_id = "5b8efff798038103d269b633813fc60c"
    plain = LogRecord(time_unix_nano=time.time_ns(), event_name="app.started")
    plain.body.string_value = "hello"
    body = logs(
        plain,
        rating("", score=1.0),
        rating(trace_id, name=None),
        rating(trace_id, score=math.nan),
        rating(trace_id, when_ns=time.time_ns() + 86_400 * 10**9),
        rating(trace_id, score=None, label="relevant", name="relevance"),
    )
    response = post(ingester.url, body, as_json=True)
    assert response.status_code == 200, response.text
    partial = _answer(response).partial_success
    assert partial.rejected_log_records == 4
    assert partial.error_message == (
        "4 log records refused: 1 no_trace (resource 0 scope 0 log record 1), 1 no_name (resource 0"
        " scope 0 log record 2), 1 no_score (resource 0 scope 0 log record 3), 1 bad_time (resource 0"
        " scope 0 log record 4)"
    )
    (kept,) = _ratings(database)
    assert (kept["name"], kept["score"], kept["label"]) == ("relevance", None, "relevant")
    assert ingester.metric('ingester_ratings_total{outcome="not_a_rating"}') == 1
    assert ingester.metric('ingester_ratings_total{outcome="no_score"}') == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\x00garbage", PROTOBUF, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (
            b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
        ),
        (b"{}", {"Content-Type": "text/plain"}, 415),
    ],
)
def test_an_unreadable_logs_body_is_refused_with_why_and_the_service_stays_ready(
    ingester: Ingester, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = requests.post(f"{ingester.url}/v1/logs", data=body, headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert response.text.strip()
    assert requests.get(f"{ingester.url}/readyz", timeout=5).ok


def test_a_database_that_refuses_ratings_gets_503_and_the_retry_stores_them(
    ingester: Ingester, database: str
) -> None:
    body = logs(rating("0af7651916cd43dd8448eb211c80319c", score=1.0))
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {T} RENAME TO {T}_away")
        try:
            refused = post(ingester.url, body)
        finally:
            conn.execute(f"ALTER TABLE {T}_away RENAME TO {T}")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5", refused.text
    assert _ratings(database) == []
    retried = post(ingester.url, body)
    assert retried.status_code == 200, retried.text
    assert len(_ratings(database)) == 1
