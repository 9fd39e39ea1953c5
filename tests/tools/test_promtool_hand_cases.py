"""Hand-written promtool cases (tests/promtool/*.yml) for the SLO burn-rate and spend alerts, run by
the real promtool against the committed rules in alerts/.

The unit tests in alerts/tests/ are rendered by the code that renders the rules, so a mistake there is
mirrored in its tests; these cases are written by hand, with the arithmetic in their comments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, require_tool

HAND_CASES = sorted((REPO / "tests" / "promtool").glob("*.yml"))
RULE_FILES = [REPO / "alerts" / "observatory-recording.yml", REPO / "alerts" / "observatory-alerts.yml"]
COVERED = {
    "LLMErrorBudgetBurn",
    "LLMLatencyBudgetBurn",
    "LLMDailyBudgetOverspend",
    "LLMMonthlyBudgetOverspend",
    "LLMSpendSpike",
    "LLMProviderErrorSpike",
}


def _load(path: Path) -> dict[str, Any]:
    content: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return content


def _checks(path: Path) -> list[dict[str, Any]]:
    return [check for test in _load(path)["tests"] for check in test["alert_rule_test"]]


def _committed_rules() -> tuple[set[str], set[str]]:
    """The group names and alert names of the committed rule files."""
    groups = [group for path in RULE_FILES for group in _load(path)["groups"]]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    return {group["name"] for group in groups}, alerts


def test_the_hand_written_case_files_are_found() -> None:
    assert {"slo-burn.yml", "spend.yml", "error-spike.yml"} <= {p.name for p in HAND_CASES}


@pytest.mark.parametrize("path", HAND_CASES, ids=[p.stem for p in HAND_CASES])
def test_hand_cases_read_the_committed_rules_in_a_fixed_group_order(path: Path) -> None:
    content = _load(path)
    assert [(path.parent / f).resolve() for f in content["rule_files"]] == RULE_FILES
    groups, _ = _committed_rules()
    # promtool orders groups at random unless told, which moves an alert by one evaluation; every
    # group must be named, recording groups first, or the minutes computed in the comments drift.
    order = content["group_eval_order"]
    assert sorted(order) == sorted(groups), "group_eval_order must name exactly the committed groups"
    assert all(name.endswith(".rules") for name in order[:2]), order


def test_every_alert_a_hand_case_names_exists_so_no_quiet_case_passes_by_a_typo() -> None:
    _, alerts = _committed_rules()
    named = {check["alertname"] for path in HAND_CASES for check in _checks(path)}
    assert named == COVERED
    assert named <= alerts, f"not in alerts/observatory-alerts.yml: {sorted(named - alerts)}"


def test_each_covered_alert_has_a_hand_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    checks = [check for path in HAND_CASES for check in _checks(path)]
    firing = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    assert firing == COVERED, f"no firing case: {sorted(COVERED - firing)}"
    assert quiet == COVERED, f"no quiet case: {sorted(COVERED - quiet)}"


@pytest.mark.parametrize("path", HAND_CASES, ids=[p.stem for p in HAND_CASES])
def test_the_committed_rules_pass_the_hand_written_cases(path: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
