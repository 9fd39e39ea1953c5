"""Each collector that compose and Kubernetes run has the components its config uses: the project's
own image carries exactly the rendered manifest's, so a config with anything else (the load-balancing
tier's contrib `load_balancing` exporter) must run the contrib image, and a config with the project's
`redact` processor must run the project's image."""

from __future__ import annotations

from typing import Any

import yaml

from observatory.render.collector import manifest
from observatory.render.k8s import components
from tests.conftest import REPO

K8S = REPO / "stack/k8s"


def _types(config: dict[str, Any]) -> set[tuple[str, str]]:
    return {(kind, t) for kind, types in manifest.used_types(config).items() for t in types}


def _built() -> set[tuple[str, str]]:
    """(kind, type) of every component the project's image is built with, from the committed manifest."""
    built = yaml.safe_load((REPO / "stack/otel-collector/manifest.yaml").read_text())
    out = set()
    for kind, modules in manifest.MODULES.items():
        gomods = {entry["gomod"].split()[0] for entry in built.get(kind, [])}
        out |= {(kind, t) for t, module in modules.items() if module in gomods}
        out |= {
            (kind, t)
            for t, folder in manifest.LOCAL.get(kind, {}).items()
            if f"{manifest.PROJECT_MODULE}/{folder}" in gomods
        }
    return out


def _container(deployment: str) -> dict[str, Any]:
    pod = yaml.safe_load((K8S / deployment).read_text())["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "otel-collector"]
    return dict(container)


def _image(deployment: str) -> str:
    return str(_container(deployment)["image"])


def test_the_sampling_tier_runs_the_projects_image_which_has_every_component_of_its_config() -> None:
    config = yaml.safe_load((REPO / "stack/otel-collector/config.yaml").read_text())
    assert ("processors", "redact") in _types(config)
    assert _types(config) <= _built()
    assert _image("otel-collector-sampling-deployment.yaml") == components.COLLECTOR_IMAGE
    # Built locally and loaded into the cluster, as the ingester's image is: no registry to pull from.
    assert _container("otel-collector-sampling-deployment.yaml")["imagePullPolicy"] == "IfNotPresent"


def test_the_load_balancing_tier_needs_a_contrib_component_so_runs_the_contrib_image() -> None:
    configmap = yaml.safe_load((K8S / "otel-collector-lb-config-configmap.yaml").read_text())
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    assert ("exporters", "load_balancing") in _types(config) - _built()
    assert _image("otel-collector-deployment.yaml").startswith("otel/opentelemetry-collector-contrib:")


def test_compose_builds_the_projects_collector_image() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["otel-collector"]
    assert service["image"] == components.COLLECTOR_IMAGE
    assert service["build"] == {"context": ".", "dockerfile": "docker/collector/Dockerfile"}
