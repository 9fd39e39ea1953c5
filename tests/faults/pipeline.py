"""The store path as real processes, for fault injection: PostgreSQL, the ingester and the collector
(rendered config, disk queue), each of which a test can kill and start again, and a client that sends
demo traffic the way an OpenTelemetry SDK does, re-sending what was not acknowledged.

`Faults` runs an action (kill, stop, restart) from its own thread whenever the client's progress
crosses a threshold, so a crash lands at an arbitrary point of a request, an export or a commit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observatory import names
from observatory.ingest import server
from observatory.local.postgres import LocalPostgres
from observatory.render.artifact import to_yaml
from observatory.render.collector import config, loopback_env
from observatory.spec import load
from tests.conftest import SPECS, ManagedProcess, collector_binary, free_port, poll_until

SPEC_PATH = SPECS / "valid" / "postgres.yaml"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def span_ids(body: bytes) -> set[str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return {span.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}


class Ingester:
    """The ingester on a fixed port, started again on the same port after each crash."""

    def __init__(self, tmp: Path, dsn: str) -> None:
        self.tmp, self.dsn, self.port = tmp, dsn, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = ManagedProcess(
            server.command(SPEC_PATH, f"127.0.0.1:{self.port}"),
            self.tmp / f"ingester-{self.starts}.log",
            {"OBSERVATORY_DATABASE_URL": self.dsn},
        )
        self.proc.wait_ready(lambda: requests.get(f"{self.url}/readyz", timeout=2).ok, "ingester ready", 60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class Collector:
    """The rendered collector whose disk queue survives its restarts; Tempo, Loki and Prometheus are
    left unanswered (their exporters retry, which costs little)."""

    def __init__(self, tmp: Path, ingester_url: str) -> None:
        self.tmp, self.health, self.otlp, self.grpc = tmp, free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.otlp}"
        (tmp / "config.yaml").write_text(to_yaml(config(load(SPEC_PATH))))
        sink = f"http://127.0.0.1:{free_port()}"
        self.env = loopback_env(
            prometheus_write_url=f"{sink}/api/v1/write",
            storage_dir=str(tmp / "queue"),
            health_port=self.health,
            otlp_grpc_port=self.grpc,
            otlp_http_port=self.otlp,
            metrics_port=free_port(),
            tempo_url=sink,
            loki_url=f"{sink}/otlp",
            ingester_url=ingester_url,
        )
        self.env[names.ENV_USER_ID_HASH_KEY] = "fault-suite-hash-key-0123456789"
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

    def alive(self) -> bool:
        return self.proc is not None and self.proc.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@dataclass
class Pipeline:
    tmp: Path
    postgres: LocalPostgres = field(init=False)
    ingester: Ingester = field(init=False)
    collector: Collector = field(init=False)

    def __post_init__(self) -> None:
        self.postgres = LocalPostgres()
        self.postgres.start()
        self.ingester = Ingester(self.tmp, self.postgres.dsn)
        self.collector = Collector(self.tmp, self.ingester.url)

    def start(self) -> None:
        self.ingester.start()
        self.collector.start()

    def close(self) -> None:
        self.collector.stop()
        self.ingester.stop()
        self.postgres.destroy()

    def stored_span_ids(self) -> list[str]:
        with psycopg.connect(self.postgres.dsn) as conn:
            return [r[0] for r in conn.execute(f"SELECT span_id FROM {names.TABLE_REQUESTS}").fetchall()]

    def wait_for_rows(self, count: int, timeout_seconds: float = 180) -> list[str]:
        """The stored span ids once at least `count` rows are in, and a little longer: anything still
        arriving after that would be a duplicate, which the caller's check has to see."""

        def enough() -> bool:
            return len(self.stored_span_ids()) >= count

        poll_until(enough, f"{count} acknowledged LLM requests in the database", timeout_seconds)
        time.sleep(3)
        return self.stored_span_ids()


class Client:
    """Sends bodies one after another to the collector; each is re-sent until it is answered 200, as
    an SDK's exporter retries. `sent` counts the acknowledged bodies (what `Faults` watches)."""

    def __init__(self, url: str, bodies: Sequence[bytes]) -> None:
        self.url, self.bodies = url, bodies
        self.sent = 0
        self.retries = 0
        self.refusals: Counter[str] = Counter()  # answers other than 200, by status or error
        self.session = requests.Session()

    def run(self) -> None:
        for body in self.bodies:
            while True:
                try:
                    response = self.session.post(
                        f"{self.url}/v1/traces", data=body, headers=PROTOBUF, timeout=10
                    )
                    if response.status_code == 200:
                        break
                    self.refusals[str(response.status_code)] += 1
                except requests.RequestException as err:
                    self.refusals[type(err).__name__] += 1
                    self.session = requests.Session()  # a connection the crash broke is not reused
                self.retries += 1
                time.sleep(0.2)
            self.sent += 1


class Faults(threading.Thread):
    """Runs `action` `times` times, the k-th once the client has had (k / (times + 1)) of its bodies
    acknowledged, while the client keeps sending."""

    def __init__(self, client: Client, action: Callable[[], None], times: int) -> None:
        super().__init__(name="faults", daemon=True)
        self.client, self.action, self.times = client, action, times
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        total = len(self.client.bodies)
        try:
            for k in range(1, self.times + 1):
                while self.client.sent < total * k // (self.times + 1):
                    time.sleep(0.01)
                self.action()
                self.done += 1
        except BaseException as err:  # reported by the test, not lost in this thread
            self.error = err


def run_with_faults(client: Client, action: Callable[[], None], times: int) -> Faults:
    faults = Faults(client, action, times)
    faults.start()
    client.run()
    faults.join(120)
    if faults.error is not None:
        raise faults.error
    assert faults.done == times, f"{faults.done} of {times} faults happened"
    # Shown with `pytest -s`, for docs/RELIABILITY.md.
    print(f"{times} faults; the client re-sent {client.retries} times: {dict(client.refusals)}")
    return faults


def assert_exactly_once(stored: list[str], acknowledged: set[str]) -> None:
    print(f"{len(acknowledged)} acknowledged LLM requests, {len(stored)} rows, {len(set(stored))} distinct")
    duplicates = len(stored) - len(set(stored))
    assert duplicates == 0, f"{duplicates} requests stored twice"
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests lost"
    invented = set(stored) - acknowledged
    assert not invented, f"{len(invented)} rows that were never sent"
