"""The dashboards: valid against Grafana's official schemas, customisable from the spec, and every query
proven: SQL runs on a real PostgreSQL after Grafana's macro expansion, PromQL on a real Prometheus fed
by the real collector, and no panel asks for a metric or label that nothing produces.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from observatory import names
from observatory.dashboards_catalog import PANELS
from observatory.ingest.rows import rows
from observatory.render import alerts
from observatory.render.alerts import RECORDING_RULES as RECORDING
from observatory.render.artifact import serialize, to_yaml
from observatory.render.collector import config, loopback_env
from observatory.render.dashboards import MODULES, panel_specs, render
from observatory.render.dashboards.panels import Prom, Sql
from observatory.spec import SpecInvalid, load, parse
from observatory.spec.types import Spec
from observatory.sql import feedback
from observatory.sql.columns import NAMES
from observatory.storage.backfill import backfill
from observatory.storage.maintain import maintain
from observatory.storage.migrate import migrate
from observatory.traffic import APPLICATIONS, Workload, generate
from tests.conftest import (
    REPO,
    SCHEMAS,
    SPECS,
    ManagedProcess,
    collector_binary,
    free_port,
    poll_until,
    start_prometheus,
    timescaledb_database,
)
from tests.grafana_sql import expand

SPEC_PATHS = {"repository": REPO / "observatory.yaml", "full": SPECS / "valid" / "full.yaml"}
GRAFANA_SCHEMAS = SCHEMAS / "grafana"
# Panel types whose schema file defines a FieldConfig (the panel's fieldConfig.defaults.custom).
QUERY_SCHEMAS = {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}


def _spec(which: str) -> Spec:
    return load(SPEC_PATHS[which])


def _registry() -> Registry:
    resources = []
    for path in GRAFANA_SCHEMAS.glob("*.jsonschema.json"):
        resources.append((path.name, Resource.from_contents(json.loads(path.read_text()), DRAFT7)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _validator(ref: str) -> Draft7Validator:
    return Draft7Validator({"$ref": ref}, registry=REGISTRY)


def _errors(validator: Draft7Validator, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def _dashboards(spec: Spec) -> dict[str, dict[str, Any]]:
    return {a.path: a.content for a in render(spec)}


# --- Schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", SPEC_PATHS)
def test_every_dashboard_is_valid_against_the_official_dashboard_schema(which: str) -> None:
    validator = _validator("dashboard.jsonschema.json#/definitions/Dashboard")
    boards = _dashboards(_spec(which))
    assert boards
    for path, board in boards.items():
        assert not _errors(validator, board), (path, _errors(validator, board)[:5])
        assert board["schemaVersion"] >= 39
        assert path == f"dashboards/{board['uid']}.json"


@pytest.mark.parametrize("which", SPEC_PATHS)
def test_every_panel_has_options_fields_and_queries_its_type_schema_accepts(which: str) -> None:
    checked = 0
    for path, board in _dashboards(_spec(which)).items():
        for panel in board["panels"]:
            where = (path, panel["title"])
            kind = panel["type"]
            assert kind not in ("graph", "singlestat", "table-old"), where
            assert set(panel["datasource"]) == {"type", "uid"}, where
            schema = GRAFANA_SCHEMAS / f"{kind}.jsonschema.json"
            if schema.exists():  # there is no official schema of the traces panel
                definitions = json.loads(schema.read_text())["definitions"]
                errors = _errors(_validator(f"{schema.name}#/definitions/Options"), panel["options"])
                assert not errors, (where, errors[:5])
                if "FieldConfig" in definitions:
                    custom = panel["fieldConfig"]["defaults"].get("custom", {})
                    errors = _errors(_validator(f"{schema.name}#/definitions/FieldConfig"), custom)
                    assert not errors, (where, errors[:5])
                checked += 1
            for target in panel["targets"]:
                assert set(target["datasource"]) == {"type", "uid"}, where
                query_schema = QUERY_SCHEMAS.get(target["datasource"]["type"])
                if query_schema:
                    errors = _errors(_validator(f"{query_schema}.jsonschema.json"), target)
                    assert not errors, (where, errors[:5])
    assert checked > 30


def test_the_catalogue_lists_exactly_the_panels_each_dashboard_draws() -> None:
    spec = parse("version: v1\n", "s.yaml")
    for name, module in MODULES.items():
        assert [p.slug for p in module.panels(spec)] == list(PANELS[name]), name


def test_rendering_is_deterministic_and_grafanalib_stays_behind_the_adapter() -> None:
    spec = _spec("repository")
    assert render(spec) == render(spec)
    package = REPO / "src" / "observatory"
    importers = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "grafanalib" in p.read_text() and re.search(r"^\s*(from|import) grafanalib", p.read_text(), re.M)
    )
    assert importers == ["render/dashboards/adapter.py"]


def test_the_adapter_uses_only_public_grafanalib_modules() -> None:
    # A private module (grafanalib._gen) can change in any release, and so can `from grafanalib import _x`.
    tree = ast.parse((REPO / "src/observatory/render/dashboards/adapter.py").read_text())
    imported = [
        f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    grafanalib = [name for name in imported if name.split(".")[0] == "grafanalib"]
    assert grafanalib
    assert [name for name in grafanalib if any(part.startswith("_") for part in name.split("."))] == []


def test_dashboards_link_to_each_other_and_thresholds_come_from_the_spec() -> None:
    spec = _spec("repository")
    boards = {b["uid"]: b for b in _dashboards(spec).values()}
    assert set(boards) == set(names.DASHBOARD_UIDS.values())
    for board in boards.values():
        assert any(
            link["type"] == "dashboards" and "llm-observatory" in link["tags"] for link in board["links"]
        )
    overview = {p["title"]: p for p in boards["llm-overview"]["panels"]}
    steps = overview["Error ratio"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == spec.slos.default.error_ratio
    steps = overview["Spend today"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    daily = sum(b.daily_usd for b in spec.budgets if b.application and b.daily_usd)
    assert steps[-1]["value"] == daily
    cost_variables = {v["name"] for v in boards["llm-cost"]["templating"]["list"]}
    assert {"application", "environment", "provider", "model", "team", "user"} <= cost_variables


# --- Customisation from the spec -------------------------------------------------------------------

CUSTOM = """version: v1
dashboards:
  group_by: [provider]
  quality: {enabled: false}
  cost:
    hidden_panels: [cache_savings, extra_hidden_too]
    extra_panels:
      - title: Spend by environment
        type: table
        sql: SELECT environment, sum(cost_usd) AS usd FROM llm_requests_daily GROUP BY 1
      - {title: Hidden too, sql: "SELECT 1"}
  overview:
    extra_panels:
      - title: Chat requests per second
        promql: 'sum(rate(llm_requests_total{operation="chat"}[5m]))'
        unit: reqps
