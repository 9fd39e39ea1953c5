"""End to end on the local stack: `observatory demo` traffic in, exact numbers out in Prometheus and in
the database.

The stack is the one `observatory local up` runs (observatory.local.stack), in a temporary state
directory: PostgreSQL, Prometheus, Alertmanager, the ingester and the collector as real, detached
processes. One run of synthetic traffic in every dialect goes in through `observatory.demo`; every
expectation is a row of SIGNALS: what it checks, where (PromQL or SQL) and the value the traffic's
ground truth says it must have. Then: provider values canonical in the database, no PII in Prometheus
or in any text column of the database, and nothing left running after `down`.

Tail sampling (every error and slow trace kept, the rest at the baseline ratio, at two ratios) needs
Tempo's address and is checked by tests/test_collector_pipeline.py, with capture endpoints there.
"""

from __future__ import annotations

import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from observatory import demo, names
from observatory.local import env_file, stack
from observatory.local import postgres as local_pg
from observatory.spec import Spec, load
from observatory.storage.maintain import maintain
from observatory.traffic import APPLICATIONS, EMBEDDING_MODEL, MODELS, Traffic, Truth
from tests.conftest import REPO, collector_binary, poll_until, require_tool

TRACES = 1500
Key = tuple[str, ...]
CANONICAL_PROVIDERS = {provider for provider, _, _ in MODELS}


@dataclass(frozen=True)
class Signal:
    what: str
    where: str  # "prometheus" (a PromQL instant query) or "sql"
    query: str  # PromQL: `sum by (labels...)`; SQL: the key columns, then the value
    expected: Callable[[Truth], dict[Key, float]]
    labels: tuple[str, ...] = ("application", "model")  # PromQL only: the key labels, in order
    abs_tol: float = 0.0  # costs are floats summed in another order; counts are exact


def _per_key(counter: Callable[[Truth], Any]) -> Callable[[Truth], dict[Key, float]]:
    return lambda t: {k: float(v) for k, v in counter(t).items() if v}


def _per_provider(t: Truth) -> dict[Key, float]:
    provider_of = {model: provider for provider, model, _ in MODELS} | {
        EMBEDDING_MODEL[1]: EMBEDDING_MODEL[0]
    }
    out: Counter[Key] = Counter()
    for (_, model), n in t.requests.items():
        out[(provider_of[model],)] += n
    return {k: float(v) for k, v in out.items()}


def _prom(metric: str) -> str:
    # `> 0`: a series of zeros (cost of an unpriced model's failed calls, which cost nothing) is no spend.
    return f"sum by (application, model) ({metric}) > 0"


def _sql(measure: str, table: str = names.TABLE_REQUESTS, model: str = "request_model") -> str:
    return f"SELECT application, {model}, {measure} FROM {table} GROUP BY 1, 2 HAVING {measure} <> 0"


def _cost_per_team(t: Truth) -> dict[Key, float]:
    team_of = {application: team for application, _, team in APPLICATIONS}
    out: dict[Key, float] = {}
    for (application, _), usd in t.cost_usd.items():
        out[(team_of[application],)] = out.get((team_of[application],), 0.0) + usd
    return {k: v for k, v in out.items() if v}


REQUESTS = _per_key(lambda t: t.requests)
INPUT = _per_key(lambda t: t.input_tokens)
OUTPUT = _per_key(lambda t: t.output_tokens)
CACHE_READ = _per_key(lambda t: t.cache_read_tokens)
CACHE_WRITE = _per_key(lambda t: t.cache_write_tokens)
COST = _per_key(lambda t: t.cost_usd)
UNPRICED = _per_key(lambda t: t.unpriced_requests)
HOURLY, DAILY = names.VIEW_REQUESTS_HOURLY, names.VIEW_REQUESTS_DAILY

