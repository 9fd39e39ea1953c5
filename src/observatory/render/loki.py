"""Loki: a single-binary config for the pinned 3.7 release, with retention the compactor enforces.

Logs arrive over OTLP (`/otlp/v1/logs`); `service.name` and the deployment environment become index
labels by Loki's defaults, and `trace_id` becomes structured metadata, which Grafana links to Tempo.
With object storage (Kubernetes, `deploy.object_storage`) chunks and index live in the bucket and are
kept for the cold tier.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.artifact import Artifact
from observatory.render.target import COMPOSE, Target, listen, s3_credential_envs
from observatory.spec.types import ObjectStorage, Spec

LOKI_CONFIG = "stack/loki/loki.yaml"
DATA_DIR = names.LOKI_DATA_DIR


def retention_hours(spec: Spec, target: Target = COMPOSE) -> int:
    # Loki's minimum retention period is 24h; the spec's days are at least 1.
    return target.kept_days(spec.retention.logs) * 24


def _s3(store: ObjectStorage) -> dict[str, Any]:
    access, secret = s3_credential_envs(store)
    s3: dict[str, Any] = {
        "bucketnames": store.bucket,
        "endpoint": store.endpoint,
        "insecure": store.insecure,
        "s3forcepathstyle": True,
        "access_key_id": f"${{{access}}}",
        "secret_access_key": f"${{{secret}}}",
    }
    if store.region is not None:
        s3["region"] = store.region
    return s3


def config(spec: Spec, target: Target = COMPOSE) -> dict[str, Any]:
    store = "s3" if target.object_storage else "filesystem"
    data_dir = target.process.data_dir if target.process else DATA_DIR
    return {
        "auth_enabled": False,  # single tenant ("fake"); Grafana is the only reader
        "server": {**listen(target, names.PORT_LOKI_HTTP, names.PORT_LOKI_GRPC), "log_level": "info"},
        "common": {
            "instance_addr": "127.0.0.1",
            "path_prefix": data_dir,
            "storage": (
                {"s3": _s3(target.object_storage)}
                if target.object_storage
                else {
                    "filesystem": {
                        "chunks_directory": f"{data_dir}/chunks",
                        "rules_directory": f"{data_dir}/rules",
                    }
                }
            ),
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
        },
        # Retention needs the tsdb store with a 24h index period.
        "schema_config": {
            "configs": [
                {
                    "from": "2024-01-01",
                    "store": "tsdb",
                    "object_store": store,
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        "limits_config": {
            "retention_period": f"{retention_hours(spec, target)}h",
            "allow_structured_metadata": True,
            "volume_enabled": True,
        },
        # Only the compactor deletes expired chunks; without retention_enabled nothing expires.
        "compactor": {
            "working_directory": f"{data_dir}/compactor",
            "compaction_interval": "10m",
            "retention_enabled": True,
            "retention_delete_delay": "2h",
            "delete_request_store": store,
        },
        "query_range": {
            "results_cache": {"cache": {"embedded_cache": {"enabled": True, "max_size_mb": 100}}}
        },
        "analytics": {"reporting_enabled": False},
    }


def render(spec: Spec, target: Target = COMPOSE) -> list[Artifact]:
    return [Artifact(LOKI_CONFIG, config(spec, target), "yaml")]
