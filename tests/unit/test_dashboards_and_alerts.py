"""Dashboards and alerts agree: PromQL panels read the recording rules that the rendered rule file
defines, and each application's series are drawn against the thresholds its own alerts fire at.

Both sides are read from the rendered files (rule YAML, dashboard JSON), never from the spec twice,
so a renderer that drew the default objective for every application would fail here.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from typing import Any

import pytest
import yaml

from observatory import names
from observatory.render import alerts, dashboards
from observatory.render.artifact import serialize
from observatory.spec import load, parse
from observatory.spec.types import Spec
from tests.conftest import REPO, SPECS

# Applications with objectives of their own, and a default p95 that is no bucket edge (7 s: the
# latency alert counts requests above the 7.5 s edge, so that is where its dashboards draw the line).
OWN_OBJECTIVES = """version: v1
slos:
  latency_p95_seconds: 7
  latency_p99_seconds: 20
  ttft_p95_seconds: 2
  error_ratio: 0.01
  applications:
    batch-summariser: {latency_p95_seconds: 60, latency_p99_seconds: 120}
    support-bot: {latency_p95_seconds: 4, ttft_p95_seconds: 0.75, error_ratio: 0.02}
"""
DEFAULT = "default"  # the slo_scope label of the rules for every application without objectives


def _specs() -> dict[str, Spec]:
    return {
        "repository": load(REPO / "observatory.yaml"),
        "full": load(SPECS / "valid" / "full.yaml"),
        "own objectives": parse(OWN_OBJECTIVES, "own.yaml"),
    }


SPECS_UNDER_TEST = _specs()


def _rendered(spec: Spec) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Recording rules, alerting rules and dashboards, parsed back from the bytes the writer writes."""
    files = {
        a.path: serialize(a, "observatory.yaml") for a in [*alerts.render(spec), *dashboards.render(spec)]
    }

    def rules(path: str) -> list[dict[str, Any]]:
        return [r for g in yaml.safe_load(files[path])["groups"] for r in g["rules"]]

    boards = [json.loads(content) for path, content in files.items() if path.endswith(".json")]
    return rules(alerts.RECORDING_RULES), rules(alerts.ALERTING_RULES), boards


def _scope_of(expr: str) -> str:
    """The application an expression is narrowed to, or the default scope."""
    found = re.search(r'\bapplication="([^"]+)"', expr)
    return found[1] if found else DEFAULT


def _first_comparison(expr: str) -> float:
    found = re.search(r" > ([0-9.e+-]+)", expr)
    assert found, expr
    return float(found[1])


