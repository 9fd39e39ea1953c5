"""The real collector with the rendered config: synthetic LLM traffic in every dialect goes in; what
comes out must be normalised, priced to the cent, free of PII, counted exactly in Prometheus whatever
the sampling ratio, and tail-sampled (every error and slow trace, a baseline share of the rest).

Real processes: the collector built from the rendered manifest, Prometheus 2.42 receiving remote
write. Tempo, Loki and the ingester are where the collector sends; OTLP capture endpoints stand at
those addresses to record exactly what it sent.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from observatory import dialects, names
from observatory.otlp import log_records, spans
from observatory.render import target as targets
from observatory.render.artifact import to_yaml
from observatory.render.collector import COLLECTOR_CONFIG, config, loopback_env
from observatory.spec import load
from observatory.spec.types import SamplingPolicy, Spec
from observatory.traffic import APPLICATIONS, Traffic, Workload, generate
from tests.conftest import REPO, ManagedProcess, collector_binary, free_port, poll_until, start_prometheus
from tests.otlp_capture import OtlpCapture

HASH_KEY = "test-user-hash-key"
SPECIAL_APP = APPLICATIONS[0][0]  # sampled at its own ratio, to exercise per-application overrides


@dataclass
class Run:
    spec: Spec
    traffic: Traffic
    prometheus: str
    tempo: OtlpCapture
    loki: OtlpCapture
    ingester: OtlpCapture
    ratios: dict[str, float]


def _spec(default_ratio: float, special_ratio: float) -> Spec:
    spec = load(REPO / "observatory.yaml")
    policy = SamplingPolicy(baseline_ratio=default_ratio, slow_threshold_seconds=5, keep_errors=True)
    sampling = replace(
        spec.sampling,
        default=policy,
        decision_wait_seconds=2,
        applications=((SPECIAL_APP, replace(policy, baseline_ratio=special_ratio)),),
    )
    return replace(spec, sampling=sampling)


def _validate(config_path: Path, key: str | None = HASH_KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != names.ENV_USER_ID_HASH_KEY}
    if key is not None:
        env[names.ENV_USER_ID_HASH_KEY] = key
    return subprocess.run(
        [str(collector_binary()), "validate", f"--config={config_path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_validate_accepts_the_committed_collector_config() -> None:
    result = _validate(REPO / COLLECTOR_CONFIG)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("key", [None, "", "short-key"], ids=["unset", "empty", "short"])
def test_the_collector_refuses_to_start_without_a_hash_key_and_says_how_to_set_one(key: str | None) -> None:
    result = _validate(REPO / COLLECTOR_CONFIG, key)
    assert result.returncode != 0
    assert f"the environment variable {names.ENV_USER_ID_HASH_KEY}" in result.stderr
    assert "at least 16" in result.stderr and "docs/user-id-hash-key.md" in result.stderr


def test_validate_accepts_the_local_stacks_variant_which_has_no_trace_or_log_store(tmp_path: Path) -> None:
    addresses = targets.LocalAddresses(9090, 9093, 8888, 8088, "alerts/*.yml")
    cfg = config(load(REPO / "observatory.yaml"), targets.local(addresses))
    assert not {"otlp_http/tempo", "otlp_http/loki"} & set(cfg["exporters"])
    assert set(cfg["service"]["pipelines"]) == {
        "traces/in",
        "traces/store",
        "metrics/derived",
        "metrics/apps",
        "logs/ratings",  # to the ingester, which runs there
    }
    (tmp_path / "config.yaml").write_text(to_yaml(cfg))
    result = _validate(tmp_path / "config.yaml")
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module", params=[(0.1, 0.5), (0.6, 0.02)], ids=["ratio-0.1", "ratio-0.6"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    binary = collector_binary()
    tmp = tmp_path_factory.mktemp("pipeline")
    default_ratio, special_ratio = request.param
    spec = _spec(default_ratio, special_ratio)
    (tmp / "config.yaml").write_text(to_yaml(config(spec)))
    prometheus, prom_url = start_prometheus(tmp)
    tempo, loki, ingester = OtlpCapture(), OtlpCapture(), OtlpCapture()
    health, otlp_http, metrics = free_port(), free_port(), free_port()
    env = loopback_env(
        prometheus_write_url=f"{prom_url}/api/v1/write",
        storage_dir=str(tmp / "queue"),
        health_port=health,
        otlp_grpc_port=free_port(),
        otlp_http_port=otlp_http,
        metrics_port=metrics,
        tempo_url=tempo.url,
        loki_url=f"{loki.url}/otlp",
        ingester_url=ingester.url,
    )
    env[names.ENV_USER_ID_HASH_KEY] = HASH_KEY
    collector = ManagedProcess([str(binary), f"--config={tmp / 'config.yaml'}"], tmp / "collector.log", env)
    try:
        collector.wait_ready(
            lambda: requests.get(f"http://127.0.0.1:{health}", timeout=2).ok, "collector health"
        )
        traffic = generate(spec, Workload(seed=11, traces=600, start_unix_nano=time.time_ns() - 120 * 10**9))
        send = requests.Session()
        for message, path in [
            *((t, "/v1/traces") for t in traffic.traces),
            *((lg, "/v1/logs") for lg in traffic.logs),
        ]:
            response = send.post(
                f"http://127.0.0.1:{otlp_http}{path}",
                data=message.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
        yield Run(
            spec,
            traffic,
            prom_url,
            tempo,
            loki,
            ingester,
            {"default": default_ratio, SPECIAL_APP: special_ratio},
        )
    finally:
        collector.stop()
        prometheus.stop()
        for capture in (tempo, loki, ingester):
            capture.close()


def _query(url: str, promql: str) -> dict[tuple[str, str], float]:
    result = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"]
    return {
        (r["metric"].get("application", ""), r["metric"].get("model", "")): float(r["value"][1])
        for r in result
    }


def _by_key(url: str, metric: str) -> dict[tuple[str, str], float]:
    return _query(url, f"sum by (application, model) ({metric})")


def test_request_and_token_totals_in_prometheus_are_exact(run: Run) -> None:
    truth = run.traffic.truth
    expected = {k: float(v) for k, v in truth.requests.items()}
    poll_until(
        lambda: _by_key(run.prometheus, names.METRIC_REQUESTS) == expected,
        f"{names.METRIC_REQUESTS} per application and model to equal the traffic's truth",
        60,
    )
    for metric, counter in (
        (names.METRIC_INPUT_TOKENS, truth.input_tokens),
        (names.METRIC_OUTPUT_TOKENS, truth.output_tokens),
        (names.METRIC_CACHE_READ_TOKENS, +truth.cache_read_tokens),
        (names.METRIC_CACHE_WRITE_TOKENS, +truth.cache_write_tokens),
    ):
        want = {k: float(v) for k, v in counter.items() if v}
        poll_until(
            lambda metric=metric, want=want: (
                {k: v for k, v in _by_key(run.prometheus, metric).items() if v} == want
            ),
            f"{metric} to equal the truth",
            30,
        )


def test_cost_totals_are_exact_to_the_cent_and_unpriced_models_are_counted_not_zeroed(run: Run) -> None:
    truth = run.traffic.truth
    poll_until(
        lambda: set(_by_key(run.prometheus, names.METRIC_COST)) == set(truth.cost_usd),
        f"{names.METRIC_COST} series for every priced application and model",
        60,
    )
    got = _by_key(run.prometheus, names.METRIC_COST)
    for key, usd in truth.cost_usd.items():
        assert math.isclose(got[key], usd, abs_tol=1e-6), (key, got[key], usd)
    assert round(sum(got.values()), 2) == round(sum(truth.cost_usd.values()), 2)
    unpriced = {k: float(v) for k, v in truth.unpriced_requests.items()}
    assert unpriced, "the traffic must include unpriced models"
    poll_until(
        lambda: _by_key(run.prometheus, names.METRIC_UNPRICED_REQUESTS) == unpriced,
        f"{names.METRIC_UNPRICED_REQUESTS} to count every unpriced request",
        30,
    )


def test_metric_labels_are_bounded_and_never_carry_user_ids(run: Run) -> None:
    poll_until(lambda: _by_key(run.prometheus, names.METRIC_REQUESTS), "request metrics", 60)
    series = requests.get(
        f"{run.prometheus}/api/v1/series", params={"match[]": '{__name__=~"llm_.+"}'}, timeout=5
    ).json()["data"]
    allowed = {
        "__name__",
        "job",
        "instance",
        *names.METRIC_LABELS,
        names.LABEL_DIALECT,
        names.LABEL_COLLECTOR,
        "le",
    }
    assert series
    for labels in series:
        # The team (one per application) is on the cost counter only: team budgets read it.
        extra = {names.LABEL_TEAM} if labels["__name__"] == names.METRIC_COST else set()
        assert set(labels) <= allowed | extra, labels
        assert not set(labels.values()) & run.traffic.truth.user_ids, labels
    teams = {labels.get(names.LABEL_TEAM) for labels in series if labels["__name__"] == names.METRIC_COST}
    assert teams == {team for _, _, team in APPLICATIONS}


def test_every_dialect_is_counted_as_normalised(run: Run) -> None:
    want = {dialect: float(n) for dialect, n in run.traffic.truth.dialect_spans.items()}
    assert set(want) == {"openllmetry", "openlit", "openinference", "legacy"}

    def got() -> dict[str, float]:
        result = requests.get(
            f"{run.prometheus}/api/v1/query",
            timeout=5,
            params={"query": f"sum by (dialect) ({names.METRIC_NORMALISED_SPANS})"},
        ).json()["data"]["result"]
        return {r["metric"]["dialect"]: float(r["value"][1]) for r in result}

    poll_until(lambda: got() == want, "normalised span counts per dialect", 60)


def test_errors_are_counted_by_the_vocabularys_type_not_the_librarys(run: Run) -> None:
    truth = run.traffic.truth
    want = {key: float(n) for key, n in truth.error_types.items()}
    assert len({kind for _, kind in want}) > 2, "the traffic must fail in several ways"

    def got() -> dict[tuple[str, str], float]:
        result = requests.get(
            f"{run.prometheus}/api/v1/query",
            timeout=5,
            params={"query": f'sum by (application, error_type) ({names.METRIC_REQUESTS}{{error_type!=""}})'},
        ).json()["data"]["result"]
        return {(r["metric"]["application"], r["metric"]["error_type"]): float(r["value"][1]) for r in result}

    poll_until(lambda: got() == want, "failed requests per application and error type", 60)


def _ingested(run: Run) -> dict[str, dict[str, object]]:
    return {s.span_id: s.attributes for request in run.ingester.traces for s in spans(request)}


def test_the_ingester_gets_every_llm_span_normalised_and_priced(run: Run) -> None:
    truth = run.traffic.truth
    poll_until(lambda: set(_ingested(run)) == set(truth.span_cost), "every LLM span at the ingester", 60)
    received = [s for request in run.ingester.traces for s in spans(request)]
    assert len(received) == len(truth.span_cost)  # each exactly once, and no tool or root spans
    # Redaction leaves what only looks like PII alone: dated model names survive intact.
    assert "gpt-4o-2024-08-06" in {s.attributes.get("gen_ai.response.model") for s in received}
    vocabulary = set(dialects.load().error_vocabulary())
    for span in received:
        attrs = span.attributes
        assert attrs["gen_ai.operation.name"] in {"chat", "embeddings"}
        assert attrs["gen_ai.provider.name"] in {"openai", "anthropic", "gcp.gemini", "mistral_ai"}
        if span.status_code == 2:  # failed: no tokens, an error type of the vocabulary, the raw one kept
            assert "gen_ai.usage.input_tokens" not in attrs
            assert attrs["error.type"] in vocabulary and attrs["llm.error.raw_type"], attrs
        else:
            assert isinstance(attrs["gen_ai.usage.input_tokens"], int)
        assert not any(
            key.startswith(
                (
                    "llm.token_count",
                    "llm.usage",
                    "gen_ai.usage.prompt_tokens",
                    "gen_ai.system",
                    "llm.model_name",
                )
            )
            for key in attrs
        ), attrs
        expected = truth.span_cost[span.span_id]
        if expected is None:
            assert attrs["llm.cost.unpriced"] is True and "llm.cost.usd" not in attrs
        else:
            assert attrs["llm.cost.unpriced"] is False
            assert math.isclose(float(attrs["llm.cost.usd"]), expected, rel_tol=1e-12, abs_tol=1e-15)


def test_no_pii_reaches_any_backend_and_user_ids_are_keyed_hashes(run: Run) -> None:
    truth = run.traffic.truth
    poll_until(
        lambda: run.loki.logs and run.ingester.traces and run.tempo.traces, "data at every backend", 60
    )
    time.sleep(2)  # let the last batches land
    everything = b"".join(raw for capture in (run.tempo, run.loki, run.ingester) for raw in capture.raw)
    for secret in truth.pii:
        assert secret.encode() not in everything, secret
    for user in truth.user_ids:
        assert f'"{user}"'.encode() not in everything and user.encode() not in everything, user
    attrs = [s.attributes for request in run.ingester.traces for s in spans(request)]
    assert not any(
        "gen_ai.input.messages" in a for a in attrs
    )  # content dropped (keep_message_content: false)
    hashed = {a["user.id"] for a in attrs}
    expected = {hashlib.sha256(f"{HASH_KEY}:{u}".encode()).hexdigest() for u in truth.user_ids}
    assert hashed <= expected and hashed
    bodies = [r["body"] for request in run.loki.logs for r in log_records(request)]
    assert bodies and all("<" in body for body in bodies), bodies[:3]


def test_every_error_and_slow_trace_is_kept_and_the_rest_at_the_baseline_ratio(run: Run) -> None:
    truth = run.traffic.truth

    def kept() -> set[str]:
        return {s.trace_id for request in run.tempo.traces for s in spans(request)}

    must = truth.error_traces | truth.slow_traces
    assert truth.error_traces and truth.slow_traces
    poll_until(lambda: must <= kept(), "every error and slow trace at Tempo's address", 60)
    time.sleep(4)  # past decision_wait: the baseline decisions for the rest are in too
    others = Counter(truth.trace_app[t] == SPECIAL_APP for t in truth.other_traces)
    kept_others = Counter(truth.trace_app[t] == SPECIAL_APP for t in truth.other_traces & kept())
    for special, label in ((False, "default"), (True, SPECIAL_APP)):
        n, p = others[special], run.ratios[label]
        k = kept_others[special]
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(k - n * p) <= 4 * sigma + 1, (
            f"{label}: kept {k} of {n}, expected {n * p:.0f} ± {4 * sigma:.0f}"
        )