"""


def test_spec_choices_shape_the_dashboards() -> None:
    boards = {b["uid"]: b for b in (a.content for a in render(parse(CUSTOM, "s.yaml")))}
    assert names.DASHBOARD_UIDS["quality"] not in boards
    cost = {p["title"]: p for p in boards["llm-cost"]["panels"]}
    assert "Cache savings" not in cost and "Hidden too" not in cost
    assert cost["Spend by environment"]["targets"][0]["rawSql"].startswith("SELECT environment")
    overview = {p["title"]: p for p in boards["llm-overview"]["panels"]}
    extra = overview["Chat requests per second"]
    assert extra["targets"][0]["expr"] == 'sum(rate(llm_requests_total{operation="chat"}[5m]))'
    assert extra["fieldConfig"]["defaults"]["unit"] == "reqps"
    assert "sum by (provider)" in overview["Requests per second by provider"]["targets"][0]["expr"]


def test_an_unknown_hidden_panel_is_an_error_with_a_suggestion() -> None:
    text = "version: v1\ndashboards:\n  cost:\n    hidden_panels: [spend_by_modle, nothing_like_it]\n"
    with pytest.raises(SpecInvalid) as caught:
        parse(text, "s.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "s.yaml:4:21: dashboards.cost.hidden_panels[0]: the cost dashboard has no panel 'spend_by_modle'"
        " (did you mean 'spend_by_model'?)",
        "s.yaml:4:37: dashboards.cost.hidden_panels[1]: the cost dashboard has no panel 'nothing_like_it'",
    ]


def test_an_extra_panel_with_both_promql_and_sql_is_rejected_at_its_line() -> None:
    text = (
        "version: v1\ndashboards:\n  logs:\n    extra_panels:\n"
        "      - {title: Both, promql: up, sql: SELECT 1}\n"
    )
    with pytest.raises(SpecInvalid) as caught:
        parse(text, "s.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "s.yaml:5:9: dashboards.logs.extra_panels[0]: give exactly one of promql or sql"
    ]


# --- SQL on a real PostgreSQL ----------------------------------------------------------------------


def _sql_queries(spec: Spec) -> list[tuple[str, str, Sql]]:
    out = [
        (board, p.slug, q) for board, panels in panel_specs(spec).items() for p in panels for q in p.queries
    ]
    return [(b, s, q) for b, s, q in out if isinstance(q, Sql)]


def _rendered_sql(spec: Spec) -> set[str]:
    found = set()
    for board in _dashboards(spec).values():
        found |= {t["rawSql"] for p in board["panels"] for t in p["targets"] if "rawSql" in t}
        found |= {
            v["query"]
            for v in board["templating"]["list"]
            if v.get("datasource", {}).get("uid") == names.DS_SQL
        }
    return found


@pytest.fixture
def filled(database: str) -> Iterator[psycopg.Connection]:
    """The postgres flavour, migrated, with two weeks of priced LLM requests and its rollups."""
    spec = parse("version: v1\nstorage: {engine: postgres}\n", "s.yaml")
    now = datetime.now(UTC)
    batch = []
    for seed, start in ((3, now - timedelta(hours=2)), (4, now - timedelta(days=9))):
        workload = Workload(
            seed=seed, traces=200, start_unix_nano=int(start.timestamp() * 1e9), as_collector_output=True
        )
        for request in generate(spec, workload).traces:
            batch += [row for row in rows(request) if row is not None]
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn, spec)
        days = {row[NAMES.index("time")].date() for row in batch}
        for day in sorted(days):
            conn.execute(f"SELECT {names.TABLE_REQUESTS}_ensure_partition(%s)", (day,))
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {names.TABLE_REQUESTS} ({', '.join(NAMES)}) FROM STDIN") as cp,
        ):
            for row in batch:
                cp.write_row(row)
        maintain(conn, spec)
        rate_some_requests(conn)
        maintain(conn, spec)  # the ratings' daily rollup
        yield conn


def rate_some_requests(conn: psycopg.Connection) -> int:
    """Ratings, a minute after every third request (thumbs, up when its span id's last digit is
    even), of its trace or its span, joined by the ingester's own statement; returns how many."""
    given = ", ".join(feedback.INSERTED)
    conn.execute(
        f"INSERT INTO {names.TABLE_FEEDBACK} ({given})\n"
        "SELECT time + INTERVAL '1 minute', trace_id, CASE WHEN ascii(right(span_id, 1)) % 2 = 0"
        f" THEN span_id ELSE '' END, '{feedback.USER_FEEDBACK}',\n"
        "  (ascii(right(span_id, 1)) % 2 = 0)::int, NULL, NULL, user_id, application, NULL\n"
        f"FROM {names.TABLE_REQUESTS} WHERE ascii(right(span_id, 2)) % 3 = 0 ON CONFLICT DO NOTHING"
    )
    return conn.execute(feedback.match()).rowcount


