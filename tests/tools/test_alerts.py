"""Alerting rules from the spec, checked by the real promtool and amtool (Prometheus 2.42 and
Alertmanager 0.25 from Debian): the rules load, every alert's unit tests pass with a firing and a
quiet case each, thresholds follow the spec, and every alert links to a runbook that exists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observatory.render import alertmanager, alerts
from observatory.render.alerts import recording as recording_rules
from observatory.render.alerts.rules import num
from observatory.render.artifact import serialize
from observatory.spec import defaults as d
from observatory.spec import load, parse
from observatory.spec.types import Spec
from tests.conftest import REPO, SPECS, require_tool

SPEC_FILES = {"repository": REPO / "observatory.yaml", "full": SPECS / "valid/full.yaml"}


def _write(spec: Spec, root: Path) -> Path:
    for artifact in [*alerts.render(spec), *alertmanager.render(spec)]:
        path = root / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize(artifact, "observatory.yaml"))
    return root


@pytest.fixture(params=sorted(SPEC_FILES), scope="module")
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Spec, Path]:
    spec = load(SPEC_FILES[request.param])
    return spec, _write(spec, tmp_path_factory.mktemp(request.param))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)


def test_promtool_accepts_the_rule_files(rendered: tuple[Spec, Path]) -> None:
    promtool = require_tool("promtool")
    _, root = rendered
    result = _run(promtool, "check", "rules", *map(str, sorted((root / "alerts").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


def test_every_promtool_unit_test_passes(rendered: tuple[Spec, Path]) -> None:
    promtool = require_tool("promtool")
    _, root = rendered
    files = sorted((root / "alerts/tests").glob("*.yml"))
    assert len(files) == 4
    # One promtool per file, all at once: the week-long spend history is the slow one.
    procs = [
        subprocess.Popen(
            [promtool, "test", "rules", str(f)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for f in files
    ]
    outputs = [
        (f.name, p.communicate(timeout=300)[0].decode(), p.returncode)
        for f, p in zip(files, procs, strict=True)
    ]
    failed = [f"{name}:\n{out}" for name, out, code in outputs if code != 0]
    assert not failed, "\n".join(failed)


def _rules(root: Path) -> list[dict[str, Any]]:
    content = yaml.safe_load((root / alerts.ALERTING_RULES).read_text())
    return [rule for group in content["groups"] for rule in group["rules"]]


def test_every_alert_has_a_firing_and_a_quiet_unit_test(rendered: tuple[Spec, Path]) -> None:
    spec, root = rendered
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in (root / "alerts/tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for check in test["alert_rule_test"]:
                (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _rules(root)}
    assert len(names) == 21 + (3 if spec.proxy.enabled else 0)  # the proxy's own three
    assert names - firing == set(), "alerts without a test where they fire"
    assert names - quiet == set(), "alerts without a test where they must stay quiet"


def test_every_alert_has_severity_for_summary_description_and_an_existing_runbook(
    rendered: tuple[Spec, Path],
) -> None:
    spec, root = rendered
    for rule in _rules(root):
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info", "none"}, name
        assert rule["for"], name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule["annotations"]["runbook_url"] == f"{spec.alerting.runbook_base_url}/{name}.md"
        assert (REPO / "docs/runbooks" / f"{name}.md").is_file(), f"no runbook for {name}"


def test_rule_files_use_only_group_keys_that_prometheus_2_42_accepts(rendered: tuple[Spec, Path]) -> None:
    _, root = rendered
    for path in (root / "alerts").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            assert set(group) <= {"name", "interval", "limit", "rules"}, path.name


def _expr(spec: Spec, alertname: str, **labels: str) -> str:
    rules = [r for r in alerts.alerting_rules(spec) if r["alert"] == alertname]
    found = [r for r in rules if all(r["labels"].get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (alertname, labels)
    return str(found[0]["expr"])


def test_thresholds_follow_the_spec() -> None:
    repo, full = load(SPEC_FILES["repository"]), load(SPEC_FILES["full"])
    # 14.4 x the error budget: 1% in the repository spec, 0.5% in the full one.
    assert "> 0.144\n" in _expr(repo, "LLMErrorBudgetBurn", long_window="1h", slo_scope="default")
    assert "> 0.072\n" in _expr(full, "LLMErrorBudgetBurn", long_window="1h", slo_scope="default")
    assert _expr(full, "LLMTimeToFirstTokenHigh", slo_scope="default").endswith("> 1.5")
    assert _expr(repo, "LLMTimeToFirstTokenHigh", slo_scope="default").endswith("> 2")
    assert _expr(full, "LLMDailyBudgetOverspend").endswith("* 86400 > 200")
    # alerting.thresholds: defaults in the repository spec, others in the full one.
    assert "> 2 * sum by" in _expr(repo, "LLMSpendSpike") and "> 3 * sum by" in _expr(full, "LLMSpendSpike")
    assert _expr(full, "LLMSpendSpike").endswith(f"> {num(5 / 3600)}")  # 5 USD an hour, per second
    assert "> 3 * (" in _expr(repo, "LLMProviderErrorSpike") and "> 4 * (" in _expr(
        full, "LLMProviderErrorSpike"
    )
    assert _expr(full, "LLMProviderErrorSpike").endswith(f"> {num(2 / 60)}")
    burn = _expr(full, "LLMErrorBudgetBurn", long_window="1h", slo_scope="default")
    assert burn.endswith(f"> {num(10 / 60)}")
    monthly = "LLMMonthlyBudgetOverspend"
    assert _expr(full, monthly, budget="application:checkout-assistant").endswith("* 2592000 > 5000")
    # A team's budget reads the team spend rate, which only cost series with a team label feed.
    assert (
        _expr(full, monthly, budget="team:search")
        == 'team:llm_cost_usd:rate1d{team="search"} * 2592000 > 12000'
    )
    assert 'rate(llm_cost_usd_total{team!=""}[1d])' in str(
        next(r["expr"] for r in recording_rules.cost_rates() if r["record"] == "team:llm_cost_usd:rate1d")
    )
    # batch-summariser's own 60 s p95 objective reads the 60 s bucket; the others the 7.5 s one
    # (6 s is not a bucket edge: the next edge above is used).
    recording = (alerts.render(full)[0].content)["groups"][1]["rules"]
    slow = next(r["expr"] for r in recording if r["record"].endswith("slow_ratio:rate5m"))
    assert 'application="batch-summariser",le=~"60|60[.]0"' in slow
    assert 'application!~"batch-summariser",le=~"7.5"' in slow
    assert "num_traces" not in _expr(full, "OTelCollectorTailSamplingFull")
    assert _expr(full, "OTelCollectorTailSamplingFull").endswith(">= 90000")


_TTFT_AT_1975_MS = """
rule_files: [{recording}, {alerting}]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
{series}
  alert_rule_test:
  - eval_time: 30m
    alertname: LLMTimeToFirstTokenHigh
    exp_alerts: {expected}
