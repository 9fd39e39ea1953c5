"""The container suite's Tempo and Loki checks, against a Tempo and a Loki you bring (tests/servers).

The stack's own path runs here for real: the built collector with its compose config (exporting to the
given Tempo and Loki), the ingester on PostgreSQL 15 and Prometheus. 2,000 demo traces go in; out must
come every error and slow trace by its id in Tempo, their logs by trace id in Loki, every TraceQL and
LogQL panel query answering with data, and no PII in either store.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from observatory import demo
from observatory.api import traces
from observatory.api.store import QueryError
from observatory.ingest import server
from observatory.local.stack import local_spec_text
from observatory.render.collector import config
from observatory.spec import load
from observatory.spec.types import Spec
from observatory.traffic import Traffic
from tests import trace_and_log_checks as checks
from tests.conftest import (
    REPO,
    ManagedProcess,
    collector_binary,
    free_port,
    loopback_collector,
    start_prometheus,
)
from tests.servers.conftest import Store, loki_store, tempo_store

TRACES = 2000


@dataclass(frozen=True)
class Run:
    spec: Spec
    tempo: Store
    loki: Store
    traffic: Traffic


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, postgres: Any) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("servers")
    spec_path = tmp / "observatory.yaml"
    spec_path.write_text(local_spec_text(REPO / "observatory.yaml"))  # the ingester's database is plain
    spec = load(spec_path)
    collector_binary()  # fails (CI) or skips before anything starts when it is not built
    with contextlib.ExitStack() as stores:
        tempo = stores.enter_context(tempo_store(spec, tmp))
        loki = stores.enter_context(loki_store(spec, tmp))
        yield from _stack(spec, spec_path, tempo, loki, tmp, postgres)


def _stack(spec: Spec, spec_path: Path, tempo: Store, loki: Store, tmp: Path, postgres: Any) -> Iterator[Run]:
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    name = f"servers_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    ingest_port = free_port()
    ingester = ManagedProcess(
        server.command(spec_path, f"127.0.0.1:{ingest_port}"),
        tmp / "ingester.log",
        {"OBSERVATORY_DATABASE_URL": postgres.dsn.rsplit("/", 1)[0] + f"/{name}"},
    )
    prometheus, prom_url = start_prometheus(tmp)
    collector, health, otlp_http = loopback_collector(
        tmp,
        config(spec),
        prometheus_url=prom_url,
        ingester_url=f"http://127.0.0.1:{ingest_port}",
        tempo_url=tempo.ingest_url,
        loki_url=loki.ingest_url,
        hash_key=secrets.token_urlsafe(18),
    )
    try:
        ingester.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=2).ok, "ingester"
        )
        collector.wait_ready(lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector")
        options = demo.Options(endpoint=f"http://127.0.0.1:{otlp_http}", traces=TRACES, seed=41)
        traffic, _report = demo.send(spec, options, progress=None)
        yield Run(spec, tempo, loki, traffic)
    finally:
        for process in (collector, ingester, prometheus):
            process.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_tempo_and_loki_are_ready(run: Run) -> None:
    checks.ready(run.tempo.url, "Tempo")
    checks.ready(run.loki.url, "Loki")


def test_every_error_and_slow_trace_is_found_in_tempo_by_id(run: Run) -> None:
    kept = run.traffic.truth.error_traces | run.traffic.truth.slow_traces
    assert len(kept) > TRACES * 0.05  # the demo's 5% failed and 4% slow calls
    for trace_id in sorted(kept):
        checks.trace_by_id(run.tempo.url, trace_id, run.traffic)


def test_the_query_api_reads_a_kept_trace_from_tempo_with_its_genai_spans(run: Run) -> None:
    trace_id = sorted(run.traffic.truth.error_traces)[0]
    checks.trace_by_id(run.tempo.url, trace_id, run.traffic)  # there, once Tempo has it
    found = traces.trace(run.tempo.url, trace_id.upper())
    assert found is not None
    ids = {s["span_id"] for s in found}
    assert all(len(i) == 16 for i in ids) and all(s["parent_span_id"] in ids for s in found[1:])
    assert found[0]["parent_span_id"] is None  # the root starts first
    llm = [s for s in found if s["span_id"] in run.traffic.truth.span_cost]
    assert llm and all(dict(s["attributes"]).get("gen_ai.operation.name") for s in llm)
    assert {s["service"] for s in found} == {run.traffic.truth.trace_app[trace_id]}
    assert any(s["status"] == "error" for s in found)
    assert traces.trace(run.tempo.url, secrets.token_hex(16)) is None  # never sent: not an error
    with pytest.raises(QueryError, match="32 hexadecimal digits"):
        traces.trace(run.tempo.url, "not-a-trace-id")


def test_the_error_traces_logs_are_found_in_loki_by_trace_id_with_their_severity(run: Run) -> None:
    trace_id = sorted(run.traffic.truth.error_traces)[0]
    lines = checks.logs_by_trace_id(run.loki.url, trace_id, run.traffic)
    assert any("failed" in line for line in lines), lines


def test_every_trace_and_log_panel_query_answers_with_data(run: Run) -> None:
    assert checks.every_panel_query_answers(run.spec, run.tempo.url, run.loki.url, run.traffic) > 0


def test_no_pii_reaches_tempo_or_loki(run: Run) -> None:
    """Every log line of the last hours, and a search's worth of traces, without the demo's PII."""
    now = time.time_ns()
    params: dict[str, str | int] = {
        "query": '{service_name=~".+"}',
        "start": now - 3 * 3600 * 10**9,
        "end": now,
        "limit": 5000,
    }
    result = requests.get(f"{run.loki.url}/loki/api/v1/query_range", params=params, timeout=30).json()
    lines = [line for stream in result["data"]["result"] for _ts, line, *_ in stream["values"]]
    assert len(lines) >= TRACES // 2
    traces = [
        requests.get(f"{run.tempo.url}/api/traces/{t}", timeout=10).text
        for t in sorted(run.traffic.truth.error_traces)[:50]
    ]
    text = "\n".join([*lines, *traces, json.dumps(result)])
    assert not [secret for secret in run.traffic.truth.pii if secret in text]
    assert not [user for user in run.traffic.truth.user_ids if user and user in text]  # hashed everywhere
