"""ConfigMaps holding the very bytes compose mounts, and the object-storage variants of Tempo and Loki.

Each ConfigMap is built by calling the same render functions `observatory render` writes to disk and
serialising their artifacts with the same header, so a manifest and the compose file cannot disagree.
The only deliberate difference: with `deploy.object_storage`, Tempo and Loki keep their blocks and
chunks in an S3-compatible bucket (the cold tier), so their configs differ from the compose ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from observatory import names
from observatory.render import alertmanager, alerts, collector, dashboards, grafana, loki, prometheus, tempo
from observatory.render.artifact import Artifact, serialize
from observatory.render.k8s.objects import Manifest, metadata
from observatory.spec.types import ObjectStorage, SecretRef, Spec

# Environment variables Tempo and Loki expand (`-config.expand-env=true`) into their S3 credentials,
# unless the spec's reference names its own variable. Their values come from Secret keys below.
ENV_S3_ACCESS_KEY_ID = "OBSERVATORY_S3_ACCESS_KEY_ID"
ENV_S3_SECRET_ACCESS_KEY = "OBSERVATORY_S3_SECRET_ACCESS_KEY"
KEY_S3_ACCESS_KEY_ID = "s3-access-key-id"
KEY_S3_SECRET_ACCESS_KEY = "s3-secret-access-key"
# The collector tier that runs the rendered config (tail sampling and everything after it); the
# load-balancing tier in front of it takes the compose service name that applications send to.
COLLECTOR_SAMPLING = "otel-collector-sampling"
# Headless Services (one DNS A record per ready pod) of the replicated workloads: the load-balancing
# exporter finds sampling pods through one, and Prometheus scrapes every replica through them.
SAMPLING_HEADLESS = f"{COLLECTOR_SAMPLING}-headless"
LB_HEADLESS = f"{names.SVC_COLLECTOR}-headless"
INGESTER_HEADLESS = f"{names.SVC_INGESTER}-headless"


@dataclass(frozen=True, slots=True)
class Mount:
    """One ConfigMap: which rendered files it holds and where the container sees them."""

    configmap: str
    component: str
    mount_path: str
    files: dict[str, bytes]  # key (the file name) to its exact bytes


def source_name(spec: Spec) -> str:
    # The same header source `render_files` uses, so bytes match the files compose mounts.
    return PurePosixPath(spec.source).name


def _files(artifacts: list[Artifact], folder: str, spec: Spec, suffix: str = "") -> dict[str, bytes]:
    """The artifacts directly inside `folder` (not its subfolders), by file name."""
    out = {}
    for artifact in artifacts:
        path = PurePosixPath(artifact.path)
        if str(path.parent) == folder and path.name.endswith(suffix):
            out[path.name] = serialize(artifact, source_name(spec))
    return dict(sorted(out.items()))


def env_name(ref: SecretRef, default: str) -> str:
    # Tempo and Loki read credentials from the environment only, so a file reference becomes `default`.
    return ref.env if ref.env is not None else default


def _s3_env(store: ObjectStorage) -> tuple[str, str]:
    access = env_name(store.access_key_id, ENV_S3_ACCESS_KEY_ID)
    secret = env_name(store.secret_access_key, ENV_S3_SECRET_ACCESS_KEY)
    return f"${{{access}}}", f"${{{secret}}}"


def tempo_config(spec: Spec) -> dict[str, Any]:
    """Tempo's compose config, with blocks in the bucket and kept for the cold tier when one is set."""
    config = tempo.config(spec)
    store = spec.deploy.object_storage
    if store is None:
        return config
    access, secret = _s3_env(store)
    s3: dict[str, Any] = {
        "bucket": store.bucket,
        "prefix": "tempo",  # one bucket serves Tempo and Loki without their keys colliding
        "endpoint": store.endpoint,
        "insecure": store.insecure,
        "forcepathstyle": True,  # MinIO and most S3-compatible stores do not do virtual hosts
        "access_key": access,
        "secret_key": secret,
    }
    if store.region is not None:
        s3["region"] = store.region
    wal = config["storage"]["trace"]["wal"]
    config["storage"] = {"trace": {"backend": "s3", "wal": wal, "s3": s3}}
    config["compactor"] = {"compaction": {"block_retention": f"{spec.retention.traces.cold_days * 24}h"}}
    return config


