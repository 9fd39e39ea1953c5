"""Every name that crosses from one generated output to another.

A dashboard query and the collector config that produces its metric import the same constant, so
renaming a metric here renames it everywhere; no other module spells these strings.
"""

from __future__ import annotations

from typing import Final

# --- Grafana datasource UIDs (fixed, so links and dashboards never depend on display names;
# Grafana 13 addresses datasources by UID only and rejects UIDs with dots).
DS_PROMETHEUS: Final = "prometheus"
DS_TEMPO: Final = "tempo"
DS_LOKI: Final = "loki"
DS_SQL: Final = "observatory-sql"
DS_ALERTMANAGER: Final = "alertmanager"

# --- Grafana dashboard UIDs, one per built-in dashboard.
DASHBOARD_UIDS: Final = {
    "overview": "llm-overview",
    "performance": "llm-performance",
    "cost": "llm-cost",
    "quality": "llm-quality",
    "traces": "llm-traces",
    "logs": "llm-logs",
}
DASHBOARD_FOLDER_UID: Final = "llm-observatory"
DASHBOARD_FOLDER_TITLE: Final = "LLM Observatory"

# --- Compose service names; they are also the hostnames the services use to reach each other.
SVC_GRAFANA: Final = "grafana"
SVC_PROMETHEUS: Final = "prometheus"
SVC_ALERTMANAGER: Final = "alertmanager"
SVC_TEMPO: Final = "tempo"
SVC_LOKI: Final = "loki"
SVC_TIMESCALEDB: Final = "timescaledb"
SVC_COLLECTOR: Final = "otel-collector"
SVC_INGESTER: Final = "ingester"
SVC_API: Final = "api"  # the query API (observatory api)
SVC_PROXY: Final = "llm-proxy"  # the LLM proxy (observatory proxy)
# On Kubernetes the collector runs in two tiers: applications send to the load-balancing tier, which
# takes the compose name above; this tier runs the rendered config (tail sampling and all before it).
SVC_COLLECTOR_SAMPLING: Final = "otel-collector-sampling"
# Headless Services (one DNS A record per ready pod) of the replicated workloads: the load-balancing
# exporter finds sampling pods through one, and Prometheus scrapes every replica through them.
SVC_COLLECTOR_HEADLESS: Final = f"{SVC_COLLECTOR}-headless"
SVC_COLLECTOR_SAMPLING_HEADLESS: Final = f"{SVC_COLLECTOR_SAMPLING}-headless"
SVC_INGESTER_HEADLESS: Final = f"{SVC_INGESTER}-headless"
SVC_PROXY_HEADLESS: Final = f"{SVC_PROXY}-headless"

# --- Ports inside the containers (the host side comes from the spec's `ports`).
PORT_GRAFANA: Final = 3000
PORT_PROMETHEUS: Final = 9090
PORT_ALERTMANAGER: Final = 9093
PORT_TEMPO_HTTP: Final = 3200
PORT_TEMPO_GRPC: Final = 9095
PORT_LOKI_HTTP: Final = 3100
PORT_LOKI_GRPC: Final = 9096
PORT_POSTGRES: Final = 5432
PORT_OTLP_GRPC: Final = 4317
PORT_OTLP_HTTP: Final = 4318
PORT_COLLECTOR_METRICS: Final = 8888
PORT_COLLECTOR_HEALTH: Final = 13133
PORT_INGESTER: Final = 8088
PORT_API: Final = 8090
PORT_PROXY: Final = 8094  # serves the providers' APIs, /healthz, /readyz and /metrics

