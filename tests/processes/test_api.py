"""The query API against real databases: every answer equals the same figure computed from raw rows.

The database is test_dashboard_rollups' (70 days of requests, rollups maintained, the last half hour
only on the rollups' real-time side; the TimescaleDB flavour with the containers or servers suite).
Ranges start and end off the hour and off the day, so every tier of `observatory.api.store.pieces`
(months, days, hours, raw minutes) is read. Then the HTTP service itself: `observatory api` as a
process, with its token check, its GraphQL errors and its health endpoints; and `observatory report`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from psycopg.conninfo import make_conninfo

from observatory import names
from observatory.api import store
from observatory.spec.types import Budget
from observatory.sql import feedback, rollups
from observatory.storage.maintain import refresh_ratings_rollup
from observatory.storage.migrate import migrate
from tests.conftest import free_port, poll_until
from tests.processes.test_dashboard_rollups import DAY, HOUR, NOW, SPEC, T, _close, db
from tests.processes.test_storage_maintain import insert, one_row, rate_requests

__all__ = ["db"]  # the fixture, imported so pytest finds it here

RANGES = {
    "2h off the hour": (NOW - timedelta(hours=2, minutes=17, seconds=3), NOW),
    "30h": (HOUR - timedelta(hours=30) + timedelta(minutes=11), NOW - timedelta(minutes=5)),
    "40d off the day": (NOW - timedelta(days=40, hours=5, minutes=7), NOW - timedelta(hours=3, minutes=2)),
    "65d from a midnight": (DAY - timedelta(days=65), NOW + timedelta(minutes=1)),
}
GROUPS = {
    "total": [],
    "application and model": ["application", "model"],
    "user": ["user"],
    "user and team": ["user", "team"],
}
RAW_KEYS = {d: raw for d, (_, raw) in store.DIMENSIONS.items()}
SPEND = (
    "count(*), count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE unpriced),"
    " coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
    " coalesce(sum(cost_usd), 0)"
)


def _raw(
    conn: psycopg.Connection, keys: list[str], select: str, start: Any, end: Any, where: str = "true"
) -> dict:
    columns = "".join(f"{RAW_KEYS[k]}, " for k in keys)
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    sql = f"SELECT {columns}{select} FROM {T} WHERE time >= %s AND time < %s AND {where} {group}"
    return {tuple(r[: len(keys)]): r[len(keys) :] for r in conn.execute(sql.encode(), (start, end))}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("bounds", RANGES)
def test_spend_equals_the_raw_rows_at_any_bounds(db: psycopg.Connection, bounds: str, group: str) -> None:
    start, end = RANGES[bounds]
    keys = GROUPS[group]
    if keys == ["user", "team"] and end - start > timedelta(days=3):
        keys = ["user"]  # per user and another key only the widest rollup answers: short ranges
    got = store.aggregate(db, start, end, keys, store.spend_measures())
    raw = _raw(db, keys, SPEND, start, end)
    assert raw and len(got) == len(raw)
    for g in got:
        want = raw[tuple(g.keys[k] for k in keys)]
        m = g.measures
        figures = (m["requests"], m["errors"], m["unpriced_requests"], m["input_tokens"], m["output_tokens"])
        assert (*figures, m["cache_read_tokens"]) == tuple(float(v) for v in want[:6]), (g.keys, want)
        assert _close(m["cost_usd"], want[6]), (g.keys, m["cost_usd"], want[6])


@pytest.mark.parametrize("granularity", ["hour", "day", "month"])
def test_each_series_point_equals_the_raw_rows_of_its_utc_bucket(
    db: psycopg.Connection, granularity: str
) -> None:
    start, end = RANGES["40d off the day"] if granularity != "hour" else RANGES["30h"]
    got = store.aggregate(db, start, end, ["application"], store.spend_measures(), granularity)
    rows = db.execute(
        f"SELECT application, date_trunc('{granularity}', time, 'UTC'), count(*), coalesce(sum(cost_usd), 0)"
        f" FROM {T} WHERE time >= %s AND time < %s GROUP BY 1, 2".encode(),
        (start, end),
    ).fetchall()
    want = {(a, b): (n, c) for a, b, n, c in rows}
    assert len(want) > 2 and {(g.keys["application"], g.bucket) for g in got} == set(want)
    for g in got:
        n, cost = want[(g.keys["application"], g.bucket)]
        assert g.measures["requests"] == n and _close(g.measures["cost_usd"], cost)


def test_the_top_groups_are_the_most_expensive_with_their_whole_series(db: psycopg.Connection) -> None:
    start, end = RANGES["40d off the day"]
    got = store.aggregate(db, start, end, ["user"], store.spend_measures(), "day")
    top = store.top_groups(got, ["user"], 2)
    raw = _raw(
        db, ["user"], "coalesce(sum(cost_usd), 0), count(DISTINCT date_trunc('day', time, 'UTC'))", start, end
    )
    ranked = sorted(raw, key=lambda k: (-raw[k][0], k))
    assert [g.keys["user"] for g in top] == [u for (u,) in ranked[:2] for _ in range(raw[(u,)][1])]
    assert all(a.bucket < b.bucket for a, b in itertools.pairwise(top) if a.keys == b.keys)


def test_errors_by_type_equal_the_raw_rows(db: psycopg.Connection) -> None:
    start, end = RANGES["40d off the day"]
    got = store.aggregate(db, start, end, ["model"], store.error_measures(), detail=True)
    known = ", ".join(f"'{t}'" for t in store.ERROR_TYPES[:-1])
    counts = (
        ", ".join(f"count(*) FILTER (WHERE error_type = '{t}')" for t in store.ERROR_TYPES[:-1])
        + ", count(*) FILTER (WHERE (status = 'error' OR error_type IS NOT NULL)"
        + f" AND coalesce(error_type, '') NOT IN ({known}))"
    )
    raw = _raw(db, ["model"], f"count(*), {counts}", start, end)
    assert {tuple(g.keys.values()) for g in got} == set(raw)
    for g in got:
        want = raw[(g.keys["model"],)]
        assert [g.measures["requests"], *(g.measures[f"errors_{t}"] for t in store.ERROR_TYPES)] == list(want)
    assert sum(sum(v[1:]) for v in raw.values()) > 0, "the data has errors"


@pytest.fixture(scope="module")
def rated(db: psycopg.Connection) -> psycopg.Connection:
    """The module's database with ratings of every fourth request, joined to them, and the ratings'
    daily rollup computed (postgres: maintenance's step; TimescaleDB: a refresh)."""
    rate_requests(db, 4, matched=True)
    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        db.execute(f"CALL refresh_continuous_aggregate('{feedback.DAILY}', NULL, NULL)")
    else:
        refresh_ratings_rollup(db, NOW, NOW - timedelta(days=400))
    return db


@pytest.mark.parametrize("bounds", ["30h", "40d off the day", "65d from a midnight"])
def test_satisfaction_equals_the_ratings_summed_by_hand(rated: psycopg.Connection, bounds: str) -> None:
    start, end = RANGES[bounds]
    # An application rated in the range (three requests an hour, about a fifth of them rated).
    application = rated.execute(
        f"SELECT min(application) FROM {feedback.T} WHERE {feedback.COUNTED} AND time >= %s AND time < %s",
        (start, end),
    ).fetchone()[0]
    for dims, flt, where in (
        (["model"], store.NO_FILTER, "true"),
        (
            ["application", "model"],
            store.Filter.of(application=[application]),
            f"application = '{application}'",
        ),
        ([], store.NO_FILTER, "true"),
    ):
        got = store.satisfaction(rated, start, end, dims, flt)
        keys = "".join(f"{dict(feedback.ROLLUP_KEYS)[d]}, " for d in dims)
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}" if dims else ""
        raw = rated.execute(
            f"SELECT {keys}count(*), sum(score), count(*) FILTER (WHERE score < 0.5), sum(duration_ms),"
            f" coalesce(sum(cost_usd), 0), count(cost_usd) FROM {feedback.T}"
            f" WHERE {feedback.COUNTED} AND time >= %s AND time < %s AND {where}{group}".encode(),
            (start, end),
        ).fetchall()
        want = {tuple(r[: len(dims)]): r[len(dims) :] for r in raw if r[len(dims)]}
        assert want and {tuple(g.keys[d] for d in dims) for g in got} == set(want), (bounds, dims)
        for g in got:
            w = want[tuple(g.keys[d] for d in dims)]
            measures = [g.measures[m] for m in store.SATISFACTION_MEASURES]
            assert all(_close(a, b) for a, b in zip(measures, w, strict=True)), (bounds, dims, measures, w)
        ratios = [g.measures["score_sum"] / g.measures["ratings"] for g in got]
        assert ratios == sorted(ratios), "least satisfied first"