@pytest.mark.parametrize("which", SPEC_PATHS)
def test_every_sql_query_runs_on_postgresql_and_returns_the_columns_its_panel_expects(
    which: str, filled: psycopg.Connection
) -> None:
    spec = _spec(which)
    queries = _sql_queries(spec)
    assert len(queries) > 10
    # Nothing rendered escapes the check: every rawSql in the JSON is one of these (or a variable's).
    variables = _rendered_sql(spec) - {q.sql for _, _, q in queries}
    assert all(v.startswith("SELECT DISTINCT") for v in variables), variables
    now = datetime.now(UTC)
    start = now - timedelta(days=30)
    for board, slug, query in [*queries, *(("variable", "", Sql(v, ())) for v in variables)]:
        sql = expand(query.sql, timescaledb=False, start=start, end=now, interval=timedelta(hours=1))
        try:
            cursor = filled.execute(sql)
        except psycopg.Error as err:
            pytest.fail(f"{board}/{slug}: {err}\n{sql}")
        got = tuple(c.name for c in cursor.description or ())
        result = cursor.fetchall()
        if query.columns:
            assert got == query.columns, (board, slug, got)
            assert result, f"{board}/{slug} returned no rows:\n{sql}"
        if query.format == "time_series":
            assert got[0] == "time", (board, slug)


