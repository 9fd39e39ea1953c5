"""The SQL panels read rollups: what they show must be what the raw rows say.

Each flavour with 70 days of requests up to now: the postgres one on a real PostgreSQL 15 after one
maintenance run, the TimescaleDB one (the server at $OBSERVATORY_TEST_TIMESCALEDB_DSN, else the pinned
image) after a backfill; rows written after either count only through the real-time side. Each
panel's query, expanded as Grafana expands it, is compared with the same figure computed here straight
from the raw table. Ranges start on a UTC hour (short ranges) or day (long ones), so the buckets that
overlap the range are exactly the range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from observatory import names
from observatory.local.postgres import LocalPostgres
from observatory.render.dashboards import SQL_VARIABLES, panel_specs
from observatory.render.dashboards.panels import Sql
from observatory.spec import parse
from observatory.storage.backfill import backfill
from observatory.storage.maintain import maintain
from observatory.storage.migrate import migrate
from tests.conftest import timescaledb_database
from tests.grafana_sql import expand
from tests.processes.test_storage_maintain import insert, synthetic_rows

SPEC = parse(
    "version: v1\nstorage: {engine: postgres}\n"
    "retention: {requests: {hot_days: 7, warm_days: 90, cold_days: 400}}\n",
    "s.yaml",
)
T = names.TABLE_REQUESTS
NOW = datetime.now(UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)
DAY = HOUR.replace(hour=0)
# (name, start): a short range reads hourly rollups, a long one daily ones, and 65 days (any 62 days
# hold a whole UTC month) the monthly ones for its whole months and the daily ones for the rest.
# Beyond 90 days, time series have a point a week, from the weekly rollups (the rows begin 70 days back,
# so the weeks overlapping 100 days hold exactly the range's).
RANGES = {
    "24h": HOUR - timedelta(hours=24),
    "30d": DAY - timedelta(days=30),
    "65d": DAY - timedelta(days=65),
    "100d": DAY - timedelta(days=100),
}
# Variable selections, and the SQL over the raw table that selects the same rows.
SELECTIONS: dict[str, tuple[dict[str, str | list[str]], str]] = {
    "all": ({}, "true"),
    "chat": ({"application": "chat"}, "application = 'chat'"),
    "user u1": ({"user": "u1"}, "user_id = 'u1'"),
    # A user and another variable: the per-user rollup with every key, not the one per user alone.
    "user u1 in chat": ({"user": "u1", "application": "chat"}, "user_id = 'u1' AND application = 'chat'"),
    "two models": (
        {"model": ["gpt-4o", "claude-sonnet-4"]},
        "request_model IN ('gpt-4o', 'claude-sonnet-4')",
    ),
}


@pytest.fixture(
    scope="module",
    params=["postgres", pytest.param("timescaledb", marks=[pytest.mark.containers, pytest.mark.servers])],
)
def db(request: pytest.FixtureRequest, postgres: LocalPostgres) -> Iterator[psycopg.Connection]:
    """Either flavour with 70 days of requests (three an hour) and its rollups; the last half hour's
    rows come after maintenance (or the backfill), so only the rollups' real-time side shows them.
    TimescaleDB: the server at $OBSERVATORY_TEST_TIMESCALEDB_DSN, or the pinned image."""
    rows = synthetic_rows(NOW, days=70)
    cut = NOW - timedelta(minutes=30)
    early, late = [r for r in rows if r[0] < cut], [r for r in rows if r[0] >= cut]
    if request.param == "timescaledb":
        spec = replace(SPEC, storage=replace(SPEC.storage, engine="timescaledb"))
        with (
            timescaledb_database(spec.images.timescaledb) as url,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            migrate(conn, spec)
            insert(conn, early)
            backfill(conn, spec, (NOW - timedelta(days=71)).date(), NOW.date() + timedelta(days=1), cut)
            insert(conn, late)
            yield conn
        return
    # One database per module that uses this fixture (tests/processes/test_api.py does too).
    name = "rollups_" + request.module.__name__.rsplit(".", 1)[-1]
    admin = postgres.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn, SPEC)
        for day in sorted({r[0].date() for r in rows}):
            conn.execute(f"SELECT {T}_ensure_partition(%s)", (day,))
        insert(conn, early)
        maintain(conn, SPEC, cut)
        insert(conn, late)
        yield conn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _panel(board: str, slug: str) -> Sql:
    panel = next(p for p in panel_specs(SPEC)[board] if p.slug == slug)
    query = panel.queries[0]
    assert isinstance(query, Sql)
    return query


def _run(
    conn: psycopg.Connection,
    board: str,
    slug: str,
    start: datetime,
    variables: dict[str, str | list[str]],
    end: datetime = NOW,
) -> list:
    sql = expand(_panel(board, slug).sql, timescaledb=False, start=start, end=end, variables=variables)
    return conn.execute(sql.encode()).fetchall()


def _raw(
    conn: psycopg.Connection, select: str, start: datetime, where: str, group: str = "", end: datetime = NOW
) -> list:
    sql = f"SELECT {select} FROM {T} WHERE time >= %s AND time <= %s AND {where} {group}"
    return conn.execute(sql.encode(), (start, end)).fetchall()


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("window", RANGES)
def test_the_cost_stats_equal_the_raw_rows(db: psycopg.Connection, window: str, selection: str) -> None:
    variables, where = SELECTIONS[selection]
    start = RANGES[window]
    raw = _raw(
        db,
        "coalesce(sum(cost_usd), 0), count(*) FILTER (WHERE unpriced)::float8 / count(*),"
        " sum(cost_usd) / count(*) FILTER (WHERE NOT unpriced)",
        start,
        where,
    )[0]
    assert raw[0] > 0
    spend = _run(db, "cost", "spend_in_range", start, variables)
    share = _run(db, "cost", "unpriced_share", start, variables)
    per_request = _run(db, "cost", "cost_per_request", start, variables)
    assert _close(spend[0][0], raw[0]) and _close(share[0][0], raw[1]) and _close(per_request[0][0], raw[2])


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("window", RANGES)
def test_the_breakdowns_and_series_equal_the_raw_rows(
    db: psycopg.Connection, window: str, selection: str
) -> None:
    variables, where = SELECTIONS[selection]
    start = RANGES[window]
    got = _run(db, "cost", "spend_by_application", start, variables)
    raw = _raw(db, "application, sum(coalesce(cost_usd, 0))", start, where, "GROUP BY 1 ORDER BY 2 DESC")
    assert [r[0] for r in got] == [r[0] for r in raw]
    assert all(_close(a[1], b[1]) for a, b in zip(got, raw, strict=True))
    series = _run(db, "cost", "spend_over_time", start, variables)
    assert _close(sum(r[2] for r in series), sum(r[1] for r in raw))
    if window == "24h":  # the daily trend and per-user panels count whole days
        return
    users = _run(db, "cost", "spend_by_user", start, variables)
    raw_users = _raw(
        db, "user_id, sum(coalesce(cost_usd, 0))", start, where + " AND user_id IS NOT NULL", "GROUP BY 1"
    )
    assert {u: round(c, 6) for u, c in users if u} == {u: round(c, 6) for u, c in raw_users}
    daily = _run(db, "cost", "daily_trend", start, variables)
    assert _close(sum(r[2] for r in daily), sum(r[1] for r in raw))
    points = {r[0] for r in (*series, *daily)}
    if window == "100d" and "user" not in variables:  # a point a week, on Mondays
        assert {(p.weekday(), p.hour, p.minute) for p in points} == {(0, 0, 0)}, points
    else:  # a day (a selected user's per-user rollups are daily)
        assert len(points) > 25 and {(p.hour, p.minute) for p in points} == {(0, 0)}


@pytest.mark.parametrize("window", RANGES)
def test_truncation_and_drift_equal_the_raw_rows(db: psycopg.Connection, window: str) -> None:
    start = RANGES[window]
    got = _run(db, "quality", "truncated_by_model", start, {})
    raw = _raw(
        db,
        "coalesce(request_model, ''), count(*) FILTER (WHERE finish_reason IS NOT NULL),"
        " count(*) FILTER (WHERE finish_reason = 'length')",
        start,
        "true",
        "GROUP BY 1",
    )
    assert sorted((m, int(f), int(t)) for m, f, t, _ in got) == sorted(raw)
    pairs = _run(db, "quality", "response_model_drift", start, {})
    raw_pairs = _raw(
        db,
        "coalesce(request_model, ''), response_model, count(*)",
        start,
        "response_model IS NOT NULL",
        "GROUP BY 1, 2",
    )
    assert sorted((a, b, int(n)) for a, b, n, *_ in pairs) == sorted(raw_pairs)
    assert any(n > 1 for *_, n in pairs)  # a request model answered by two response models


@pytest.mark.parametrize(("days", "field"), [(30, "day"), (100, "week"), (200, "month")])
def test_the_truncation_ratio_series_equals_the_raw_rows(
    db: psycopg.Connection, days: int, field: str
) -> None:
    """A point a day, a week beyond 90 days and a month beyond 180 (the rows begin 70 days back, so the
    weeks and months overlapping the range hold exactly its rows)."""
    start = DAY - timedelta(days=days)
    got = {(t, m): v for t, m, v in _run(db, "quality", "truncated_ratio", start, {})}
    raw = _raw(
        db,
        f"date_trunc('{field}', time, 'UTC'), concat_ws(' / ', application, coalesce(request_model, '')),"
        " count(*) FILTER (WHERE finish_reason = 'length')::float8"
        " / nullif(count(*) FILTER (WHERE finish_reason IS NOT NULL), 0)",
        start,
        "true",
        "GROUP BY 1, 2",
    )
    assert set(got) == {(t, m) for t, m, _ in raw}
    assert all(_close(got[t, m], v) for t, m, v in raw)
    assert any(v for v in got.values())  # some truncated answers


def test_output_length_percentiles_are_within_the_bucket_width_of_the_exact_ones(
    db: psycopg.Connection,
) -> None:
    got = {r[0]: r[1:] for r in _run(db, "quality", "output_tokens_week_over_week", NOW, {})}
    this_week = DAY - timedelta(days=6)
    exact = db.execute(
        f"SELECT coalesce(request_model, ''), bool_or(time >= %(this)s),"
        " percentile_disc(0.5) WITHIN GROUP (ORDER BY output_tokens),"
        " percentile_disc(0.9) WITHIN GROUP (ORDER BY output_tokens), count(*)"
        f" FROM {T} WHERE time >= %(last)s AND output_tokens IS NOT NULL"
        " GROUP BY 1, time >= %(this)s",
        {"this": this_week, "last": this_week - timedelta(days=7)},
    ).fetchall()
    assert exact
    for model, this, p50, p90, count in exact:
        p50_this, p50_last, p90_this, p90_last, n_this, n_last = got[model]
        assert (n_this if this else n_last) == count
        for estimate, value in ((p50_this if this else p50_last, p50), (p90_this if this else p90_last, p90)):
            # The estimate lies in the bucket holding the exact value: two buckets per power of two.
            assert max(value, 1) / math.sqrt(2) <= estimate <= max(value, 1) * math.sqrt(2) + 1, (model, this)
    distribution = _run(db, "quality", "output_tokens_distribution", NOW, {})
    raw = db.execute(
        "SELECT (2 ^ floor(log(2, greatest(output_tokens, 1)::numeric)))::bigint,"
        " count(*) FILTER (WHERE time >= %(this)s), count(*) FILTER (WHERE time < %(this)s)"
        f" FROM {T} WHERE time >= %(last)s AND output_tokens IS NOT NULL GROUP BY 1 ORDER BY 1",
        {"this": this_week, "last": this_week - timedelta(days=7)},
    ).fetchall()
    assert [(label, int(a or 0), int(b or 0)) for label, a, b in distribution] == [
        (f">= {p}", a, b) for p, a, b in raw
    ]


def test_all_adds_no_predicate_and_a_selection_one(
    db: psycopg.Connection, request: pytest.FixtureRequest
) -> None:
    def plan(variables: dict[str, str | list[str]]) -> str:
        sql = expand(
            _panel("cost", "spend_in_range").sql,
            timescaledb=False,
            start=RANGES["30d"],
            end=NOW,
            variables=variables,
        )
        return "\n".join(r[0] for r in db.execute(b"EXPLAIN " + sql.encode()))

    at_all, at_one = plan({}), plan({"application": "chat"})
    assert "~" not in at_all, at_all
    # A selection compares by equality with an array the planner built from the literals...
    assert "application = ANY ('{chat}'::text[])" in at_one and "~" not in at_one, at_one
    # ... unless a selected value holds the `|` that splits it: then the regex, exact.
    barred = plan({"application": ["chat", "a|b"]})
    assert r"application ~ '^((chat|a\|b))$'::text" in barred and "ANY" not in barred, barred
    # Only the branch for the range and the user selection is planned at all: no hourly rollup.
    hourly = db.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE %s", (names.VIEW_REQUESTS_HOURLY + "%",)
    ).fetchone()
    assert hourly and hourly[0] > 0 and names.VIEW_REQUESTS_HOURLY not in at_all
    if request.node.callspec.params["db"] == "postgres":
        assert names.VIEW_TOTALS_DAILY + "_store" in at_all, at_all


def test_monthly_spend_and_the_team_list_equal_the_raw_rows(db: psycopg.Connection) -> None:
    # The monthly trend reads the monthly rollup alone (its span is whole months, the current one
    # real-time); the team list the whole months of 65 days from it and the days around them daily.
    got = _run(db, "cost", "monthly_trend", NOW, {})
    raw = _raw(
        db,
        "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM'), coalesce(sum(cost_usd), 0)",
        datetime(1970, 1, 1, tzinfo=UTC),
        "true",
        "GROUP BY 1 ORDER BY 1",
    )
    assert len(raw) >= 3
    assert [m for m, _ in got] == [m for m, _ in raw]
    assert all(_close(a[1], b[1]) for a, b in zip(got, raw, strict=True))
    start = RANGES["65d"]
    teams = expand(SQL_VARIABLES["team"], timescaledb=False, start=start, end=NOW, variables={})
    listed = [r[0] for r in db.execute(teams.encode())]
    assert listed == [r[0] for r in _raw(db, "DISTINCT team", start, "team <> ''", "ORDER BY 1")]
    assert listed


@pytest.mark.parametrize("selection", ["all", "user u1"])
def test_a_range_ending_before_today_reads_its_last_month_day_by_day(
    db: psycopg.Connection, selection: str
) -> None:
    # Ending today, a range's last month is read whole from the monthly rollups (it holds nothing
    # after the range but today's rows); ending earlier, only its days up to the range's end.
    variables, where = SELECTIONS[selection]
    end = DAY - timedelta(days=1)  # midnight: the day it starts is after the range
    start = end - timedelta(days=62)
    before_end = f"{where} AND time < '{end.isoformat()}'"
    raw = _raw(db, "coalesce(sum(cost_usd), 0)", start, before_end, end=end)
    spend = _run(db, "cost", "spend_in_range", start, variables, end=end)
    assert raw[0][0] > 0 and _close(spend[0][0], raw[0][0])
    users = _run(db, "cost", "spend_by_user", start, variables, end=end)
    raw_users = _raw(
        db,
        "user_id, sum(coalesce(cost_usd, 0))",
        start,
        f"{before_end} AND user_id IS NOT NULL",
        "GROUP BY 1",
        end,
    )
    assert {u: round(c, 6) for u, c in users if u} == {u: round(c, 6) for u, c in raw_users}


def _month_start(day: datetime, ahead: int = 0) -> datetime:
    months = day.year * 12 + day.month - 1 + ahead
    return day.replace(year=months // 12, month=months % 12 + 1, day=1)


# (start, end) inside the 70 days of rows, ending before today: top users read whole months, the month
# to date of the last day and less that of the day before the first.
_LAST = _month_start(DAY)
USER_RANGES = {
    "within a month": (_month_start(DAY, -1) + timedelta(days=9), _month_start(DAY, -1) + timedelta(days=20)),
    "from a month's first day": (_month_start(DAY, -2), _LAST - timedelta(days=3, hours=5)),
    "to a month's last day": (_month_start(DAY, -2) + timedelta(days=13), _LAST),
    "mid-month to mid-month": (_month_start(DAY, -2) + timedelta(days=5, hours=7), _LAST - timedelta(days=9)),
    "mid-month to today": (_month_start(DAY, -1) + timedelta(days=2), NOW),
}


@pytest.mark.parametrize("selection", ["all", "user u1", "chat"])
@pytest.mark.parametrize("window", USER_RANGES)
def test_top_users_count_each_day_overlapping_the_range_once(
    db: psycopg.Connection, window: str, selection: str
) -> None:
    start, end = USER_RANGES[window]
    variables, where = SELECTIONS[selection]
    # Whole UTC days overlapping [start, end): from the day holding start to the one before end's
    # instant (a range ending at midnight holds none of that day).
    midnight = {"hour": 0, "minute": 0, "second": 0, "microsecond": 0}
    first, last = start.replace(**midnight), (end - timedelta(microseconds=1)).replace(**midnight)
    days = f"{where} AND user_id IS NOT NULL AND time < '{last + timedelta(days=1)}'"
    raw = _raw(db, "user_id, sum(coalesce(cost_usd, 0))", first, days, "GROUP BY 1", end=NOW)
    users = _run(db, "cost", "spend_by_user", start, variables, end=end)
    assert raw and {u: round(c, 6) for u, c in users if u} == {u: round(c, 6) for u, c in raw}