def loki_config(spec: Spec) -> dict[str, Any]:
    """Loki's compose config, with chunks and index in the bucket, kept for the cold tier."""
    config = loki.config(spec)
    store = spec.deploy.object_storage
    if store is None:
        return config
    access, secret = _s3_env(store)
    s3: dict[str, Any] = {
        "bucketnames": store.bucket,
        "endpoint": store.endpoint,
        "insecure": store.insecure,
        "s3forcepathstyle": True,
        "access_key_id": access,
        "secret_access_key": secret,
    }
    if store.region is not None:
        s3["region"] = store.region
    config["common"]["storage"] = {"s3": s3}
    config["schema_config"]["configs"][0]["object_store"] = "s3"
    config["compactor"]["delete_request_store"] = "s3"
    config["limits_config"]["retention_period"] = f"{spec.retention.logs.cold_days * 24}h"
    return config


def _collector_config(spec: Spec) -> Artifact:
    return next(a for a in collector.render(spec) if a.path == collector.COLLECTOR_CONFIG)


def _one(artifact: Artifact, spec: Spec) -> dict[str, bytes]:
    return {PurePosixPath(artifact.path).name: serialize(artifact, source_name(spec))}


def _prometheus_config(spec: Spec) -> Artifact:
    """Compose's Prometheus config, except that every collector and ingester replica is scraped."""
    cfg = prometheus.scrape_every_replica(
        prometheus.config(spec),
        {
            names.JOB_COLLECTOR: ([LB_HEADLESS, SAMPLING_HEADLESS], names.PORT_COLLECTOR_METRICS),
            names.JOB_INGESTER: ([INGESTER_HEADLESS], names.PORT_INGESTER),
        },
    )
    return Artifact(prometheus.PROMETHEUS_CONFIG, cfg, "yaml")


# Rendering is pure, and every workload asks for its ConfigMaps: render them once per spec.
@lru_cache(maxsize=8)
def mounts(spec: Spec) -> tuple[Mount, ...]:
    """Every ConfigMap of the stack, in a fixed order."""
    graf = grafana.render(spec)
    by_path = {a.path: a for a in graf}
    provisioning_dirs = sorted(
        {str(PurePosixPath(a.path).parent) for a in graf if a.path.startswith("provisioning/")}
    )
    out = [
        Mount(
            "grafana-config",
            names.SVC_GRAFANA,
            "/etc/grafana/grafana.ini",
            _one(by_path[grafana.GRAFANA_INI], spec),
        ),
    ]
    for folder in provisioning_dirs:
        sub = PurePosixPath(folder).name
        out.append(
            Mount(
                f"grafana-provisioning-{sub}",
                names.SVC_GRAFANA,
                f"/etc/grafana/{folder}",
                _files(graf, folder, spec),
            )
        )
    out += [
        Mount(
            "grafana-dashboards",
            names.SVC_GRAFANA,
            names.GRAFANA_DASHBOARDS_DIR,
            _files(dashboards.render(spec), "dashboards", spec, ".json"),
        ),
        Mount(
            "prometheus-config",
            names.SVC_PROMETHEUS,
            "/etc/prometheus/prometheus.yml",
            _one(_prometheus_config(spec), spec),
        ),
        # Only the rule files Prometheus loads (`rules/*.yml`); promtool's tests stay in the repository.
        Mount(
            "prometheus-rules",
            names.SVC_PROMETHEUS,
            names.PROMETHEUS_RULES_DIR,
            _files(alerts.render(spec), "alerts", spec, ".yml"),
        ),
        Mount(
            "alertmanager-config",
            names.SVC_ALERTMANAGER,
            "/etc/alertmanager/alertmanager.yml",
            _one(alertmanager.render(spec)[0], spec),
        ),
        Mount(
            "tempo-config",
            names.SVC_TEMPO,
            "/etc/tempo/tempo.yaml",
            _one(Artifact(tempo.TEMPO_CONFIG, tempo_config(spec), "yaml"), spec),
        ),
        Mount(
            "loki-config",
            names.SVC_LOKI,
            "/etc/loki/loki.yaml",
            _one(Artifact(loki.LOKI_CONFIG, loki_config(spec), "yaml"), spec),
        ),
        Mount(
            "otel-collector-config",
            COLLECTOR_SAMPLING,
            "/etc/otelcol/config.yaml",
            _one(_collector_config(spec), spec),
        ),
    ]
    return tuple(out)


def configmap(mount: Mount, spec: Spec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(mount.configmap, spec, mount.component),
        "data": {key: value.decode("utf-8") for key, value in mount.files.items()},
    }


def volume_and_mount(mount: Mount) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod volume and container mount of `mount`: a single file is mounted by subPath."""
    volume = {"name": mount.configmap, "configMap": {"name": mount.configmap}}
    if len(mount.files) == 1 and PurePosixPath(mount.mount_path).name in mount.files:
        key = PurePosixPath(mount.mount_path).name
        return volume, {
            "name": mount.configmap,
            "mountPath": mount.mount_path,
            "subPath": key,
            "readOnly": True,
        }
    return volume, {"name": mount.configmap, "mountPath": mount.mount_path, "readOnly": True}
