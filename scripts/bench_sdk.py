"""Benchmark: what the Python distro (sdk/python) costs an application per LLM call, in CPU and time.

The same client loop (the real `openai` and `anthropic` clients, plain and streamed) runs in the SDK
venv (`make sdk`) uninstrumented (the baseline: no distro imported) and under `observatory_sdk.init()`,
in the same run and interleaved round by round, so the difference is what the distro adds on this
machine whatever else it is doing. The fake provider (scripts/capture/fake_provider.py) runs in its own
process and the OTLP endpoint (read and discarded) in this one, so the client's CPU time
(time.process_time: every thread of the client, the exporter's included) is the application's alone.
A third mode sends to a port where nothing listens: the collector is down; a fourth makes the spans
and exports nothing (OTEL_TRACES_EXPORTER=none), which splits the distro's cost into making spans and
exporting them. Each client ends with `observatory_sdk.shutdown()` inside the measurement, so the
last export is counted too.

Usage: .venv/bin/python scripts/bench_sdk.py [--calls 300] [--stream-calls 60] [--rounds 3]
       (the client and provider modes are run by this script in the SDK venv)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SDK_PYTHON = REPO / ".cache/sdk-venv/bin/python"
# "spans, not exported": the distro with OTEL_TRACES_EXPORTER=none, so the instrumentations' wrappers,
# span creation and the user processor run and the batch processor, encoding and HTTP export do not:
# the difference between it and the baseline, and between the distro and it, is where the CPU goes.
MODES = ("baseline", "spans, not exported", "distro", "distro, collector down")
REALISTIC_CALL_SECONDS = 1.0  # a short chat completion from a hosted provider takes about a second


def provider_main() -> None:
    """Serve the fake provider's plain `chat` scenario of the provider named in argv until killed."""
    sys.path.insert(0, str(REPO / "scripts/capture"))
    from fake_provider import FakeState, make_provider
    from scenarios import SCENARIOS

    state = FakeState()
    state.scenario = next(s for s in SCENARIOS[sys.argv[2]] if s.name == "chat")
    server = make_provider(state)
    state.requests = _Discard()  # type: ignore[assignment]  # the server appends every request body
    print(server.server_address[1], flush=True)
    server.serve_forever()


class _Discard(list[Any]):
    def append(self, item: Any) -> None:
        pass


def client_main(mode: str, provider: str, base: str, calls: int, stream: bool) -> None:
    """One measurement: `calls` calls after a warm-up, CPU and wall time, as one JSON line."""
    if mode != "baseline":
        import observatory_sdk as sdk

        sdk.init(application="bench", team="bench", environment="bench")
    call = _caller(provider, base, stream)
    for _ in range(20):
        call()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if mode == "baseline":
        for _ in range(calls):
            call()
    else:
        for i in range(calls):
            with sdk.user(f"user-{i % 50}"):
                call()
    wall = time.perf_counter() - wall0  # calls per second: the application's time, not the exit's
    if mode != "baseline":
        sdk.shutdown()  # the last export's CPU is counted (it waits at most 3 s when nobody listens)
    cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"cpu": cpu, "wall": wall, "calls": calls, "rss_growth_kb": rss - rss0}), flush=True)
    os._exit(0)  # no second shutdown at exit


def _caller(provider: str, base: str, stream: bool) -> Any:
    if provider == "openai":
        import openai

        oc = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-bench", max_retries=0)
        messages: Any = [{"role": "user", "content": "Say hello."}]

        def openai_call() -> None:
            if stream:
                for _ in oc.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                ):
                    pass
            else:
                oc.chat.completions.create(model="gpt-4o-mini", messages=messages)

        return openai_call
    import anthropic

    ac = anthropic.Anthropic(base_url=base, api_key="sk-ant-bench", max_retries=0)
    kw: Any = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
    }

    def anthropic_call() -> None:
        if stream:
            for _ in ac.messages.create(stream=True, **kw):
                pass
        else:
            ac.messages.create(**kw)

    return anthropic_call


class Sink:
    """An OTLP/HTTP endpoint that reads each body and answers 200, counting bytes."""

    def __init__(self) -> None:
        sink = self
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.bytes += len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def _closed_port_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def measure(mode: str, provider: str, base: str, calls: int, stream: bool, sink: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = _closed_port_url() if mode.endswith("down") else sink
    if mode == "spans, not exported":
        env["OTEL_TRACES_EXPORTER"] = "none"
    env["PYTHONWARNINGS"] = "ignore"
    argv = [str(SDK_PYTHON), __file__, "--client", mode, provider, base, str(calls), str(int(stream))]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300, help="plain calls per measurement")
    parser.add_argument("--stream-calls", type=int, default=60, help="streamed calls (each ~0.1 s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; medians reported")
    args = parser.parse_args()
    if not SDK_PYTHON.exists():
        print("no SDK venv: run `make sdk` first", file=sys.stderr)
        return 1
    sink = Sink()
    results: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    started = time.time()
    for provider in ("openai", "anthropic"):
        server = subprocess.Popen(
            [str(SDK_PYTHON), __file__, "--provider", provider], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            for stream in (False, True):
                calls = args.stream_calls if stream else args.calls
                for _ in range(args.rounds):
                    for mode in MODES:
                        results.setdefault((provider, mode, stream), []).append(
                            measure(mode, provider, base, calls, stream, sink.url)
                        )
        finally:
            server.kill()
            server.wait()
    print(f"{time.time() - started:.0f} s, {args.rounds} interleaved rounds, medians; client CPU per call\n")
    print(
        "| provider | call | mode | calls/s | CPU µs/call | overhead µs/call | overhead / call CPU | "
        f"overhead / {REALISTIC_CALL_SECONDS:.0f} s call | RSS growth KB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (provider, mode, stream), runs in results.items():
        cpu = statistics.median(r["cpu"] / r["calls"] for r in runs) * 1e6
        rate = statistics.median(r["calls"] / r["wall"] for r in runs)
        base_cpu = (
            statistics.median(r["cpu"] / r["calls"] for r in results[(provider, "baseline", stream)]) * 1e6
        )
        over = cpu - base_cpu
        rss = statistics.median(r["rss_growth_kb"] for r in runs)
        extra = (
            ("—", "—", "—")
            if mode == "baseline"
            else (f"{over:+.0f}", f"{over / base_cpu:+.1%}", f"{over / (REALISTIC_CALL_SECONDS * 1e6):+.3%}")
        )
        kind = "streamed" if stream else "plain"
        print(f"| {provider} | {kind} | {mode} | {rate:.1f} | {cpu:.0f} | {' | '.join(extra)} | {rss:.0f} |")
    print(f"\nOTLP bytes received by the sink: {sink.bytes}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--provider":
        provider_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        mode, provider, base, calls, stream = sys.argv[2:7]
        client_main(mode, provider, base, int(calls), stream == "1")
    else:
        sys.exit(main())