# --- Paths inside the containers: where each component reads its config and keeps its data. The
# compose file mounts the generated files here (tests/ compares it with these) and so do the
# Kubernetes manifests.
GRAFANA_INI_PATH: Final = "/etc/grafana/grafana.ini"
GRAFANA_PROVISIONING_DIR: Final = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS_DIR: Final = "/var/lib/grafana/dashboards"
GRAFANA_DATA_DIR: Final = "/var/lib/grafana"
PROMETHEUS_CONFIG_PATH: Final = "/etc/prometheus/prometheus.yml"
PROMETHEUS_RULES_DIR: Final = "/etc/prometheus/rules"
PROMETHEUS_DATA_DIR: Final = "/prometheus"
ALERTMANAGER_CONFIG_PATH: Final = "/etc/alertmanager/alertmanager.yml"
ALERTMANAGER_DATA_DIR: Final = "/alertmanager"
TEMPO_CONFIG_PATH: Final = "/etc/tempo/tempo.yaml"
TEMPO_DATA_DIR: Final = "/var/tempo"  # owned by the image's user 10001; a named volume inherits that
LOKI_CONFIG_PATH: Final = "/etc/loki/loki.yaml"
LOKI_DATA_DIR: Final = "/loki"  # likewise user 10001
COLLECTOR_CONFIG_PATH: Final = "/etc/otelcol/config.yaml"
COLLECTOR_DATA_DIR: Final = "/var/lib/otelcol"  # the exporters' disk queues
SPEC_PATH: Final = "/etc/observatory/observatory.yaml"  # the ingester reads the spec here
POSTGRES_DATA_DIR: Final = "/var/lib/postgresql/data"

# --- Environment variables that carry secrets at run time. Generated files name these, never values.
ENV_GRAFANA_ADMIN_USER: Final = "GRAFANA_ADMIN_USER"
ENV_GRAFANA_ADMIN_PASSWORD: Final = "GRAFANA_ADMIN_PASSWORD"
ENV_DB_PASSWORD: Final = "OBSERVATORY_DB_PASSWORD"
ENV_DB_READER_PASSWORD: Final = "OBSERVATORY_DB_READER_PASSWORD"
ENV_DB_API_PASSWORD: Final = "OBSERVATORY_DB_API_PASSWORD"  # the query API's database role
ENV_API_TOKEN: Final = "OBSERVATORY_API_TOKEN"  # a bearer token the query API accepts
ENV_API_DATABASE_URL: Final = "OBSERVATORY_API_DATABASE_URL"
ENV_API_PROMETHEUS_URL: Final = "OBSERVATORY_API_PROMETHEUS_URL"
ENV_API_TEMPO_URL: Final = "OBSERVATORY_API_TEMPO_URL"
ENV_USER_ID_HASH_KEY: Final = "OBSERVATORY_USER_ID_HASH_KEY"
ENV_PROXY_BINARY: Final = "OBSERVATORY_PROXY_BINARY"  # where `observatory proxy` finds the binary (no secret)
# Tempo and Loki expand these (`-config.expand-env=true`) into their S3 credentials, unless the spec's
# reference names its own variable.
ENV_S3_ACCESS_KEY_ID: Final = "OBSERVATORY_S3_ACCESS_KEY_ID"
ENV_S3_SECRET_ACCESS_KEY: Final = "OBSERVATORY_S3_SECRET_ACCESS_KEY"

# --- Database: the per-request table and its rollups.
DB_NAME: Final = "observatory"
DB_WRITER_USER: Final = "observatory"
DB_READER_USER: Final = "grafana_reader"
DB_API_USER: Final = "observatory_api"  # the query API's role: reads what Grafana's does, nothing more
TABLE_REQUESTS: Final = "llm_requests"
VIEW_REQUESTS_HOURLY: Final = "llm_requests_hourly"
VIEW_REQUESTS_DAILY: Final = "llm_requests_daily"
VIEW_DETAIL_HOURLY: Final = "llm_requests_detail_hourly"
VIEW_DETAIL_DAILY: Final = "llm_requests_detail_daily"
VIEW_TOTALS_DAILY: Final = "llm_requests_daily_totals"
VIEW_USERS_DAILY: Final = "llm_requests_daily_users"
VIEW_CACHE_READS_DAILY: Final = "llm_requests_daily_cache_reads"
VIEW_TOTALS_MONTHLY: Final = "llm_requests_monthly_totals"
VIEW_USERS_MONTHLY: Final = "llm_requests_monthly_users"
VIEW_DETAIL_MONTHLY: Final = "llm_requests_detail_monthly"
VIEW_TOTALS_WEEKLY: Final = "llm_requests_weekly_totals"
VIEW_DETAIL_WEEKLY: Final = "llm_requests_detail_weekly"
VIEW_USERS_MTD: Final = "llm_requests_mtd_users"  # per user, each day's month to date
TABLE_ROLLUP_WATERMARKS: Final = "observatory_rollup_watermarks"
TABLE_FEEDBACK: Final = "llm_feedback"  # user feedback, each rating joined to the request it rates
VIEW_FEEDBACK_DAILY: Final = "llm_feedback_daily"  # the matched ratings per day and request keys

