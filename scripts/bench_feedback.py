"""The user-satisfaction panels at scale: ratings over a year, each panel's query as Grafana sends it.

The quality dashboard's satisfaction panels read the ratings' daily rollup (`llm_feedback_daily`,
observatory.sql.feedback) for the whole days of their range and the ratings themselves for the
part-days at either end (each rating holds the figures of the request it rates). This times them
over 24 h, 7 d, 30 d and 365 d with every variable at All and with one model selected, on a fresh
PostgreSQL holding `--ratings` matched ratings spread evenly over 400 days (5 applications, 20
models, thumbs and 1-5 scores), as the postgres flavour's migrations made it, after `observatory
maintain` and ANALYZE; and the two maintenance runs (the first fills the rollup, the second only
compares every kept day's count). The baseline of the same run is `SELECT 1` through the same
connection.

Usage: .venv/bin/python scripts/bench_feedback.py [--ratings 1000000] [--runs 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests package: the queries as the dashboard tests send them
from tests.dashboard_queries import as_sent, postgres_spec, queries  # noqa: E402

from observatory import names  # noqa: E402
from observatory.local.postgres import LocalPostgres  # noqa: E402
from observatory.sql import feedback  # noqa: E402
from observatory.storage.maintain import maintain  # noqa: E402
from observatory.storage.migrate import migrate  # noqa: E402

WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "365d": timedelta(days=365),
}
APPLICATIONS = [f"app-{i}" for i in range(5)]
MODELS = [f"model-{i:02d}" for i in range(20)]
COLUMNS = (
    *feedback.INSERTED,
    "request_time",
    "request_span_id",
    "application",
    "environment",
    "team",
    "user_id",
    "provider",
    "request_model",
    "duration_ms",
    "cost_usd",
    "unpriced",
)


def fill(conn: psycopg.Connection, ratings: int, now: datetime) -> None:
    rng = random.Random(7)
    span = 400 * 86_400
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {names.TABLE_FEEDBACK} ({', '.join(COLUMNS)}) FROM STDIN") as cp,
    ):
        for i in range(ratings):
            given = now - timedelta(seconds=span * i / ratings)
            model = rng.choice(MODELS)
            thumbs = rng.random() < 0.7
            score = float(rng.random() < 0.8) if thumbs else float(rng.randint(1, 5))
            trace = f"{rng.getrandbits(128):032x}"
            cp.write_row(
                (
                    given, trace, "", feedback.USER_FEEDBACK, score, None, None, f"rater-{i % 5000}",
                    rng.choice(APPLICATIONS), None,
                    given - timedelta(seconds=30), f"{rng.getrandbits(64):016x}", rng.choice(APPLICATIONS),
                    "prod", "team-a", f"user-{i % 5000}", "openai", model,
                    rng.lognormvariate(7, 1), rng.lognormvariate(-6, 1.5), False,
                )
            )  # fmt: skip
    conn.execute(f"ANALYZE {names.TABLE_FEEDBACK}")


def timed(conn: psycopg.Connection, sql: str, runs: int) -> tuple[float, float]:
    conn.execute(sql).fetchall()  # one untimed
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    spec = postgres_spec(400)  # the repository's spec on the postgres flavour
    server = LocalPostgres()
    server.start()
    try:
        now = datetime.now(UTC)
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            migrate(conn, spec)
            started = time.perf_counter()
            fill(conn, args.ratings, now)
            print(f"{args.ratings:,} ratings loaded and analysed in {time.perf_counter() - started:.0f} s")
            # Maintenance fills the daily rollup, then (nothing changed) only compares every kept day.
            for run in ("first (fills the rollup)", "second (compares every kept day)"):
                started = time.perf_counter()
                report = maintain(conn, spec, now)
                took = time.perf_counter() - started
                print(f"maintain, {run}: {took:.2f} s, {report.feedback_days_refreshed} days of ratings")
            conn.execute(f"ANALYZE {feedback.STORE}")
            base = timed(conn, "SELECT 1", args.runs)
            print(f"baseline SELECT 1: p50 {base[0]:.2f} ms, p95 {base[1]:.2f} ms")
            options = {
                "model": MODELS,
                "application": APPLICATIONS,
                "provider": ["openai"],
                "environment": ["prod"],
            }
            panels = [q for q in queries(spec) if q.name.startswith("satisfaction")]
            print(
                "| panel | "
                + " | ".join(f"{w} All p50/p95 ms" for w in WINDOWS)
                + " | 365d one model p50/p95 ms |"
            )
            print("|---" * (len(WINDOWS) + 2) + "|")
            for query in panels:
                cells = []
                for window in WINDOWS.values():
                    sql = as_sent(query, now - window, now, {}, options)
                    cells.append("{:.1f} / {:.1f}".format(*timed(conn, sql, args.runs)))
                one = as_sent(query, now - WINDOWS["365d"], now, {"model": [MODELS[3]]}, options)
                cells.append("{:.1f} / {:.1f}".format(*timed(conn, one, args.runs)))
                print(f"| quality/{query.name} | " + " | ".join(cells) + " |", flush=True)
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
