"""Benchmark: the ingester's throughput against a plain COPY of the same rows, and its memory overloaded.

In one run, on one PostgreSQL (Debian's, postgres storage flavour):
1. baseline: the rows the traffic holds, written with a single binary COPY straight into the table;
2. the ingester (a real process) receiving the same traffic as OTLP/HTTP protobuf from 4 senders,
   each request acknowledged after commit; rows per second until the last acknowledgement;
3. overload: 64 senders posting without pause into a fresh database for 15 s, far past what the
   ingester writes; the ingester's peak resident memory and how many requests it turned away (503).

Usage: .venv/bin/python scripts/bench_ingester.py [--traces 40000]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests
from psycopg import sql

from observatory import names
from observatory.ingest.rows import rows
from observatory.local.postgres import LocalPostgres
from observatory.processes import ManagedProcess, free_port
from observatory.spec import load
from observatory.storage.columns import COLUMNS, NAMES
from observatory.storage.migrate import migrate
from observatory.traffic import Workload, generate

REPO = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO / "tests/specs/valid/postgres.yaml"


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


def _ingester(dsn: str, work: Path, decode_workers: int = 2) -> tuple[ManagedProcess, int]:
    port = free_port()
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "observatory",
            "--spec",
            str(SPEC_PATH),
            "ingest",
            f"--listen=127.0.0.1:{port}",
            "--maintain-interval-seconds=0",
            f"--decode-workers={decode_workers}",
        ],
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
                conn.request(
                    "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
                )
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
                    headers={"Content-Type": "application/x-protobuf"},
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=40000)
    parser.add_argument("--overload-seconds", type=float, default=15)
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
    bodies = [t.SerializeToString() for t in traffic.traces]
    table = [row for t in traffic.traces for row in rows(t) if row is not None]
    spans = sum(len(ss.spans) for t in traffic.traces for rs in t.resource_spans for ss in rs.scope_spans)
    pg = LocalPostgres()
    pg.start()
    work = pg.root
    try:
        copy_rate = baseline_copy(_database(pg, "bench_copy"), table)
        rates = {}
        for workers in (0, 2):
            proc, port = _ingester(_database(pg, f"bench_ingest_{workers}"), work, workers)
            try:
                rates[workers] = len(table) / _post_all(port, bodies, senders=4)
            finally:
                proc.stop()
        proc, port = _ingester(_database(pg, "bench_overload"), work)
        try:
            accepted, refused = overload(port, bodies, args.overload_seconds, senders=64)
            peak = proc.tree_peak_rss_bytes() / 2**20  # the server and its decoding processes
        finally:
            proc.stop()
    finally:
        pg.destroy()
    print(f"traffic: {len(bodies)} requests, {spans} spans, {len(table)} LLM rows")
    print("| measurement | rows/s | spans/s |")
    print("| --- | --- | --- |")
    print(f"| plain binary COPY of the rows (baseline) | {copy_rate:,.0f} | |")
    for workers, rate in rates.items():
        mode = f"{workers} decoding processes" if workers else "decoding in the request threads"
        print(
            f"| ingester, OTLP/HTTP, 4 senders, ack after commit, {mode} | {rate:,.0f} "
            f"| {rate * spans / len(table):,.0f} |"
        )
    ratios = ", ".join(f"{rate / copy_rate:.2f} with {w} decoding processes" for w, rate in rates.items())
    print(f"ingester / COPY: {ratios}")
    offered = (accepted + refused) / args.overload_seconds * len(table) / len(bodies)
    print(
        f"overload, 64 senders for {args.overload_seconds:g}s: {accepted} requests accepted, "
        f"{refused} refused with 503 (offered ~{offered:,.0f} rows/s); "
        f"ingester peak RSS with its decoders {peak:.1f} MiB"
    )


if __name__ == "__main__":
    main()
