"""The resolved spec: what every renderer reads, frozen, with every default already applied.

Nothing here is optional unless "absent" is itself a meaning (no object storage, no cache price).
Renderers never look at the file model or at the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret's location at run time: exactly one of `env` or `file` is set."""

    env: str | None = None
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Images:
    grafana: str
    prometheus: str
    alertmanager: str
    tempo: str
    loki: str
    timescaledb: str
    otel_collector: str

    def tag(self, component: str) -> str:
        """The version part of a component's image reference (`v3.14.0` of `prom/prometheus:v3.14.0`)."""
        reference: str = getattr(self, component)
        return reference.partition("@")[0].rsplit("/", 1)[-1].partition(":")[2]


@dataclass(frozen=True, slots=True)
class Ports:
    bind_address: str
    grafana: int
    prometheus: int
    alertmanager: int
    tempo: int
    loki: int
    timescaledb: int
    otlp_grpc: int
    otlp_http: int
    ingester: int
    api: int  # the query API (observatory api)
    proxy: int  # the LLM proxy (observatory proxy)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    provider: str
    model: str | None
    model_pattern: str | None
    input_usd_per_million_tokens: float
    output_usd_per_million_tokens: float
    cache_read_usd_per_million_tokens: float | None
    cache_write_usd_per_million_tokens: float | None
    effective_from: date


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    baseline_ratio: float
    slow_threshold_seconds: float
    keep_errors: bool


@dataclass(frozen=True, slots=True)
class Sampling:
    default: SamplingPolicy
    decision_wait_seconds: float
    decision_wait_after_root_seconds: float
    max_traces_in_memory: int
    block_when_full: bool
    # Application name to its own policy; sorted by name for deterministic output.
    applications: tuple[tuple[str, SamplingPolicy], ...]


@dataclass(frozen=True, slots=True)
class RetentionTiers:
    hot_days: int
    warm_days: int
    cold_days: int


@dataclass(frozen=True, slots=True)
class Retention:
    traces: RetentionTiers
    logs: RetentionTiers
    metrics: RetentionTiers
    requests: RetentionTiers


@dataclass(frozen=True, slots=True)
class Objectives:
    latency_p95_seconds: float
    latency_p99_seconds: float
    ttft_p95_seconds: float
    error_ratio: float


@dataclass(frozen=True, slots=True)
class Slos:
    default: Objectives
    window_days: int
    applications: tuple[tuple[str, Objectives], ...]


@dataclass(frozen=True, slots=True)
class Budget:
    application: str | None
    team: str | None
    daily_usd: float | None
    monthly_usd: float | None


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    kind: str  # "webhook", "slack", "pagerduty", "email" or "none" (a receiver that drops alerts)
    # Non-secret settings (url, channel, to, sender, smarthost, auth_username), sorted by key.
    settings: tuple[tuple[str, str], ...] = ()
    # Secret settings by the key they fill (api_url, routing_key, auth_password).
    secrets: tuple[tuple[str, SecretRef], ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    receiver: str
    matchers: tuple[tuple[str, str], ...]
    continue_matching: bool


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    spend_spike_factor: float
    spend_spike_min_usd_per_hour: float
    error_spike_factor: float
    error_spike_min_per_minute: float
    slo_min_requests_per_minute: float


@dataclass(frozen=True, slots=True)
class Alerting:
    default_receiver: str
    receivers: tuple[Receiver, ...]
    routes: tuple[Route, ...]
    group_by: tuple[str, ...]
    group_wait_seconds: int
    group_interval_seconds: int
    repeat_interval_hours: int
    runbook_base_url: str  # no trailing slash; an alert's runbook is <runbook_base_url>/<AlertName>.md
    heartbeat_receiver: str | None  # where the Watchdog alert goes; None: the default route
    thresholds: AlertThresholds


@dataclass(frozen=True, slots=True)
class PiiPattern:
    name: str
    regex: str
    replacement: str


@dataclass(frozen=True, slots=True)
class Pii:
    keep_message_content: bool
    hash_user_ids: bool
    user_id_hash_key: SecretRef
    patterns: tuple[PiiPattern, ...]


@dataclass(frozen=True, slots=True)
class ExtraPanel:
    title: str
    type: str
    promql: str | None
    sql: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    name: str
    enabled: bool
    hidden_panels: tuple[str, ...]
    extra_panels: tuple[ExtraPanel, ...]


@dataclass(frozen=True, slots=True)
class Dashboards:
    group_by: tuple[str, ...]
    # The six built-in dashboards in their fixed order.
    dashboards: tuple[Dashboard, ...]

    def get(self, name: str) -> Dashboard:
        return next(d for d in self.dashboards if d.name == name)


@dataclass(frozen=True, slots=True)
class Storage:
    engine: str  # "timescaledb" or "postgres"
    host: str | None  # None: the stack's own database service
    port: int
    database: str
    sslmode: str
    late_data_days: int  # a row this late is still counted in the rollups without a backfill


@dataclass(frozen=True, slots=True)
class ObjectStorage:
    endpoint: str
    bucket: str
    region: str | None
    insecure: bool
    access_key_id: SecretRef
    secret_access_key: SecretRef


@dataclass(frozen=True, slots=True)
class Deploy:
    namespace: str
    storage_class: str | None
    object_storage: ObjectStorage | None
    collector_replicas: int
    ingester_replicas: int


@dataclass(frozen=True, slots=True)
class Grafana:
    root_url: str | None  # None: Grafana derives it from the request (the local http stack)
    cookie_secure: bool
    cookie_samesite: str  # "lax", "strict", "none" or "disabled"


@dataclass(frozen=True, slots=True)
class Proxy:
    enabled: bool
    openai_base_url: str
    anthropic_base_url: str
    upstream_timeout_seconds: float
    stream_idle_timeout_seconds: float
    max_request_bytes: int
    max_concurrent_calls: int
    queue_spans: int


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything the renderers need, resolved from one `observatory.yaml`."""

    source: str  # the file it came from, for generated-file headers
    images: Images
    ports: Ports
    models: tuple[ModelPrice, ...]
    sampling: Sampling
    retention: Retention
    slos: Slos
    budgets: tuple[Budget, ...]
    alerting: Alerting
    pii: Pii
    dashboards: Dashboards
    storage: Storage
    deploy: Deploy
    grafana: Grafana
    proxy: Proxy
