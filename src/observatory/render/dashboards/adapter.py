"""The one module that imports grafanalib, and where it is brought up to current Grafana JSON.

grafanalib 0.7.1 builds dashboards for schemaVersion 12: its panels carry legacy keys (`span`, `error`,
`height`), its targets legacy fields (`intervalFactor`, `step`), and it has no Tempo or Loki targets and
no traces panel. The classes here extend its `Panel`, `Target`, `SqlTarget` and `Template` so they emit
only what the current dashboard schema knows, and `dashboard_json` turns a grafanalib `Dashboard` into
plain data at schemaVersion 39 (accepted and migrated by Grafana 10.4 to 13) with the legacy top-level
keys removed. Datasources are always `{type, uid}` references: Grafana 13 addresses them by UID only.
"""

from __future__ import annotations

import json
from typing import Any

import attr
from grafanalib import core as gl
from grafanalib._gen import DashboardEncoder

from observatory import names

SCHEMA_VERSION = 39
PROMETHEUS: dict[str, str] = {"type": "prometheus", "uid": names.DS_PROMETHEUS}
TEMPO: dict[str, str] = {"type": "tempo", "uid": names.DS_TEMPO}
LOKI: dict[str, str] = {"type": "loki", "uid": names.DS_LOKI}
SQL: dict[str, str] = {"type": "grafana-postgresql-datasource", "uid": names.DS_SQL}
GRAFANA: dict[str, str] = {"type": "grafana", "uid": "-- Grafana --"}

# What a current panel may carry (the schema's Panel definition); grafanalib adds more.
_PANEL_KEYS = frozenset(
    (
        "type",
        "id",
        "title",
        "description",
        "datasource",
        "gridPos",
        "links",
        "targets",
        "options",
        "fieldConfig",
        "transformations",
        "interval",
        "maxDataPoints",
        "timeFrom",
        "pluginVersion",
    )
)
# Top-level keys of grafanalib's dashboard that current Grafana no longer reads.
_LEGACY_DASHBOARD_KEYS = ("__inputs", "hideControls", "rows", "sharedCrosshair", "style", "gnetId", "id")


def _present(data: dict[str, Any], keep: frozenset[str] | None = None) -> dict[str, Any]:
    """`data` without None values, empty strings and empty lists (and without keys not in `keep`)."""
    return {
        k: v for k, v in data.items() if v is not None and v != "" and v != [] and (keep is None or k in keep)
    }


@attr.s
class PromTarget(gl.Target):  # type: ignore[misc]
    """A Prometheus query; adds `exemplar`, `range` and `editorMode`, drops legacy fields."""

    exemplar: bool = attr.ib(default=False)

    def to_json_data(self) -> dict[str, Any]:
        return _present(
            {
                "refId": self.refId,
                "datasource": PROMETHEUS,
                "expr": self.expr,
                "legendFormat": self.legendFormat,
                "format": self.format,
                "instant": self.instant,
                "range": not self.instant,
                "exemplar": self.exemplar,
                "editorMode": "code",
                "interval": self.interval,
            }
        )


@attr.s
class SqlQuery(gl.SqlTarget):  # type: ignore[misc]
    """A PostgreSQL query in code mode; grafanalib's SqlTarget has neither `editorMode` nor datasource."""

    def to_json_data(self) -> dict[str, Any]:
        return {
            "refId": self.refId,
            "datasource": SQL,
            "rawSql": self.rawSql,
            "rawQuery": True,
            "format": self.format,
            "editorMode": "code",
        }


@attr.s
class TempoQuery(gl.Target):  # type: ignore[misc]
    """A Tempo TraceQL search (a table of traces) or a trace by id; grafanalib has no Tempo target."""

    limit: int = attr.ib(default=20)
    spansPerSpanSet: int = attr.ib(default=3)

    def to_json_data(self) -> dict[str, Any]:
        return {
            "refId": self.refId,
            "datasource": TEMPO,
            "queryType": "traceql",
            "query": self.expr,
            "limit": self.limit,
            "spss": self.spansPerSpanSet,
            "tableType": "traces",
            "filters": [],
        }


@attr.s
class LokiQuery(gl.Target):  # type: ignore[misc]
    """A LogQL query; grafanalib 0.7.1 has no Loki target."""

    def to_json_data(self) -> dict[str, Any]:
        return _present(
            {
                "refId": self.refId,
                "datasource": LOKI,
                "expr": self.expr,
                "legendFormat": self.legendFormat,
                "queryType": "instant" if self.instant else "range",
                "editorMode": "code",
            }
        )


@attr.s
class VizPanel(gl.Panel):  # type: ignore[misc]
    """Any current panel type (timeseries, stat, table, heatmap, logs, traces, ...) with its options.

    `options` and `fieldConfig` are given whole, as the panel type's schema defines them; grafanalib's
    own panel classes emit Angular-era options instead.
    """

    type: str = attr.ib(default="timeseries")
    options: dict[str, Any] = attr.ib(factory=dict)
    fieldConfig: dict[str, Any] = attr.ib(factory=lambda: {"defaults": {}, "overrides": []})

    def to_json_data(self) -> dict[str, Any]:
        data = self.panel_json({"type": self.type, "options": self.options})
        data["fieldConfig"] = self.fieldConfig
        return _present(data, _PANEL_KEYS)


