"""The variables docker compose interpolates: pinned images, host ports and retention flags.

`docker-compose.yml` is hand-written and reads these with `--env-file`, so a spec change (a new
image, another port, a longer retention) reaches compose without editing it.
"""

from __future__ import annotations

from observatory.render import prometheus
from observatory.render.artifact import Artifact
from observatory.spec.types import Spec

IMAGES_ENV = "stack/images.env"
SETTINGS_ENV = "stack/settings.env"

# The collector and the ingester are not here: compose builds both (docker/collector, docker/ingester).
IMAGE_COMPONENTS = ("grafana", "prometheus", "alertmanager", "tempo", "loki", "timescaledb")
PORT_COMPONENTS = (
    "grafana",
    "prometheus",
    "alertmanager",
    "tempo",
    "loki",
    "timescaledb",
    "otlp_grpc",
    "otlp_http",
    "ingester",
    "api",
    "proxy",
)


def images(spec: Spec) -> Artifact:
    values = {f"{c.upper()}_IMAGE": getattr(spec.images, c) for c in IMAGE_COMPONENTS}
    return Artifact(IMAGES_ENV, values, "env")


def settings(spec: Spec) -> Artifact:
    values: dict[str, str | int] = {"BIND_ADDRESS": spec.ports.bind_address}
    values |= {f"{c.upper()}_PORT": getattr(spec.ports, c) for c in PORT_COMPONENTS}
    values["PROMETHEUS_RETENTION"] = prometheus.retention_flag_value(spec)
    values["POSTGRES_DB"] = spec.storage.database
    # The proxy's service is in the `proxy` profile: compose starts it only when the spec enables it.
    values["COMPOSE_PROFILES"] = "proxy" if spec.proxy.enabled else ""
    values |= {f"PROXY_{k.upper()}": v for k, v in proxy_settings(spec).items()}
    return Artifact(SETTINGS_ENV, values, "env")


def proxy_settings(spec: Spec) -> dict[str, str | int]:
    """The proxy's flags that come from the spec (compose passes them as ${PROXY_*})."""
    p = spec.proxy
    return {
        "openai_base_url": p.openai_base_url,
        "anthropic_base_url": p.anthropic_base_url,
        "upstream_timeout": f"{p.upstream_timeout_seconds:g}s",
        "stream_idle_timeout": f"{p.stream_idle_timeout_seconds:g}s",
        "max_request_bytes": p.max_request_bytes,
        "max_concurrent_calls": p.max_concurrent_calls,
        "queue_spans": p.queue_spans,
    }


def render(spec: Spec) -> list[Artifact]:
    return [images(spec), settings(spec)]
