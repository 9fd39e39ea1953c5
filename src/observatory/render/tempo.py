"""Tempo: a single-binary (`-target=all`) config for the pinned 2.10 release.

Traces arrive over OTLP from the collector after tail sampling. Tempo's metrics generator stays
off: it would see only sampled traces, and the project's metrics come from 100% of spans in the
collector. Retention is enforced by the compactor's `block_retention`.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.artifact import Artifact
from observatory.spec.types import Spec

TEMPO_CONFIG = "stack/tempo/tempo.yaml"
DATA_DIR = "/var/tempo"  # owned by the image's user 10001; a named volume inherits that


def retention_hours(spec: Spec) -> int:
    """Traces are kept for their warm tier on local disk (the cold tier is object storage on deploy)."""
    return spec.retention.traces.warm_days * 24


def config(spec: Spec) -> dict[str, Any]:
    return {
        "stream_over_http_enabled": True,
        "server": {
            "http_listen_port": names.PORT_TEMPO_HTTP,
            "grpc_listen_port": names.PORT_TEMPO_GRPC,
            "log_level": "info",
        },
        "distributor": {
            "receivers": {
                "otlp": {
                    "protocols": {
                        # Receivers default to localhost; inside a container that is unreachable.
                        "grpc": {"endpoint": f"0.0.0.0:{names.PORT_OTLP_GRPC}"},
                        "http": {"endpoint": f"0.0.0.0:{names.PORT_OTLP_HTTP}"},
                    }
                }
            }
        },
        # Cut blocks every 5 minutes so a trace is searchable in the backend soon after it ends.
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": f"{retention_hours(spec)}h"}},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": f"{DATA_DIR}/wal"},
                "local": {"path": f"{DATA_DIR}/blocks"},
            }
        },
        "usage_report": {"reporting_enabled": False},
    }


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(TEMPO_CONFIG, config(spec), "yaml")]
