"""Benchmark: end-to-end throughput of the local stack, with zero loss, and the generator's own speed.

In one run:
1. the generator: synthetic traffic generated, then serialized to OTLP protobuf (spans per second each);
2. the local stack (observatory.local.stack: collector, ingester, PostgreSQL, Prometheus, Alertmanager
   as real processes) takes the same kind of traffic from `observatory.demo`, as fast as it accepts it.
   Spans per second in = spans sent / seconds from the first request until every LLM row is in the
   database AND Prometheus holds the exact request totals per application and model. A run that loses
   or double-counts anything fails instead of printing a figure.

Usage: .venv/bin/python scripts/bench_e2e.py [--traces 20000]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

from observatory import demo, names
from observatory.local import stack
from observatory.processes import poll_until
from observatory.spec import load
from observatory.traffic import Workload, generate

REPO = Path(__file__).resolve().parent.parent


def generator_speed(traces: int) -> tuple[int, float, float]:
    """(spans, spans/s generating, spans/s serializing) for `traces` traces."""
    spec = load(REPO / "observatory.yaml")
    began = time.perf_counter()
    traffic = generate(spec, Workload(seed=1, traces=traces, start_unix_nano=time.time_ns()))
    generated = time.perf_counter()
    for request in traffic.traces:
        request.SerializeToString()
    encoded = time.perf_counter()
    spans = sum(len(s.spans) for r in traffic.traces for rs in r.resource_spans for s in rs.scope_spans)
    return spans, spans / (generated - began), spans / (encoded - generated)


def _prometheus_requests(url: str) -> dict[tuple[str, str], float]:
    query = f"sum by (application, model) ({names.METRIC_REQUESTS})"
    result = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return {(r["metric"]["application"], r["metric"]["model"]): float(r["value"][1]) for r in result}


def end_to_end(traces: int) -> dict[str, float]:
    spec = load(REPO / "observatory.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        state = stack.up(REPO, spec, Path(tmp), out=io.StringIO())
        try:
            options = demo.Options(endpoint=state["urls"]["otlp_http"], traces=traces, seed=5, logs=False)
            began = time.perf_counter()
            traffic, report = demo.send(spec, options, progress=sys.stderr)
            truth = traffic.truth
            want_rows = len(truth.span_cost)
            want_prom = {k: float(v) for k, v in truth.requests.items()}
            with psycopg.connect(state["database_url"], autocommit=True) as conn:
                count = f"SELECT count(*) FROM {names.TABLE_REQUESTS}"

                def rows() -> int:
                    row = conn.execute(count).fetchone()
                    return int(row[0]) if row else 0

                poll_until(lambda: rows() >= want_rows, f"{want_rows} rows in the database", 300, 0.05)
                rows_at = time.perf_counter()
                poll_until(
                    lambda: _prometheus_requests(state["urls"]["prometheus"]) == want_prom,
                    "exact request totals in Prometheus",
                    120,
                    0.05,
                )
                done = time.perf_counter()
                if rows() != want_rows:
                    raise SystemExit(f"loss or duplicates: {rows()} rows for {want_rows} LLM spans")
        finally:
            stack.down(Path(tmp))
    return {
        "spans": report.spans,
        "llm_rows": want_rows,
        "send_seconds": report.send_seconds,
        "accept_spans_per_s": report.spans_per_second,
        "rows_seconds": rows_at - began,
        "total_seconds": done - began,
        "retries": report.retries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20000)
    args = parser.parse_args()
    _, gen_rate, enc_rate = generator_speed(args.traces)
    e2e = end_to_end(args.traces)
    print(f"\n{args.traces} traces, {e2e['spans']:.0f} spans ({e2e['llm_rows']} LLM requests); 2 cores\n")
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| generator: generate | {gen_rate:,.0f} spans/s |")
    print(f"| generator: serialize to OTLP protobuf | {enc_rate:,.0f} spans/s |")
    accepted = f"{e2e['accept_spans_per_s']:,.0f} spans/s"
    print(f"| collector accepts (demo send, {e2e['retries']:.0f} retries) | {accepted} |")
    print(f"| all LLM rows in PostgreSQL after | {e2e['rows_seconds']:.2f} s |")
    print(f"| and exact totals in Prometheus after | {e2e['total_seconds']:.2f} s |")
    print(f"| **end to end, zero loss** | **{e2e['spans'] / e2e['total_seconds']:,.0f} spans/s** |")


if __name__ == "__main__":
    main()