def _alert_thresholds(
    recording: list[dict[str, Any]], alerting: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """Scope -> objective -> the value its alerts compare against, from the rendered rules."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for rule in alerting:
        scope = rule["labels"].get("slo_scope")
        if rule["alert"] == "LLMTimeToFirstTokenHigh":
            out[scope]["ttft_p95_seconds"] = _first_comparison(rule["expr"])
        elif rule["alert"] == "LLMErrorBudgetBurn":
            # Burn-rate thresholds are the error budget times the window's factor (in its summary).
            factor = re.search(r"([0-9.]+)x too fast", rule["annotations"]["summary"])
            assert factor, rule
            objective = _first_comparison(rule["expr"]) / float(factor[1])
            assert math.isclose(out[scope].setdefault("error_ratio", objective), objective), rule
        elif rule["alert"] == "LLMLatencyBudgetBurn":
            # The budget of a p95 objective: 5% of requests slower than the objective's bucket edge.
            factor = re.search(r"([0-9.]+)x too fast", rule["annotations"]["summary"])
            assert factor, rule
            assert math.isclose(_first_comparison(rule["expr"]) / float(factor[1]), 0.05), rule
            out[scope]["latency_p95_seconds"] = math.nan  # the edge comes from the recording rule
    slow = next(r for r in recording if r["record"] == names.REC_SLOW_RATIO.format(window="5m"))
    for part in slow["expr"].split("\nor "):
        # The bucket each scope counts as fast: `le=~"10|10[.]0"` (both spellings of an edge).
        edge = re.search(r'_bucket\{(.*?)le=~"([^"|]+)', part)
        assert edge, part
        scope = _scope_of(edge[1])
        if "latency_p95_seconds" in out[scope]:
            out[scope]["latency_p95_seconds"] = float(edge[2])
    assert not any(math.isnan(v) for objectives in out.values() for v in objectives.values()), out
    return out


def _red(thresholds: dict[str, Any]) -> float | None:
    reds = [step["value"] for step in thresholds["steps"] if step["color"] == "red"]
    return reds[-1] if reds else None


def _objective_of(exprs: list[str]) -> str:
    """Which objective a thresholded panel's series are compared with, from what its queries compute:
    a panel of latency percentiles is drawn against the p95 objective unless it shows p99 only."""
    text = "\n".join(exprs)
    if names.REC_DIM_TTFT_BUCKET_RATE in text:
        return "ttft_p95_seconds"
    if names.REC_DIM_DURATION_BUCKET_RATE in text:
        return "latency_p95_seconds" if "histogram_quantile(0.95," in text else "latency_p99_seconds"
    assert names.REC_DIM_REQUESTS_RATE in text and 'error_type!=""' in text, text
    return "error_ratio"


def _display_name(target: dict[str, Any], scope: str) -> str:
    """The name Grafana gives a series of `target` (its legend with label values filled in), for an
    application of `scope`: the application itself, or one without objectives of its own."""
    application = scope if scope != DEFAULT else "an-application-without-own-objectives"
    values = {names.LABEL_APPLICATION: application}
    return re.sub(
        r"\{\{(\w+)\}\}", lambda m: values.get(m[1], f"some-{m[1]}"), target.get("legendFormat", "")
    )


def _thresholds_of(panel: dict[str, Any], name: str) -> dict[str, Any]:
    """The thresholds Grafana applies to the series called `name`: the last override whose name
    regex (Grafana's `/.../` form, here JavaScript syntax Python reads alike) matches, else the panel's."""
    config = panel["fieldConfig"]
    found = config["defaults"]["thresholds"]
    for override in config["overrides"]:
        assert override["matcher"]["id"] == "byRegexpOrNames", override
        pattern = override["matcher"]["options"]["pattern"]
        assert pattern.startswith("/") and pattern.endswith("/"), pattern
        if re.search(pattern[1:-1], name):
            found = next(p["value"] for p in override["properties"] if p["id"] == "thresholds")
    return found


def _dashboard_thresholds(boards: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    """(panel, scope, objective, red threshold) of every PromQL query drawn against a threshold."""
    out = []
    for board in boards:
        for panel in board["panels"]:
            targets = [t for t in panel["targets"] if t["datasource"]["uid"] == names.DS_PROMETHEUS]
            for target in targets:
                scope = _scope_of(target["expr"])
                red = _red(_thresholds_of(panel, _display_name(target, scope)))
                if red is not None:
                    where = f"{board['uid']}/{panel['title']}/{target['refId']}"
                    out.append((where, scope, _objective_of([t["expr"] for t in targets]), red))
    return out


@pytest.mark.parametrize("which", SPECS_UNDER_TEST)
def test_every_application_is_drawn_against_the_thresholds_its_alerts_fire_at(which: str) -> None:
    spec = SPECS_UNDER_TEST[which]
    recording, alerting, boards = _rendered(spec)
    expected = _alert_thresholds(recording, alerting)
    assert set(expected) == {DEFAULT, *(app for app, _ in spec.slos.applications)}
    drawn = _dashboard_thresholds(boards)
    checked = set()
    for where, scope, objective, red in drawn:
        if objective == "latency_p99_seconds":
            # No alert reads p99: its line is the objective itself, the applications' own or the default.
            own = dict(spec.slos.applications).get(scope, spec.slos.default)
            assert red == own.latency_p99_seconds, where
            continue
        # isclose: the error objective is a burn-rate threshold divided by its factor.
        assert math.isclose(red, expected[scope][objective]), (where, scope, objective, red, expected[scope])
        checked.add((scope, objective))
    # Every scope's every alerted objective is drawn somewhere (here: overview and performance).
    assert checked == {
        (scope, objective) for scope, objectives in expected.items() for objective in objectives
    }


def test_the_own_objectives_spec_draws_each_application_apart() -> None:
    """The comparison above is not vacuous: the applications' lines differ from the default's."""
    _, _, boards = _rendered(SPECS_UNDER_TEST["own objectives"])
    lines = {(scope, objective): red for _, scope, objective, red in _dashboard_thresholds(boards)}
    assert lines[(DEFAULT, "latency_p95_seconds")] == 7.5  # the 7 s objective's bucket edge
    assert lines[("batch-summariser", "latency_p95_seconds")] == 60
    assert lines[("support-bot", "latency_p95_seconds")] == 5  # 4 s: between the 3 s and 5 s edges
    assert lines[("support-bot", "error_ratio")] == 0.02
    assert lines[("support-bot", "ttft_p95_seconds")] == 0.75
    assert lines[("batch-summariser", "latency_p99_seconds")] == 120


@pytest.mark.parametrize("which", SPECS_UNDER_TEST)
def test_every_promql_panel_reads_only_recording_rules_and_every_dashboard_rule_is_read(which: str) -> None:
    spec = SPECS_UNDER_TEST[which]
    recording, _, boards = _rendered(spec)
    recorded = {r["record"] for r in recording}
    extras = {e.promql for d in spec.dashboards.dashboards for e in d.extra_panels if e.promql}
    read = set()
    for board in boards:
        for panel in board["panels"]:
            for target in panel["targets"]:
                if target["datasource"]["uid"] != names.DS_PROMETHEUS or target["expr"] in extras:
                    continue
                metrics = set(re.findall(r"([a-zA-Z_:][\w:]*)\{", target["expr"]))
                assert metrics, target["expr"]
                assert metrics <= recorded, (board["uid"], panel["title"], metrics - recorded)
                read |= metrics
    dashboard_rules = {r for r in recorded if r.startswith("dimensions:")}
    assert dashboard_rules and dashboard_rules <= read
