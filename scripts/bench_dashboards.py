"""Benchmark: every SQL panel and variable query of the dashboards, postgres flavour, 10 million requests.

In one run:
1. a scratch PostgreSQL cluster gets the postgres flavour of the schema (`migrate`, raw retention long
   enough to keep every generated day, so panels that scan raw rows meet the worst case) and
   `--rows` generated requests spanning `--days` days up to now, streamed in with COPY
   (tests/bulk_requests.py); `maintain` brings the rollups up to date, then ANALYZE;
2. connected as the Grafana reader role (names.DB_READER_USER), every SQL query of every rendered
   dashboard (tests/dashboard_queries.py: Grafana's variable interpolation, $__interval and macros)
   runs with the variables at "All" and at one value each, over windows ending now; each runs once
   under EXPLAIN ANALYZE (which stores its plan read) and then up to `--runs` times for p50 and p95.
   Baselines in the same run: `SELECT 1` (the round trip) and a count of the raw rows in each window.
A table prints one line per panel, variables and window; `SLOW` marks a p95 at or above 100 ms, the
goal of issue 20. Loading 10 million rows takes minutes: `--keep DIR` keeps the loaded cluster in DIR,
`--reuse DIR` runs again on it (topping it up to now and applying new migrations first).

Usage: .venv/bin/python scripts/bench_dashboards.py [--rows 10000000] [--keep DIR | --reuse DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests package: the same queries and rows the plan test uses
from tests import bulk_requests, dashboard_queries  # noqa: E402

from observatory import names  # noqa: E402
from observatory.local.postgres import LocalPostgres  # noqa: E402
from observatory.spec.types import Spec  # noqa: E402
from observatory.storage.maintain import maintain  # noqa: E402
from observatory.storage.migrate import MigrationError, migrate  # noqa: E402

GOAL_MS = 100.0
WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "365d": timedelta(days=365),
}
# A year from the 2nd of its first month (00:00 UTC): panels that read whole months read the days
# before the first one from the daily rollups, here 28 to 30 of them, the most a range ending now reads.
FROM_THE_2ND = "365d-2nd"


def window_start(window: str, now: datetime) -> datetime:
    if window == FROM_THE_2ND:
        return (now - WINDOWS["365d"]).replace(day=2, hour=0, minute=0, second=0, microsecond=0)
    return now - WINDOWS[window]


STATE = "bench.json"


def _commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True
    )
    return out.stdout.strip() + ("+uncommitted src" if dirty.stdout.strip() else "")


@dataclass
class Cluster:
    server: LocalPostgres
    state: dict[str, object]
    keep: bool

    def reader(self) -> psycopg.Connection:
        # Never prepare: Grafana sends each panel's SQL as a simple query, planned every time.
        return psycopg.connect(
            host="127.0.0.1",
            port=self.server.port,
            dbname=self.server.database,
            user=names.DB_READER_USER,
            password=str(self.state["reader_password"]),
            autocommit=True,
            prepare_threshold=None,
        )


@contextmanager
def cluster(args: argparse.Namespace) -> Iterator[Cluster]:
    root = args.keep or args.reuse
    if args.reuse:
        state = json.loads((root / STATE).read_text())
        server = LocalPostgres(root=root, password=state["password"])
    else:
        if root and (root / "data").exists():
            sys.exit(f"{root} already holds a cluster: run with --reuse {root}, or choose another folder")
        state = {"password": secrets.token_urlsafe(16), "reader_password": secrets.token_urlsafe(16)}
        server = LocalPostgres(root=root, password=state["password"])
    server.start()
    if root is not None:  # at once, so the cluster can be opened while the benchmark runs
        (root / STATE).write_text(json.dumps(state, indent=2) + "\n")
    try:
        yield Cluster(server, state, keep=root is not None)
    finally:
        if root is not None:
            (root / STATE).write_text(json.dumps(state, indent=2) + "\n")
            server.stop()
        else:
            server.destroy()


def prepare(db: Cluster, spec: Spec, args: argparse.Namespace, now: datetime) -> None:
    """Schema, rows up to `now`, rollups and statistics; prints how long each step took."""
    dsn = db.server.dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            report = migrate(conn, spec, reader_password=str(db.state["reader_password"]))
        except MigrationError as err:
            sys.exit(
                f"{err}\nThe schema changed since this cluster was loaded: load afresh (--keep NEW_DIR)."
            )
        print(f"migrate: applied {report.applied or 'nothing new'}", flush=True)
    if "end" not in db.state:
        start, count, first = now - timedelta(days=args.days), args.rows, 0
        db.state.update(rows_per_day=args.rows / args.days, loaded_at_commit=_commit())
    else:
        start = datetime.fromisoformat(str(db.state["end"]))
        first = int(str(db.state["next_id"]))
        count = round(float(str(db.state["rows_per_day"])) * (now - start) / timedelta(days=1))
    began = time.monotonic()
    bulk_requests.load(dsn, first=first, count=count, start=start, end=now)
    db.state.update(end=now.isoformat(), next_id=first + count)
    print(f"load: {count:,} rows from {start:%Y-%m-%d %H:%M} in {time.monotonic() - began:.0f} s", flush=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        began = time.monotonic()
        done = maintain(conn, spec, now)
        print(f"maintain: {done.summary()} in {time.monotonic() - began:.0f} s", flush=True)
        began = time.monotonic()
        conn.execute("ANALYZE")
        total = conn.execute(f"SELECT count(*) FROM {names.TABLE_REQUESTS}").fetchone()
        print(
            f"analyze: {time.monotonic() - began:.0f} s; {total[0] if total else 0:,} rows in all", flush=True
        )


@dataclass
class Result:
    name: str
    variables: str
    window: str
    timings_ms: list[float]
    rows: int
    reads: str
    error: str = ""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.timings_ms)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else math.nan

    @property
    def slow(self) -> bool:
        return bool(self.error) or self.percentile(0.95) >= GOAL_MS


def _reads(conn: psycopg.Connection, sql: str, partitions: set[str]) -> str:
    """The stores the executed plan read: `hourly`, `daily`, `weekly`, `monthly`, `raw n/N` (day
    partitions it scanned)."""
    row = conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}").fetchone()
    plan = row[0][0]["Plan"] if row else {}
    read = [
        (dashboard_queries.store(rel, partitions), rel)
        for rel, loops in dashboard_queries.scans(plan)
        if loops
    ]
    # The watermark table is read by every rollup view to find its latest bucket: not a store.
    stores = sorted({s for s, _ in read if s not in ("raw", names.TABLE_ROLLUP_WATERMARKS)})
    raw = {rel for s, rel in read if s == "raw"}
    if raw:
        stores.append(f"raw {len(raw)}/{len(partitions)}")
    return ", ".join(stores) or "-"


def measure(
    conn: psycopg.Connection,
    name: str,
    variables: str,
    window: str,
    sql: str,
    args: argparse.Namespace,
    partitions: set[str],
) -> Result:
    try:
        reads = _reads(conn, sql, partitions)
        began = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        timings = [(time.perf_counter() - began) * 1000]
        # Up to --runs, within about --budget-seconds: a query of seconds gets --min-runs.
        runs = max(args.min_runs, min(args.runs, int(args.budget_seconds * 1000 / max(timings[0], 1))))
        for _ in range(runs - 1):
            began = time.perf_counter()
            conn.execute(sql).fetchall()
            timings.append((time.perf_counter() - began) * 1000)
    except psycopg.Error as err:
        return Result(name, variables, window, [], 0, "-", str(err).splitlines()[0])
    return Result(name, variables, window, timings, rows, reads)


def run(db: Cluster, spec: Spec, args: argparse.Namespace, now: datetime) -> list[Result]:
    queries = dashboard_queries.queries(spec)
    selections = {
        "All": {},
        "one": {k: [v] for k, v in {**bulk_requests.ONE_VALUE, "user": bulk_requests.ONE_USER}.items()},
    }
    options = {**bulk_requests.VOCABULARY, "user": [bulk_requests.user_id(n) for n in range(1000)]}
    results = []
    with db.reader() as conn:
        conn.execute(f"SET statement_timeout = '{args.timeout_seconds}s'")
        for setting in args.set:
            name, _, value = setting.partition("=")
            conn.execute(
                sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value))
            )
        jit = conn.execute("SHOW jit").fetchone()
        print(
            f"reader sessions: jit={jit[0] if jit else '?'}, statement_timeout={args.timeout_seconds}s",
            flush=True,
        )
        partitions = {r[0] for r in conn.execute(dashboard_queries.RAW_PARTITIONS)}
        results.append(measure(conn, "baseline: SELECT 1", "-", "-", "SELECT 1", args, partitions))
        for window in args.windows:
            start = window_start(window, now)
            count = (
                f"SELECT count(*) FROM {names.TABLE_REQUESTS}"
                f" WHERE time BETWEEN '{start.isoformat()}' AND '{now.isoformat()}'"
            )
            results.append(measure(conn, "baseline: count raw rows", "-", window, count, args, partitions))
        for query in queries:
            if args.panels and not any(p in f"{query.board}/{query.name}" for p in args.panels):
                continue
            for label, selected in selections.items():
                for window in args.windows:
                    start = window_start(window, now)
                    text = dashboard_queries.as_sent(query, start, now, selected, options)
                    result = measure(
                        conn, f"{query.board}/{query.name}", label, window, text, args, partitions
                    )
                    results.append(result)
                    if args.verbose:
                        print(_line(result), flush=True)
    return results


def _line(r: Result) -> str:
    if r.error:
        return f"| {r.name} | {r.variables} | {r.window} | - | - | - | - | {r.error} | SLOW |"
    flag = "SLOW" if r.slow else ""
    cells = [r.name, r.variables, r.window, f"{r.percentile(0.5):.1f}", f"{r.percentile(0.95):.1f}"]
    cells += [str(len(r.timings_ms)), str(r.rows), r.reads, flag]
    return "| " + " | ".join(cells) + " |"


def report(results: Sequence[Result]) -> None:
    print("\n| panel | variables | window | p50 ms | p95 ms | runs | rows | plan reads | |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(_line(result))
    slow = sorted({r.name for r in results if r.slow and not r.name.startswith("baseline")})
    panels = {r.name for r in results if not r.name.startswith("baseline")}
    print(f"\n{len(panels) - len(slow)} of {len(panels)} queries under {GOAL_MS:g} ms at p95 in every case.")
    for name in slow:
        worst = max(
            (r for r in results if r.name == name), key=lambda r: math.inf if r.error else r.percentile(0.95)
        )
        why = worst.error or f"p95 {worst.percentile(0.95):.0f} ms"
        print(f"  over: {name} (worst: {worst.variables}, {worst.window}, {why})")


def cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the loaded cluster, which scripts/bench_api.py shares."""
    parser.add_argument("--rows", type=int, default=10_000_000, help="requests to load (default 10 million)")
    parser.add_argument("--days", type=int, default=400, help="days the rows span, ending now")
    parser.add_argument("--keep", type=Path, help="load into a new cluster in this folder and keep it")
    parser.add_argument("--reuse", type=Path, help="run on a cluster kept with --keep (topped up to now)")