SIGNALS = (
    Signal("requests per application and model", "prometheus", _prom(names.METRIC_REQUESTS), REQUESTS),
    Signal("input tokens", "prometheus", _prom(names.METRIC_INPUT_TOKENS), INPUT),
    Signal("output tokens", "prometheus", _prom(names.METRIC_OUTPUT_TOKENS), OUTPUT),
    Signal("cache read tokens", "prometheus", _prom(names.METRIC_CACHE_READ_TOKENS), CACHE_READ),
    Signal("cache write tokens", "prometheus", _prom(names.METRIC_CACHE_WRITE_TOKENS), CACHE_WRITE),
    Signal("cost in USD", "prometheus", _prom(names.METRIC_COST), COST, abs_tol=1e-6),
    Signal("unpriced requests", "prometheus", _prom(names.METRIC_UNPRICED_REQUESTS), UNPRICED),
    Signal(
        "cost per team (what team budgets alert on)",
        "prometheus",
        f"sum by ({names.LABEL_TEAM}) ({names.METRIC_COST}) > 0",
        _cost_per_team,
        labels=(names.LABEL_TEAM,),
        abs_tol=1e-6,
    ),
    Signal(
        "cost per team in rows",
        "sql",
        f"SELECT team, sum(cost_usd) FROM {names.TABLE_REQUESTS} GROUP BY 1 HAVING sum(cost_usd) <> 0",
        _cost_per_team,
        abs_tol=1e-9,
    ),
    Signal(
        "spans normalised, per dialect",
        "prometheus",
        f"sum by (dialect) ({names.METRIC_NORMALISED_SPANS})",
        _per_key(lambda t: {(d,): n for d, n in t.dialect_spans.items()}),
        labels=("dialect",),
    ),
    Signal("rows per application and model", "sql", _sql("count(*)"), REQUESTS),
    Signal("input tokens in rows", "sql", _sql("sum(input_tokens)"), INPUT),
    Signal("output tokens in rows", "sql", _sql("sum(output_tokens)"), OUTPUT),
    Signal("cache read tokens in rows", "sql", _sql("sum(cache_read_tokens)"), CACHE_READ),
    Signal("cache write tokens in rows", "sql", _sql("sum(cache_write_tokens)"), CACHE_WRITE),
    Signal("cost in rows", "sql", _sql("coalesce(sum(cost_usd), 0)"), COST, abs_tol=1e-9),
    Signal("unpriced rows", "sql", _sql("count(*) FILTER (WHERE unpriced)"), UNPRICED),
    Signal(
        "rows per canonical provider",
        "sql",
        f"SELECT provider, count(*) FROM {names.TABLE_REQUESTS} GROUP BY 1",
        _per_provider,
    ),
    Signal("hourly rollup requests", "sql", _sql("sum(requests)", HOURLY, "model"), REQUESTS),
    Signal("hourly rollup input tokens", "sql", _sql("sum(input_tokens)", HOURLY, "model"), INPUT),
    Signal("hourly rollup output tokens", "sql", _sql("sum(output_tokens)", HOURLY, "model"), OUTPUT),
    Signal("hourly rollup cost", "sql", _sql("sum(cost_usd)", HOURLY, "model"), COST, abs_tol=1e-9),
    Signal("hourly rollup unpriced", "sql", _sql("sum(unpriced_requests)", HOURLY, "model"), UNPRICED),
    Signal("daily rollup requests", "sql", _sql("sum(requests)", DAILY, "model"), REQUESTS),
    Signal("daily rollup cost", "sql", _sql("sum(cost_usd)", DAILY, "model"), COST, abs_tol=1e-9),
)


@dataclass
class Run:
    spec: Spec
    state: dict[str, Any]
    traffic: Traffic
    report: demo.Report
    secrets: dict[str, str]  # the stack's secrets file (.env)

    @property
    def prometheus(self) -> str:
        return str(self.state["urls"]["prometheus"])

    @property
    def dsn(self) -> str:
        return str(self.state["database_url"])


