"""Prometheus rules from the spec: recording rules, alerting rules, and the promtool unit tests that
prove every alert fires when it should and stays quiet when it should not.

Prometheus loads `alerts/*.yml` (mounted at /etc/prometheus/rules); the unit tests live in
`alerts/tests/`, which it does not load. Tests are generated from the same spec as the rules, so
a threshold that moves in `observatory.yaml` moves in both. Groups use only the keys Prometheus 2.42
accepts (no group `labels`, no `query_offset`), so the files load on 2.42 and on 3.x.
"""

from __future__ import annotations

from typing import Any

from observatory.render.alerts import pipeline, recording, signals, slo, spend
from observatory.render.alerts.rules import Case
from observatory.render.artifact import Artifact
from observatory.spec.types import Spec

RECORDING_RULES = "alerts/observatory-recording.yml"
ALERTING_RULES = "alerts/observatory-alerts.yml"
TESTS_DIR = "alerts/tests"


def alerting_groups(spec: Spec) -> list[dict[str, Any]]:
    return [slo.group(spec), signals.group(spec), spend.group(spec), pipeline.group(spec)]


def alerting_rules(spec: Spec) -> list[dict[str, Any]]:
    """Every alerting rule, across groups."""
    return [rule for group in alerting_groups(spec) for rule in group["rules"]]


def _tests(spec: Spec, cases: list[Case], evaluation_interval: str) -> dict[str, Any]:
    return {
        # Relative to the test file: promtool resolves rule_files from the test file's folder.
        "rule_files": [f"../{RECORDING_RULES.split('/')[-1]}", f"../{ALERTING_RULES.split('/')[-1]}"],
        "evaluation_interval": evaluation_interval,
        # Recording groups first, so an alert reads the rates of the same evaluation: without an order
        # promtool evaluates groups at random, and a firing time can move by one evaluation.
        "group_eval_order": [g["name"] for g in (*recording.groups(spec), *alerting_groups(spec))],
        "tests": [case.to_test() for case in cases],
    }


def test_files(spec: Spec) -> dict[str, dict[str, Any]]:
    """Path to promtool test file content. Spend is evaluated every 5 minutes (no further apart than the
    5-minute lookback, or alerts miss recorded series): its spike test needs a
    week of history, which at one evaluation a minute would take promtool ten thousand rounds."""
    return {
        f"{TESTS_DIR}/slo-burn.yml": _tests(spec, slo.cases(spec), "1m"),
        f"{TESTS_DIR}/signals.yml": _tests(spec, signals.cases(spec), "1m"),
        f"{TESTS_DIR}/spend.yml": _tests(spec, spend.cases(spec), "5m"),
        f"{TESTS_DIR}/pipeline.yml": _tests(spec, pipeline.cases(spec), "1m"),
    }


def render(spec: Spec) -> list[Artifact]:
    return [
        Artifact(RECORDING_RULES, {"groups": recording.groups(spec)}, "yaml"),
        Artifact(ALERTING_RULES, {"groups": alerting_groups(spec)}, "yaml"),
        *(Artifact(path, content, "yaml") for path, content in test_files(spec).items()),
    ]
