"""Benchmark: the ingester's throughput against a plain COPY of the same rows, and its memory overloaded.

The traffic is what the collector's store pipeline sends the ingester: LLM spans only (filter/llm_only),
in requests of the batch processor's size, OTLP/HTTP protobuf gzipped (otlp_http's default), from 4
senders (the exporter's consumers). In one run, on one PostgreSQL (Debian's, postgres storage flavour):
1. baseline: the rows the traffic holds, written with a single binary COPY straight into the table;
2. the ingester (a real process) receiving that traffic, each request acknowledged after commit, with
   each decoder and decoding either in the request threads or in 2 processes; rows per second until
   the last acknowledgement;
3. overload: 64 senders posting without pause into a fresh database for 15 s, far past what the
   ingester writes; the ingester's peak resident memory and how many requests it turned away (503).

Usage: .venv/bin/python scripts/bench_ingester.py [--traces 100000]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import threading
import time
from pathlib import Path

import psycopg
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from psycopg import sql

from observatory import names
from observatory.ingest import server
from observatory.ingest.rows import is_llm_request, rows
from observatory.local.postgres import LocalPostgres
from observatory.processes import ManagedProcess, free_port
from observatory.render.collector import BATCH_SPANS
from observatory.spec import load
from observatory.sql.columns import COLUMNS, NAMES
from observatory.storage.migrate import migrate
from observatory.traffic import Traffic, Workload, generate

REPO = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO / "tests/specs/valid/postgres.yaml"


def store_pipeline_requests(traffic: Traffic) -> list[ExportTraceServiceRequest]:
    """The traffic as the collector hands it to the ingester: LLM spans only, BATCH_SPANS a request."""
    requests: list[ExportTraceServiceRequest] = []
    current, size = ExportTraceServiceRequest(), 0
    for request in traffic.traces:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                kept = [span for span in ss.spans if is_llm_request(span)]
                if not kept:
                    continue
                current.resource_spans.append(
                    ResourceSpans(resource=rs.resource, scope_spans=[ScopeSpans(scope=ss.scope, spans=kept)])
                )
                size += len(kept)
                if size >= BATCH_SPANS:
                    requests.append(current)
                    current, size = ExportTraceServiceRequest(), 0
    if size:
        requests.append(current)
    return requests


def _database(pg: LocalPostgres, name: str) -> str:
    admin = pg.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = pg.dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(dsn) as conn:
        migrate(conn, load(SPEC_PATH))
    return dsn


def baseline_copy(dsn: str, table: list[tuple[object, ...]]) -> float:
    """Rows per second of one binary COPY of `table` into the partitioned table."""
    cols = sql.SQL(", ").join(map(sql.Identifier, NAMES))
    with psycopg.connect(dsn) as conn:
        for day in sorted({row[0].date() for row in table}):  # type: ignore[attr-defined]
            conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition(%s)", (day,))
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(names.TABLE_REQUESTS), cols
                )
            ) as copy,
        ):
            copy.set_types([c.sql_type for c in COLUMNS])
            for row in table:
                copy.write_row(row)
        conn.commit()
        return len(table) / (time.perf_counter() - started)


HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}


def _ingester(
    dsn: str, work: Path, decoder: str = "native", decode_workers: int = 0
) -> tuple[ManagedProcess, int]:
    port = free_port()
    flags = ("--maintain-interval-seconds=0", f"--decode-workers={decode_workers}", f"--decoder={decoder}")
    proc = ManagedProcess(
        server.command(SPEC_PATH, f"127.0.0.1:{port}", *flags),
        work / f"ingester-{port}.log",
        {"OBSERVATORY_DATABASE_URL": dsn},
    )
    proc.wait_ready(lambda: requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok, "ingester ready")
    return proc, port


def _post_all(port: int, bodies: list[bytes], senders: int) -> float:
    """Seconds to get every body acknowledged, retrying 503s like the collector."""
    queue = list(reversed(bodies))
    lock = threading.Lock()

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            while True:
                conn.request("POST", "/v1/traces", body=body, headers=HEADERS)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    break
                if response.will_close:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                time.sleep(0.05)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def overload(port: int, bodies: list[bytes], seconds: float, senders: int) -> tuple[int, int]:
    """Posts without pause for `seconds`; (requests accepted, requests refused with 503)."""
    deadline = time.monotonic() + seconds
    counts = [0, 0]
    lock = threading.Lock()

    def work(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = offset
        while time.monotonic() < deadline:
            try:
                conn.request(
                    "POST",
                    "/v1/traces",
                    body=bodies[i % len(bodies)],
                    headers=HEADERS,
                )
                response = conn.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            i += 1
            with lock:
                counts[0 if response.status == 200 else 1] += 1
            if response.will_close:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[0], counts[1]


MODES = (("native", 0), ("native", 2), ("python", 2))  # (decoder, decoding processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--overload-seconds", type=float, default=15)
    parser.add_argument(
        "--shape",
        choices=("store", "mixed"),
        default="store",
        help="store: what the collector sends the ingester (default); mixed: all spans, 100 traces a request",
    )
    args = parser.parse_args()
    spec = load(SPEC_PATH)
    traffic = generate(
        spec,
        Workload(
            seed=8,
            traces=args.traces,
            start_unix_nano=time.time_ns() - 86400 * 10**9,
            as_collector_output=True,
        ),
    )
    if args.shape == "store":
        requests = store_pipeline_requests(traffic)
        bodies = [gzip.compress(r.SerializeToString()) for r in requests]
    else:  # every span (LLM or not) of 100 traces a request, uncompressed: the earlier benchmark
        requests = traffic.traces
        bodies = [r.SerializeToString() for r in requests]
        HEADERS.pop("Content-Encoding")
    table = [row for r in requests for row in rows(r) if row is not None]
    spans = sum(len(ss.spans) for r in requests for rs in r.resource_spans for ss in rs.scope_spans)
    pg = LocalPostgres()
    pg.start()
    work = pg.root
    try:
        copy_rate = baseline_copy(_database(pg, "bench_copy"), table)
        rates = {}
        for decoder, workers in MODES:
            dsn = _database(pg, f"bench_ingest_{decoder}_{workers}")
            proc, port = _ingester(dsn, work, decoder, workers)
            try:
                rates[decoder, workers] = len(table) / _post_all(port, bodies, senders=4)
            finally:
                proc.stop()
            with psycopg.connect(dsn) as conn:  # every row exactly once, or the figure means nothing
                stored = conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone()
                assert stored == (len(table),), f"{decoder}/{workers}: {stored} rows, sent {len(table)}"
        proc, port = _ingester(_database(pg, "bench_overload"), work)
        try:
            accepted, refused = overload(port, bodies, args.overload_seconds, senders=64)
            peak = proc.tree_peak_rss_bytes() / 2**20  # the server and its decoding processes
        finally:
            proc.stop()
    finally:
        pg.destroy()
    size = sum(map(len, bodies)) / len(bodies) / 1024
    print(
        f"traffic ({args.shape}): {len(bodies)} requests of {size:.0f} KiB, {spans} spans, {len(table)} rows"
    )
    print("| measurement | rows per second | spans per second | / COPY |")
    print("| --- | --- | --- | --- |")
    print(f"| plain binary COPY of the rows (baseline) | {copy_rate:,.0f} | | 1 |")
    for (decoder, workers), rate in rates.items():
        mode = f"{workers} decoding processes" if workers else "decoding in the request threads"
        print(
            f"| ingester, {decoder} decoder, {mode} | {rate:,.0f} | {rate * spans / len(table):,.0f} "
            f"| {rate / copy_rate:.2f} |"
        )
    offered = (accepted + refused) / args.overload_seconds * len(table) / len(bodies)
    print(
        f"overload, 64 senders for {args.overload_seconds:g}s: {accepted} requests accepted, "
        f"{refused} refused with 503 (offered ~{offered:,.0f} rows/s); "
        f"ingester peak RSS with its decoders {peak:.1f} MiB"
    )


if __name__ == "__main__":
    main()