def _require_local_stack() -> None:
    """What `observatory local up` starts: the built collector, Prometheus, Alertmanager, PostgreSQL."""
    collector_binary()
    require_tool("prometheus")
    require_tool("prometheus-alertmanager")
    if not local_pg.available():
        require_tool("initdb")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    _require_local_stack()
    state_dir = tmp_path_factory.mktemp("local-stack")
    spec = load(REPO / "observatory.yaml")
    state = stack.up(REPO, spec, state_dir, out=io.StringIO(), env_file=state_dir / ".env")
    pids = {name: svc["pid"] for name, svc in state["services"].items()}
    try:
        options = demo.Options(endpoint=state["urls"]["otlp_http"], traces=TRACES, seed=23, logs=False)
        traffic, report = demo.send(spec, options, progress=None)
        want = len(traffic.truth.span_cost)
        with psycopg.connect(state["database_url"], autocommit=True) as conn:
            poll_until(
                lambda: _one(conn, f"SELECT count(*) FROM {names.TABLE_REQUESTS}") == want,
                f"{want} LLM rows in {names.TABLE_REQUESTS}",
                60,
            )
            maintain(conn, load(state_dir / "spec.yaml"))  # the ingester's spec: engine postgres
        yield Run(spec, state, traffic, report, env_file.read(state_dir / ".env"))
    finally:
        stack.down(state_dir)
    left = [f"{name} (pid {pid})" for name, pid in pids.items() if _running(pid)]
    assert not left, f"still running after down: {left}"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _one(conn: psycopg.Connection, query: str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def _observed(run: Run, signal: Signal) -> dict[Key, float]:
    if signal.where == "prometheus":
        result = requests.get(
            f"{run.prometheus}/api/v1/query", params={"query": signal.query}, timeout=5
        ).json()["data"]["result"]
        return {
            tuple(r["metric"].get(label, "") for label in signal.labels): float(r["value"][1]) for r in result
        }
    with psycopg.connect(run.dsn) as conn:
        return {tuple(row[:-1]): float(row[-1]) for row in conn.execute(signal.query)}


def _matches(got: dict[Key, float], want: dict[Key, float], abs_tol: float) -> bool:
    if set(got) != set(want):
        raise AssertionError(
            f"keys differ: missing {set(want) - set(got)}, unexpected {set(got) - set(want)}"
        )
    off = {
        k: (got[k], want[k]) for k in want if not math.isclose(got[k], want[k], rel_tol=0, abs_tol=abs_tol)
    }
    if off:
        raise AssertionError(f"values differ (got, want): {dict(list(off.items())[:5])}")
    return True


@pytest.mark.parametrize("signal", SIGNALS, ids=[s.what for s in SIGNALS])
def test_each_signal_equals_the_traffics_ground_truth(run: Run, signal: Signal) -> None:
    want = signal.expected(run.traffic.truth)
    assert want, f"the traffic must produce {signal.what}"
    poll_until(
        lambda: _matches(_observed(run, signal), want, signal.abs_tol),
        f"{signal.what} in {signal.where} ({signal.query}) to equal the truth",
        60,
    )


API_SPEND = """query($from: DateTime!, $to: DateTime!) {
  spend(from: $from, to: $to, groupBy: [APPLICATION, MODEL]) {
    rows { application model requests inputTokens outputTokens cacheReadTokens cacheWriteTokens
           unpricedRequests costUsd }
  }
  errors(from: $from, to: $to, groupBy: [APPLICATION]) { application byType { type count } }
}"""


def test_the_query_api_answers_with_the_traffics_ground_truth(run: Run) -> None:
    # Through the API the local stack runs, with the token from its secrets file, as a user would.
    now = datetime.now(UTC)
    variables = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    url = run.state["urls"]["api"]
    token = run.secrets[names.ENV_API_TOKEN]
    assert (
        requests.post(url, json={"query": API_SPEND, "variables": variables}, timeout=10).status_code == 401
    )
    answer = requests.post(
        url,
        json={"query": API_SPEND, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    data = answer.json()["data"]
    truth = run.traffic.truth
    rows = {(r["application"], r["model"]): r for r in data["spend"]["rows"]}
    assert set(rows) == set(truth.requests)
    for key, row in rows.items():
        assert (row["requests"], row["inputTokens"], row["outputTokens"]) == (
            truth.requests[key],
            truth.input_tokens[key],
            truth.output_tokens[key],
        ), key
        assert (row["cacheReadTokens"], row["cacheWriteTokens"], row["unpricedRequests"]) == (
            truth.cache_read_tokens[key],
            truth.cache_write_tokens[key],
            truth.unpriced_requests[key],
        ), key
        assert math.isclose(row["costUsd"], truth.cost_usd.get(key, 0.0), rel_tol=0, abs_tol=1e-9), key
    errors = {(r["application"], t["type"]): t["count"] for r in data["errors"] for t in r["byType"]}
    assert errors == dict(truth.error_types) and errors


def test_every_stored_provider_is_canonical_and_every_dialect_was_sent(run: Run) -> None:
    assert set(run.traffic.truth.dialect_spans) == {"openllmetry", "openlit", "openinference", "legacy"}
    with psycopg.connect(run.dsn) as conn:
        providers = {row[0] for row in conn.execute(f"SELECT DISTINCT provider FROM {names.TABLE_REQUESTS}")}
    assert providers == CANONICAL_PROVIDERS, providers


def test_no_pii_or_raw_user_id_reaches_prometheus(run: Run) -> None:
    truth = run.traffic.truth
    series = requests.get(
        f"{run.prometheus}/api/v1/series", params={"match[]": '{__name__=~".+"}'}, timeout=10
    ).json()["data"]
    assert any(s["__name__"] == names.METRIC_REQUESTS for s in series)
    text = repr(series)
    for secret in (*truth.pii, *truth.user_ids):
        assert secret not in text, secret


def test_no_pii_or_raw_user_id_reaches_any_text_column_of_the_database(run: Run) -> None:
    truth = run.traffic.truth
    needles = [*truth.pii, *truth.user_ids]
    with psycopg.connect(run.dsn) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json')"
        ).fetchall()
        assert (names.TABLE_REQUESTS, "user_id") in columns
        for table, column in columns:
            hits = conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE ANY(%s)',
                ([f"%{n}%" for n in needles],),
            ).fetchone()
            assert hits == (0,), f"{table}.{column} holds PII or a raw user id"


def test_the_stack_runs_detached_and_its_state_names_every_service(run: Run) -> None:
    services = run.state["services"]
    assert list(services) == ["postgres", "alertmanager", "prometheus", "ingester", "api", "collector"]
    for name in ("alertmanager", "prometheus", "ingester", "api", "collector"):
        pid = services[name]["pid"]
        assert os.getsid(pid) == pid, f"{name} is not in a session of its own"
        assert Path(services[name]["log"]).exists()
    assert run.report.spans > TRACES


def test_without_the_native_decoder_the_local_ingester_runs_the_python_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine without Rust (install.sh then skips the extension): `make up` must still work.
    _require_local_stack()
    monkeypatch.setattr(stack, "native_missing", lambda: "the native decoder is not installed")
    out = io.StringIO()
    spec = load(REPO / "observatory.yaml")
    state = stack.up(REPO, spec, tmp_path / "state", out=out, env_file=tmp_path / ".env")
    try:
        ingester = state["services"]["ingester"]
        argv = Path(f"/proc/{ingester['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"--decoder=python" in argv
        assert "the ingester uses --decoder=python" in out.getvalue()
        assert requests.get(f"{ingester['url']}/readyz", timeout=5).ok
    finally:
        stack.down(tmp_path / "state")
