"""Cost attribution queries on a real PostgreSQL, against answers computed in Python from the same rows."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from observatory import names
from observatory.ingest.rows import rows
from observatory.spec import load
from observatory.sql.columns import NAMES
from observatory.sql.queries import QUERIES
from observatory.storage.maintain import maintain
from observatory.storage.migrate import migrate
from observatory.traffic import Workload, generate
from tests.conftest import SPECS

SPEC = load(SPECS / "valid" / "postgres.yaml")
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def loaded(postgres: Any) -> tuple[str, list[dict[str, Any]]]:
    """A database holding four days of synthetic requests, rolled up; and the same rows as dicts."""
    import secrets

    name = f"q_{secrets.token_hex(4)}"
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
    start = int((NOW - timedelta(days=4)).timestamp()) * 10**9
    traffic = generate(SPEC, Workload(seed=17, traces=4000, start_unix_nano=start, as_collector_output=True))
    # Spread the traces over four days (the generator packs them 2 ms apart).
    table = []
    for request in traffic.traces:
        for row in rows(request):
            if row is not None:
                record = dict(zip(NAMES, row, strict=True))
                record["time"] = NOW - timedelta(days=4) + (record["time"] - NOW + timedelta(days=4)) * 10_000
                table.append(record)
    with psycopg.connect(dsn) as conn:
        migrate(conn, SPEC)
        for day in sorted({r["time"].date() for r in table}):
            conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition(%s)", (day,))
        cols = sql.SQL(", ").join(map(sql.Identifier, NAMES))
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(names.TABLE_REQUESTS), cols)
            ) as copy,
        ):
            for record in table:
                copy.write_row(tuple(record[n] for n in NAMES))
    with psycopg.connect(dsn, autocommit=True) as conn:
        maintain(conn, SPEC, now=NOW)
    return dsn, table


def _run(dsn: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    window = {"start": NOW - timedelta(days=30), "end": NOW + timedelta(days=1), "limit": 5}
    with psycopg.connect(dsn) as conn:
        return conn.execute(QUERIES[query], {**window, **params}).fetchall()


def test_spend_by_user_month_and_top_users_match_the_rows(loaded: tuple[str, list[dict[str, Any]]]) -> None:
    dsn, table = loaded
    spend: dict[str, float] = defaultdict(float)
    for r in table:
        if r["user_id"]:
            spend[r["user_id"]] += r["cost_usd"] or 0
    by_month = {user: cost for _month, user, cost, _n in _run(dsn, "spend_by_user_month")}
    assert by_month.keys() == spend.keys()
    assert all(math.isclose(by_month[u], spend[u], rel_tol=1e-9) for u in spend)
    top = _run(dsn, "top_users", limit=3)
    assert [u for u, _c, _n in top] == sorted(spend, key=lambda u: (-spend[u], u))[:3]


def test_spend_by_team_and_by_application_and_model_per_day(loaded: tuple[str, list[dict[str, Any]]]) -> None:
    dsn, table = loaded
    team: dict[tuple[Any, str], float] = defaultdict(float)
    app: dict[tuple[Any, str, str], float] = defaultdict(float)
    for r in table:
        day = r["time"].replace(hour=0, minute=0, second=0, microsecond=0)
        team[(day, r["team"] or "")] += r["cost_usd"] or 0
        app[(day, r["application"], r["request_model"])] += r["cost_usd"] or 0
    got_team = {(d, t): c for d, t, c in _run(dsn, "spend_by_team_day")}
    got_app = {(d, a, m): c for d, a, m, c, _n in _run(dsn, "spend_by_application_model_day")}
    assert got_team.keys() == team.keys() and got_app.keys() == app.keys()
    assert all(math.isclose(got_team[k], v, rel_tol=1e-9, abs_tol=1e-12) for k, v in team.items())
    assert all(math.isclose(got_app[k], v, rel_tol=1e-9, abs_tol=1e-12) for k, v in app.items())


def test_cost_per_request_and_unpriced_share(loaded: tuple[str, list[dict[str, Any]]]) -> None:
    dsn, table = loaded
    priced: dict[tuple[str, str], list[float]] = defaultdict(list)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in table:
        key = (r["application"], r["request_model"])
        counts[key][0] += 1
        if r["unpriced"]:
            counts[key][1] += 1
        else:
            priced[key].append(r["cost_usd"])
    for app, model, avg, p50, _p95 in _run(dsn, "cost_per_request"):
        assert math.isclose(avg, statistics.fmean(priced[(app, model)]), rel_tol=1e-9)
        assert math.isclose(p50, statistics.median(priced[(app, model)]), rel_tol=1e-9)
    shares = {(a, m): s for a, m, s, _t in _run(dsn, "unpriced_share")}
    expected = {k: n[1] / n[0] for k, n in counts.items() if n[1]}
    assert shares.keys() == expected.keys() and shares
    assert all(math.isclose(shares[k], v) for k, v in expected.items())
