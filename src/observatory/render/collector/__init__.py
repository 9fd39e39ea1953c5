"""The OpenTelemetry Collector: its config and the builder manifest of the project's own distribution.

Every span first goes through one traces pipeline that normalises dialects, prices, redacts, and
counts it into metrics; only then does it fork: one copy is tail-sampled for Tempo, one (LLM spans
only, unsampled) goes to the ingester. So request, token and cost metrics come from 100% of spans
and stay exact whatever the sampling ratio.

Backend addresses are `${env:NAME:-default}` references, defaulting to the compose service names,
so the same file runs in compose, on Kubernetes and in the local test stack. The local stack's variant
(`target.local`) has no sampled-traces or logs pipeline: Tempo and Loki do not run there.
"""

from __future__ import annotations

from typing import Any

from observatory import dialects as dialect_table
from observatory import names
from observatory.render.artifact import Artifact
from observatory.render.collector import manifest, ottl, redact
from observatory.render.collector.metrics import signal_to_metrics
from observatory.render.collector.sampling import tail_sampling
from observatory.render.target import COMPOSE, Target
from observatory.spec.types import Spec

COLLECTOR_CONFIG = "stack/otel-collector/config.yaml"
MANIFEST = "stack/otel-collector/manifest.yaml"
STORAGE_DIR = names.COLLECTOR_DATA_DIR
# Spans per export request, batched by each exporter's queue: what the ingester and Tempo receive at
# a time (the ingester's benchmark sends requests of this size).
BATCH_SPANS = 2048
# Names the collector instance on the series it derives: with several replicas (Kubernetes), each
# writes its own counters, and the same labels from two writers would collide in Prometheus.
ENV_INSTANCE = "OTELCOL_INSTANCE"


# The environment variables a rendered config reads, and what each sets.
ENV_TEMPO = "OTELCOL_TEMPO_ENDPOINT"  # base URL of Tempo's OTLP/HTTP receiver
ENV_LOKI = "OTELCOL_LOKI_ENDPOINT"  # Loki's OTLP base URL (ends in /otlp)
ENV_INGESTER = "OTELCOL_INGESTER_ENDPOINT"  # the ingester's base URL
ENV_PROMETHEUS = "OTELCOL_PROMETHEUS_ENDPOINT"  # Prometheus's remote-write URL
ENV_STORAGE_DIR = "OTELCOL_STORAGE_DIR"  # where the exporters' disk queues live
ENV_HEALTH = "OTELCOL_HEALTH_ENDPOINT"  # host:port of the health check
ENV_OTLP_GRPC = "OTELCOL_OTLP_GRPC_ENDPOINT"  # host:port the OTLP/gRPC receiver listens on
ENV_OTLP_HTTP = "OTELCOL_OTLP_HTTP_ENDPOINT"  # host:port the OTLP/HTTP receiver listens on
ENV_METRICS_HOST = "OTELCOL_METRICS_HOST"  # the collector's own metrics: host
ENV_METRICS_PORT = "OTELCOL_METRICS_PORT"  # and port


def loopback_env(
    *,
    prometheus_write_url: str,
    storage_dir: str,
    health_port: int,
    otlp_grpc_port: int,
    otlp_http_port: int,
    metrics_port: int,
    tempo_url: str | None = None,
    loki_url: str | None = None,
    ingester_url: str | None = None,
) -> dict[str, str]:
    """The environment that runs a rendered config as a process on loopback (tests, benchmarks, the
    local stack); a backend left out keeps its compose address."""
    out = {
        ENV_PROMETHEUS: prometheus_write_url,
        ENV_STORAGE_DIR: storage_dir,
        ENV_HEALTH: f"127.0.0.1:{health_port}",
        ENV_OTLP_GRPC: f"127.0.0.1:{otlp_grpc_port}",
        ENV_OTLP_HTTP: f"127.0.0.1:{otlp_http_port}",
        ENV_METRICS_HOST: "127.0.0.1",
        ENV_METRICS_PORT: str(metrics_port),
    }
    for name, url in ((ENV_TEMPO, tempo_url), (ENV_LOKI, loki_url), (ENV_INGESTER, ingester_url)):
        if url is not None:
            out[name] = url
    return out


def env(name: str, default: str) -> str:
    """A value the collector takes from its environment at start-up, else `default`."""
    return f"${{env:{name}:-{default}}}"


# How many spans (or log records) an exporter's disk queue holds: 5,000 batches' worth.
QUEUE_ITEMS = 5000 * BATCH_SPANS


# Every exporter that talks to a backend: retried with backoff, queued on disk so a backend or
# collector restart loses nothing the collector accepted. 30 minutes of retries covers a backend
# upgrade; after that the data is dropped and counted (otelcol_exporter_send_failed_*). The queue
# batches as it sends: an in-memory batch processor before it would hold up to a second of
# acknowledged spans that a crash loses (measured: 147 of 25,991 requests), while what the queue
# holds is on disk before the receiver answers.
def _reliable(endpoint: str) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": "1s",
            "max_interval": "30s",
            "max_elapsed_time": "30m",
        },
        "sending_queue": {
            "enabled": True,
            "storage": "file_storage",
            "sizer": "items",
            "queue_size": QUEUE_ITEMS,
            "num_consumers": 4,
            "batch": {"flush_timeout": "1s", "min_size": BATCH_SPANS, "max_size": BATCH_SPANS},
        },
    }