def test_satisfaction_panels_equal_the_ratings_joined_to_their_requests_by_hand(
    filled: psycopg.Connection,
) -> None:
    # The ratings of `rate_some_requests`, joined here in Python: a rating names its span, or rates
    # its trace's request that ended last; each panel's figures are those of the rated requests.
    requests = filled.execute(
        f"SELECT trace_id, span_id, time, duration_ms, coalesce(request_model, ''), cost_usd"
        f" FROM {names.TABLE_REQUESTS}"
    ).fetchall()
    by_trace: dict[str, list[tuple[Any, ...]]] = {}
    for r in requests:
        by_trace.setdefault(r[0], []).append(r)
    ratings = filled.execute(f"SELECT trace_id, span_id, score FROM {names.TABLE_FEEDBACK}").fetchall()
    assert len(ratings) > 50
    by_model: dict[str, list[float]] = {}
    by_latency: dict[str, list[float]] = {}
    for trace_id, span_id, score in ratings:
        calls = by_trace[trace_id]
        if span_id:
            (rated,) = [c for c in calls if c[1] == span_id]
        else:
            rated = max(calls, key=lambda c: (c[2] + timedelta(milliseconds=c[3]), c[1]))
        by_model.setdefault(rated[4], []).append(score)
        edge = max(i for i, (_, lower) in enumerate(feedback.LATENCY_BUCKETS) if rated[3] >= lower)
        by_latency.setdefault(feedback.LATENCY_BUCKETS[edge][0], []).append(score)
    queries = {slug: q for _, slug, q in _sql_queries(_spec("repository")) if slug.startswith("satisfaction")}
    now = datetime.now(UTC)

    def run(slug: str) -> list[tuple[Any, ...]]:
        sql = expand(
            queries[slug].sql,
            timescaledb=False,
            start=now - timedelta(days=30),
            end=now,
            interval=timedelta(hours=1),
        )
        return filled.execute(sql).fetchall()

    got = {row[0]: (row[1], row[2]) for row in run("satisfaction_by_model")}
    assert got.keys() == by_model.keys()
    for model, scores in by_model.items():
        assert got[model][1] == len(scores) and math.isclose(got[model][0], sum(scores) / len(scores)), model
    order = [label for label, _ in feedback.LATENCY_BUCKETS if label in by_latency]
    latency = run("satisfaction_by_latency")
    assert [row[0] for row in latency] == order, "buckets in latency order"
    for label, satisfaction, n in latency:
        assert n == len(by_latency[label]) and math.isclose(satisfaction, sum(by_latency[label]) / int(n)), (
            label
        )


def test_sql_time_series_have_one_point_per_rollup_bucket_on_either_flavour() -> None:
    """The SQL time series group by the rollup's own bucket (an hour or a day, see `sources`), not by
    Grafana's $__timeGroup: a point never splits or merges buckets, on either flavour."""
    spec = _spec("repository")
    now = datetime(2026, 3, 20, 14, 30, tzinfo=UTC)
    series = [q for _, _, q in _sql_queries(spec) if q.format == "time_series"]
    assert len(series) >= 4
    for query in series:
        assert 'bucket AS "time"' in query.sql and "$__timeGroup" not in query.sql, query.sql
        for timescaledb in (False, True):  # expand fails on anything left unexpanded
            expand(query.sql, timescaledb=timescaledb, start=now - timedelta(days=1), end=now)


# --- PromQL on a real Prometheus fed by the real collector ---------------------------------------

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


def _substitute(expr: str) -> str:
    # Windows long enough to hold the fixture's samples however long the module's tests take.
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", ".*", expr)


