"""Grafana: provisioned datasources (fixed UIDs, cross-linked), the dashboards provider, server settings.

The links make one click move between signals: a Prometheus exemplar opens its trace in Tempo, a
Tempo span opens its logs in Loki and its model's metrics in Prometheus, and a Loki line's
`trace_id` opens the trace. Grafana expands `$VAR` in provisioning values, so Grafana's own
`${__...}` variables are written `$${__...}`.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory import semconv as sc
from observatory.render.artifact import Artifact
from observatory.spec.types import Spec

PROVISIONING_DATASOURCES = "provisioning/datasources/datasources.yaml"
PROVISIONING_DASHBOARDS = "provisioning/dashboards/dashboards.yaml"
GRAFANA_INI = "stack/grafana/grafana.ini"


def _url(service: str, port: int) -> str:
    return f"http://{service}:{port}"


def prometheus_datasource(spec: Spec) -> dict[str, Any]:
    return {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": names.DS_PROMETHEUS,
        "access": "proxy",
        "url": _url(names.SVC_PROMETHEUS, names.PORT_PROMETHEUS),
        "isDefault": True,
        "editable": False,
        "jsonData": {
            "httpMethod": "POST",
            "prometheusType": "Prometheus",
            "prometheusVersion": spec.images.tag("prometheus").lstrip("v"),
            "timeInterval": "15s",
            "alertmanagerUid": names.DS_ALERTMANAGER,
            "exemplarTraceIdDestinations": [
                {
                    "name": "trace_id",
                    "datasourceUid": names.DS_TEMPO,
                    "urlDisplayLabel": "Trace: $${__value.raw}",
                },
            ],
        },
    }


def tempo_datasource(spec: Spec) -> dict[str, Any]:
    # Span attribute (or resource attribute) to metric label, for the links to logs and metrics.
    to_metric_labels = [
        {"key": sc.SERVICE_NAME, "value": names.LABEL_APPLICATION},
        {"key": sc.REQUEST_MODEL, "value": names.LABEL_MODEL},
    ]
    return {
        "name": "Tempo",
        "type": "tempo",
        "uid": names.DS_TEMPO,
        "access": "proxy",
        "url": _url(names.SVC_TEMPO, names.PORT_TEMPO_HTTP),
        "editable": False,
        "jsonData": {
            "tracesToLogsV2": {
                "datasourceUid": names.DS_LOKI,
                "spanStartTimeShift": "-5m",
                "spanEndTimeShift": "5m",
                "filterByTraceID": True,
                "customQuery": True,
                "query": '{$${__tags}} | trace_id = "$${__trace.traceId}"',
                "tags": [{"key": sc.SERVICE_NAME, "value": "service_name"}],
            },
            "tracesToMetrics": {
                "datasourceUid": names.DS_PROMETHEUS,
                "spanStartTimeShift": "-5m",
                "spanEndTimeShift": "5m",
                "tags": to_metric_labels,
                "queries": [
                    {
                        "name": "Requests per second",
                        "query": f"sum(rate({names.METRIC_REQUESTS}{{$$__tags}}[5m]))",
                    },
                    {
                        "name": "p95 latency",
                        "query": "histogram_quantile(0.95, sum by (le) "
                        f"(rate({names.METRIC_DURATION}_bucket{{$$__tags}}[5m])))",
                    },
                ],
            },
            "lokiSearch": {"datasourceUid": names.DS_LOKI},
            "nodeGraph": {"enabled": True},
            "search": {"hide": False},
        },
    }


def loki_datasource(spec: Spec) -> dict[str, Any]:
    return {
        "name": "Loki",
        "type": "loki",
        "uid": names.DS_LOKI,
        "access": "proxy",
        "url": _url(names.SVC_LOKI, names.PORT_LOKI_HTTP),
        "editable": False,
        "jsonData": {
            "maxLines": 1000,
            # OTLP logs carry trace_id as structured metadata, so match it as a label, not a regex.
            "derivedFields": [
                {
                    "name": "trace_id",
                    "matcherType": "label",
                    "matcherRegex": "trace_id",
                    "url": "$${__value.raw}",
                    "datasourceUid": names.DS_TEMPO,
                    "urlDisplayLabel": "Trace: $${__value.raw}",
                },
            ],
        },
    }


def _postgres_version(spec: Spec) -> int:
    """Grafana's `postgresVersion`: the server's major version times 100 (1700 for PostgreSQL 17).

    The stack's own database is the `-pgNN` suffix of the TimescaleDB image tag; a managed database
    is assumed current (17), which only affects which SQL functions Grafana's query builder offers.
    """
    major = spec.images.tag("timescaledb").rpartition("-pg")[2]
    return int(major) * 100 if spec.storage.host is None and major.isdigit() else 1700


def sql_datasource(spec: Spec) -> dict[str, Any]:
    storage = spec.storage
    host = storage.host or names.SVC_TIMESCALEDB
    return {
        "name": "TimescaleDB" if storage.engine == "timescaledb" else "PostgreSQL",
        "type": "grafana-postgresql-datasource",
        "uid": names.DS_SQL,
        "access": "proxy",
        "url": f"{host}:{storage.port}",
        "user": names.DB_READER_USER,
        "editable": False,
        "jsonData": {
            "database": storage.database,
            "sslmode": storage.sslmode,
            "postgresVersion": _postgres_version(spec),
            "timescaledb": storage.engine == "timescaledb",
            "maxOpenConns": 10,
            "maxIdleConns": 2,
            "connMaxLifetime": 14400,
            "timeInterval": "1m",
        },
        # Expanded by Grafana from its environment at start-up; the value is never in this file.
        "secureJsonData": {"password": f"${{{names.ENV_DB_READER_PASSWORD}}}"},
    }


def alertmanager_datasource(spec: Spec) -> dict[str, Any]:
    return {
        "name": "Alertmanager",
        "type": "alertmanager",
        "uid": names.DS_ALERTMANAGER,
        "access": "proxy",
        "url": _url(names.SVC_ALERTMANAGER, names.PORT_ALERTMANAGER),
        "editable": False,
        "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
    }


def datasources(spec: Spec) -> Artifact:
    content = {
        "apiVersion": 1,
        "datasources": [
            prometheus_datasource(spec),
            tempo_datasource(spec),
            loki_datasource(spec),
            sql_datasource(spec),
            alertmanager_datasource(spec),
        ],
    }
    return Artifact(PROVISIONING_DATASOURCES, content, "yaml")


def dashboards_provider(spec: Spec) -> Artifact:
    content = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "llm-observatory",
                "orgId": 1,
                "folder": names.DASHBOARD_FOLDER_TITLE,
                "folderUid": names.DASHBOARD_FOLDER_UID,
                "type": "file",
                # The files are the source of truth: edits in the UI are refused, not silently lost.
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": names.GRAFANA_DASHBOARDS_DIR, "foldersFromFilesStructure": False},
            }
        ],
    }
    return Artifact(PROVISIONING_DASHBOARDS, content, "yaml")


def server_settings(spec: Spec) -> Artifact:
    server: dict[str, Any] = {"http_port": names.PORT_GRAFANA}
    if spec.grafana.root_url is not None:  # links, redirects and OAuth callbacks use it
        server["root_url"] = spec.grafana.root_url
    content: dict[str, dict[str, Any]] = {
        "server": server,
        # Credentials come from the environment when Grafana starts; there is no default password.
        # The session cookie is Secure behind TLS (spec grafana.cookie_secure, from root_url).
        "security": {
            "admin_user": f"$__env{{{names.ENV_GRAFANA_ADMIN_USER}}}",
            "admin_password": f"$__env{{{names.ENV_GRAFANA_ADMIN_PASSWORD}}}",
            "disable_gravatar": True,
            "cookie_secure": spec.grafana.cookie_secure,
            "cookie_samesite": spec.grafana.cookie_samesite,
        },
        "auth.anonymous": {"enabled": False},
        "users": {"allow_sign_up": False, "allow_org_create": False},
        # The stack runs where nothing outside the registries is reachable; do not try to phone home.
        "analytics": {
            "reporting_enabled": False,
            "check_for_updates": False,
            "check_for_plugin_updates": False,
        },
        "news": {"news_feed_enabled": False},
    }
    if spec.dashboards.get("overview").enabled:
        overview = names.DASHBOARD_UIDS["overview"]
        content["dashboards"] = {
            "default_home_dashboard_path": f"{names.GRAFANA_DASHBOARDS_DIR}/{overview}.json"
        }
    return Artifact(GRAFANA_INI, content, "ini")


def render(spec: Spec) -> list[Artifact]:
    return [datasources(spec), dashboards_provider(spec), server_settings(spec)]