def test_bad_arguments_are_refused_with_the_reason(db: psycopg.Connection) -> None:
    start, end = RANGES["2h off the hour"]
    cases = [
        (lambda: store.aggregate(db, end, start, [], store.spend_measures()), "must be before"),
        (lambda: store.aggregate(db, start, end, ["colour"], store.spend_measures()), "unknown dimension"),
        (
            lambda: store.aggregate(db, start.replace(tzinfo=None), end, [], store.spend_measures()),
            "time zone",
        ),
        (
            lambda: store.aggregate(
                db, DAY - timedelta(days=60), end, ["user"], store.spend_measures(), "hour"
            ),
            "no hourly rollup",
        ),
        (
            lambda: store.aggregate(db, DAY - timedelta(days=90), end, [], store.spend_measures(), "hour"),
            "over 2000 points",
        ),
        (lambda: store.aggregate(db, start, end, ["user"], store.error_measures(), detail=True), "by user"),
        (lambda: store.requests(db, DAY - timedelta(days=40), end), "at most 31 days"),
        (lambda: store.requests(db, start, end, first=0), "first must be"),
        (lambda: store.requests(db, start, end, after="not-a-cursor"), "not a cursor"),
    ]
    for call, message in cases:
        with pytest.raises(store.QueryError, match=message):
            call()


