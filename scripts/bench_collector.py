"""Benchmark: spans per second the built collector sustains with the rendered config, CPU and memory.

Measured in the same run against a baseline: the same binary with a pass-through config (OTLP in,
batch, OTLP out), so the figure says what normalising, pricing, redaction, metrics and tail
sampling cost on this machine, whatever else the machine is doing. Real Prometheus receives the
derived metrics; the trace and log exporters send to local endpoints that read and discard.

Usage: .venv/bin/python scripts/bench_collector.py [--seconds 20] [--senders 2]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

from observatory import names
from observatory.processes import ManagedProcess, free_port
from observatory.render.artifact import to_yaml
from observatory.render.collector import config as collector_config
from observatory.render.collector import loopback_env
from observatory.spec import load
from observatory.traffic import Workload, generate

REPO = Path(__file__).resolve().parent.parent
BINARY = REPO / ".cache/otelcol/build/otelcol-observatory"


class Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _sink() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def passthrough_config() -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "${env:OTELCOL_OTLP_HTTP_ENDPOINT}"}}}},
        "processors": {"batch": {"send_batch_size": 2048, "timeout": "1s"}},
        "exporters": {"otlp_http/tempo": {"endpoint": "${env:OTELCOL_TEMPO_ENDPOINT}"}},
        "extensions": {"health_check": {"endpoint": "${env:OTELCOL_HEALTH_ENDPOINT}"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {"host": "127.0.0.1", "port": "${env:OTELCOL_METRICS_PORT}"}
                                }
                            }
                        }
                    ]
                }
            },
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_http/tempo"]}
            },
        },
    }


@dataclass
class Result:
    config: str
    seconds: float
    spans_sent: int
    spans_accepted: int
    spans_refused: int
    requests_rejected: int
    traces_lost_undecided: int
    spans_per_second: float
    collector_cpu_cores: float
    collector_peak_rss_mb: float


def _metric(url: str, name: str) -> float:
    total = 0.0
    for line in requests.get(url, timeout=5).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


Body = tuple[bytes, int, list[int]]  # serialized request, its span count, offsets of its trace ids
_sends = itertools.count(1)


def _bodies(requests_: list[Any]) -> list[Body]:
    out = []
    for request in requests_:
        body = request.SerializeToString()
        ids = {span.trace_id for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
        offsets = []
        for trace_id in ids:
            at = body.find(trace_id)
            while at != -1:
                offsets.append(at)
                at = body.find(trace_id, at + 1)
        out.append(
            (body, sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans), offsets)
        )
    return out


def _fresh(body: Body) -> bytes:
    """The request with new trace ids: the first 4 bytes of each id become this send's number, so
    the tail sampler sees a stream of new traces as it would in production, not a replayed pool."""
    data = bytearray(body[0])
    stamp = next(_sends).to_bytes(4, "big")
    for at in body[2]:
        data[at : at + 4] = stamp
    return bytes(data)


def _send(port: int, bodies: list[Body], deadline: float, offset: int, out: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = rejected = 0
    i = offset
    while time.monotonic() < deadline:
        body = bodies[i % len(bodies)]
        n = body[1]
        i += 1
        conn.request(
            "POST", "/v1/traces", body=_fresh(body), headers={"Content-Type": "application/x-protobuf"}
        )
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            sent += n
        else:
            rejected += 1
    out += [sent, rejected]


def measure(
    label: str,
    cfg: dict[str, Any],
    bodies: list[Body],
    seconds: float,
    senders: int,
    prometheus: str,
    work: Path,
) -> Result:
    sinks = [_sink() for _ in range(3)]
    ports = {"health": free_port(), "http": free_port(), "metrics": free_port()}
    env = loopback_env(
        prometheus_write_url=f"{prometheus}/api/v1/write",
        storage_dir=str(work / f"{label}-queue"),
        health_port=ports["health"],
        otlp_grpc_port=free_port(),
        otlp_http_port=ports["http"],
        metrics_port=ports["metrics"],
        tempo_url=sinks[0][1],
        loki_url=sinks[1][1],
        ingester_url=sinks[2][1],
    )
    env[names.ENV_USER_ID_HASH_KEY] = "bench-user-hash-key"
    (work / f"{label}.yaml").write_text(to_yaml(cfg))
    proc = ManagedProcess([str(BINARY), f"--config={work / f'{label}.yaml'}"], work / f"{label}.log", env)
    metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"
    try:
        proc.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{ports['health']}", timeout=2).ok, "collector"
        )
        cpu0, t0 = proc.cpu_seconds(), time.monotonic()
        deadline = t0 + seconds
        counts: list[list[int]] = [[] for _ in range(senders)]
        threads = [
            threading.Thread(target=_send, args=(ports["http"], bodies, deadline, i * 997, counts[i]))
            for i in range(senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed, cpu = time.monotonic() - t0, proc.cpu_seconds() - cpu0
        accepted = _metric(metrics_url, "otelcol_receiver_accepted_spans")
        refused = _metric(metrics_url, "otelcol_receiver_refused_spans")
        sent = sum(c[0] for c in counts)
        # Traces the tail sampler let go without a decision (evicted because num_traces was full): new
        # trace ids, less final decisions, less those still waiting. Waits for pending decisions first.
        time.sleep(4)
        new = _metric(metrics_url, "otelcol_processor_tail_sampling_new_trace_id_received")
        decided = _metric(metrics_url, "otelcol_processor_tail_sampling_global_count_traces_sampled")
        waiting = _metric(metrics_url, "otelcol_processor_tail_sampling_sampling_traces_on_memory")
        early = max(0.0, new - decided - waiting)
        return Result(
            label,
            round(elapsed, 1),
            sent,
            int(accepted),
            int(refused),
            sum(c[1] for c in counts),
            int(early),
            round(accepted / elapsed),
            round(cpu / elapsed, 2),
            round(proc.peak_rss_bytes() / 2**20, 1),
        )
    finally:
        proc.stop()
        for server, _url in sinks:
            server.shutdown()


def without(cfg: dict[str, Any], stage: str) -> dict[str, Any]:
    """The rendered config without one stage, to see what that stage costs (`--ablate`)."""
    out = copy.deepcopy(cfg)
    pipelines = out["service"]["pipelines"]
    if stage == "signal_to_metrics":
        pipelines["traces/in"]["exporters"].remove(stage)
        del pipelines["metrics/derived"], out["connectors"][stage]
    elif stage == "tail_sampling":
        pipelines["traces/sample"]["processors"].remove(stage)
    else:
        pipelines["traces/in"]["processors"].remove(stage)
    return out


ABLATED = (
    "transform/normalise",
    "transform/price",
    "transform/redact",
    "redact",
    "signal_to_metrics",
    "tail_sampling",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--pool-traces", type=int, default=5000)
    parser.add_argument(
        "--max-traces-in-memory",
        type=int,
        default=None,
        help="override sampling.max_traces_in_memory (tail sampling's num_traces)",
    )
    parser.add_argument("--decision-wait-seconds", type=float, default=None)
    parser.add_argument(
        "--evict-when-full",
        action="store_true",
        help="sampling.block_when_full: false, to see what eviction loses",
    )
    parser.add_argument(
        "--ablate",
        action="store_true",
        help="also measure the rendered config without each stage in turn (what each stage costs)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the collector config committed at git revision REV (a change's baseline)",
    )
    args = parser.parse_args()
    if not BINARY.exists():
        raise SystemExit("build the collector first: make collector")
    spec = load(REPO / "observatory.yaml")
    sampling = spec.sampling
    if args.max_traces_in_memory:
        sampling = replace(sampling, max_traces_in_memory=args.max_traces_in_memory)
    if args.evict_when_full:
        sampling = replace(sampling, block_when_full=False)
    if args.decision_wait_seconds:
        sampling = replace(sampling, decision_wait_seconds=args.decision_wait_seconds)
    spec = replace(spec, sampling=sampling)
    traffic = generate(spec, Workload(seed=3, traces=args.pool_traces, start_unix_nano=time.time_ns()))
    bodies = _bodies(traffic.traces)
    work = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    prom_port = free_port()
    prom_bin = shutil.which("prometheus")
    if prom_bin is None:
        raise SystemExit("needs Prometheus (make tools)")
    (work / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    prom = ManagedProcess(
        [
            prom_bin,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--web.enable-remote-write-receiver",
        ],
        work / "prometheus.log",
    )
    prometheus = f"http://127.0.0.1:{prom_port}"
    try:
        prom.wait_ready(lambda: requests.get(f"{prometheus}/-/ready", timeout=2).ok, "Prometheus")
        results = [
            measure(
                "passthrough", passthrough_config(), bodies, args.seconds, args.senders, prometheus, work
            ),
            measure("rendered", collector_config(spec), bodies, args.seconds, args.senders, prometheus, work),
        ]
        if args.before:
            committed = subprocess.run(
                ["git", "show", f"{args.before}:stack/otel-collector/config.yaml"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            before = yaml.safe_load(committed)
            label = f"rendered at {args.before}"
            results.append(measure(label, before, bodies, args.seconds, args.senders, prometheus, work))
        if args.ablate:
            for stage in ABLATED:
                cfg = without(collector_config(spec), stage)
                label = f"rendered-without-{stage.replace('/', '-')}"
                results.append(measure(label, cfg, bodies, args.seconds, args.senders, prometheus, work))
    finally:
        prom.stop()
    print(
        "| config | spans/s accepted | spans refused | traces lost without a sampling decision "
        "| collector CPU (cores) | CPU µs per span | peak RSS (MiB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        per_span = r.collector_cpu_cores / max(r.spans_per_second, 1) * 1e6
        print(
            f"| {r.config} | {r.spans_per_second:,} | {r.spans_refused + r.requests_rejected} | "
            f"{r.traces_lost_undecided} | {r.collector_cpu_cores} | {per_span:.1f} "
            f"| {r.collector_peak_rss_mb} |"
        )
    ratio = results[1].spans_per_second / max(results[0].spans_per_second, 1)
    print(f"rendered / passthrough throughput: {ratio:.2f}")
    print(json.dumps([asdict(r) for r in results]))


if __name__ == "__main__":
    main()
