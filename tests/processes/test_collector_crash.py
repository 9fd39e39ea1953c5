"""A collector killed mid-stream loses nothing it acknowledged: every LLM request it answered 200 for
reaches the database exactly once after it restarts on the same disk queue.

The real collector (rendered config) sends to the real ingester and PostgreSQL; a client posts demo
traffic and, like an OpenTelemetry SDK, re-sends a request the collector did not answer. The
collector is SIGKILLed three times while exports are in flight.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import requests

from observatory import names
from observatory.ingest import server
from observatory.render.artifact import to_yaml
from observatory.render.collector import config, loopback_env
from observatory.spec import load
from observatory.traffic import Workload, generate
from tests.conftest import SPECS, ManagedProcess, collector_binary, free_port, poll_until

SPEC_PATH = SPECS / "valid" / "postgres.yaml"
KILLS = 3


def _span_ids(body: bytes) -> set[str]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return {span.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}


class Collector:
    def __init__(self, tmp: Path, ingester_url: str) -> None:
        self.tmp, self.health, self.otlp = tmp, free_port(), free_port()
        (tmp / "config.yaml").write_text(to_yaml(config(load(SPEC_PATH))))
        sink = f"http://127.0.0.1:{free_port()}"  # Tempo, Loki and Prometheus: nobody; retried, harmless
        self.env = loopback_env(
            prometheus_write_url=f"{sink}/api/v1/write",
            storage_dir=str(tmp / "queue"),  # kept across restarts: the point of the test
            health_port=self.health,
            otlp_grpc_port=free_port(),
            otlp_http_port=self.otlp,
            metrics_port=free_port(),
            tempo_url=sink,
            loki_url=f"{sink}/otlp",
            ingester_url=ingester_url,
        )
        self.env[names.ENV_USER_ID_HASH_KEY] = "crash-test-key"
        self.proc: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = ManagedProcess(
            [str(collector_binary()), f"--config={self.tmp / 'config.yaml'}"],
            self.tmp / f"collector-{self.starts}.log",
            self.env,
        )
        self.proc.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{self.health}", timeout=2).ok, "collector health", 60
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def test_every_request_the_collector_acknowledged_lands_once_across_sigkills(
    database: str, tmp_path: Path
) -> None:
    spec = load(SPEC_PATH)
    traffic = generate(spec, Workload(seed=11, traces=6000, start_unix_nano=time.time_ns()), batch_traces=50)
    bodies = [message.SerializeToString() for message in traffic.traces]
    llm_spans = set(traffic.truth.span_cost)  # in every dialect, as applications send them
    ingest_port = free_port()
    ingester = ManagedProcess(
        server.command(SPEC_PATH, f"127.0.0.1:{ingest_port}"),
        tmp_path / "ingester.log",
        {"OBSERVATORY_DATABASE_URL": database},
    )
    collector = Collector(tmp_path, f"http://127.0.0.1:{ingest_port}")
    acknowledged: set[str] = set()
    kill_at = {len(bodies) * (k + 1) // (KILLS + 1) for k in range(KILLS)}
    try:
        ingester.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=2).ok, "ingester"
        )
        collector.start()
        session = requests.Session()
        for index, body in enumerate(bodies):
            if index in kill_at:
                collector.kill()  # mid-stream: the previous requests' batches are still being exported
                collector.start()
            while True:  # an SDK retries what was not acknowledged
                try:
                    response = session.post(
                        f"http://127.0.0.1:{collector.otlp}/v1/traces",
                        data=body,
                        headers={"Content-Type": "application/x-protobuf"},
                        timeout=10,
                    )
                except requests.ConnectionError:
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    acknowledged |= _span_ids(body) & llm_spans
                    break
                time.sleep(0.2)
        assert collector.starts == KILLS + 1
        with psycopg.connect(database) as conn:

            def landed() -> bool:
                (n,) = conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone() or (0,)
                conn.commit()
                return n >= len(acknowledged)

            poll_until(landed, f"{len(acknowledged)} acknowledged LLM requests in the database", 120)
            time.sleep(2)  # anything still arriving would be a duplicate: let it show
            rows = conn.execute(f"SELECT span_id FROM {names.TABLE_REQUESTS}").fetchall()
    finally:
        collector.stop()
        ingester.stop()
    stored = [r[0] for r in rows]
    assert len(stored) == len(set(stored)), "a request stored twice"
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests lost"
    assert set(stored) == acknowledged
