"""Pipeline health: the collector, the ingester, the LLM proxy (when enabled), Prometheus and
Alertmanager themselves, scrape targets, and the always-firing Watchdog that proves the whole
alerting path works.

Each alert names the component instance it is about (`job`, `instance`) and what to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory import names
from observatory.render.alerts.rules import Case, Rule, alert, counter, expected, gauge, num, series
from observatory.spec.types import Spec

# An exporter queue or the ingester's queue this full is not keeping up: act before it refuses data.
QUEUE_FULL_RATIO = 0.8
# Tail sampling holds at most `sampling.max_traces_in_memory` traces; at 90% it is about to push back.
TAIL_SAMPLING_FULL_RATIO = 0.9
WHERE = "{{ $labels.job }} on {{ $labels.instance }}"


@dataclass(frozen=True, slots=True)
class Check:
    """One pipeline alert and the metric that drives its unit tests."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    test_metric: str
    labels: tuple[tuple[str, str], ...]  # output labels of the alert's series (besides job, instance)
    bad: str  # promtool values that must fire
    good: str  # promtool values that must not


def checks(spec: Spec) -> list[Check]:
    n = names
    limit = spec.sampling.max_traces_in_memory
    failed = "|".join(n.OTELCOL_EXPORTER_SEND_FAILED)
    full = f"{num(QUEUE_FULL_RATIO * 100)}%"
    return [
        Check(
            "OTelCollectorRefusingSpans",
            f"sum by (job, instance, receiver) (rate({n.OTELCOL_RECEIVER_REFUSED_SPANS}[5m])) > 0",
            "5m",
            "warning",
            f"Collector {WHERE} refuses spans",
            "A collector receiver refuses incoming spans (memory limiter or a full pipeline): "
            "senders retry, and drop what they cannot buffer.",
            n.OTELCOL_RECEIVER_REFUSED_SPANS,
            (("receiver", "otlp"),),
            counter((5.0, 30)),
            gauge(0, 30),
        ),
        Check(
            "OTelCollectorExportFailing",
            f'sum by (job, instance, exporter) (rate({{__name__=~"{failed}"}}[5m])) > 0',
            "5m",
            "warning",
            f"Collector {WHERE} fails to export telemetry",
            "A collector exporter has given up on spans, metric points or log records after its "
            "retries: that telemetry is lost.",
            n.OTELCOL_EXPORTER_SEND_FAILED[0],
            (("exporter", "otlp/tempo"),),
            counter((5.0, 30)),
            gauge(0, 30),
        ),
        Check(
            "OTelCollectorExporterQueueNearlyFull",
            f"max by (job, instance, exporter) ({n.OTELCOL_EXPORTER_QUEUE_SIZE} / "
            f"{n.OTELCOL_EXPORTER_QUEUE_CAPACITY}) > {num(QUEUE_FULL_RATIO)}",
            "10m",
            "warning",
            f"Collector {WHERE}: an exporter queue is over {full} full",
            "An exporter's sending queue is nearly full: its backend is slow or down, and once the "
            "queue is full new data is refused.",
            n.OTELCOL_EXPORTER_QUEUE_SIZE,
            (("exporter", "otlp/tempo"),),
            gauge(950, 30),
            gauge(10, 30),
        ),
        Check(
            "OTelCollectorTailSamplingFull",
            f"max by (job, instance) ({n.OTELCOL_TAIL_SAMPLING_TRACES_ON_MEMORY}) "
            f">= {num(TAIL_SAMPLING_FULL_RATIO * limit)}",
            "5m",
            "warning",
            f"Collector {WHERE}: tail sampling holds nearly {limit} traces",
            f"Tail sampling holds at least {num(TAIL_SAMPLING_FULL_RATIO * 100)}% of its "
            f"sampling.max_traces_in_memory ({limit}) traces: intake is about to be slowed down.",
            n.OTELCOL_TAIL_SAMPLING_TRACES_ON_MEMORY,
            (),
            gauge(limit, 30),
            gauge(limit // 10, 30),
        ),
        Check(
            "IngesterRejectingRequests",
            f"sum by (job, instance, reason) (rate({n.INGESTER_REQUESTS_REJECTED}[5m])) > 0",
            "10m",
            "warning",
            f"Ingester {WHERE} rejects requests ({{{{ $labels.reason }}}})",
            "The ingester answers requests with an error: the collector retries, then drops rows.",
            n.INGESTER_REQUESTS_REJECTED,
            (("reason", "queue_full"),),
            counter((3.0, 30)),
            gauge(7, 30),
        ),
        Check(
            "IngesterRefusingSpans",
            f"sum by (job, instance, reason) (rate({n.INGESTER_SPANS_REFUSED}[15m])) > 0",
            "15m",
            "warning",
            f"Ingester {WHERE} refuses spans ({{{{ $labels.reason }}}})",
            "Spans arrive whose values cannot be true (or do not parse): the rest of their requests is "
            "stored, these LLM requests have no row and are missing from cost reports.",
            n.INGESTER_SPANS_REFUSED,
            (("reason", "bad_tokens"),),
            counter((1.0, 30)),
            gauge(0, 30),
        ),
        Check(
            "IngesterDatabaseDown",
            f"min by (job, instance) ({n.INGESTER_DATABASE_UP}) == 0",
            "2m",
            "critical",
            f"Ingester {WHERE} cannot write to the database",
            "The ingester's last write or connection to the database failed: per-request rows "
            "queue up, then are refused.",
            n.INGESTER_DATABASE_UP,
            (),
            gauge(0, 30),
            gauge(1, 30),
        ),
        Check(
            "IngesterQueueFilling",
            # Against the capacity the ingester reports, whatever its --max-queue-rows.
            f"max by (job, instance) ({n.INGESTER_QUEUE_ROWS} / {n.INGESTER_QUEUE_CAPACITY})"
            f" > {num(QUEUE_FULL_RATIO)}",
            "10m",
            "warning",
            f"Ingester {WHERE}: write queue over {full} full",
            f"More than {full} of the rows the ingester queues wait to be written: the database is "
            "slow or down, and a full queue refuses new rows.",
            n.INGESTER_QUEUE_ROWS,
            (),
            gauge(45_000, 30),
            gauge(100, 30),
        ),
        Check(
            "PrometheusRuleEvaluationFailures",
            f"sum by (job, instance, rule_group) (increase({n.PROMETHEUS_RULE_EVALUATION_FAILURES}[5m])) > 0",
            "5m",
            "warning",
            f"Prometheus {WHERE} fails to evaluate rules",
            "Rules of {{ $labels.rule_group }} fail to evaluate: their recorded series and alerts "
            "are missing.",
            n.PROMETHEUS_RULE_EVALUATION_FAILURES,
            (("rule_group", "rules.yml;g"),),
            counter((1.0, 30)),
            gauge(4, 30),
        ),
        Check(
            "AlertmanagerNotificationsFailing",
            f"sum by (job, instance, integration) (rate({n.ALERTMANAGER_NOTIFICATIONS_FAILED}[5m])) > 0",
            "10m",
            "warning",
            f"Alertmanager {WHERE} fails to send {{{{ $labels.integration }}}} notifications",
            "Alertmanager cannot deliver notifications through one integration: alerts are not "
            "reaching people.",
            n.ALERTMANAGER_NOTIFICATIONS_FAILED,
            (("integration", "webhook"),),
            counter((1.0, 30)),
            gauge(2, 30),
        ),
        Check(
            "TargetDown",
            "up == 0",
            "5m",
            "warning",
            f"{WHERE} is down",
            f"Prometheus cannot scrape {WHERE}: its metrics, and the alerts on them, are missing.",
            "up",
            (),
            gauge(0, 30),
            gauge(1, 30),
        ),
    ]


def proxy_checks(spec: Spec) -> list[Check]:
    """The LLM proxy's own health: calls still pass when these fire, but go unobserved or are refused."""
    n = names
    full = f"{num(QUEUE_FULL_RATIO * 100)}%"
    return [
        Check(
            "LLMProxyDroppingSpans",
            f"sum by (job, instance) (rate({n.PROXY_SPANS_DROPPED}[5m])) > 0",
            "5m",
            "warning",
            f"LLM proxy {WHERE} drops spans",
            "The proxy's span queue is full or its exports to the collector fail: proxied calls still "
            "reach the providers, but they are missing from metrics, rows and traces.",
            n.PROXY_SPANS_DROPPED,
            (),
            counter((5.0, 30)),
            gauge(0, 30),
        ),
        Check(
            "LLMProxyQueueFilling",
            f"max by (job, instance) ({n.PROXY_QUEUE_SPANS} / {n.PROXY_QUEUE_CAPACITY})"
            f" > {num(QUEUE_FULL_RATIO)}",
            "10m",
            "warning",
            f"LLM proxy {WHERE}: span queue over {full} full",
            f"More than {full} of the spans the proxy queues wait for the collector: it is slow or "
            "unreachable, and a full queue drops spans.",
            n.PROXY_QUEUE_SPANS,
            (),
            gauge(8000, 30),
            gauge(10, 30),
        ),
        Check(
            "LLMProxyAtCallLimit",
            "sum by (job, instance, error_type)"
            f' (rate({n.PROXY_REQUESTS}{{error_type="proxy_limit"}}[5m])) > 0',
            "5m",
            "warning",
            f"LLM proxy {WHERE} refuses calls at its limit",
            "The proxy answers 503 to calls beyond proxy.max_concurrent_calls: add replicas or raise "
            "the limit.",
            n.PROXY_REQUESTS,
            (("error_type", "proxy_limit"),),
            counter((1.0, 30)),
            gauge(3, 30),
        ),
    ]


def _rule(spec: Spec, check: Check) -> Rule:
    return alert(check.name, check.expr, check.for_, check.severity, check.summary, check.description, spec)


def watchdog_rule(spec: Spec) -> Rule:
    return alert(
        names.ALERT_WATCHDOG,
        "vector(1)",
        "1m",  # pending for one minute, then firing for ever: its unit test can see both states
        "none",
        "Alerting works: this alert always fires",
        (
            "An always-firing alert that proves Prometheus evaluates rules and Alertmanager delivers them. "
            "A heartbeat service that stops receiving it knows the alerting path is broken."
        ),
        spec,
    )


def _all(spec: Spec) -> list[Check]:
    return checks(spec) + (proxy_checks(spec) if spec.proxy.enabled else [])


def group(spec: Spec) -> dict[str, object]:
    rules = [_rule(spec, c) for c in _all(spec)] + [watchdog_rule(spec)]
    return {"name": "llm-observatory.pipeline.alerts", "rules": rules}


def cases(spec: Spec) -> list[Case]:
    out = []
    for c in _all(spec):
        labels = {"job": "x", "instance": "x:1", **dict(c.labels)}
        inputs = [(series(c.test_metric, labels), c.bad)]
        if c.test_metric == names.OTELCOL_EXPORTER_QUEUE_SIZE:
            inputs.append((series(names.OTELCOL_EXPORTER_QUEUE_CAPACITY, labels), gauge(1000, 30)))
        if c.test_metric == names.INGESTER_QUEUE_ROWS:
            inputs.append((series(names.INGESTER_QUEUE_CAPACITY, labels), gauge(50_000, 30)))
        if c.test_metric == names.PROXY_QUEUE_SPANS:
            inputs.append((series(names.PROXY_QUEUE_CAPACITY, labels), gauge(8192, 30)))
        good = [(series(c.test_metric, labels), c.good), *inputs[1:]]
        out.append(Case(f"{c.name} fires", c.name, "25m", tuple(inputs), (expected(_rule(spec, c), labels),)))
        out.append(Case(f"{c.name} stays quiet when healthy", c.name, "25m", tuple(good)))
    watchdog = watchdog_rule(spec)
    out.append(Case("Watchdog always fires", names.ALERT_WATCHDOG, "1m", (), (expected(watchdog, {}),)))
    # At the first evaluation it is only pending: the `for` works, so it is not reported yet.
    out.append(Case("Watchdog is only pending at the first evaluation", names.ALERT_WATCHDOG, "0m", ()))
    return out
