"""Tempo: a single-binary (`-target=all`) config for the release line of the spec's Tempo image.

Traces arrive over OTLP from the collector after tail sampling. Tempo's metrics generator stays
off: it would see only sampled traces, and the project's metrics come from 100% of spans in the
collector. Retention is the warm tier on local disk, or with object storage (Kubernetes,
`deploy.object_storage`) the cold tier in the bucket. The two release lines differ in where:
- 2.x: the compactor's `block_retention`; the ingester cuts a block every 5 minutes, so a trace is
  searchable in the backend soon after it ends;
- 3.x: no ingester or compactor; recent traces are served by the live store, and the backend worker's
  compaction enforces `block_retention` (`tempo-cli migrate config` drops the 2.x sections the same
  way).
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.artifact import Artifact
from observatory.render.target import COMPOSE, Target, listen, s3_credential_envs
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


def _storage(target: Target, data_dir: str) -> dict[str, Any]:
    wal = {"path": f"{data_dir}/wal"}
    if target.object_storage is not None:
        return {"trace": {"backend": "s3", "wal": wal, "s3": _s3(target.object_storage)}}
    return {"trace": {"backend": "local", "wal": wal, "local": {"path": f"{data_dir}/blocks"}}}


def _receivers(target: Target) -> dict[str, Any]:
    if target.process is None:
        # Receivers default to localhost; inside a container that is unreachable.
        grpc, http = f"0.0.0.0:{names.PORT_OTLP_GRPC}", f"0.0.0.0:{names.PORT_OTLP_HTTP}"
    else:
        grpc = f"127.0.0.1:{target.process.otlp_grpc_port}"
        http = f"127.0.0.1:{target.process.otlp_http_port}"
    return {"otlp": {"protocols": {"grpc": {"endpoint": grpc}, "http": {"endpoint": http}}}}


def release_line(image: str) -> int:
    """The major version of a Tempo image reference (`grafana/tempo:3.0.3` is 3); a tag that names no
    version (`latest`) is the current line, 3."""
    name = image.rsplit("/", 1)[-1]
    tag = name.split("@", 1)[0].partition(":")[2].removeprefix("v")
    major = tag.split(".", 1)[0]
    return int(major) if major.isdigit() else 3


def config(spec: Spec, target: Target = COMPOSE) -> dict[str, Any]:
    data_dir = target.process.data_dir if target.process else DATA_DIR
    retention = {"block_retention": f"{retention_hours(spec, target)}h"}
    if release_line(spec.images.tempo) >= 3:
        modules: dict[str, Any] = {
            # Their defaults are under /var/tempo: said here so that they follow the data directory.
            "live_store": {
                "wal": {"path": f"{data_dir}/live-store/traces"},
                "shutdown_marker_dir": f"{data_dir}/live-store/shutdown-marker",
            },
            "backend_scheduler": {"local_work_path": f"{data_dir}/backend-scheduler"},
            # The retention jobs run on the worker, with its compaction settings.
            "backend_worker": {"compaction": retention},
        }
    else:
        # Cut blocks every 5 minutes so a trace is searchable in the backend soon after it ends.
        modules = {"ingester": {"max_block_duration": "5m"}, "compactor": {"compaction": retention}}
    return {
        "stream_over_http_enabled": True,
        "server": {**listen(target, names.PORT_TEMPO_HTTP, names.PORT_TEMPO_GRPC), "log_level": "info"},
        "distributor": {"receivers": _receivers(target)},
        **modules,
        "storage": _storage(target, data_dir),
        "usage_report": {"reporting_enabled": False},
    }


def render(spec: Spec, target: Target = COMPOSE) -> list[Artifact]:
    return [Artifact(TEMPO_CONFIG, config(spec, target), "yaml")]
