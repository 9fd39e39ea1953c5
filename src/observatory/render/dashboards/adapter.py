"""The one module that imports grafanalib, and where its JSON is brought up to current Grafana.

grafanalib 0.7.1 builds dashboards for schemaVersion 12: its panels carry legacy keys (`span`, `error`,
`height`), its targets legacy fields (`intervalFactor`, `step`), and it has no Tempo or Loki targets and
no panel class for the current panel types. Everything here is built with grafanalib's public classes
and read back through their `to_json_data`; what the current dashboard schema does not know is then
left out, and what grafanalib lacks is added beside it. `dashboard_json` turns a `Dashboard` into plain
data at schemaVersion 39 (accepted and migrated by Grafana 10.4 to 13). Datasources are always
`{type, uid}` references: Grafana 13 addresses them by UID only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grafanalib import core as gl

from observatory import names

SCHEMA_VERSION = 39
PROMETHEUS: dict[str, str] = {"type": "prometheus", "uid": names.DS_PROMETHEUS}
TEMPO: dict[str, str] = {"type": "tempo", "uid": names.DS_TEMPO}
LOKI: dict[str, str] = {"type": "loki", "uid": names.DS_LOKI}
SQL: dict[str, str] = {"type": "grafana-postgresql-datasource", "uid": names.DS_SQL}
GRAFANA: dict[str, str] = {"type": "grafana", "uid": "-- Grafana --"}

# What a current panel may carry (the schema's Panel definition); grafanalib adds more.
_PANEL_KEYS = (
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
# Top-level keys of grafanalib's dashboard that current Grafana no longer reads; `version` too, as
# Grafana counts versions itself and a fixed one would only mislead.
_LEGACY_DASHBOARD_KEYS = ("__inputs", "hideControls", "rows", "sharedCrosshair", "style", "gnetId", "id")
_BUILT_IN_ANNOTATIONS = {
    "builtIn": 1,
    "datasource": GRAFANA,
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}
_REFRESH_INTERVALS = ["30s", "1m", "5m", "15m", "1h"]


def _pick(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of `data` under `keys` that it has."""
    return {k: data[k] for k in keys if k in data}


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without None values, empty strings and empty lists: what Grafana leaves out itself."""
    return {k: v for k, v in data.items() if v is not None and v != "" and v != []}


def prom_target(ref: str, expr: str, legend: str, instant: bool, exemplar: bool, fmt: str) -> dict[str, Any]:
    """A Prometheus query in code mode, with the `range`, `exemplar` and `editorMode` grafanalib lacks."""
    target = gl.Target(
        refId=ref, expr=expr, legendFormat=legend, instant=instant, format=fmt, datasource=PROMETHEUS
    ).to_json_data()
    keys = ("refId", "datasource", "expr", "legendFormat", "format", "instant", "interval")
    return _present(_pick(target, keys)) | {"range": not instant, "exemplar": exemplar, "editorMode": "code"}


def sql_target(ref: str, sql: str, fmt: str) -> dict[str, Any]:
    """A PostgreSQL query in code mode; grafanalib's SqlTarget has no `editorMode`."""
    target = gl.SqlTarget(refId=ref, rawSql=sql, format=fmt, datasource=SQL).to_json_data()
    return _pick(target, ("refId", "datasource", "rawSql", "rawQuery", "format")) | {"editorMode": "code"}


def tempo_target(ref: str, query: str, limit: int) -> dict[str, Any]:
    """A TraceQL search shown as a table of traces (3 spans per span set); grafanalib has no Tempo target."""
    target = gl.Target(refId=ref, expr=query, datasource=TEMPO).to_json_data()
    return _pick(target, ("refId", "datasource", "query")) | {
        "queryType": "traceql",
        "limit": limit,
        "spss": 3,
        "tableType": "traces",
        "filters": [],
    }


def loki_target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    """A LogQL range query in code mode; grafanalib 0.7.1 has no Loki target."""
    target = gl.Target(refId=ref, expr=expr, legendFormat=legend, datasource=LOKI).to_json_data()
    return _present(_pick(target, ("refId", "datasource", "expr", "legendFormat"))) | {
        "queryType": "range",
        "editorMode": "code",
    }


