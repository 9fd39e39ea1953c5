"""Benchmark: the query API over the dashboards' data set (postgres flavour, 10 million requests).

In one run, on the cluster scripts/bench_dashboards.py loads (or keeps, `--reuse DIR`):
1. `observatory api` starts as its own process, reading through its own role (observatory_api), behind
   a bearer token, like a deployment;
2. every query kind runs over HTTP as a client sends it, over windows ending now, `--runs` times for
   p50 and p95 (client side: HTTP, GraphQL and SQL). Baseline in the same run: `{ __typename }`, a
   round trip that touches no database;
3. `--clients` threads send the simplest spend query (a 24-hour total) for `--seconds` seconds: requests
   per second and their p95.
`SLOW` marks a p95 at or above 100 ms, the goal of issue 14 for the aggregate queries.

Usage: .venv/bin/python scripts/bench_api.py [--reuse DIR | --keep DIR] [--runs 20] [--clients 16]
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import bench_dashboards as data  # noqa: E402  (the same cluster, rows and rollups)
from tests import dashboard_queries  # noqa: E402

from observatory import names  # noqa: E402
from observatory.processes import ManagedProcess, free_port  # noqa: E402
from observatory.storage.migrate import migrate  # noqa: E402

GOAL_MS = 100.0
WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "365d": timedelta(days=365),
}
SPEND = (
    "query($f: DateTime!, $t: DateTime!) { spend(from: $f, to: $t%s)"
    " { total { requests costUsd } rows { %s } } }"
)
QUERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (query with $f and $t, windows)
    "spend total": (SPEND % ("", "requests"), tuple(WINDOWS)),
    "spend by application, model": (
        SPEND % (", groupBy: [APPLICATION, MODEL]", "application model costUsd requests"),
        tuple(WINDOWS),
    ),
    "spend by team, daily": (SPEND % (", groupBy: [TEAM], granularity: DAY", "time team costUsd"), ("30d",)),
    "spend by team, monthly": (
        SPEND % (", groupBy: [TEAM], granularity: MONTH", "time team costUsd"),
        ("365d",),
    ),
    "spend by user, top 50": (SPEND % (", groupBy: [USER], top: 50", "user costUsd"), ("24h", "7d", "30d")),
    "spend by user, all 5,000": (SPEND % (", groupBy: [USER]", "user costUsd"), ("24h", "30d")),
    "errors by application": (
        "query($f: DateTime!, $t: DateTime!) { errors(from: $f, to: $t, groupBy: [APPLICATION])"
        " { application requests errors byType { type count } } }",
        tuple(WINDOWS),
    ),
    "requests, first page": (
        "query($f: DateTime!, $t: DateTime!) { requests(from: $f, to: $t, first: 50)"
        " { edges { cursor node { time application requestModel costUsd } } pageInfo { endCursor } } }",
        ("24h",),
    ),
    "budgets": ("{ budgets { name spentMonthUsd state } }", ("now",)),
    "models": ("{ models { provider model } }", ("now",)),
    "baseline: no database": ("{ __typename }", ("now",)),
}
AGGREGATES = ("spend", "errors", "budgets")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def ask(self, query: str, variables: dict[str, str]) -> tuple[float, dict[str, Any]]:
        began = time.perf_counter()
        response = self.session.post(self.url, json={"query": query, "variables": variables}, timeout=60)
        took = (time.perf_counter() - began) * 1000
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{response.status_code}: {json.dumps(body)[:300]}")
        return took, body


def latencies(client: Client, now: datetime, runs: int) -> list[tuple[str, str, float, float, int]]:
    out = []
    for name, (query, windows) in QUERIES.items():
        for window in windows:
            start = now - WINDOWS.get(window, timedelta(hours=1))
            variables = {"f": start.isoformat(), "t": now.isoformat()} if "$f" in query else {}
            _, body = client.ask(query, variables)  # once untimed: the pool's connections and caches
            size = len(json.dumps(body))
            timings = [client.ask(query, variables)[0] for _ in range(runs)]
            out.append((name, window, _p(timings, 0.5), _p(timings, 0.95), size))
            print(f"  {name:32} {window:5} p50 {out[-1][2]:7.1f}  p95 {out[-1][3]:7.1f} ms", flush=True)
    return out


def throughput(url: str, token: str, now: datetime, clients: int, seconds: float) -> tuple[float, float, int]:
    query, _ = QUERIES["spend total"]
    variables = {"f": (now - WINDOWS["24h"]).isoformat(), "t": now.isoformat()}
    timings: list[float] = []
    failures = [0]
    lock, stop = threading.Lock(), time.monotonic() + seconds

    def work() -> None:
        client = Client(url, token)
        mine = []
        while time.monotonic() < stop:
            try:
                mine.append(client.ask(query, variables)[0])
            except (RuntimeError, requests.RequestException):
                failures[0] += 1
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(timings) / (time.monotonic() - began), _p(timings, 0.95), failures[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data.cluster_arguments(parser)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = data.parse_cluster_arguments(parser)
    now = datetime.now(UTC)
    spec = dashboard_queries.postgres_spec(args.days)
    print(f"query API benchmark at {data._commit()}, {now:%Y-%m-%d %H:%M} UTC", flush=True)
    with data.cluster(args) as db:
        data.prepare(db, spec, args, now)
        password, token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        with psycopg.connect(db.server.dsn, autocommit=True) as conn:
            migrate(conn, spec, str(db.state["reader_password"]), password)
        port = free_port()
        spec_file = REPO / ".cache" / "bench-api-spec.yaml"
        spec_file.parent.mkdir(exist_ok=True)
        spec_file.write_text("version: v1\nstorage: {engine: postgres}\n")
        env = {
            names.ENV_API_TOKEN: token,
            names.ENV_API_DATABASE_URL: (
                f"postgresql://{names.DB_API_USER}:{password}@127.0.0.1:{db.server.port}/{db.server.database}"
            ),
        }
        argv = [
            sys.executable,
            "-m",
            "observatory",
            "--spec",
            str(spec_file),
            "api",
            f"--listen=127.0.0.1:{port}",
        ]
        api = ManagedProcess(argv, REPO / ".cache" / "bench-api.log", env)
        try:
            url = f"http://127.0.0.1:{port}"
            api.wait_ready(
                lambda: requests.get(f"{url}/readyz", timeout=2).ok, f"observatory api at {url}", 60
            )
            print(f"latency, {args.runs} runs each (client side):", flush=True)
            rows = latencies(Client(f"{url}/graphql", token), now, args.runs)
            print(
                f"throughput: {args.clients} clients, the 24-hour spend total, {args.seconds:.0f} s:",
                flush=True,
            )
            rps, busy_p95, failed = throughput(f"{url}/graphql", token, now, args.clients, args.seconds)
            print(f"  {rps:.0f} requests/s, p95 {busy_p95:.1f} ms, {failed} failed", flush=True)
        finally:
            api.stop()
    print("\n| query | window | p50 ms | p95 ms | |\n| --- | --- | ---: | ---: | --- |")
    for name, window, p50, p95, _size in rows:
        goal = name.split(" ")[0] in AGGREGATES
        mark = "SLOW" if goal and p95 >= GOAL_MS else ""
        print(f"| {name} | {window} | {p50:.1f} | {p95:.1f} | {mark} |")
    clients = f"{args.clients} clients"
    print(f"\nthroughput: {rps:.0f} requests/s from {clients}, p95 {busy_p95:.1f} ms, {failed} failed")


if __name__ == "__main__":
    main()
