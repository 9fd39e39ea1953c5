"""The spec: every invalid spec's exact error output, and how defaults and overrides resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from observatory.spec import SpecInvalid, load, parse
from observatory.spec import defaults as d
from observatory.spec.load import default_spec_text
from tests.conftest import REPO, SPECS

INVALID = sorted((SPECS / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("spec_path", INVALID, ids=[p.stem for p in INVALID])
def test_an_invalid_spec_reports_exactly_its_snapshot_errors(
    spec_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = spec_path.with_suffix(".errors").read_text(encoding="utf-8")
    monkeypatch.chdir(REPO)  # the snapshots name the spec by its path from the repository root
    with pytest.raises(SpecInvalid) as caught:
        load(spec_path.relative_to(REPO))
    got = "".join(f"{error}\n" for error in caught.value.errors)
    assert got == expected, f"error output changed for {spec_path.name}; if intended, run `make golden`"


def test_every_required_kind_of_invalid_spec_has_a_snapshot() -> None:
    names = {p.stem for p in INVALID}
    assert {"yaml_syntax", "unknown_key", "wrong_type", "negative_price", "warm_shorter_than_hot"} <= names


def test_errors_are_sorted_by_position_and_name_file_line_and_column() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse("version: v1\nretention: {hot_days: 0}\nsampling: {baseline_ratio: -1}\n", "s.yaml")
    lines = [str(e) for e in caught.value.errors]
    assert lines == [
        "s.yaml:2:23: retention.hot_days: must be >= 1, got 0",
        "s.yaml:3:28: sampling.baseline_ratio: must be >= 0, got -1",
    ]


def test_an_unknown_key_without_a_close_match_gets_no_suggestion() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse("version: v1\nzzz: 1\n", "s.yaml")
    assert [str(e) for e in caught.value.errors] == ["s.yaml:2:1: zzz: unknown key 'zzz'"]


def test_the_embedded_default_spec_is_valid_and_used_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a folder without observatory.yaml
    spec = load(None)
    assert spec.source == "observatory.yaml (built-in default)"
    assert spec == parse(default_spec_text(), spec.source)


def test_the_repository_spec_is_valid() -> None:
    spec = load(REPO / "observatory.yaml")
    assert spec.budgets and spec.models


def test_defaults_fill_every_section_left_out() -> None:
    spec = parse("version: v1\n", "s.yaml")
    assert spec.sampling.default.baseline_ratio == d.SAMPLING_BASELINE_RATIO == 0.01
    assert spec.sampling.default.slow_threshold_seconds == 5
    assert spec.sampling.default.keep_errors is True
    assert (spec.retention.traces.hot_days, spec.retention.traces.warm_days) == (7, 30)
    assert 365 <= spec.retention.requests.cold_days <= 5 * 365
    assert spec.storage.engine == "timescaledb"
    assert spec.images.prometheus == d.IMAGES.prometheus
    assert len(spec.models) == len(d.MODEL_PRICES)
    assert spec.alerting.default_receiver == "blackhole"
    assert [p.name for p in spec.pii.patterns] == list(d.PII_BUILTIN_PATTERNS)
    assert not spec.pii.keep_message_content
    assert [b.name for b in spec.dashboards.dashboards] == [
        "overview",
        "performance",
        "cost",
        "quality",
        "traces",
        "logs",
    ]


def test_per_application_overrides_inherit_what_they_do_not_set() -> None:
    spec = parse(
        "version: v1\n"
        "sampling: {baseline_ratio: 0.1, slow_threshold_seconds: 9,\n"
        "           applications: {zeta: {keep_errors: false}, alpha: {baseline_ratio: 1}}}\n",
        "s.yaml",
    )
    apps = dict(spec.sampling.applications)
    assert list(apps) == ["alpha", "zeta"]  # sorted: output order never depends on the file's order
    assert (apps["alpha"].baseline_ratio, apps["alpha"].slow_threshold_seconds) == (1, 9)
    assert (apps["zeta"].baseline_ratio, apps["zeta"].keep_errors) == (0.1, False)


def test_per_signal_retention_inherits_the_top_level_tiers() -> None:
    spec = parse("version: v1\nretention: {warm_days: 20, logs: {hot_days: 2}}\n", "s.yaml")
    assert spec.retention.traces.warm_days == 20
    assert (spec.retention.logs.hot_days, spec.retention.logs.warm_days) == (2, 20)
    assert spec.retention.metrics.hot_days == d.RETENTION_HOT_DAYS


def test_a_price_row_without_a_date_has_always_applied_and_a_listed_table_replaces_the_default() -> None:
    spec = parse(
        "version: v1\nmodels:\n  - {provider: acme, model: m1, input_usd_per_million_tokens: 1,"
        " output_usd_per_million_tokens: 2}\n",
        "s.yaml",
    )
    assert len(spec.models) == 1
    assert spec.models[0].effective_from == d.PRICE_EFFECTIVE_FROM
    assert spec.models[0].cache_read_usd_per_million_tokens is None


def test_secret_references_resolve_to_locations_never_values() -> None:
    spec = load(SPECS / "valid" / "full.yaml")
    slack = next(r for r in spec.alerting.receivers if r.kind == "slack")
    assert dict(slack.secrets)["api_url"].file == "/run/secrets/slack_search_webhook"
    assert spec.deploy.object_storage is not None
    assert spec.deploy.object_storage.access_key_id.env == "S3_ACCESS_KEY_ID"


def test_a_spec_without_receivers_gets_a_receiver_that_drops_alerts() -> None:
    spec = parse("version: v1\n", "s.yaml")
    assert [(r.name, r.kind) for r in spec.alerting.receivers] == [("blackhole", "none")]


def test_an_unreadable_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecInvalid) as caught:
        load(tmp_path / "missing.yaml")
    assert "cannot read the spec" in str(caught.value)


@pytest.mark.parametrize(
    ("grafana", "secure", "samesite"),
    [
        ("", False, "lax"),  # the local http stack: a Secure cookie would never come back
        ("grafana: {root_url: 'https://grafana.example.com/'}", True, "lax"),
        ("grafana: {root_url: 'http://grafana.internal:3000/'}", False, "lax"),
        ("grafana: {root_url: 'https://g.example.com/', cookie_secure: false}", False, "lax"),
        ("grafana: {cookie_secure: true, cookie_samesite: none}", True, "none"),
        ("grafana: {cookie_samesite: strict}", False, "strict"),
    ],
)
def test_grafanas_cookie_is_secure_when_its_root_url_is_https_unless_the_spec_says_otherwise(
    grafana: str, secure: bool, samesite: str
) -> None:
    spec = parse(f"version: v1\n{grafana}\n", "s.yaml")
    assert (spec.grafana.cookie_secure, spec.grafana.cookie_samesite) == (secure, samesite)


def test_the_proxy_is_off_by_default_and_points_at_the_real_providers() -> None:
    p = parse("version: v1\n", "s.yaml").proxy
    assert (p.enabled, p.openai_base_url, p.anthropic_base_url) == (
        False,
        "https://api.openai.com",
        "https://api.anthropic.com",
    )


def test_a_proxy_base_url_must_be_an_absolute_http_url() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse("version: v1\nproxy: {openai_base_url: 'api.openai.com/v1'}\n", "s.yaml")
    assert "s.yaml:2:" in str(caught.value)
    assert "proxy.openai_base_url: must be http:// or https://" in str(caught.value)


def test_the_proxy_flags_follow_the_spec() -> None:
    from observatory import proxy

    spec = parse(
        "version: v1\nproxy: {enabled: true, openai_base_url: 'http://127.0.0.1:9/', "
        "upstream_timeout_seconds: 2.5, stream_idle_timeout_seconds: 30, queue_spans: 10}\n",
        "s.yaml",
    )
    flags = proxy.flags(spec, "127.0.0.1:8094", "http://127.0.0.1:4318")
    assert "-openai-upstream=http://127.0.0.1:9" in flags
    assert "-upstream-timeout=2.5s" in flags
    assert "-stream-idle-timeout=30s" in flags
    assert "-queue-spans=10" in flags
    assert "-otlp-endpoint=http://127.0.0.1:4318" in flags