# --- Metrics derived from 100% of spans by the collector (Prometheus names, after the
# exporter adds unit and `_total` suffixes).
METRIC_REQUESTS: Final = "llm_requests_total"
METRIC_DURATION: Final = "llm_request_duration_seconds"
METRIC_TTFT: Final = "llm_time_to_first_token_seconds"
METRIC_INPUT_TOKENS: Final = "llm_input_tokens_total"
METRIC_OUTPUT_TOKENS: Final = "llm_output_tokens_total"
METRIC_CACHE_READ_TOKENS: Final = "llm_cache_read_tokens_total"
METRIC_CACHE_WRITE_TOKENS: Final = "llm_cache_write_tokens_total"
METRIC_COST: Final = "llm_cost_usd_total"
METRIC_UNPRICED_REQUESTS: Final = "llm_unpriced_requests_total"
METRIC_NORMALISED_SPANS: Final = "llm_normalised_spans_total"

# Histogram bucket edges of the derived metrics; alerts pick the edge at or above an objective, so they
# import these too. LLM calls take from a fraction of a second to minutes; the edges put the usual
# SLO thresholds (1, 2, 5, 10, 30 s) on bucket boundaries so a percentile near them is exact.
DURATION_BUCKETS_SECONDS: Final = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)
# Time to first token is short: tenths of a second to a few seconds.
TTFT_BUCKETS_SECONDS: Final = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20)

# The value of a label or column a span does not say (application, environment, provider, model...).
UNKNOWN: Final = "unknown"

# --- Metric labels. Only bounded dimensions: never user, conversation or trace ids.
LABEL_APPLICATION: Final = "application"
LABEL_ENVIRONMENT: Final = "environment"
LABEL_PROVIDER: Final = "provider"
LABEL_MODEL: Final = "model"
LABEL_OPERATION: Final = "operation"
LABEL_ERROR_TYPE: Final = "error_type"
LABEL_TEAM: Final = "team"
LABEL_DIALECT: Final = "dialect"  # on METRIC_NORMALISED_SPANS only
# The collector instance that derived a series ("single" outside Kubernetes); always summed away.
LABEL_COLLECTOR: Final = "collector_instance"
METRIC_LABELS: Final = (
    LABEL_APPLICATION,
    LABEL_ENVIRONMENT,
    LABEL_PROVIDER,
    LABEL_MODEL,
    LABEL_OPERATION,
    LABEL_ERROR_TYPE,
)

# --- Scrape job names, shared by the Prometheus config and the pipeline-health alerts.
JOB_PROMETHEUS: Final = "prometheus"
JOB_ALERTMANAGER: Final = "alertmanager"
JOB_COLLECTOR: Final = "otel-collector"
JOB_INGESTER: Final = "ingester"
JOB_TEMPO: Final = "tempo"
JOB_LOKI: Final = "loki"
JOB_GRAFANA: Final = "grafana"
JOB_PROXY: Final = "llm-proxy"

# --- Folders of the repository that the renderer owns: it creates, updates and deletes files there.
# Most are top-level; the VS Code extension's schema folder is one folder inside hand-written code.
GENERATED_DIRS: Final = ("alerts", "dashboards", "provisioning", "stack", "editors/vscode/schema")


def generated_dir_of(path: str) -> str | None:
    """The generated folder that holds `path` (relative, with /), or None when no folder owns it."""
    return next((d for d in GENERATED_DIRS if path.startswith(f"{d}/")), None)