"""


@pytest.mark.parametrize(("spec_name", "fires"), [("full", True), ("repository", False)])
def test_the_same_traffic_fires_under_a_stricter_objective_only(
    spec_name: str, fires: bool, tmp_path: Path
) -> None:
    """A p95 time to first token of about 1.98 s breaks the full spec's 1.5 s objective, not the 2 s one."""
    promtool = require_tool("promtool")
    spec = load(SPEC_FILES[spec_name])
    root = _write(spec, tmp_path)
    edges = ["0.05", "0.1", "0.2", "0.3", "0.5", "0.75", "1", "1.5", "2", "3", "5", "7.5", "10", "20", "+Inf"]
    lines = [
        f'  - series: \'llm_time_to_first_token_seconds_bucket{{application="a",le="{le}"}}\'\n'
        f"    values: '0+{60 if le not in edges[:8] else 0}x40'"
        for le in edges
    ]
    expected = (
        "\n    - exp_labels: {application: a, severity: warning, slo_scope: default}\n"
        "      exp_annotations: "
        + yaml.safe_dump(
            alerts.rules.expected(
                next(r for r in alerts.alerting_rules(spec) if r["alert"] == "LLMTimeToFirstTokenHigh"),
                {"application": "a"},
            )["exp_annotations"],
            default_flow_style=True,
            width=10_000,
        ).strip()
        if fires
        else "[]"
    )
    test = tmp_path / "ttft.yml"
    test.write_text(
        _TTFT_AT_1975_MS.format(
            recording=root / alerts.RECORDING_RULES,
            alerting=root / alerts.ALERTING_RULES,
            series="\n".join(lines),
            expected=expected,
        )
    )
    result = _run(promtool, "test", "rules", str(test))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config_with_its_inhibition(rendered: tuple[Spec, Path]) -> None:
    amtool = require_tool("amtool")
    _, root = rendered
    config = root / alertmanager.ALERTMANAGER_CONFIG
    result = _run(amtool, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout
    inhibit = yaml.safe_load(config.read_text())["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['alertname="LLMErrorBudgetBurn"', 'severity="critical"']
    assert inhibit["equal"] == ["alertname", "application"]


def test_a_heartbeat_receiver_gets_the_watchdog_and_nothing_else(tmp_path: Path) -> None:
    amtool = require_tool("amtool")
    spec = parse(
        "version: v1\nalerting:\n  default_receiver: team\n  heartbeat_receiver: deadman\n  receivers:\n"
        "    - {name: team, webhook: {url: 'http://team.example/hook'}}\n"
        "    - {name: deadman, webhook: {url: 'http://deadman.example/beat'}}\n",
        "s.yaml",
    )
    config = _write(spec, tmp_path) / alertmanager.ALERTMANAGER_CONFIG
    assert _run(amtool, "check-config", str(config)).returncode == 0
    routes = ["config", "routes", "test", f"--config.file={config}"]
    assert _run(amtool, *routes, "alertname=Watchdog").stdout.strip() == "deadman"
    assert _run(amtool, *routes, "alertname=TargetDown").stdout.strip() == "team"


def test_the_runbook_base_url_defaults_to_the_repository_runbooks_folder() -> None:
    spec = parse("version: v1\n", "s.yaml")
    assert spec.alerting.runbook_base_url == d.ALERT_RUNBOOK_BASE_URL
    assert d.ALERT_RUNBOOK_BASE_URL.endswith("/docs/runbooks")
    custom = parse("version: v1\nalerting: {runbook_base_url: 'https://wiki.example/runbooks/'}\n", "s.yaml")
    assert custom.alerting.runbook_base_url == "https://wiki.example/runbooks"
