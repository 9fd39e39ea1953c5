"""Every kind of identifier in every place a span, log record or metric carries text, through the real
collector with the full rendered config: none may reach any exporter, and what is not PII stays intact.

Real processes: the collector built from the rendered manifest, the ingester writing to PostgreSQL,
Prometheus receiving remote write. Tempo and Loki are OTLP capture endpoints at their addresses, and a
second capture on the store pipeline records the full OTLP payload the ingester is sent (the ingester
keeps only some of it in rows).
"""

from __future__ import annotations

import copy
import hashlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from observatory import names
from observatory.ingest import server
from observatory.otlp import spans
from observatory.render.artifact import to_yaml
from observatory.render.collector import config
from observatory.spec import defaults, load
from observatory.spec.types import Spec
from tests.conftest import (
    REPO,
    ManagedProcess,
    collector_binary,
    free_port,
    loopback_collector,
    poll_until,
    start_prometheus,
)
from tests.otlp_capture import OtlpCapture

# One identifier of each kind (the text seeded) and what must never come out (the needle).
IDENTIFIERS: dict[str, tuple[str, str]] = {
    "email": ("jane.doe@example.com", "jane.doe@example.com"),
    "phone": ("+44 20 7946 0958", "7946 0958"),
    "card": ("4111 1111 1111 1111", "4111 1111 1111 1111"),
    "api_key": ("sk-proj-AbCdEfGhIjKlMnOpQrStUv012345", "AbCdEfGhIjKlMnOpQrStUv012345"),
    "bearer": ("Authorization: Bearer tok9f8e7d6c5b4a3210", "tok9f8e7d6c5b4a3210"),
    "iban": ("GB82 WEST 1234 5698 7654 32", "WEST 1234 5698"),
    "iban_compact": ("DE89370400440532013000", "370400440532013000"),
    "ssn": ("078-05-1120", "078-05-1120"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
}
# A user id no pattern matches: only the keyed hash keeps it out, on spans, log records and datapoints.
USER_ID = "u-opaque-4711"
HASH_KEY = "redaction-test-key"
MODEL = "gpt-4o-2024-08-06"  # a dated model name: looks like digits and dashes, is not PII
INPUT_TOKENS, OUTPUT_TOKENS = 1234, 56
START = time.time_ns() - 60 * 10**9


def _any(value: Any) -> AnyValue:
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=_kvs(value)))
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=value)


def _kvs(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attributes.items()]


def _places(text: str) -> dict[str, Any]:
    """Attributes seeding `text` as a value, in a key, in an array, a kvlist and an array in a kvlist."""
    return {
        "app.note": f"contact {text} today",
        f"app.owner[{text}]": "key holds it",
        "app.list": ["first", text, 7],
        "app.map": {"inner": text, "n": 3},
        "app.map_with_list": {"list": [f"see {text}"]},
    }


def _trace_id(i: int) -> bytes:
    return bytes.fromhex(f"4bf92f3577b34da6a3ce929d0e0e{i:04x}")


