"""Logs: the LLM applications' logs in Loki; each line's trace_id links to its trace in Tempo.

The link is the Loki datasource's derived field (provisioned in `render.grafana`): OTLP logs carry
trace_id as structured metadata, so every panel showing lines gets it without per-panel links.
"""

from __future__ import annotations

from observatory.render.dashboards.panels import LogQL, Panel
from observatory.spec.types import Spec

TITLE = "LLM logs"
DESCRIPTION = "Logs of the LLM applications, with links from each line to its trace."
VARIABLES = ("application", "environment", "search")
TIME_FROM = "now-1h"
# Loki refuses a selector whose every matcher matches "" (the All value .* does), hence the `.+`.
STREAM = '{service_name=~".+", service_name=~"$application"} | deployment_environment_name=~"$environment"'


def panels(spec: Spec) -> list[Panel]:
    return [
        Panel(
            "log_volume",
            "Log lines by application",
            "timeseries",
            (LogQL(f"sum by (service_name) (count_over_time({STREAM} [$__auto]))", "{{service_name}}"),),
            unit="short",
            width=24,
            height=6,
        ),
        Panel(
            "error_logs",
            "Errors",
            "logs",
            (LogQL(f'{STREAM} | severity_text=~"(?i)error|fatal|critical"'),),
            width=24,
            height=10,
        ),
        Panel(
            "logs",
            "Logs",
            "logs",
            # A backtick string: what is typed is the regex, backslashes included ("..." would read them
            # as escapes, and refuse most).
            (LogQL(f"{STREAM} |~ `(?i)$search`"),),
            "Filtered by the search box (a regular expression, case-insensitive).",
            width=24,
            height=14,
        ),
    ]