# --- Alerting (render/alerts): recording rules, the self-metrics that pipeline alerts read, and the
# always-firing alert. Recording rules are named level:metric:operation; `{window}` is a PromQL
# duration (5m, 1h, 1d). Alerts read these per-application rules; dashboards read the REC_DIM_* ones
# below, which keep the labels their variables filter on, and draw each application's alert thresholds.
REC_REQUESTS_RATE: Final = "application:llm_requests:rate{window}"  # requests per second
REC_ERROR_RATIO: Final = "application:llm_requests_error_ratio:rate{window}"  # failed / all, 0..1
# Share of requests slower than the application's p95 latency objective (a histogram bucket edge), 0..1.
REC_SLOW_RATIO: Final = "application:llm_requests_slow_ratio:rate{window}"
REC_DURATION_P95: Final = "application:llm_request_duration_seconds:p95_rate5m"
REC_DURATION_P99: Final = "application:llm_request_duration_seconds:p99_rate5m"
REC_TTFT_P95: Final = "application:llm_time_to_first_token_seconds:p95_rate5m"
REC_COST_RATE: Final = "application:llm_cost_usd:rate{window}"  # USD per second
REC_TEAM_COST_RATE: Final = "team:llm_cost_usd:rate{window}"  # USD per second, by LABEL_TEAM
# The dashboards' series: 5-minute rates that keep every bounded dimension (METRIC_LABELS; `le` on
# histogram buckets), so the dashboard variables filter them and panels group them as they would the
# raw metrics; only the collector instance (and whatever else the exporter adds) is summed away.
REC_DIM_REQUESTS_RATE: Final = "dimensions:llm_requests:rate5m"  # requests per second, by error_type too
REC_DIM_INPUT_TOKENS_RATE: Final = "dimensions:llm_input_tokens:rate5m"  # tokens per second
REC_DIM_OUTPUT_TOKENS_RATE: Final = "dimensions:llm_output_tokens:rate5m"
REC_DIM_DURATION_BUCKET_RATE: Final = "dimensions:llm_request_duration_seconds_bucket:rate5m"
REC_DIM_TTFT_BUCKET_RATE: Final = "dimensions:llm_time_to_first_token_seconds_bucket:rate5m"
# The label set of those rules, without error_type (only request counts are split by it).
DIMENSION_LABELS: Final = tuple(label for label in METRIC_LABELS if label != LABEL_ERROR_TYPE)
# OpenTelemetry Collector internal telemetry, as its Prometheus reader names it (no `_total` suffix).
OTELCOL_RECEIVER_REFUSED_SPANS: Final = "otelcol_receiver_refused_spans"
OTELCOL_EXPORTER_SEND_FAILED: Final = (
    "otelcol_exporter_send_failed_spans",
    "otelcol_exporter_send_failed_metric_points",
    "otelcol_exporter_send_failed_log_records",
)
OTELCOL_EXPORTER_QUEUE_SIZE: Final = "otelcol_exporter_queue_size"
OTELCOL_EXPORTER_QUEUE_CAPACITY: Final = "otelcol_exporter_queue_capacity"
OTELCOL_TAIL_SAMPLING_TRACES_ON_MEMORY: Final = "otelcol_processor_tail_sampling_sampling_traces_on_memory"
INGESTER_REQUESTS_REJECTED: Final = "ingester_requests_rejected_total"
INGESTER_SPANS_REFUSED: Final = "ingester_spans_refused_total"
INGESTER_QUEUE_ROWS: Final = "ingester_queue_rows"
INGESTER_QUEUE_CAPACITY: Final = "ingester_queue_capacity_rows"  # its --max-queue-rows
INGESTER_DATABASE_UP: Final = "ingester_database_up"
# The LLM proxy's own metrics (proxy/metrics.go spells the same names).
PROXY_REQUESTS: Final = "observatory_proxy_requests_total"  # by provider, operation, error_type
PROXY_SPANS_DROPPED: Final = "observatory_proxy_spans_dropped_total"
PROXY_EXPORT_FAILURES: Final = "observatory_proxy_export_failures_total"
PROXY_QUEUE_SPANS: Final = "observatory_proxy_queue_spans"
PROXY_QUEUE_CAPACITY: Final = "observatory_proxy_queue_capacity_spans"
# The headers a caller sets for the proxy; it removes every X-Observatory-* header before forwarding.
PROXY_HEADER_APPLICATION: Final = "X-Observatory-Application"  # the span's service.name
PROXY_HEADER_TEAM: Final = "X-Observatory-Team"
PROXY_HEADER_USER: Final = "X-Observatory-User"  # user.id, hashed by the collector
PROMETHEUS_RULE_EVALUATION_FAILURES: Final = "prometheus_rule_evaluation_failures_total"
ALERTMANAGER_NOTIFICATIONS_FAILED: Final = "alertmanager_notifications_failed_total"
LABEL_SEVERITY: Final = "severity"
ALERT_WATCHDOG: Final = "Watchdog"