def _traces() -> ExportTraceServiceRequest:
    """One LLM span per kind: the identifier in every place, beside values that must survive."""
    out = []
    for i, (kind, (text, _)) in enumerate(sorted(IDENTIFIERS.items())):
        span = Span(
            trace_id=_trace_id(i),
            span_id=bytes.fromhex(f"00f067aa0ba9{i:04x}"),
            name=f"chat {text}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=START,
            end_time_unix_nano=START + 2 * 10**9,
            status=Status(code=Status.STATUS_CODE_OK, message=f"done for {text}"),
            attributes=_kvs(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": MODEL,
                    "gen_ai.response.model": MODEL,
                    "gen_ai.usage.input_tokens": INPUT_TOKENS,
                    "gen_ai.usage.output_tokens": OUTPUT_TOKENS,
                    "gen_ai.response.finish_reasons": [f"stop {text}"],
                    "user.id": USER_ID,
                    **_places(text),
                }
            ),
        )
        span.events.add(name=f"retry for {text}", time_unix_nano=START + 1, attributes=_kvs(_places(text)))
        span.links.add(trace_id=_trace_id(100 + i), span_id=b"\x01" * 8, attributes=_kvs(_places(text)))
        # A failed call too, whose status message, error type and exception carry the identifier.
        failed = Span(
            trace_id=_trace_id(i),
            span_id=bytes.fromhex(f"00f067aa0bb9{i:04x}"),
            name="chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=START,
            end_time_unix_nano=START + 10**9,
            status=Status(code=Status.STATUS_CODE_ERROR, message=f"401 for {text}"),
            attributes=_kvs(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": MODEL,
                    "error.type": f"AuthError {text}",
                }
            ),
        )
        failed.events.add(
            name="exception", time_unix_nano=START + 1, attributes=_kvs({"exception.message": text})
        )
        resource = Resource(
            attributes=_kvs({"service.name": f"redaction-{kind}", "team": text, **_places(text)})
        )
        scope = ScopeSpans(spans=[span, failed])
        scope.scope.name = "redaction-test"
        scope.scope.version = f"1.0 by {text}"
        scope.scope.attributes.extend(_kvs(_places(text)))
        out.append(ResourceSpans(resource=resource, scope_spans=[scope]))
    return ExportTraceServiceRequest(resource_spans=out)


def _logs() -> ExportLogsServiceRequest:
    """Per kind: a string body with the identifier in every attribute place, a map body, an array
    body and an event name; the resource and scope carry every kind too."""
    records = []
    for text, _ in IDENTIFIERS.values():
        records += [
            LogRecord(time_unix_nano=START, body=_any(f"login by {text}"), attributes=_kvs(_places(text))),
            LogRecord(time_unix_nano=START, body=_any({"user": text, "items": [text, {"deep": text}]})),
            LogRecord(time_unix_nano=START, body=_any([f"by {text}", {"who": [text]}])),
            LogRecord(time_unix_nano=START, body=_any("login"), event_name=f"app.login {text}"),
        ]
    records.append(LogRecord(time_unix_nano=START, body=_any("seen"), attributes=_kvs({"user.id": USER_ID})))
    owners = {f"app.owner.{kind}": text for kind, (text, _) in IDENTIFIERS.items()}
    resource = Resource(attributes=_kvs({"service.name": "redaction-logs", **owners}))
    scope = ScopeLogs(log_records=records)
    scope.scope.name = "redaction-logs"
    scope.scope.version = f"1.0 by {IDENTIFIERS['iban'][0]}"
    scope.scope.attributes.extend(_kvs(owners))
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope])])


APP_METRIC = "app_logins_total"


def _metrics() -> ExportMetricsServiceRequest:
    """An application's own counter whose datapoint attributes (Prometheus labels) carry identifiers."""
    points = [
        NumberDataPoint(
            attributes=_kvs({"user": text, "kind": kind, "user.id": USER_ID}),
            start_time_unix_nano=START,
            time_unix_nano=time.time_ns(),
            as_int=1,
        )
        for kind, (text, _) in sorted(IDENTIFIERS.items())
    ]
    metric = Metric(
        name="app.logins",
        sum=Sum(
            data_points=points,
            aggregation_temporality=AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic=True,
        ),
    )
    resource = Resource(attributes=_kvs({"service.name": "redaction-metrics"}))
    return ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )


@dataclass
class Run:
    dsn: str
    prometheus: str
    tempo: OtlpCapture
    loki: OtlpCapture
    store: OtlpCapture


def _spec(tmp: Path) -> Spec:
    """The repository's spec on the postgres engine, every trace sampled, a short decision wait."""
    data = yaml.safe_load((REPO / "observatory.yaml").read_text())
    data["storage"] = {"engine": "postgres"}
    data["sampling"] = {"baseline_ratio": 1.0, "decision_wait_seconds": 2}
    path = tmp / "observatory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load(path)


