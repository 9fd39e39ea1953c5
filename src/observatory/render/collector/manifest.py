"""The OpenTelemetry Collector Builder manifest: exactly the components the rendered config uses.

The release follows the spec's `otel_collector` image tag, the collector release every image and
binary of the project is built from. Beta modules carry the release (v0.N.0); the confmap providers
are stable modules, v1.(N-94).0, the pairing every collector release has followed. The project's own
components (the `redact` processor) are Go modules in this repository, compiled from source.
"""

from __future__ import annotations

from typing import Any

CORE = "go.opentelemetry.io/collector"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"

# Component type (the part of a config key before "/") to its Go module.
MODULES: dict[str, dict[str, str]] = {
    "receivers": {"otlp": f"{CORE}/receiver/otlpreceiver"},
    "processors": {
        "memory_limiter": f"{CORE}/processor/memorylimiterprocessor",
        "batch": f"{CORE}/processor/batchprocessor",
        "transform": f"{CONTRIB}/processor/transformprocessor",
        "filter": f"{CONTRIB}/processor/filterprocessor",
        "tail_sampling": f"{CONTRIB}/processor/tailsamplingprocessor",
        "delta_to_cumulative": f"{CONTRIB}/processor/deltatocumulativeprocessor",
    },
    "connectors": {
        "signal_to_metrics": f"{CONTRIB}/connector/signaltometricsconnector",
        "forward": f"{CORE}/connector/forwardconnector",
    },
    "exporters": {
        "otlp_http": f"{CORE}/exporter/otlphttpexporter",
        "otlp_grpc": f"{CORE}/exporter/otlpexporter",
        "prometheus_remote_write": f"{CONTRIB}/exporter/prometheusremotewriteexporter",
    },
    # filestorage is its own module; naming the parent module pulls a newer, incompatible release.
    "extensions": {
        "health_check": f"{CONTRIB}/extension/healthcheckextension",
        "file_storage": f"{CONTRIB}/extension/storage/filestorage",
    },
}
PROVIDERS = ("env", "file", "yaml")

# The project's own components: component type to its folder in this repository. The builder resolves
# a `path:` from the directory it runs in, BUILD_DIR (scripts/build-collector.sh, and the same depth
# below the sources in docker/collector/Dockerfile), so the path climbs from there to the root.
PROJECT_MODULE = "github.com/llm-observatory/llm-observatory"
BUILD_DIR = ".cache/otelcol"
LOCAL: dict[str, dict[str, str]] = {"processors": {"redact": "collector/redactprocessor"}}
# A local module has no release: the version is a placeholder the `replace` to its path overrides.
LOCAL_VERSION = "v0.0.0"


def _entry(kind: str, component: str, beta: str) -> dict[str, str]:
    folder = LOCAL.get(kind, {}).get(component)
    if folder is None:
        return {"gomod": f"{MODULES[kind][component]} {beta}"}
    up = "/".join(".." for _ in BUILD_DIR.split("/"))
    return {"gomod": f"{PROJECT_MODULE}/{folder} {LOCAL_VERSION}", "path": f"{up}/{folder}"}


def release(image: str) -> tuple[str, str]:
    """(beta, stable) module versions of the collector release in an image reference."""
    tag = image.partition("@")[0].rsplit(":", 1)[1].lstrip("v")
    major, minor, patch = (int(p) for p in tag.split("."))
    if major != 0 or minor < 95:
        raise ValueError(f"collector image {image}: expected a 0.N.P release with N >= 95")
    return f"v0.{minor}.{patch}", f"v1.{minor - 94}.{patch}"


def used_types(config: dict[str, Any]) -> dict[str, list[str]]:
    """The component types each section of a collector config uses, sorted."""
    return {kind: sorted({key.split("/")[0] for key in config.get(kind, {})}) for kind in MODULES}


def local_folders() -> list[str]:
    """The repository folders of the project's own components (the build's sources)."""
    return sorted(folder for components in LOCAL.values() for folder in components.values())


def manifest(spec: Any, config: dict[str, Any]) -> dict[str, Any]:
    beta, stable = release(spec.images.otel_collector)
    out: dict[str, Any] = {
        "dist": {
            "module": "github.com/llm-observatory/otelcol-observatory",
            "name": "otelcol-observatory",
            "description": "LLM Observatory collector: the components its rendered config uses",
            "version": beta.lstrip("v"),
            "output_path": "./build",
        }
    }
    for kind, types in used_types(config).items():
        out[kind] = [_entry(kind, t, beta) for t in types]
    out["providers"] = [{"gomod": f"{CORE}/confmap/provider/{p}provider {stable}"} for p in PROVIDERS]
    return out