def _names_in(expr: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """Metric names, label names matched per metric, and label names grouped by, in a PromQL expr."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals say nothing about names
    grouped: set[str] = set()
    for match in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        grouped |= {g.strip() for g in match[1].split(",") if g.strip()}
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations
    matched: dict[str, set[str]] = {}
    metrics: set[str] = set()
    for match in re.finditer(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}", text):
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", match[2]))
        if match[1]:
            metrics.add(match[1])
            matched.setdefault(match[1], set()).update(labels)
    text = re.sub(r"\{[^}]*\}", " ", text)
    for match in re.finditer(r"\b([a-zA-Z_:][\w:]*)\b(?!\s*\()", text):
        word = match[1]
        if word.lower() not in _KEYWORDS and not re.fullmatch(r"\d.*", word):
            metrics.add(word)
    return metrics, matched, grouped


def test_the_promql_name_extraction_finds_metrics_matchers_and_groupings() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, model) (rate(llm_x_bucket{application=~"$a",y!=""}[5m])))'
    assert _names_in(_substitute(expr)) == (
        {"llm_x_bucket"},
        {"llm_x_bucket": {"application", "y"}},
        {"le", "model"},
    )
    assert _names_in("(sum(rate(a[1m])) or vector(0)) / sum(b)")[0] == {"a", "b"}


def _prom_queries(spec: Spec) -> list[tuple[str, str, Prom]]:
    out = [
        (board, p.slug, q) for board, panels in panel_specs(spec).items() for p in panels for q in p.queries
    ]
    return [(b, s, q) for b, s, q in out if isinstance(q, Prom)]


def _prom_variables(spec: Spec) -> list[str]:
    return sorted(
        {
            v["query"]
            for b in _dashboards(spec).values()
            for v in b["templating"]["list"]
            if v.get("datasource", {}).get("uid") == names.DS_PROMETHEUS
        }
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus holding what the real collector made of a few hundred synthetic LLM traces."""
    binary = collector_binary()
    tmp = tmp_path_factory.mktemp("dashboards-pipeline")
    spec = _spec("repository")
    spec = replace(spec, sampling=replace(spec.sampling, decision_wait_seconds=2))
    (tmp / "config.yaml").write_text(to_yaml(config(spec)))
    # The rendered recording rules, which the panels read. Only the slow-request shares differ between
    # the two specs (objectives); the dashboards' rules are the same for every spec.
    rules = tmp / "observatory-recording.yml"
    rules.write_bytes(
        next(serialize(a, "observatory.yaml") for a in alerts.render(spec) if a.path == RECORDING)
    )
    prom, prom_url = start_prometheus(tmp, rule_files=(rules,))
    health, otlp_http, metrics = free_port(), free_port(), free_port()
    # Tempo, Loki and the ingester are nowhere: the collector retries those exports, which is harmless.
    sink = f"http://127.0.0.1:{free_port()}"
    env = loopback_env(
        prometheus_write_url=f"{prom_url}/api/v1/write",
        storage_dir=str(tmp / "queue"),
        health_port=health,
        otlp_grpc_port=free_port(),
        otlp_http_port=otlp_http,
        metrics_port=metrics,
        tempo_url=sink,
        loki_url=f"{sink}/otlp",
        ingester_url=sink,
    )
    env[names.ENV_USER_ID_HASH_KEY] = "dashboards-test-key"
    collector = ManagedProcess([str(binary), f"--config={tmp / 'config.yaml'}"], tmp / "collector.log", env)
    try:
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        # Three rounds a few seconds apart: each becomes a sample of every series, so rates have two.
        send = requests.Session()
        for seed in (5, 6, 7):
            workload = Workload(seed=seed, traces=150, start_unix_nano=time.time_ns() - 30 * 10**9)
            for message in generate(spec, workload).traces:
                response = send.post(
                    f"http://127.0.0.1:{otlp_http}/v1/traces",
                    data=message.SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                    timeout=10,
                )
                assert response.status_code == 200, response.text
            time.sleep(4)
        poll_until(lambda: _query(prom_url, f"{names.METRIC_REQUESTS}"), "request metrics in Prometheus", 60)
        yield prom_url
    finally:
        collector.stop()
        prom.stop()


def _query(url: str, expr: str) -> list[Any]:
    body = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


def _labels_of(url: str, metric: str) -> set[str]:
    series = requests.get(f"{url}/api/v1/series", params={"match[]": metric}, timeout=10).json()["data"]
    return {label for s in series for label in s}


def _objectives_on_traffic(spec: Spec) -> Spec:
    """`spec` with the applications that have objectives of their own renamed to applications of the
    synthetic traffic, so the panels' per-application queries (one per objective scope) have data."""
    traffic = [app for app, _, _ in APPLICATIONS]
    own = tuple(
        (traffic[i % len(traffic)], objectives) for i, (_, objectives) in enumerate(spec.slos.applications)
    )
    return replace(spec, slos=replace(spec.slos, applications=own))


@pytest.mark.parametrize("which", SPEC_PATHS)
def test_every_promql_query_names_only_what_prometheus_has_and_returns_data(
    which: str, prometheus: str
) -> None:
    spec = _objectives_on_traffic(_spec(which))
    queries = _prom_queries(spec)
    assert len(queries) > 15
    rendered = {
        t["expr"]
        for b in _dashboards(spec).values()
        for p in b["panels"]
        for t in p["targets"]
        if t["datasource"]["uid"] == names.DS_PROMETHEUS
    }
    assert rendered == {q.expr for _, _, q in queries}
    have = set(requests.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"])
    extras = {extra.promql for d in spec.dashboards.dashboards for extra in d.extra_panels if extra.promql}
    for board, slug, query in queries:
        expr = _substitute(query.expr)
        metrics, matched, grouped = _names_in(expr)
        assert metrics, (board, slug, expr)
        assert metrics <= have, f"{board}/{slug} queries metrics nothing produces: {metrics - have}"
        labels = set().union(*(_labels_of(prometheus, m) for m in metrics))
        for metric, used in matched.items():
            assert used <= _labels_of(prometheus, metric), f"{board}/{slug}: {metric} has no {used}"
        assert grouped <= labels, f"{board}/{slug} groups by labels nothing has: {grouped - labels}"
        if query.expr in extras:
            continue  # a spec's own panel may well be empty on this traffic; its names were checked
        poll_until(lambda expr=expr: _query(prometheus, expr), f"{board}/{slug} to return data: {expr}", 60)
    for variable in _prom_variables(spec):
        match = re.fullmatch(r"label_values\((\w+)\{(.*)\}, (\w+)\)", variable)
        assert match, variable
        assert match[3] in _labels_of(prometheus, match[1]), variable


@pytest.mark.containers
def test_every_sql_query_runs_on_timescaledb_with_grafanas_timescaledb_expansion() -> None:
    """The same queries on TimescaleDB: the repository spec's schema, synthetic rows, every continuous
    aggregate backfilled (never a full refresh, which would freeze today's bucket), over a short and a
    long range, at All and at one value."""
    spec = load(REPO / "observatory.yaml")
    assert spec.storage.engine == "timescaledb"
    now = datetime.now(UTC)
    batch = []
    for seed, start in ((3, now - timedelta(hours=2)), (4, now - timedelta(days=9))):
        workload = Workload(
            seed=seed, traces=200, start_unix_nano=int(start.timestamp() * 1e9), as_collector_output=True
        )
        batch += [
            row for request in generate(spec, workload).traces for row in rows(request) if row is not None
        ]
    with timescaledb_database(spec.images.timescaledb) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, spec)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {names.TABLE_REQUESTS} ({', '.join(NAMES)}) FROM STDIN") as cp,
        ):
            for row in batch:
                cp.write_row(row)
        rate_some_requests(conn)  # the ratings' daily rollup answers them in real time
        backfill(conn, spec, (now - timedelta(days=30)).date(), now.date() + timedelta(days=1), now)
        queries = _sql_queries(spec)
        variables = _rendered_sql(spec) - {q.sql for _, _, q in queries}
        application = batch[0][NAMES.index("application")]
        for days, selection in ((1, {}), (30, {}), (30, {"application": application})):
            for board, slug, query in [*queries, *(("variable", "", Sql(v, ())) for v in variables)]:
                sql = expand(
                    query.sql,
                    timescaledb=True,
                    start=now - timedelta(days=days),
                    end=now,
                    interval=timedelta(hours=1),
                    variables=selection,
                )
                try:
                    cursor = conn.execute(sql)
                except psycopg.Error as err:
                    pytest.fail(f"{board}/{slug}: {err}\n{sql}")
                got = tuple(c.name for c in cursor.description or ())
                if query.columns:
                    assert got == query.columns, (board, slug, got)
                    assert cursor.fetchall(), (
                        f"{board}/{slug} returned no rows over {days} d {selection}:\n{sql}"
                    )