def _with_store_capture(cfg: dict[str, Any], url: str) -> dict[str, Any]:
    """The rendered config with one more exporter on the store pipeline: the ingester's payload, whole."""
    out = copy.deepcopy(cfg)
    out["exporters"]["otlp_http/store_capture"] = {"endpoint": url, "compression": "none"}
    out["service"]["pipelines"]["traces/store"]["exporters"].append("otlp_http/store_capture")
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[Run]:
    collector_binary()  # skip early, before anything starts, when it is not built
    tmp = tmp_path_factory.mktemp("redaction")
    spec = _spec(tmp)
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "redaction"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + "/redaction"
    ingest_port = free_port()
    ingester = ManagedProcess(
        server.command(Path(spec.source), f"127.0.0.1:{ingest_port}"),
        tmp / "ingester.log",
        {"OBSERVATORY_DATABASE_URL": dsn},
    )
    prometheus, prom_url = start_prometheus(tmp)
    tempo, loki, store = OtlpCapture(), OtlpCapture(), OtlpCapture()
    collector, health, otlp_http = loopback_collector(
        tmp,
        _with_store_capture(config(spec), store.url),
        prometheus_url=prom_url,
        ingester_url=f"http://127.0.0.1:{ingest_port}",
        tempo_url=tempo.url,
        loki_url=loki.url,
        hash_key=HASH_KEY,
    )
    try:
        ingester.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=2).ok, "ingester ready"
        )
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        for path, message in (("traces", _traces()), ("logs", _logs()), ("metrics", _metrics())):
            response = requests.post(
                f"http://127.0.0.1:{otlp_http}/v1/{path}",
                data=message.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            assert response.status_code == 200, (path, response.text)
        run = Run(dsn, prom_url, tempo, loki, store)
        spans_sent = 2 * len(IDENTIFIERS)
        poll_until(lambda: len(_rows(run)) == spans_sent, f"{spans_sent} rows in {names.TABLE_REQUESTS}", 60)
        poll_until(
            lambda: len({s.span_id for r in tempo.traces for s in spans(r)}) == spans_sent,
            f"{spans_sent} spans at Tempo's address (after the sampling decision)",
            60,
        )
        poll_until(lambda: len(loki.raw) > 0, "logs at Loki's address", 60)
        poll_until(lambda: _series(run, f"{APP_METRIC}.*"), f"{APP_METRIC} in Prometheus", 60)
        poll_until(lambda: _series(run, names.METRIC_COST), f"{names.METRIC_COST} in Prometheus", 60)
        yield run
    finally:
        collector.stop()
        ingester.stop()
        prometheus.stop()
        for capture in (tempo, loki, store):
            capture.close()


def _rows(run: Run) -> list[dict[str, Any]]:
    with psycopg.connect(run.dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f"SELECT row_to_json(r) AS row FROM {names.TABLE_REQUESTS} r")
        return [r["row"] for r in cur.fetchall()]


def _series(run: Run, name_regex: str = ".+") -> list[dict[str, str]]:
    """The label sets of every series whose name matches."""
    result = requests.get(
        f"{run.prometheus}/api/v1/series", params={"match[]": f'{{__name__=~"{name_regex}"}}'}, timeout=5
    ).json()["data"]
    return list(result)


def test_no_identifier_reaches_any_exporter_from_any_place(run: Run) -> None:
    outputs = {
        "tempo": b"".join(run.tempo.raw),
        "loki": b"".join(run.loki.raw),
        "ingester payload": b"".join(run.store.raw),
        "rows": repr(_rows(run)).encode(),
        "prometheus labels": repr(_series(run)).encode(),
    }
    assert all(outputs.values()), {name: len(data) for name, data in outputs.items()}
    needles = {kind: needle for kind, (_, needle) in IDENTIFIERS.items()} | {"user_id": USER_ID}
    leaks = {
        kind: [name for name, data in outputs.items() if needle.encode() in data]
        for kind, needle in needles.items()
    }
    assert not {kind: where for kind, where in leaks.items() if where}, leaks


def test_each_place_holds_the_replacement_where_the_identifier_was(run: Run) -> None:
    received = [s for request in run.store.traces for s in spans(request)]
    ok = next(s for s in received if s.resource["service.name"] == "redaction-email" and s.status_code != 2)
    assert ok.name == "chat <email>"
    attrs = ok.attributes
    assert attrs["app.note"] == "contact <email> today"
    assert attrs["app.owner[<email>]"] == "key holds it"
    assert attrs["app.list"] == ["first", "<email>", 7]
    assert attrs["app.map"] == {"inner": "<email>", "n": 3}
    assert attrs["app.map_with_list"] == {"list": ["see <email>"]}
    assert ok.resource["team"] == "<email>"
    assert ok.events[0]["name"] == "retry for <email>"
    iban = next(s for s in received if s.resource["service.name"] == "redaction-iban" and s.status_code != 2)
    assert iban.name == "chat <iban>"
    scopes = [
        ss.scope for request in run.store.traces for rs in request.resource_spans for ss in rs.scope_spans
    ]
    assert {s.version for s in scopes} >= {"1.0 by <email>", "1.0 by <iban>"}, scopes[:2]
    records = [
        lr
        for request in run.loki.logs
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert {lr.event_name for lr in records} >= {"app.login <email>", "app.login <ssn>"}
    arrays = [lr.body.array_value.values for lr in records if lr.body.HasField("array_value")]
    assert len(arrays) == len(IDENTIFIERS), records[:3]
    assert "by <iban>" in {values[0].string_value for values in arrays}, arrays


def test_a_user_id_is_the_same_keyed_hash_on_spans_log_records_and_prometheus_labels(run: Run) -> None:
    hashed = hashlib.sha256(f"{HASH_KEY}:{USER_ID}".encode()).hexdigest()
    received = [s for request in run.store.traces for s in spans(request)]
    assert {s.attributes.get("user.id") for s in received if s.status_code != 2} == {hashed}
    records = [
        lr for r in run.loki.logs for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records
    ]
    ids = {kv.value.string_value for lr in records for kv in lr.attributes if kv.key == "user.id"}
    assert ids == {hashed}, ids
    labels = {series.get("user_id") for series in _series(run, f"{APP_METRIC}.*")}
    assert labels == {hashed}, labels


def test_what_is_not_pii_comes_out_unchanged(run: Run) -> None:
    received = [s for request in run.store.traces for s in spans(request)]
    sent = {s.span_id: s for s in spans(_traces())}
    assert {s.span_id for s in received} == set(sent)
    for span in received:
        assert span.trace_id == sent[span.span_id].trace_id
        assert span.attributes["gen_ai.request.model"] == MODEL
        if span.status_code != 2:
            assert span.attributes["gen_ai.usage.input_tokens"] == INPUT_TOKENS
            assert span.attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
            assert span.attributes["gen_ai.response.model"] == MODEL
            assert span.attributes["llm.cost.unpriced"] is False
    rows = _rows(run)
    assert {r["request_model"] for r in rows} == {MODEL}, rows[:1]
    assert sum(r["input_tokens"] or 0 for r in rows) == INPUT_TOKENS * len(IDENTIFIERS)
    tokens = requests.get(
        f"{run.prometheus}/api/v1/query",
        params={"query": f"sum({names.METRIC_INPUT_TOKENS})"},
        timeout=5,
    ).json()["data"]["result"]
    assert float(tokens[0]["value"][1]) == INPUT_TOKENS * len(IDENTIFIERS)


def test_a_spec_that_keeps_content_and_ids_and_turns_every_pattern_off_renders_a_valid_config(
    tmp_path: Path,
) -> None:
    """Nothing to redact: the redaction processors are left out (a transform with no statements, or a
    pipeline naming an undefined processor, would stop the collector from starting)."""
    data = yaml.safe_load((REPO / "observatory.yaml").read_text())
    data["pii"] = {
        "keep_message_content": True,
        "hash_user_ids": False,
        "disable_builtin_patterns": sorted(defaults.PII_BUILTIN_PATTERNS),
    }
    (tmp_path / "observatory.yaml").write_text(yaml.safe_dump(data))
    cfg = config(load(tmp_path / "observatory.yaml"))
    assert not {"redact", "transform/redact", "transform/redact_logs"} & set(cfg["processors"])
    (tmp_path / "config.yaml").write_text(to_yaml(cfg))
    result = subprocess.run(
        [str(collector_binary()), "validate", f"--config={tmp_path / 'config.yaml'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
