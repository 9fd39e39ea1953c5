"""A collector config running only some rendered processors, between an OTLP/HTTP receiver and an OTLP
exporter to a capture endpoint: how tests check a stage's statements in the real collector."""

from __future__ import annotations

from typing import Any

from observatory.render.artifact import to_yaml


def stages_config(
    processors: dict[str, Any], stages: list[str], otlp_port: int, health_port: int, capture_url: str
) -> str:
    """`stages` of the rendered `processors`, in order, on loopback ports."""
    return to_yaml(
        {
            "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health_port}"}},
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
            "processors": {stage: processors[stage] for stage in stages},
            "exporters": {"otlp_http": {"endpoint": capture_url, "compression": "none"}},
            "service": {
                "extensions": ["health_check"],
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "processors": stages, "exporters": ["otlp_http"]}
                },
                "telemetry": {"metrics": {"level": "none"}},
            },
        }
    )