def exporters(spec: Spec, target: Target) -> dict[str, Any]:
    stores = {
        "otlp_http/tempo": _reliable(env(ENV_TEMPO, f"http://{names.SVC_TEMPO}:{names.PORT_OTLP_HTTP}")),
        "otlp_http/loki": _reliable(env(ENV_LOKI, f"http://{names.SVC_LOKI}:{names.PORT_LOKI_HTTP}/otlp")),
    }
    return {
        **(stores if target.runs_trace_and_log_stores else {}),
        "otlp_http/ingester": _reliable(
            env(ENV_INGESTER, f"http://{names.SVC_INGESTER}:{names.PORT_INGESTER}")
        ),
        "prometheus_remote_write": {
            "endpoint": env(
                ENV_PROMETHEUS,
                f"http://{names.SVC_PROMETHEUS}:{names.PORT_PROMETHEUS}/api/v1/write",
            ),
            # Resource attributes are copied onto datapoints as bounded labels; no target_info series.
            "target_info": {"enabled": False},
            "external_labels": {names.LABEL_COLLECTOR: env(ENV_INSTANCE, "single")},
            # No otel_scope_* labels: the scope is always the connector, so they would only add noise.
            "disable_scope_info": True,
            "retry_on_failure": {
                "enabled": True,
                "initial_interval": "1s",
                "max_interval": "30s",
                "max_elapsed_time": "30m",
            },
            "remote_write_queue": {"enabled": True, "queue_size": 10000},
        },
    }


def processors(spec: Spec, target: Target) -> dict[str, Any]:
    table = dialect_table.load()
    out: dict[str, Any] = {
        # First in every pipeline: refuse data (the sender retries) before the process runs out of memory.
        "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
        "transform/normalise": {"error_mode": "ignore", "trace_statements": ottl.normalise_groups(table)},
        "transform/price": {
            "error_mode": "ignore",
            "trace_statements": [ottl.error_type_group(table), *ottl.pricing_groups(spec, table)],
        },
        "transform/redact": {"error_mode": "ignore", "trace_statements": ottl.redaction_groups(spec, table)},
        "transform/redact_logs": {
            "error_mode": "ignore",
            "log_statements": ottl.log_redaction_groups(spec, table),
        },
        redact.TYPE: redact.processor(spec),
        "transform/metric_labels": {
            "error_mode": "ignore",
            "metric_statements": [{"context": "datapoint", "statements": ottl.metric_label_statements()}],
        },
        # The ingester stores LLM requests only: drop every other span from its copy.
        "filter/llm_only": {"error_mode": "ignore", "traces": {"span": [f"not ({ottl.is_llm_span(table)})"]}},
        # User feedback (the SDK's ratings, the GenAI evaluation event) goes to the ingester too.
        "filter/ratings_only": {
            "error_mode": "ignore",
            "logs": {"log_record": [f"not ({ottl.is_rating()})"]},
        },
        "tail_sampling": tail_sampling(spec),
        "delta_to_cumulative": {"max_stale": "10m"},
        "batch": {"send_batch_size": BATCH_SPANS, "timeout": "1s"},
    }
    if not target.runs_trace_and_log_stores:
        del out["tail_sampling"], out["transform/redact_logs"]
    if not spec.pii.patterns and not spec.pii.hash_user_ids:
        del out[redact.TYPE]
    # A transform with no statements is refused: a spec that keeps content and user ids has none.
    for name in ("transform/redact", "transform/redact_logs"):
        if name in out and not (out[name].get("trace_statements") or out[name].get("log_statements")):
            del out[name]
    return out


def pipelines(target: Target, processors: dict[str, Any]) -> dict[str, Any]:
    """The pipelines; a processor the spec leaves nothing to do (absent from `processors`) is left out.

    Redaction comes after pricing (which reads model names) and after the user-id hash (so the id is
    hashed as sent); derived metrics, sampled traces and rows all come from the redacted spans.
    """
    out: dict[str, Any] = {
        "traces/in": {
            "receivers": ["otlp"],
            "processors": [
                "memory_limiter",
                "transform/normalise",
                "transform/price",
                "transform/redact",
                redact.TYPE,
            ],
            "exporters": ["signal_to_metrics", "forward/sample", "forward/store"],
        },
        "traces/sample": {
            "receivers": ["forward/sample"],
            # The tail sampler holds these spans in memory until its decision anyway: batching after it
            # loses nothing more on a crash and saves a disk write per decided trace.
            "processors": ["tail_sampling", "batch"],
            "exporters": ["otlp_http/tempo"],
        },
        "traces/store": {
            "receivers": ["forward/store"],
            "processors": ["filter/llm_only"],
            "exporters": ["otlp_http/ingester"],
        },
        "metrics/derived": {
            "receivers": ["signal_to_metrics"],
            "processors": ["transform/metric_labels", "delta_to_cumulative", "batch"],
            "exporters": ["prometheus_remote_write"],
        },
        "metrics/apps": {
            "receivers": ["otlp"],
            # Applications' own metrics: their datapoint attributes become Prometheus labels.
            "processors": ["memory_limiter", redact.TYPE, "delta_to_cumulative", "batch"],
            "exporters": ["prometheus_remote_write"],
        },
        "logs": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "transform/redact_logs", redact.TYPE],
            "exporters": ["otlp_http/loki"],
        },
        "logs/ratings": {
            "receivers": ["otlp"],
            # The user id hashed and the comment redacted like every other text; no content to drop.
            "processors": ["memory_limiter", "filter/ratings_only", redact.TYPE],
            "exporters": ["otlp_http/ingester"],
        },
    }
    if not target.runs_trace_and_log_stores:
        del out["traces/sample"], out["logs"]
        out["traces/in"]["exporters"].remove("forward/sample")
    for pipeline in out.values():
        pipeline["processors"] = [p for p in pipeline["processors"] if p in processors]
    return out


