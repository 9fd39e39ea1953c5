"""ConfigMaps holding the very bytes compose mounts, and the Kubernetes variants of three configs.

Each ConfigMap holds artifacts the other renderers already produced, serialised with the same header,
so a manifest and the compose file cannot disagree. Prometheus, Tempo and Loki are rendered for the
Kubernetes target (`render/target.py`): every replica scraped, and with `deploy.object_storage` blocks
and chunks in an S3-compatible bucket (the cold tier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from observatory import names
from observatory.render import alertmanager, collector, grafana, loki, prometheus, tempo
from observatory.render.artifact import Artifact, serialize
from observatory.render.k8s.objects import Manifest, metadata
from observatory.render.target import kubernetes
from observatory.spec.types import Spec

# Keys of the object-storage credentials in the Secret the user creates (docs/kubernetes.md).
KEY_S3_ACCESS_KEY_ID = "s3-access-key-id"
KEY_S3_SECRET_ACCESS_KEY = "s3-secret-access-key"


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


def _files(artifacts: Sequence[Artifact], folder: str, spec: Spec, suffix: str = "") -> dict[str, bytes]:
    """The artifacts directly inside `folder` (not its subfolders), by file name."""
    out = {}
    for artifact in artifacts:
        path = PurePosixPath(artifact.path)
        if str(path.parent) == folder and path.name.endswith(suffix):
            out[path.name] = serialize(artifact, source_name(spec))
    return dict(sorted(out.items()))


def _one(artifact: Artifact, spec: Spec) -> dict[str, bytes]:
    return {PurePosixPath(artifact.path).name: serialize(artifact, source_name(spec))}


def mounts(spec: Spec, rendered: Sequence[Artifact]) -> Mounts:
    """Every ConfigMap of the stack, in a fixed order: the artifacts compose mounts (`rendered`, the
    output of the other renderers), except Prometheus, Tempo and Loki, rendered for Kubernetes."""
    target = kubernetes(spec)
    by_path = {a.path: a for a in rendered}
    provisioning_dirs = sorted(
        {str(PurePosixPath(a.path).parent) for a in rendered if a.path.startswith("provisioning/")}
    )
    out = [
        Mount(
            "grafana-config",
            names.SVC_GRAFANA,
            names.GRAFANA_INI_PATH,
            _one(by_path[grafana.GRAFANA_INI], spec),
        ),
    ]
    for folder in provisioning_dirs:
        sub = PurePosixPath(folder).name
        out.append(
            Mount(
                f"grafana-provisioning-{sub}",
                names.SVC_GRAFANA,
                f"{names.GRAFANA_PROVISIONING_DIR}/{sub}",
                _files(rendered, folder, spec),
            )
        )
    out += [
        Mount(
            "grafana-dashboards",
            names.SVC_GRAFANA,
            names.GRAFANA_DASHBOARDS_DIR,
            _files(rendered, "dashboards", spec, ".json"),
        ),
        Mount(
            "prometheus-config",
            names.SVC_PROMETHEUS,
            names.PROMETHEUS_CONFIG_PATH,
            _one(prometheus.render(spec, target)[0], spec),
        ),
        # Only the rule files Prometheus loads (`rules/*.yml`); promtool's tests stay in the repository.
        Mount(
            "prometheus-rules",
            names.SVC_PROMETHEUS,
            names.PROMETHEUS_RULES_DIR,
            _files(rendered, "alerts", spec, ".yml"),
        ),
        Mount(
            "alertmanager-config",
            names.SVC_ALERTMANAGER,
            names.ALERTMANAGER_CONFIG_PATH,
            _one(by_path[alertmanager.ALERTMANAGER_CONFIG], spec),
        ),
        Mount(
            "tempo-config",
            names.SVC_TEMPO,
            names.TEMPO_CONFIG_PATH,
            _one(tempo.render(spec, target)[0], spec),
        ),
        Mount(
            "loki-config",
            names.SVC_LOKI,
            names.LOKI_CONFIG_PATH,
            _one(loki.render(spec, target)[0], spec),
        ),
        Mount(
            "otel-collector-config",
            names.SVC_COLLECTOR_SAMPLING,
            names.COLLECTOR_CONFIG_PATH,
            _one(by_path[collector.COLLECTOR_CONFIG], spec),
        ),
    ]
    return tuple(out)


Mounts = tuple[Mount, ...]


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