def test_request_pages_are_stable_while_rows_arrive(db: psycopg.Connection) -> None:
    start, end = NOW - timedelta(hours=6), NOW + timedelta(minutes=5)
    before = [
        r[0]
        for r in db.execute(
            f"SELECT trace_id FROM {T} WHERE time >= %s AND time < %s"
            " ORDER BY time DESC, trace_id DESC".encode(),
            (start, end),
        )
    ]
    seen: list[dict[str, Any]] = []
    after, more, added = None, True, []
    try:
        while more:
            page, more = store.requests(db, start, end, first=4, after=after)
            seen += page
            after = store.encode_cursor(page[-1]) if page else None
            # Rows arrive between pages: a newer one, and one just after the page's last (already read).
            row = one_row(NOW - timedelta(seconds=len(added) + 1), len(added))
            insert(db, [row])
            added.append(row[1])
        ids = [r["trace_id"] for r in seen]
        assert len(ids) == len(set(ids)), "a row came twice"
        assert [i for i in ids if i not in added] == before, "rows that were there were skipped or reordered"
        keys = [(r["time"], r["trace_id"], r["span_id"]) for r in seen]
        assert keys == sorted(keys, reverse=True)
    finally:
        db.execute(f"DELETE FROM {T} WHERE trace_id = ANY(%s)".encode(), (added,))


def test_budgets_spend_today_and_this_month_equals_the_raw_rows(db: psycopg.Connection) -> None:
    budgets = [Budget("chat", None, 1.0, 10_000.0), Budget(None, "core", None, 0.000001)]
    got = {b.name: b for b in store.budgets(db, budgets, NOW)}
    month = DAY.replace(day=1)
    for name, column in (("chat", "application"), ("core", "team")):
        today = _raw(db, [], "coalesce(sum(cost_usd), 0)", DAY, NOW, f"{column} = '{name}'")[()][0]
        to_date = _raw(db, [], "coalesce(sum(cost_usd), 0)", month, NOW, f"{column} = '{name}'")[()][0]
        assert _close(got[name].spent_today_usd, today) and _close(got[name].spent_month_usd, to_date)
    assert got["core"].state == "over"  # a monthly budget of a millionth of a dollar
    assert got["chat"].projected_month_usd >= got["chat"].spent_month_usd
    # At 00:00 exactly nothing of the day has passed: no spend today, never an error.
    (at_midnight, _) = store.budgets(db, budgets, DAY)
    assert at_midnight.spent_today_usd == 0.0 and at_midnight.name == "chat"


# The HTTP service.

TOKEN = "test-token-0123456789abcdef"


def _dsn(conn: psycopg.Connection) -> str:
    return make_conninfo(conn.info.dsn, password=conn.info.password)