# The OTLP receivers' limits. A request must finish arriving within READ_TIMEOUT (its headers within
# READ_HEADER_TIMEOUT), so a client that announces a huge body and stalls holds a connection for
# seconds, not forever; a body (after decompression) over MAX_BODY_MIB is refused. 20 MiB is the
# collector's own HTTP default, made explicit and applied to gRPC too (grpc-go's default is 4 MiB),
# so a batch either protocol takes, the other takes as well; 30 s reads 20 MiB at 0.7 MB/s.
READ_HEADER_TIMEOUT = "10s"
READ_TIMEOUT = "30s"
WRITE_TIMEOUT = "30s"
IDLE_TIMEOUT = "60s"  # an idle keep-alive connection is closed after this
MAX_BODY_MIB = 20


def receivers() -> dict[str, Any]:
    grpc_keepalive = {
        # Idle connections are closed, dead peers found by a ping within 30 s + 10 s.
        "server_parameters": {"max_connection_idle": IDLE_TIMEOUT, "time": "30s", "timeout": "10s"},
        # Clients may ping every 10 s at most, even between calls (SDKs keep their channel open).
        "enforcement_policy": {"min_time": "10s", "permit_without_stream": True},
    }
    return {
        "otlp": {
            "protocols": {
                "grpc": {
                    "endpoint": env(ENV_OTLP_GRPC, f"0.0.0.0:{names.PORT_OTLP_GRPC}"),
                    "max_recv_msg_size_mib": MAX_BODY_MIB,
                    "keepalive": grpc_keepalive,
                },
                "http": {
                    "endpoint": env(ENV_OTLP_HTTP, f"0.0.0.0:{names.PORT_OTLP_HTTP}"),
                    "max_request_body_size": MAX_BODY_MIB * 1024 * 1024,
                    "read_header_timeout": READ_HEADER_TIMEOUT,
                    "read_timeout": READ_TIMEOUT,
                    "write_timeout": WRITE_TIMEOUT,
                    # keepalive.idle_timeout replaces the flat idle_timeout, deprecated in v0.160.
                    "keepalive": {"idle_timeout": IDLE_TIMEOUT},
                },
            }
        }
    }


def config(spec: Spec, target: Target = COMPOSE) -> dict[str, Any]:
    forward = ["forward/sample", "forward/store"] if target.runs_trace_and_log_stores else ["forward/store"]
    procs = processors(spec, target)
    return {
        "extensions": {
            "health_check": {"endpoint": env(ENV_HEALTH, f"0.0.0.0:{names.PORT_COLLECTOR_HEALTH}")},
            "file_storage": {
                "directory": env(ENV_STORAGE_DIR, f"{STORAGE_DIR}/file_storage"),
                "create_directory": True,
                # Compaction's temporary files beside the queues: the contrib image has no /tmp.
                "compaction": {
                    "on_start": True,
                    "directory": env(ENV_STORAGE_DIR, f"{STORAGE_DIR}/file_storage"),
                },
            },
        },
        "receivers": receivers(),
        "processors": procs,
        "connectors": {
            "signal_to_metrics": signal_to_metrics(dialect_table.load()),
            **{name: {} for name in forward},
        },
        "exporters": exporters(spec, target),
        "service": {
            "extensions": ["health_check", "file_storage"],
            "telemetry": {
                "logs": {"level": "info"},
                "metrics": {
                    "level": "normal",
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {
                                        "host": env(ENV_METRICS_HOST, "0.0.0.0"),
                                        "port": env(ENV_METRICS_PORT, str(names.PORT_COLLECTOR_METRICS)),
                                    }
                                }
                            }
                        }
                    ],
                },
            },
            "pipelines": pipelines(target, procs),
        },
    }


def render(spec: Spec, target: Target = COMPOSE) -> list[Artifact]:
    cfg = config(spec, target)
    return [
        Artifact(COLLECTOR_CONFIG, cfg, "yaml"),
        Artifact(MANIFEST, manifest.manifest(spec, cfg), "yaml"),
    ]
