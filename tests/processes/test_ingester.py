"""The ingester as a real process against a real PostgreSQL: OTLP in, exactly one row per LLM request.

Covers the round trip (protobuf, JSON, gzip), idempotent retries, bad input (400/411/413/415) that
leaves the service healthy, backpressure (503 + Retry-After while the database is down), SIGKILL and
PostgreSQL restarts mid-stream ending with every row exactly once, and a graceful SIGTERM.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import math
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from observatory import names
from observatory.ingest import server
from observatory.local.postgres import LocalPostgres
from observatory.processes import ManagedProcess, free_port, poll_until
from observatory.spec import load
from observatory.traffic import Traffic, Workload, generate
from tests.conftest import SPECS

SPEC_PATH = SPECS / "valid" / "postgres.yaml"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


class Ingester:
    def __init__(self, dsn: str, tmp: Path, **flags: str) -> None:
        self.dsn, self.tmp, self.flags = dsn, tmp, flags
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: ManagedProcess | None = None

    def start(self) -> None:
        extra = [f"--{k.replace('_', '-')}={v}" for k, v in self.flags.items()]
        self.proc = ManagedProcess(
            server.command(SPEC_PATH, f"127.0.0.1:{self.port}", *extra),
            self.tmp / f"ingester-{time.monotonic_ns()}.log",
            {"OBSERVATORY_DATABASE_URL": self.dsn},
        )
        self.proc.wait_ready(lambda: requests.get(f"{self.url}/readyz", timeout=2).ok, "ingester /readyz", 60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def metric(self, name: str) -> float:
        text = requests.get(f"{self.url}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@pytest.fixture
def ingester(database: str, tmp_path: Path) -> Iterator[Ingester]:
    service = Ingester(database, tmp_path)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _traffic(traces: int = 400, seed: int = 5, batch_traces: int = 40) -> Traffic:
    return generate(
        load(SPEC_PATH),
        Workload(
            seed=seed, traces=traces, start_unix_nano=time.time_ns() - 3600 * 10**9, as_collector_output=True
        ),
        batch_traces=40,
    )


def _rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT span_id, application, request_model, input_tokens, output_tokens, cost_usd,"
            f" unpriced FROM {names.TABLE_REQUESTS}"
        ).fetchall()


def _assert_exact(dsn: str, traffic: Traffic) -> None:
    truth = traffic.truth
    rows = _rows(dsn)
    assert len(rows) == len({r[0] for r in rows}) == len(truth.span_cost), "every LLM request exactly once"
    assert Counter((r[1], r[2]) for r in rows) == truth.requests
    tokens = Counter()
    for r in rows:
        tokens[(r[1], r[2])] += r[3] or 0  # a failed call reports no tokens: NULL
    assert tokens == truth.input_tokens
    for span_id, *_rest, cost, unpriced in rows:
        expected = truth.span_cost[span_id]
        assert unpriced is (expected is None)
        assert (cost is None and expected is None) or math.isclose(cost, expected, rel_tol=1e-12)


def _send_all(url: str, traffic: Traffic, retry_seconds: float = 90, gzip_body: bool = False) -> int:
    """Sends every request like the collector does: retrying on failure until accepted. Returns retries."""
    retries = 0
    for message in traffic.traces:
        body = message.SerializeToString()
        headers = dict(PROTOBUF)
        if gzip_body:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                response = requests.post(f"{url}/v1/traces", data=body, headers=headers, timeout=35)
                if response.status_code == 200:
                    break
                assert response.status_code == 503, (response.status_code, response.text)
                assert response.headers["Retry-After"].isdigit()
            except requests.ConnectionError:
                pass
            retries += 1
            assert time.monotonic() < deadline, "the ingester never accepted the request"
            time.sleep(0.2)
    return retries


def test_llm_spans_round_trip_to_exactly_one_row_each(ingester: Ingester) -> None:
    traffic = _traffic()
    assert _send_all(ingester.url, traffic) == 0
    _assert_exact(ingester.dsn, traffic)
    assert ingester.metric("ingester_rows_written_total") == len(traffic.truth.span_cost)
    assert ingester.metric("ingester_spans_skipped_total") > 0  # root and tool spans are not LLM requests


@pytest.mark.parametrize(
    "flags",
    [
        {"decoder": "python"},
        {"decoder": "native", "decode_workers": "2"},
        {"decoder": "python", "decode_workers": "2"},
    ],
    ids=["python decoder in threads", "native decoder in processes", "python decoder in processes"],
)
def test_every_decoder_in_threads_or_processes_round_trips_exactly(
    database: str, tmp_path: Path, flags: dict[str, str]
) -> None:
    service = Ingester(database, tmp_path, **flags)
    service.start()
    try:
        traffic = _traffic(traces=200)
        assert _send_all(service.url, traffic, gzip_body=True) == 0
        _assert_exact(database, traffic)
    finally:
        service.stop()


def test_a_retried_batch_never_creates_duplicates(ingester: Ingester) -> None:
    traffic = _traffic(traces=60)
    _send_all(ingester.url, traffic)
    _send_all(ingester.url, traffic)  # the collector retrying after a lost acknowledgement
    _assert_exact(ingester.dsn, traffic)
    assert ingester.metric("ingester_rows_duplicate_total") == len(traffic.truth.span_cost)


def _otlp_json(message: ExportTraceServiceRequest) -> bytes:
    data = json_format.MessageToDict(message)

    def hexify(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in node:
                    node[key] = base64.b64decode(node[key]).hex()
            for value in node.values():
                hexify(value)
        elif isinstance(node, list):
            for value in node:
                hexify(value)

    hexify(data)
    return json.dumps(data).encode()


def test_otlp_json_and_gzip_bodies_are_accepted(ingester: Ingester) -> None:
    traffic = _traffic(traces=80, seed=9)
    half = len(traffic.traces) // 2
    for message in traffic.traces[:half]:
        response = requests.post(
            f"{ingester.url}/v1/traces",
            data=_otlp_json(message),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert (response.status_code, response.text) == (200, "{}")
    rest = Traffic(traffic.traces[half:], [], traffic.truth)
    _send_all(ingester.url, rest, gzip_body=True)
    _assert_exact(ingester.dsn, traffic)


def test_text_postgresql_cannot_store_is_stored_rather_than_failing_the_batch(ingester: Ingester) -> None:
    # A NUL in a string made COPY fail the whole group, and the collector retry it forever.
    traffic = _traffic(traces=5)
    span = next(
        s
        for s in traffic.traces[0].resource_spans[0].scope_spans[0].spans
        if any(kv.key == "gen_ai.request.model" for kv in s.attributes)
    )
    span.attributes.add(key="error.type", value=AnyValue(string_value="bad\0byte\ttab"))
    assert _send_all(ingester.url, traffic) == 0
    with psycopg.connect(ingester.dsn) as conn:
        stored = conn.execute(
            f"SELECT error_type FROM {names.TABLE_REQUESTS} WHERE span_id = %s", (span.span_id.hex(),)
        ).fetchone()
    assert stored == ("bad\ufffdbyte\ttab",)
    _assert_exact(ingester.dsn, traffic)
    # A repair, not a refusal: counted by rule, once per value changed.
    assert ingester.metric('ingester_values_repaired_total{rule="nul"}') == 1
    assert ingester.metric("ingester_spans_refused_total") == 0


def test_a_row_the_database_refuses_costs_only_itself(ingester: Ingester) -> None:
    # A value PostgreSQL will never take (here: a constraint the test adds) must not fail the rows
    # of its own request, nor the requests grouped with it, nor be retried forever: its request is
    # split until the refused row is alone, the rest is stored, and the answer is a partial success.
    with psycopg.connect(ingester.dsn, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE {names.TABLE_REQUESTS} ADD CONSTRAINT refuse_poison"
            " CHECK (error_type IS DISTINCT FROM 'poison')"
        )
    traffic = _traffic(traces=400)
    poison = ExportTraceServiceRequest()
    poison.CopyFrom(traffic.traces[0])
    neighbours = [
        s
        for rs in poison.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
        if any(kv.key == "gen_ai.request.model" for kv in s.attributes)
    ]
    for span in neighbours:  # ids of their own: only this request can store them
        span.span_id = bytes(reversed(span.span_id))
    bad, good = neighbours[0], neighbours[1:]
    assert len(good) >= 10
    bad.span_id = b"poison!!"
    bad.attributes.add(key="error.type", value=AnyValue(string_value="poison"))
    answers: dict[str, object] = {}

    def post_poison() -> None:
        response = requests.post(
            f"{ingester.url}/v1/traces", data=poison.SerializeToString(), headers=PROTOBUF, timeout=35
        )
        answers["status"] = response.status_code
        partial = ExportTraceServiceResponse.FromString(response.content).partial_success
        answers["rejected"] = partial.rejected_spans
        answers["reason"] = "1 refused_by_database" in partial.error_message

    sender = threading.Thread(target=post_poison)
    sender.start()  # while the good requests go in, so that the writer may group them together
    _send_all(ingester.url, traffic)
    sender.join()
    assert answers == {"status": 200, "rejected": 1, "reason": True}
    with psycopg.connect(ingester.dsn, autocommit=True) as conn:
        stored = {r[0] for r in conn.execute(f"SELECT span_id FROM {names.TABLE_REQUESTS}").fetchall()}
        assert {s.span_id.hex() for s in good} <= stored
        assert bad.span_id.hex() not in stored
        # The neighbours are not in the traffic's truth: out of the way of the exact comparison.
        conn.execute(
            f"DELETE FROM {names.TABLE_REQUESTS} WHERE span_id = ANY(%s)", ([s.span_id.hex() for s in good],)
        )
    _assert_exact(ingester.dsn, traffic)
    assert ingester.metric("ingester_rows_refused_total") == 1
    assert ingester.metric('ingester_spans_refused_total{reason="refused_by_database"}') == 1
    assert requests.get(f"{ingester.url}/readyz", timeout=5).ok


def test_request_bytes_in_flight_are_bounded(database: str, tmp_path: Path) -> None:
    body = _traffic(traces=40).traces[0].SerializeToString()
    held = 80_000
    service = Ingester(database, tmp_path, max_inflight_bytes=str(held + len(body) - 1))
    service.start()
    slow = socket.create_connection(("127.0.0.1", service.port))
    try:
        # A sender that has sent its headers and part of its body, and stalls: its bytes are held.
        head = f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF['Content-Type']}\r\n"
        slow.sendall(f"{head}Content-Length: {held}\r\n\r\n".encode() + bytes(1000))
        poll_until(lambda: service.metric("ingester_inflight_body_bytes") == held, "the slow body held", 10)
        refused = requests.post(f"{service.url}/v1/traces", data=body, headers=PROTOBUF, timeout=10)
        assert (refused.status_code, refused.headers.get("Retry-After")) == (503, "5"), refused.text
        assert "bytes in flight" in refused.text
        slow.sendall(bytes(held - 1000))  # the rest: zeros, which is not OTLP
        assert slow.recv(100).startswith(b"HTTP/1.1 400")
        poll_until(lambda: service.metric("ingester_inflight_body_bytes") == 0, "the budget given back", 10)
        accepted = requests.post(f"{service.url}/v1/traces", data=body, headers=PROTOBUF, timeout=10)
        assert accepted.status_code == 200, accepted.text
    finally:
        slow.close()
        service.stop()


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        (PROTOBUF, b"\xff\xff\xff\xff", 400, "malformed OTLP protobuf"),
        ({"Content-Type": "application/json"}, b"{not json", 400, "malformed JSON"),
        (
            {"Content-Type": "application/json"},
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            200,  # the one span is refused, in a partial success: the request was read
            "is not hex",
        ),
        ({"Content-Type": "application/json"}, b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
        ({"Content-Type": "text/plain"}, b"hello", 415, "unsupported content type"),
        ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415, "unsupported content encoding"),
        ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip at all", 400, "invalid gzip body"),
    ],
    ids=["bad-protobuf", "bad-json", "bad-hex-id", "deep-json", "wrong-type", "wrong-encoding", "bad-gzip"],
)
def test_bad_input_gets_the_right_status_and_reason_and_leaves_the_service_healthy(
    ingester: Ingester, headers: dict[str, str], body: bytes, status: int, reason: str
) -> None:
    response = requests.post(f"{ingester.url}/v1/traces", data=body, headers=headers, timeout=10)
    assert response.status_code == status
    assert reason in response.text
    assert requests.get(f"{ingester.url}/readyz", timeout=5).status_code == 200
    traffic = _traffic(traces=10, seed=1)
    _send_all(ingester.url, traffic)
    _assert_exact(ingester.dsn, traffic)


def test_oversized_and_decompression_bomb_bodies_get_413(database: str, tmp_path: Path) -> None:
    service = Ingester(database, tmp_path, max_body_bytes="100000")
    service.start()
    try:
        big = requests.post(f"{service.url}/v1/traces", data=b"\0" * 200_000, headers=PROTOBUF, timeout=10)
        assert big.status_code == 413
        bomb = gzip.compress(b"\0" * (80 * 2**20))  # 80 MiB of zeros in ~80 kB
        response = requests.post(
            f"{service.url}/v1/traces",
            data=bomb,
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
            timeout=30,
        )
        assert response.status_code == 413 and "decompressed" in response.text
        assert requests.get(f"{service.url}/readyz", timeout=5).ok
        assert service.metric('ingester_requests_rejected_total{reason="too_large"}') == 2
    finally:
        service.stop()


def test_the_database_going_away_gives_503_with_retry_after_then_recovers(tmp_path: Path) -> None:
    pg = LocalPostgres()
    pg.start()
    service = Ingester(pg.dsn, tmp_path)
    try:
        service.start()
        pg.stop()
        message = _traffic(traces=10, seed=2).traces[0]

        def refused() -> list[requests.Response]:
            # A list, because a Response is falsy for error statuses.
            r = requests.post(
                f"{service.url}/v1/traces", data=message.SerializeToString(), headers=PROTOBUF, timeout=35
            )
            return [r] if r.status_code == 503 else []

        (response,) = poll_until(refused, "a 503 while PostgreSQL is down", 60)
        assert response.headers["Retry-After"] == "5"
        assert requests.get(f"{service.url}/readyz", timeout=5).status_code == 503
        pg.start()
        poll_until(
            lambda: requests.get(f"{service.url}/readyz", timeout=5).ok,
            "readiness after PostgreSQL is back",
            60,
        )
        traffic = _traffic(traces=30, seed=4)
        _send_all(service.url, traffic)
        _assert_exact(pg.dsn, traffic)
    finally:
        service.stop()
        pg.destroy()


def test_sigkill_mid_stream_then_restart_ends_with_every_row_exactly_once(
    database: str, tmp_path: Path
) -> None:
    service = Ingester(database, tmp_path)
    service.start()
    traffic = _traffic(traces=3000, seed=21, batch_traces=5)  # ~600 small requests: a long stream
    sender = threading.Thread(target=_send_all, args=(service.url, traffic))
    sender.start()
    poll_until(lambda: _count(database) > 50, "some rows written before the kill", 60, interval_seconds=0.02)
    service.kill()
    assert _count(database) < len(traffic.truth.span_cost), "the kill must land mid-stream"
    service.start()  # same port: the sender's retries reach the new process
    sender.join(180)
    assert not sender.is_alive()
    service.stop()
    _assert_exact(database, traffic)


def test_postgresql_restarting_mid_stream_ends_with_every_row_exactly_once(tmp_path: Path) -> None:
    pg = LocalPostgres()
    pg.start()
    service = Ingester(pg.dsn, tmp_path)
    try:
        service.start()
        traffic = _traffic(traces=3000, seed=22, batch_traces=5)
        sender = threading.Thread(target=_send_all, args=(service.url, traffic))
        sender.start()
        poll_until(
            lambda: _count(pg.dsn) > 50, "some rows written before the restart", 60, interval_seconds=0.02
        )
        pg.stop("immediate")  # a crash, not a clean shutdown
        assert _count(pg.dsn) == 0  # down: the stream is mid-way
        time.sleep(1)
        pg.start()
        assert _count(pg.dsn) < len(traffic.truth.span_cost), "the restart must land mid-stream"
        sender.join(180)
        assert not sender.is_alive()
        _assert_exact(pg.dsn, traffic)
    finally:
        service.stop()
        pg.destroy()


def test_sigterm_finishes_requests_in_flight_and_exits_cleanly(ingester: Ingester) -> None:
    traffic = _traffic(traces=600, seed=23)
    bodies = [m.SerializeToString() for m in traffic.traces]
    results: dict[int, int] = {}

    def post(index: int) -> None:
        try:
            results[index] = requests.post(
                f"{ingester.url}/v1/traces", data=bodies[index], headers=PROTOBUF, timeout=30
            ).status_code
        except requests.ConnectionError:
            results[index] = 0

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    assert ingester.proc is not None
    ingester.proc.proc.send_signal(signal.SIGTERM)
    assert ingester.proc.proc.wait(30) == 0
    for thread in threads:
        thread.join(30)
    accepted = list(results.values()).count(200)
    assert set(results.values()) <= {200, 503, 0}
    # Every request answered 200 is in the database: nothing acknowledged is lost on shutdown.
    with psycopg.connect(ingester.dsn) as conn:
        stored = {r[0] for r in conn.execute(f"SELECT span_id FROM {names.TABLE_REQUESTS}")}
    acknowledged = set()
    for index, status in results.items():
        if status == 200:
            request = ExportTraceServiceRequest.FromString(bodies[index])
            acknowledged |= {
                s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
            }
    assert accepted > 0
    assert (acknowledged & set(traffic.truth.span_cost)) <= stored


def _count(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return 0


def test_health_and_metrics_endpoints_answer(ingester: Ingester) -> None:
    assert requests.get(f"{ingester.url}/healthz", timeout=5).text == "ok\n"
    text = requests.get(f"{ingester.url}/metrics", timeout=5).text
    # The queue alert divides by the capacity the ingester reports (its --max-queue-rows).
    for name in ("ingester_queue_rows 0", "ingester_queue_capacity_rows 50000", "ingester_database_up 1"):
        assert name in text


def _one_bad_among(good: ExportTraceServiceRequest, defect: str) -> bytes:
    """`good` and one more LLM span with `defect`, as a body (some defects exist only on the wire)."""
    from tests.faults import fuzz

    spans = [s for rs in good.resource_spans for ss in rs.scope_spans for s in ss.spans]
    template = next(s for s in spans if any(kv.key == "gen_ai.request.model" for kv in s.attributes))
    bad = type(template).FromString(template.SerializeToString())
    bad.span_id = b"badspan!"
    wire = b""
    if defect == "start 2^64-1":
        bad.start_time_unix_nano = 2**64 - 1
    elif defect == "start tomorrow":
        bad.start_time_unix_nano += 86_400 * 10**9
    elif defect == "start before retention":
        bad.start_time_unix_nano -= 400 * 86_400 * 10**9
    elif defect == "end before start":
        bad.end_time_unix_nano = bad.start_time_unix_nano - 1
    elif defect == "end 2^64-1":
        bad.end_time_unix_nano = 2**64 - 1
    elif defect == "26-byte trace id":
        bad.trace_id += bytes(10)
    elif defect == "NaN cost":
        bad.attributes.add(key="llm.cost.usd", value=AnyValue(double_value=math.nan))
    elif defect == "infinite cost":
        bad.attributes.add(key="llm.cost.usd", value=AnyValue(double_value=math.inf))
    elif defect == "negative tokens":
        bad.attributes.add(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=-3))
    elif defect == "not UTF-8":
        bad.attributes.add(key="user.id", value=AnyValue(string_value="placeholder!"))
        wire = bad.SerializeToString().replace(b"placeholder!", b"\xff\xfe" * 6)
    elif defect == "nested 10,000 deep":
        wire = fuzz.span_with_attribute(bad.SerializeToString(), b"deep", fuzz.nested_kvlist(10_000))
    wire = wire or bad.SerializeToString()
    first = good.resource_spans[0]
    scope = fuzz.field(1, first.scope_spans[0].scope.SerializeToString()) + fuzz.field(2, wire)
    resource_spans = fuzz.field(1, first.resource.SerializeToString()) + fuzz.field(2, scope)
    return good.SerializeToString() + fuzz.field(1, resource_spans)


DEFECTS = {
    "start 2^64-1": "start_in_future",
    "start tomorrow": "start_in_future",
    "start before retention": "start_too_old",
    "end before start": "negative_duration",
    "end 2^64-1": "end_in_future",
    "26-byte trace id": "bad_id",
    "NaN cost": "bad_cost",
    "infinite cost": "bad_cost",
    "negative tokens": "bad_tokens",
    "not UTF-8": "not_utf8",
    "nested 10,000 deep": "nested_too_deep",
}


@pytest.mark.parametrize("decoder", ["native", "python"])
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_one_bad_span_among_1000_good_ones_is_refused_alone(
    database: str, tmp_path: Path, defect: str, decoder: str
) -> None:
    ingester = Ingester(database, tmp_path, decoder=decoder)
    ingester.start()
    try:
        _one_bad_among_1000(ingester, defect)
    finally:
        ingester.stop()


def _one_bad_among_1000(ingester: Ingester, defect: str) -> None:
    traffic = _traffic(traces=900, seed=3)
    merged = ExportTraceServiceRequest()
    for message in traffic.traces:
        merged.resource_spans.extend(message.resource_spans)
    assert len(traffic.truth.span_cost) >= 1000
    response = requests.post(
        f"{ingester.url}/v1/traces", data=_one_bad_among(merged, defect), headers=PROTOBUF, timeout=60
    )
    assert response.status_code == 200, response.text
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert f"1 {DEFECTS[defect]}" in partial.error_message
    _assert_exact(ingester.dsn, traffic)
    assert ingester.metric(f'ingester_spans_refused_total{{reason="{DEFECTS[defect]}"}}') == 1


def test_a_stalled_body_is_cut_off(database: str, tmp_path: Path) -> None:
    service = Ingester(database, tmp_path, socket_timeout_seconds="1")
    service.start()
    slow = socket.create_connection(("127.0.0.1", service.port))
    try:
        started = time.monotonic()
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
        slow.sendall(b"Content-Length: 100000\r\n\r\n" + bytes(10))  # and then nothing
        slow.settimeout(10)
        answer = slow.recv(100)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 5
        assert requests.get(f"{service.url}/readyz", timeout=5).ok
    finally:
        slow.close()
        service.stop()


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline(database: str, tmp_path: Path) -> None:
    # Each byte arrives well within the socket timeout, so only a deadline for the whole body
    # stops a client from holding one of the request slots for as long as it likes.
    service = Ingester(database, tmp_path, socket_timeout_seconds="1")
    service.start()
    slow = socket.create_connection(("127.0.0.1", service.port))
    try:
        started = time.monotonic()
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
        slow.sendall(b"Content-Length: 1000\r\n\r\n")
        slow.settimeout(0.25)
        answer = b""
        while not answer and time.monotonic() - started < 10:
            with contextlib.suppress(OSError):
                slow.sendall(b"\0")
            with contextlib.suppress(TimeoutError):
                answer = slow.recv(200)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        slow.settimeout(5)
        while chunk := slow.recv(200):  # the rest of the answer, until the ingester closes
            answer += chunk
        assert b"did not arrive within 1 s" in answer
        assert time.monotonic() - started < 3
        assert service.metric('ingester_requests_rejected_total{reason="timeout"}') == 1
    finally:
        slow.close()
        service.stop()


def test_a_body_announced_over_the_limit_is_answered_413_without_being_read(
    ingester: Ingester,
) -> None:
    sender = socket.create_connection(("127.0.0.1", ingester.port))
    try:
        sender.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
        sender.sendall(b"Content-Length: 100000000000\r\n\r\n")  # 100 GB, none of it sent
        sender.settimeout(5)
        answer = b""
        while chunk := sender.recv(200):  # until the ingester closes: it does not wait for the body
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert answer.endswith(b"body of 100000000000 bytes exceeds 16777216\n")
    finally:
        sender.close()


def test_a_json_request_gets_its_partial_success_as_json(ingester: Ingester) -> None:
    traffic = _traffic(traces=20, seed=4)
    merged = ExportTraceServiceRequest()
    for message in traffic.traces:
        merged.resource_spans.extend(message.resource_spans)
    data = json.loads(_otlp_json(merged))
    bad = dict(data["resourceSpans"][0]["scopeSpans"][0]["spans"][0], spanId="00" * 8)
    bad["startTimeUnixNano"] = str(2**64 - 1)
    not_hex = dict(data["resourceSpans"][0]["scopeSpans"][0]["spans"][0], spanId="not hex!")
    at = len(data["resourceSpans"][0]["scopeSpans"][0]["spans"])  # where `bad` goes
    data["resourceSpans"][0]["scopeSpans"][0]["spans"] += [bad, not_hex]
    response = requests.post(
        f"{ingester.url}/v1/traces", json=data, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert partial["errorMessage"] == (
        f"2 spans refused: 1 malformed (resource 0 scope 0 span {at + 1}: spanId 'not hex!' is not hex),"
        f" 1 bad_id (resource 0 scope 0 span {at})"
    )
    _assert_exact(ingester.dsn, traffic)


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline(database: str, tmp_path: Path) -> None:
    # Like the body: each byte within the socket timeout, the whole never. The connection (and the
    # thread serving it) is closed once the timeout has passed since the request began.
    service = Ingester(database, tmp_path, socket_timeout_seconds="1")
    service.start()
    slow = socket.create_connection(("127.0.0.1", service.port))
    try:
        started = time.monotonic()
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\n")
        slow.settimeout(0.25)
        closed = False
        while not closed and time.monotonic() - started < 10:
            try:
                slow.sendall(b"X")
                closed = slow.recv(200) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: closed too
                closed = True
        assert closed, "the connection stayed open while headers trickled in"
        assert time.monotonic() - started < 3
        assert requests.get(f"{service.url}/readyz", timeout=5).ok
    finally:
        slow.close()
        service.stop()


def test_connections_past_the_limit_get_503_and_the_slots_come_back(database: str, tmp_path: Path) -> None:
    # Each connection has a thread; idle ones hold theirs until the socket timeout (30 s here).
    service = Ingester(database, tmp_path, max_connections="3")
    service.start()
    idle = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(3)]
    try:
        time.sleep(0.5)  # accepted, each by a thread of its own
        extra = socket.create_connection(("127.0.0.1", service.port))
        extra.settimeout(5)
        answer = b""
        while chunk := extra.recv(200):  # until the ingester closes it
            answer += chunk
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"), answer
        for sock in idle:
            sock.close()
        idle.clear()
        poll_until(
            lambda: requests.get(f"{service.url}/readyz", timeout=5).ok,
            "a connection taken again once the idle ones closed",
            10,
        )
        assert service.metric('ingester_requests_rejected_total{reason="too_many_connections"}') >= 1
    finally:
        for sock in idle:
            sock.close()
        service.stop()