@pytest.fixture(scope="module")
def api_dsn(db: psycopg.Connection) -> str:
    """The API's own role, given a password the way the ingester gives it one: by migrate."""
    password = secrets.token_urlsafe(16)
    timescale = db.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    engine = "timescaledb" if timescale and timescale[0] else "postgres"
    migrate(db, replace(SPEC, storage=replace(SPEC.storage, engine=engine)), api_password=password)
    return make_conninfo(db.info.dsn, user=names.DB_API_USER, password=password)


def test_the_api_role_reads_the_requests_and_rollups_and_nothing_else(api_dsn: str) -> None:
    with psycopg.connect(api_dsn, autocommit=True) as conn:
        for relation in (T, *(r.name for r in rollups.ROLLUPS)):
            conn.execute(f"SELECT * FROM {relation} LIMIT 1".encode())
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"DELETE FROM {T}".encode())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM observatory_schema_migrations")


@pytest.fixture(scope="module")
def api(api_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {**os.environ, "OBSERVATORY_API_TOKEN": TOKEN, "OBSERVATORY_API_DATABASE_URL": api_dsn}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "observatory", "api", "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll_until(lambda: _get(url + "/healthz") == 200, f"observatory api on {url} (log: {log})", 30)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
    assert TOKEN not in log.read_text()


def _get(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        return None


def _post(url: str, query: str, token: str | None = TOKEN, **variables: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        url + "/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30
    )


SPEND_QUERY = """query($from: DateTime!, $to: DateTime!) {
  spend(from: $from, to: $to, groupBy: [APPLICATION]) {
    total { requests costUsd inputTokens }
    rows { application requests costUsd }
  }
}"""


def test_the_api_answers_with_a_token_and_refuses_without_or_with_a_wrong_one(
    api: str, db: psycopg.Connection
) -> None:
    start, end = RANGES["40d off the day"]
    args = {"from": start.isoformat(), "to": end.isoformat()}
    for token in (None, "wrong-token-0123456789", TOKEN[:-1]):
        refused = _post(api, SPEND_QUERY, token, **args)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    answer = _post(api, SPEND_QUERY, **args)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]["spend"]
    raw = _raw(db, ["application"], "count(*), coalesce(sum(cost_usd), 0)", start, end)
    assert {r["application"]: r["requests"] for r in data["rows"]} == {k[0]: v[0] for k, v in raw.items()}
    assert all(_close(r["costUsd"], raw[(r["application"],)][1]) for r in data["rows"])
    assert data["total"]["requests"] == sum(v[0] for v in raw.values())
    assert _get(api + "/readyz") == 200 and _get(api + "/nowhere") == 404


def test_satisfaction_over_http_is_the_stores_and_refuses_a_key_ratings_do_not_have(
    api: str, rated: psycopg.Connection
) -> None:
    start, end = RANGES["40d off the day"]
    query = (
        "query($from: DateTime!, $to: DateTime!) { satisfaction(from: $from, to: $to, groupBy: [MODEL])"
        " { model ratings satisfaction unhappy meanLatencyMs meanCostUsd } }"
    )
    answer = _post(api, query, **{"from": start.isoformat(), "to": end.isoformat()})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    want = store.satisfaction(rated, start, end, ["model"])
    got = answer.json()["data"]["satisfaction"]
    assert [(r["model"], r["ratings"]) for r in got] == [
        (g.keys["model"], g.measures["ratings"]) for g in want
    ]
    assert all(
        _close(r["satisfaction"], g.measures["score_sum"] / g.measures["ratings"])
        for r, g in zip(got, want, strict=True)
    )
    day = '(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", groupBy: [TEAM])'
    wrong = _post(api, f"{{ satisfaction{day} {{ ratings }} }}")
    assert wrong.status_code == 200 and "TEAM" in wrong.json()["errors"][0]["message"], wrong.text


def test_only_the_asked_measures_are_summed_and_fragments_are_followed(
    api: str, db: psycopg.Connection
) -> None:
    start, end = RANGES["30h"]
    query = (
        "query($from: DateTime!, $to: DateTime!) { spend(from: $from, to: $to, groupBy: [APPLICATION]) {"
        " rows { ...tokens } total { costUsd } } } fragment tokens on SpendRow { application inputTokens }"
    )
    answer = _post(api, query, **{"from": start.isoformat(), "to": end.isoformat()})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    data = answer.json()["data"]["spend"]
    raw = _raw(db, ["application"], "coalesce(sum(input_tokens), 0), coalesce(sum(cost_usd), 0)", start, end)
    assert {r["application"]: r["inputTokens"] for r in data["rows"]} == {k[0]: v[0] for k, v in raw.items()}
    assert _close(data["total"]["costUsd"], sum(v[1] for v in raw.values()))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            '{ spend(from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z") { total { requests } } }',
            "must be before",
        ),
        (
            '{ spend(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", groupBy: [COLOUR]) '
            "{ total { requests } } }",
            "COLOUR",
        ),
        ('{ spend(from: "yesterday", to: "2026-01-02T00:00:00Z") { total { requests } } }', "yesterday"),
        (
            '{ requests(from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { edges { cursor } } }',
            "at most 31 days",
        ),
        (
            '{ requests(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", first: 100000) '
            "{ edges { cursor } } }",
            "first must be",
        ),
        ("{ " + " ".join(f"m{i}: models {{ provider }}" for i in range(30)) + " }", "aliases"),
        ("{ spend { nothing } }", "nothing"),
        (
            '{ spend(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", top: 0) { rows { user } } }',
            "top must be",
        ),
        ('{ trace(id: "4bf92f3577b34da6a3ce929d0e0e4736") { traceId } }', "needs Tempo"),  # none given
        (
            '{ latency(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { model } }',
            "needs Prometheus",
        ),
    ],
)
def test_every_bad_request_gets_a_graphql_error_never_a_500_or_a_traceback(
    api: str, query: str, message: str
) -> None:
    response = _post(api, query)
    assert response.status_code in (200, 400), response.text
    errors = response.json()["errors"]
    assert errors and message in errors[0]["message"], errors
    assert "Traceback" not in response.text and "psycopg" not in response.text


