"""What the ingester refuses and why, as a real process against a real PostgreSQL.

Each case is one bad span among 1,000 good ones: the good ones are all stored, the bad one is named
in OTLP's partial-success answer (its reason and where it was in the request) and counted.
"""

from __future__ import annotations

import secrets

import psycopg
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from observatory import names
from tests.processes.test_ingester import PROTOBUF, Ingester, _assert_exact, _traffic, ingester

__all__ = ["ingester"]  # the fixture, shared with test_ingester.py


def _merged(traces: int, seed: int) -> tuple[ExportTraceServiceRequest, object]:
    traffic = _traffic(traces=traces, seed=seed)
    merged = ExportTraceServiceRequest()
    for message in traffic.traces:
        merged.resource_spans.extend(message.resource_spans)
    return merged, traffic


def test_a_value_postgresql_refuses_costs_only_its_own_row(ingester: Ingester) -> None:
    # A real value, not a constraint made up for the test: every check the decoders make lets a
    # request model of 8,000 random characters through, and PostgreSQL refuses its row because the
    # model is indexed (model_time) and a btree entry holds at most 2,704 bytes (SQLSTATE 54000,
    # program_limit_exceeded). That error used to read as a lost connection: 503, retried for ever,
    # and the 1,000 rows sent with it never stored. Now the request is split until the row is alone.
    merged, traffic = _merged(traces=900, seed=11)
    spans = [s for rs in merged.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(traffic.truth.span_cost) >= 1000
    template = next(s for s in spans if any(kv.key == "gen_ai.request.model" for kv in s.attributes))
    bad = merged.resource_spans[-1].scope_spans[-1].spans.add()
    bad.CopyFrom(template)
    bad.span_id = b"toolong!"
    for kv in bad.attributes:
        if kv.key == "gen_ai.request.model":
            kv.value.CopyFrom(AnyValue(string_value=secrets.token_hex(4000)))
    response = requests.post(
        f"{ingester.url}/v1/traces", data=merged.SerializeToString(), headers=PROTOBUF, timeout=60
    )
    assert response.status_code == 200, response.text
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert partial.error_message.startswith("1 span refused: 1 refused_by_database"), partial.error_message
    assert "index row size" in partial.error_message
    _assert_exact(ingester.dsn, traffic)
    with psycopg.connect(ingester.dsn) as conn:
        stored = conn.execute(
            f"SELECT count(*) FROM {names.TABLE_REQUESTS} WHERE span_id = %s", (bad.span_id.hex(),)
        ).fetchone()
    assert stored == (0,)
    assert ingester.metric('ingester_spans_refused_total{reason="refused_by_database"}') == 1
    assert ingester.metric("ingester_rows_refused_total") == 1
    assert ingester.metric("ingester_write_failures_total") == 0  # the connection was never dropped
    assert requests.get(f"{ingester.url}/readyz", timeout=5).ok