def parse_cluster_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if args.keep and args.reuse:
        parser.error("--keep and --reuse exclude each other")
    # A background job ignores Ctrl-C; on SIGTERM, stop the cluster (and keep its state) on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cluster_arguments(parser)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query, variables and window")
    parser.add_argument("--min-runs", type=int, default=3, help="timed runs of a slow query at least")
    parser.add_argument("--budget-seconds", type=float, default=6.0, help="time for a query's runs, about")
    parser.add_argument("--timeout-seconds", type=int, default=30, help="statement_timeout of each query")
    windows = [*WINDOWS, FROM_THE_2ND]
    parser.add_argument("--windows", nargs="+", default=windows, choices=windows)
    parser.add_argument("--verbose", action="store_true", help="print each line as it is measured")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the reader's sessions (e.g. jit=off), to measure what it would change",
    )
    parser.add_argument("--panels", nargs="+", default=[], help="only queries whose name holds one of these")
    args = parse_cluster_arguments(parser)
    now = datetime.now(UTC)
    spec = dashboard_queries.postgres_spec(args.days)
    print(f"dashboard benchmark at {_commit()}, {now:%Y-%m-%d %H:%M} UTC", flush=True)
    with cluster(args) as db:
        prepare(db, spec, args, now)
        if args.keep or args.reuse:
            ((args.keep or args.reuse) / STATE).write_text(json.dumps(db.state, indent=2) + "\n")
        with psycopg.connect(db.server.dsn, autocommit=True) as conn:
            settings = conn.execute(
                "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)"
                " FROM pg_settings WHERE name IN"
                " ('server_version', 'shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather')"
            ).fetchone()
        print(f"PostgreSQL: {settings[0] if settings else ''}", flush=True)
        report(run(db, spec, args, now))


if __name__ == "__main__":
    main()
