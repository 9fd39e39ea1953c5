"""Every SQL query of the rendered dashboards as PostgreSQL receives it from Grafana; what its plan reads.

Shared by the plan test (tests/processes/test_dashboard_plans.py) and the dashboard benchmark
(scripts/bench_dashboards.py), so both measure the same queries. The queries are taken from the rendered
dashboard JSON (panels' `rawSql` and SQL variables' `query`), which is what Grafana runs; each panel is
named by its slug from `panel_specs`. Grafana's frontend steps are followed here: dashboard variables
are interpolated with their format and "All" handling (`public/app/features/templating/template_srv.ts`,
the SQL datasources' `interpolateVariable`), and `$__interval` is the panel's width in points rounded
by `rangeutil.roundInterval` with the datasource's minimum; `tests/grafana_sql.expand` then does the
backend's macros.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from observatory import names
from observatory.render.dashboards import panel_specs, render
from observatory.render.dashboards.panels import Sql
from observatory.spec import parse
from observatory.spec.types import Spec
from observatory.sql import rollups
from tests.grafana_sql import expand

# The SQL datasource's `timeInterval` (observatory.render.grafana): the smallest $__interval it gets.
MIN_INTERVAL = timedelta(minutes=1)
# A panel's points are its width in pixels: 24 grid columns over a 1920-pixel screen less the side menu.
DASHBOARD_PIXELS = 1800
# Grafana's variable syntaxes: $name, [[name]] or [[name:format]], ${name} or ${name:format}.
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")
# Characters Grafana's regex format escapes with a backslash (kbn.regexEscape).
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
ALL = "$__all"


REPO = Path(__file__).resolve().parent.parent


def postgres_spec(raw_days: int) -> Spec:
    """The repository's spec on the postgres flavour, keeping raw rows for `raw_days` and a margin: so
    every day of the generated rows stays, and a panel that scans raw rows meets them all."""
    data = yaml.safe_load((REPO / "observatory.yaml").read_text())
    data["storage"] = {**data.get("storage", {}), "engine": "postgres"}
    requests = data.setdefault("retention", {}).setdefault("requests", {})
    requests["warm_days"] = raw_days + 2
    requests["cold_days"] = max(requests.get("cold_days", 0), raw_days + 2)
    return parse(yaml.safe_dump(data), "observatory.yaml (postgres flavour, long raw retention)")


@dataclass(frozen=True, slots=True)
class Query:
    board: str
    name: str  # the panel's slug, or `variable:<name>`
    sql: str  # as rendered, before Grafana touches it
    points: int  # maxDataPoints: the panel's width in pixels unless it sets its own
    min_interval: timedelta
    variables: Mapping[str, Mapping[str, Any]]  # the dashboard's variables by name, as rendered


def _interval(text: str) -> timedelta:
    match = re.fullmatch(r">?(\d+)(ms|s|m|h|d|w)", text)  # `>` (at least) is Grafana's optional mark
    assert match, f"not a Grafana interval: {text!r}"
    unit = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    return timedelta(**{unit[match[2]]: int(match[1])})


def _boards(spec: Spec) -> dict[str, dict[str, Any]]:
    """The rendered dashboards by name (as `panel_specs` names them), from their UIDs."""
    by_uid = {uid: name for name, uid in names.DASHBOARD_UIDS.items()}
    out = {}
    for artifact in render(spec):
        content = artifact.content
        board = json.loads(content) if isinstance(content, str) else content
        out[by_uid[board["uid"]]] = board
    return out


def queries(spec: Spec) -> list[Query]:
    """Every SQL panel query and SQL variable query of every dashboard `spec` renders."""
    out = []
    boards = _boards(spec)
    for board_name, panels in panel_specs(spec).items():
        board = boards[board_name]
        variables = {v["name"]: v for v in board["templating"]["list"]}
        rendered = [(p, t) for p in board["panels"] for t in p.get("targets", ()) if "rawSql" in t]
        for panel in panels:
            for query in panel.queries:
                if not isinstance(query, Sql):
                    continue
                found = [p for p, t in rendered if t["rawSql"] == query.sql]
                assert found, f"{board_name}/{panel.slug}: its SQL is not in the rendered dashboard"
                json_panel = found[0]
                points = (
                    json_panel.get("maxDataPoints") or json_panel["gridPos"]["w"] * DASHBOARD_PIXELS // 24
                )
                # A panel's own minimum interval replaces the datasource's (Grafana's lowLimit).
                floor = _interval(json_panel["interval"]) if json_panel.get("interval") else MIN_INTERVAL
                out.append(Query(board_name, panel.slug, query.sql, points, floor, variables))
        for variable in variables.values():
            if variable.get("datasource", {}).get("uid") == names.DS_SQL:
                out.append(
                    Query(
                        board_name,
                        f"variable:{variable['name']}",
                        variable["query"],
                        1000,
                        MIN_INTERVAL,
                        variables,
                    )
                )
    return out


# --- Grafana's frontend ----------------------------------------------------------------------------


def round_interval(seconds: float) -> timedelta:
    """Grafana's `rangeutil.roundInterval`: the 'nice' interval for a raw one (its table, in ms)."""
    ms = seconds * 1000
    ladder = (
        (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
        (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
        (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
        (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
        (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
        (1814400000, 604800000), (3628800000, 2592000000),
    )  # fmt: skip
    for below, rounded in ladder:
        if ms < below:
            return timedelta(milliseconds=rounded)
    return timedelta(days=365)


def interval(query: Query, start: datetime, end: datetime) -> timedelta:
    """$__interval for `query` over [start, end]: range / points, rounded, at least the minimum."""
    return max(round_interval((end - start).total_seconds() / query.points), query.min_interval)


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m[0], value)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(values: Sequence[str], fmt: str | None, variable: Mapping[str, Any]) -> str:
    """A variable's selected values in format `fmt` (Grafana's formatRegistry; no format: the SQL
    datasource's own, which quotes each value of a multi-value or All variable)."""
    if fmt == "regex":
        escaped = [_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "sqlstring":
        return ",".join(_quote(v) for v in values)
    if fmt in ("raw", "csv"):
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt is None:
        if variable.get("multi") or variable.get("includeAll"):
            return ",".join(_quote(v) for v in values)
        return values[0].replace("'", "''")
    raise AssertionError(f"variable format {fmt!r} is not one this module knows how Grafana applies")


def interpolate(
    sql: str,
    variables: Mapping[str, Mapping[str, Any]],
    selected: Mapping[str, Sequence[str]],
    options: Mapping[str, Sequence[str]],
) -> str:
    """`sql` with the dashboard's variables replaced, as Grafana's TemplateSrv does: a variable not in
    `selected` is at "All", which is its `allValue` verbatim when it has one (Grafana formats a custom
    all value in no way) and otherwise every one of its `options`; names that are not variables of the
    dashboard (Grafana's own `$__` ones) are left alone."""

    def one(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        fmt = match[3] or match[5]
        variable = variables.get(name)
        if variable is None:
            return match[0]
        if variable.get("type") == "textbox":
            return _format([selected.get(name, [variable.get("query", "")])[0]], fmt or "raw", variable)
        values = selected.get(name, [ALL])
        if list(values) == [ALL]:
            if variable.get("allValue") and fmt not in ("text", "percentencode", "queryparam"):
                return interpolate(variable["allValue"], variables, selected, options)
            values = list(options[name])
        return _format(list(values), fmt, variable)

    return _VARIABLE.sub(one, sql)


def as_sent(
    query: Query,
    start: datetime,
    end: datetime,
    selected: Mapping[str, Sequence[str]],
    options: Mapping[str, Sequence[str]],
) -> str:
    """`query` over [start, end] as PostgreSQL receives it from Grafana's postgres flavour datasource."""
    sql = interpolate(query.sql, query.variables, selected, options)
    return expand(sql, timescaledb=False, start=start, end=end, interval=interval(query, start, end))


# --- What a plan reads -----------------------------------------------------------------------------


def scans(plan: Mapping[str, Any]) -> Iterator[tuple[str, int | None]]:
    """(relation, loops) of every node of an EXPLAIN (FORMAT JSON) plan that reads a relation; loops
    is None without ANALYZE, and 0 for a node run-time partition pruning never started."""
    if "Relation Name" in plan:
        yield plan["Relation Name"], plan.get("Actual Loops")
    for child in plan.get("Plans", ()):
        yield from scans(child)


def store(relation: str, raw_partitions: set[str]) -> str:
    """Which store `relation` is: `raw` (the per-request table or a partition of it), `hourly`,
    `daily`, `weekly` or `monthly` (a rollup's stored buckets, observatory.sql.rollups), `month to
    date` (the per-user month-to-date store), or the relation's own name."""
    if relation == names.TABLE_REQUESTS or relation in raw_partitions:
        return "raw"
    if relation in (rollups.MTD, rollups.MTD_STORE):
        return "month to date"
    for rollup in rollups.ROLLUPS:
        if relation in (rollup.store, rollup.name):
            return {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}[rollup.field]
    return relation


# The partitions of the raw table with their lower bounds (the quoted timestamp after FROM in
# pg_get_expr's "FOR VALUES FROM ('<ts>') TO ('<ts>')"), as observatory.storage.maintain reads them.
RAW_PARTITIONS = f"""SELECT c.relname,
  substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = '{names.TABLE_REQUESTS}'::regclass"""