@attr.s
class Variable(gl.Template):  # type: ignore[misc]
    """A dashboard variable in the current model: a query over a datasource, or a free-text box."""

    description: str = attr.ib(default="")

    def to_json_data(self) -> dict[str, Any]:
        if self.type == "textbox":
            current = {"text": self.default or "", "value": self.default or ""}
            return _present(
                {"type": "textbox", "name": self.name, "label": self.label, "query": self.query}
                | {"description": self.description, "hide": self.hide}
            ) | {"current": current}
        return _present(
            {
                "type": "query",
                "name": self.name,
                "label": self.label,
                "description": self.description,
                "datasource": self.dataSource,
                "query": self.query,
                "definition": self.query,
                "includeAll": self.includeAll,
                "multi": self.multi,
                "allValue": self.allValue,
                "refresh": self.refresh,
                "sort": self.sort,
                "hide": self.hide,
            }
        ) | {"current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": []}


def link_to_dashboards(tag: str) -> Any:
    """A header link listing every dashboard with `tag`, carrying time range and variables along."""
    return gl.DashboardLink(
        title="LLM dashboards",
        type="dashboards",
        tags=[tag],
        asDropdown=True,
        includeVars=True,
        keepTime=True,
        icon="dashboard",
    )


def panel_link(title: str, uid: str) -> dict[str, Any]:
    """A panel header link to another dashboard, keeping the time range and the variables."""
    data: dict[str, Any] = gl.DashboardLink(
        title=title,
        type="link",
        uri=f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}",
        icon="dashboard",
        keepTime=False,
        includeVars=False,
    ).to_json_data()
    return data


def grid(x: int, y: int, w: int, h: int) -> Any:
    return gl.GridPos(h=h, w=w, x=x, y=y)


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    panels: list[Any],
    variables: list[Any],
    time_from: str,
) -> Any:
    return gl.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=tags,
        panels=panels,
        templating=gl.Templating(list=variables),
        links=[link_to_dashboards(tags[0])],
        time=gl.Time(time_from, "now"),
        timezone="utc",
        refresh="1m",
        editable=False,
        graphTooltip=gl.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=SCHEMA_VERSION,
    ).auto_panel_ids()


def dashboard_json(board: Any) -> dict[str, Any]:
    """Plain, current dashboard JSON for a grafanalib `Dashboard` built with the classes above."""
    data: dict[str, Any] = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    for key in _LEGACY_DASHBOARD_KEYS:
        data.pop(key, None)
    data.pop("version", None)  # Grafana counts versions itself; a fixed one would only mislead
    # V41 removed `time_options`; the refresh choices are all that is left of the time picker.
    data["timepicker"] = {"refresh_intervals": ["30s", "1m", "5m", "15m", "1h"]}
    data["annotations"] = {
        "list": [
            {
                "builtIn": 1,
                "datasource": GRAFANA,
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }
        ]
    }
    for link in data["links"]:
        if link["type"] == "dashboards":
            link.pop("url", None)
    return data


# --- Typed constructors: grafanalib has no type hints (mypy sees only the fields declared here), so
# callers go through these.


def _untyped(cls: type) -> Any:
    return cls


def prom_target(ref: str, expr: str, legend: str, instant: bool, exemplar: bool, fmt: str) -> Any:
    return _untyped(PromTarget)(
        refId=ref, expr=expr, legendFormat=legend, instant=instant, exemplar=exemplar, format=fmt
    )


def sql_target(ref: str, sql: str, fmt: str) -> Any:
    return _untyped(SqlQuery)(refId=ref, rawSql=sql, format=fmt)


def tempo_target(ref: str, query: str, limit: int) -> Any:
    return _untyped(TempoQuery)(refId=ref, expr=query, limit=limit)


def loki_target(ref: str, expr: str, legend: str) -> Any:
    return _untyped(LokiQuery)(refId=ref, expr=expr, legendFormat=legend)


def viz_panel(
    *,
    type: str,
    title: str,
    description: str,
    datasource: dict[str, str],
    targets: list[Any],
    options: dict[str, Any],
    field_config: dict[str, Any],
    grid_pos: Any,
    links: list[dict[str, Any]],
) -> Any:
    return _untyped(VizPanel)(
        type=type,
        title=title,
        description=description or None,
        dataSource=datasource,
        targets=targets,
        options=options,
        fieldConfig=field_config,
        gridPos=grid_pos,
        links=links,
        maxDataPoints=None,
    )


def query_variable(name: str, query: str, datasource: dict[str, str]) -> Any:
    """A multi-value variable with All (the regex `.*`), refreshed when the time range changes."""
    return _untyped(Variable)(
        name=name,
        query=query,
        dataSource=datasource,
        includeAll=True,
        multi=True,
        allValue=".*",
        refresh=2,
        sort=1,
    )


def textbox_variable(name: str, label: str) -> Any:
    return _untyped(Variable)(name=name, query="", type="textbox", label=label)
