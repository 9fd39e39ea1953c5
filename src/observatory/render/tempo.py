"""Tempo: a single-binary (`-target=all`) config for the pinned 2.10 release.

Traces arrive over OTLP from the collector after tail sampling. Tempo's metrics generator stays
off: it would see only sampled traces, and the project's metrics come from 100% of spans in the
collector. Retention is enforced by the compactor's `block_retention`: the warm tier on local disk, or
with object storage (Kubernetes, `deploy.object_storage`) the cold tier in the bucket.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.artifact import Artifact
from observatory.render.target import COMPOSE, Target, s3_credential_envs
from observatory.spec.types import ObjectStorage, Spec

TEMPO_CONFIG = "stack/tempo/tempo.yaml"
DATA_DIR = names.TEMPO_DATA_DIR


def retention_hours(spec: Spec, target: Target = COMPOSE) -> int:
    """Traces are kept for their warm tier on local disk, for the cold tier in a bucket."""
    return target.kept_days(spec.retention.traces) * 24


def _s3(store: ObjectStorage) -> dict[str, Any]:
    access, secret = s3_credential_envs(store)
    s3: dict[str, Any] = {
        "bucket": store.bucket,
        "prefix": "tempo",  # one bucket serves Tempo and Loki without their keys colliding
        "endpoint": store.endpoint,
        "insecure": store.insecure,
        "forcepathstyle": True,  # MinIO and most S3-compatible stores do not do virtual hosts
        "access_key": f"${{{access}}}",
        "secret_key": f"${{{secret}}}",
    }
    if store.region is not None:
        s3["region"] = store.region
    return s3


def _storage(target: Target) -> dict[str, Any]:
    wal = {"path": f"{DATA_DIR}/wal"}
    if target.object_storage is not None:
        return {"trace": {"backend": "s3", "wal": wal, "s3": _s3(target.object_storage)}}
    return {"trace": {"backend": "local", "wal": wal, "local": {"path": f"{DATA_DIR}/blocks"}}}


def config(spec: Spec, target: Target = COMPOSE) -> dict[str, Any]:
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
        "compactor": {"compaction": {"block_retention": f"{retention_hours(spec, target)}h"}},
        "storage": _storage(target),
        "usage_report": {"reporting_enabled": False},
    }


def render(spec: Spec, target: Target = COMPOSE) -> list[Artifact]:
    return [Artifact(TEMPO_CONFIG, config(spec, target), "yaml")]