class VizPanel(gl.Panel):  # type: ignore[misc]
    """Any current panel type (timeseries, stat, table, heatmap, logs, traces, ...).

    grafanalib's own panel classes emit Angular-era options, so the type, `options` and `fieldConfig`
    come in its `extraJson` (its way to reach what it does not model), whole as the panel type's schema
    defines them, and are merged over its generic panel JSON.
    """

    def to_json_data(self) -> dict[str, Any]:
        return _present(_pick(self.panel_json({}), _PANEL_KEYS))


def viz_panel(
    *,
    type: str,
    title: str,
    description: str,
    datasource: dict[str, str],
    targets: list[dict[str, Any]],
    options: dict[str, Any],
    field_config: dict[str, Any],
    grid_pos: Any,
    links: list[dict[str, Any]],
) -> Any:
    """A panel; `field_config` carries its thresholds, which replace grafanalib's empty ones."""
    return VizPanel(
        title=title,
        description=description or None,
        dataSource=datasource,
        targets=targets,
        gridPos=grid_pos,
        links=links,
        maxDataPoints=None,
        extraJson={"type": type, "options": options, "fieldConfig": field_config},
    )


def grid(x: int, y: int, w: int, h: int) -> Any:
    return gl.GridPos(h=h, w=w, x=x, y=y)


def query_variable(
    name: str, query: str, datasource: dict[str, str], all_value: str = ".*"
) -> dict[str, Any]:
    """A multi-value variable with All (by default the regex `.*`), refreshed when the time range
    changes."""
    variable = gl.Template(
        name=name,
        query=query,
        dataSource=datasource,
        includeAll=True,
        multi=True,
        allValue=all_value,
        refresh=gl.REFRESH_ON_TIME_RANGE_CHANGE,
        sort=gl.SORT_ALPHA_ASC,
    ).to_json_data()
    keys = ("type", "name", "label", "datasource", "query", "includeAll", "multi", "allValue")
    return _present(_pick(variable, (*keys, "refresh", "sort", "hide"))) | {
        "definition": query,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
    }


def textbox_variable(name: str, label: str) -> dict[str, Any]:
    """A free-text variable, empty until the user types."""
    variable = gl.Template(name=name, query="", type="textbox", label=label).to_json_data()
    return _present(_pick(variable, ("type", "name", "label", "query", "hide"))) | {
        "current": {"text": "", "value": ""}
    }


def link_to_dashboards(tag: str) -> dict[str, Any]:
    """A header link listing every dashboard with `tag`, carrying time range and variables along."""
    link: dict[str, Any] = gl.DashboardLink(
        title="LLM dashboards",
        type="dashboards",
        tags=[tag],
        asDropdown=True,
        includeVars=True,
        keepTime=True,
        icon="dashboard",
    ).to_json_data()
    link.pop("url")  # a list of dashboards by tag has no URL
    return link


def panel_link(title: str, uid: str) -> dict[str, Any]:
    """A panel header link to another dashboard, keeping the time range and the variables."""
    link: dict[str, Any] = gl.DashboardLink(
        title=title,
        type="link",
        uri=f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}",
        icon="dashboard",
        keepTime=False,
        includeVars=False,
    ).to_json_data()
    return link


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    panels: list[Any],
    variables: list[dict[str, Any]],
    time_from: str,
) -> Any:
    return gl.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=tags,
        panels=panels,
        templating=gl.Templating(list=variables),
        annotations=gl.Annotations(list=[_BUILT_IN_ANNOTATIONS]),
        links=[link_to_dashboards(tags[0])],
        time=gl.Time(time_from, "now"),
        timePicker=gl.TimePicker(refreshIntervals=_REFRESH_INTERVALS, timeOptions=[]),
        timezone="utc",
        refresh="1m",
        editable=False,
        graphTooltip=gl.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=SCHEMA_VERSION,
    ).auto_panel_ids()


def _json_data(value: Any) -> Any:
    """What `json` calls for a grafanalib object: its own JSON."""
    to_json_data = getattr(value, "to_json_data", None)
    if to_json_data is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_json_data()


def dashboard_json(board: Any) -> dict[str, Any]:
    """Plain, current dashboard JSON for a grafanalib `Dashboard` built with the functions above."""
    data: dict[str, Any] = json.loads(json.dumps(board, default=_json_data))
    for key in (*_LEGACY_DASHBOARD_KEYS, "version"):
        data.pop(key, None)
    # V41 removed `time_options` (and the picker's other keys); the refresh choices are all that is left.
    data["timepicker"] = _pick(data["timepicker"], ("refresh_intervals",))
    return data