def test_report_prints_the_store_figures_as_json(db: psycopg.Connection) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "observatory", "report", "--since", "2d", "--format", "json"],
        env={**os.environ, "OBSERVATORY_DATABASE_URL": _dsn(db)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)

    start, end = datetime.fromisoformat(report["start"]), datetime.fromisoformat(report["end"])
    raw = _raw(db, [], SPEND, start, end)[()]
    assert report["total"]["requests"] == raw[0] and _close(report["total"]["cost_usd"], raw[6])
    assert sum(r["requests"] for r in report["spend"]) == raw[0]
    latency = _raw(
        db, ["application"], "count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)", start, end
    )
    assert {r["application"]: (r["requests"], r["p95_ms"]) for r in report["latency"]} == {
        k[0]: tuple(v) for k, v in latency.items()
    }


def test_report_prints_a_table_a_person_reads(db: psycopg.Connection) -> None:
    env = {**os.environ, "OBSERVATORY_DATABASE_URL": _dsn(db)}
    command = [sys.executable, "-m", "observatory", "report", "--since", "7d"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    heading = re.match(r"LLM traffic (\S+ \S+) to (\S+ \S+) UTC: ([\d,]+) requests", out)
    assert heading, out.splitlines()[0]
    start, end = (datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) for t in heading.groups()[:2])
    requests_shown = int(heading.group(3).replace(",", ""))
    # Minutes in the heading: the rows of the minute at either end may be in or out.
    low = _raw(db, [], "count(*)", start + timedelta(minutes=1), end)[()][0]
    high = _raw(db, [], "count(*)", start, end + timedelta(minutes=1))[()][0]
    assert low <= requests_shown <= high, (heading.group(0), low, high)
    for title in (
        "Spend by application and model",
        "Latency by application (ms)",
        "Errors by type",
        "Budgets",
    ):
        assert title in out
    assert "Unpriced models" in out and "gpt-4o" in out
    wrong = subprocess.run([*command[:-1], "7 days"], env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "--since wants" in wrong.stderr


def test_the_api_does_not_start_without_a_token_except_on_loopback_when_asked() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OBSERVATORY_API_TOKEN"}
    env["OBSERVATORY_API_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    for args, message in (
        ([], "no API token"),
        (["--insecure-loopback", "--listen", "0.0.0.0:8090"], "loopback only"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "observatory", "api", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr
