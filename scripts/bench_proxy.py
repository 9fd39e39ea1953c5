"""Benchmark: the latency the LLM proxy adds, and its memory with 1,000 open streams (issue 15).

In one run, on this machine: proxybench (proxy/cmd/proxybench, Go) serves a fast fake OpenAI API and
an OTLP sink that discards; the proxy (`make proxy`) forwards to that fake and exports its spans to the
sink. The load generator sends the same requests alternately to the fake directly (the baseline) and
through the proxy, so both see the same machine at the same moment:
1. non-streamed chat completions at a fixed rate (500 per second to each), then at saturation
   (`--workers` closed loops): latency to the last byte;
2. streamed ones the same way: time to the first byte;
3. 1,000 streams held open through the proxy at once: the proxy's resident memory then, and its peak.
Added latency is the proxied percentile minus the direct one. Goal: p99 added under 2 ms at 500/s.

Usage: .venv/bin/python scripts/bench_proxy.py [--seconds 15] [--rate 500] [--workers 32] [--streams 1000]
    [--proxy-binary PATH]
`--proxy-binary` measures another build (an older commit's, say) with the same load generator, so a
before/after pair can be run back to back on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from observatory.processes import ManagedProcess, free_port  # noqa: E402

PROXY = REPO / ".cache/proxy/observatory-proxy"
BENCH = REPO / ".cache/proxy/proxybench"
GOAL_ADDED_P99_MS = 2.0


def build() -> None:
    subprocess.run([str(REPO / "scripts/build-proxy.sh")], check=True, stdout=subprocess.DEVNULL)
    go = os.environ.get("GO", "/usr/local/go/bin/go")
    subprocess.run([go, "build", "-o", str(BENCH), "./cmd/proxybench"], cwd=REPO / "proxy", check=True)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def load(targets: list[str], *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BENCH), "load", f"-targets={','.join(targets)}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: list[dict[str, Any]] = json.loads(out)
    return result


def row(name: str, results: list[dict[str, Any]]) -> str:
    direct, proxied = results
    added50 = proxied["p50_ms"] - direct["p50_ms"]
    added99 = proxied["p99_ms"] - direct["p99_ms"]
    return (
        f"| {name} | {proxied['per_second']:,.0f} | {direct['p50_ms']:.2f} / {direct['p99_ms']:.2f} | "
        f"{proxied['p50_ms']:.2f} / {proxied['p99_ms']:.2f} | {added50:.2f} / {added99:.2f} | "
        f"{direct['errors'] + proxied['errors']} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second to each target")
    parser.add_argument("--workers", type=int, default=32, help="closed loops at saturation")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument(
        "--proxy-binary", type=Path, default=PROXY, help="the proxy to measure (default: make proxy's build)"
    )
    args = parser.parse_args()
    build()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    if args.proxy_binary != PROXY:
        commit = f"proxy binary {args.proxy_binary}, load generator at {commit.strip()}"
    started = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    up_port, proxy_port = free_port(), free_port()
    fake = f"http://127.0.0.1:{up_port}"
    upstream = ManagedProcess([str(BENCH), "upstream", f"-listen=127.0.0.1:{up_port}"], tmp / "upstream.log")
    upstream.wait_ready(lambda: requests.get(f"{fake}/v1/traces", timeout=1).ok, "the fake upstream")
    proxy = ManagedProcess(
        [
            str(args.proxy_binary),
            f"-listen=127.0.0.1:{proxy_port}",
            f"-openai-upstream={fake}",
            f"-otlp-endpoint={fake}",
        ],
        tmp / "proxy.log",
    )
    base = f"http://127.0.0.1:{proxy_port}"
    proxy.wait_ready(lambda: requests.get(f"{base}/readyz", timeout=1).ok, "the proxy")
    targets = [fake, f"{base}/openai"]
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    try:
        both = str(args.rate * 2)  # the rate is per target: they alternate
        secs = f"-seconds={args.seconds}"
        rows = [
            row(f"non-streamed, {args.rate:.0f}/s", load(targets, f"-rate={both}", secs)),
            row(
                f"non-streamed, saturation ({args.workers} loops)",
                load(targets, f"-workers={args.workers}", secs),
            ),
            row(f"streamed, first byte, {args.rate:.0f}/s", load(targets, f"-rate={both}", secs, "-stream")),
            row(
                f"streamed, first byte, saturation ({args.workers} loops)",
                load(targets, f"-workers={args.workers}", secs, "-stream"),
            ),
        ]
        before = rss_kib(proxy.pid, "VmRSS")
        held = subprocess.Popen(
            [str(BENCH), "streams", f"-base={base}/openai", f"-n={args.streams}", "-hold=5"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert held.stdout is not None
        assert held.stdout.readline().strip() == "open"
        open_rss = rss_kib(proxy.pid, "VmRSS")
        done = held.stdout.readline().strip()
        held.wait(timeout=60)
        peak = rss_kib(proxy.pid, "VmHWM")
        metrics = requests.get(f"{base}/metrics", timeout=5).text
    finally:
        proxy.stop()
        upstream.stop()
    finished = datetime.now(UTC)
    print(f"Command: .venv/bin/python scripts/bench_proxy.py {' '.join(sys.argv[1:])} at {commit.strip()},")
    print(f"{started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC; load average at the start {' '.join(loadavg)}")
    print()
    print(
        "| calls | proxied per s | direct p50 / p99 ms | proxied p50 / p99 ms | added p50 / p99 ms | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(r)
    print()
    print(
        f"{args.streams} streams open at once: proxy RSS {before / 1024:.1f} MiB before, "
        f"{open_rss / 1024:.1f} MiB with all open, peak {peak / 1024:.1f} MiB ({done})"
    )
    dropped = [line for line in metrics.splitlines() if line.startswith("observatory_proxy_spans_")]
    print("span export: " + ", ".join(dropped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
