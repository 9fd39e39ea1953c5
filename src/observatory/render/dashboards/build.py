"""From `Panel` data to dashboard JSON: per-type options, thresholds, layout, variables and links.

Options are written whole for each panel type, as its schema in the official Grafana schemas requires
(the tests validate them); a panel's own `options` are merged over these defaults. Panels flow left to
right in rows of 24 columns, so hiding one leaves no hole.
"""

from __future__ import annotations

import string
from typing import Any

from observatory import names
from observatory.render.dashboards import adapter
from observatory.render.dashboards.panels import LogQL, Panel, Prom, Sql, TraceQL

_LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
_TOOLTIP = {"mode": "multi", "sort": "desc"}
_REDUCE = {"calcs": ["lastNotNull"], "fields": "", "values": False}

OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {"legend": _LEGEND, "tooltip": _TOOLTIP},
    "stat": {
        "graphMode": "area",
        "colorMode": "value",
        "justifyMode": "auto",
        "textMode": "auto",
        "wideLayout": True,
        "showPercentChange": False,
        "reduceOptions": _REDUCE,
        "percentChangeColorMode": "standard",
        "orientation": "auto",
    },
    "table": {"frameIndex": 0, "showHeader": True, "cellHeight": "sm"},
    "barchart": {
        "orientation": "auto",
        "xTickLabelRotation": 0,
        "xTickLabelMaxLength": 0,
        "stacking": "none",
        "showValue": "auto",
        "barWidth": 0.8,
        "groupWidth": 0.7,
        "legend": _LEGEND,
        "tooltip": _TOOLTIP,
        "fullHighlight": False,
    },
    "bargauge": {
        "displayMode": "gradient",
        "valueMode": "color",
        "namePlacement": "auto",
        "showUnfilled": True,
        "sizing": "auto",
        "minVizWidth": 8,
        "minVizHeight": 16,
        "legend": {**_LEGEND, "showLegend": False},
        "reduceOptions": _REDUCE,
        "maxVizHeight": 300,
        "orientation": "horizontal",
    },
    "piechart": {
        "pieType": "donut",
        "tooltip": _TOOLTIP,
        "reduceOptions": _REDUCE,
        "legend": {
            "values": ["percent"],
            "displayMode": "table",
            "placement": "right",
            "showLegend": True,
            "calcs": [],
        },
        "orientation": "auto",
    },
    "heatmap": {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "exponent": 0.5}
        | {"steps": 64, "reverse": False},
        "showValue": "never",
        "yAxis": {"axisPlacement": "left", "unit": "s"},
        "rowsFrame": {"layout": "auto"},
        "legend": {"show": True},
        "tooltip": {"mode": "single", "yHistogram": True},
        # Exemplars (a trace id on a sample) are drawn as points that open the trace in Tempo.
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
    },
    "logs": {
        "showLabels": False,
        "showCommonLabels": False,
        "showTime": True,
        "showLogContextToggle": True,
        "wrapLogMessage": True,
        "prettifyLogMessage": False,
        "enableLogDetails": True,
        "sortOrder": "Descending",
        "dedupStrategy": "none",
    },
    "traces": {},
}
# fieldConfig.defaults.custom per type (the schema's FieldConfig); types without one get none.
CUSTOM: dict[str, dict[str, Any]] = {
    "timeseries": {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisPlacement": "auto",
    },
    "barchart": {"lineWidth": 1, "fillOpacity": 80, "gradientMode": "none", "axisPlacement": "auto"},
    "table": {"align": "auto", "inspect": False},
    "heatmap": {
        "scaleDistribution": {"type": "linear"},
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
    },
}
DATASOURCE = {Prom: adapter.PROMETHEUS, Sql: adapter.SQL, TraceQL: adapter.TEMPO, LogQL: adapter.LOKI}


def ref_id(index: int) -> str:
    """Grafana's query letters: A to Z, then AA, AB, ... (a panel has a query per objective scope)."""
    letters = string.ascii_uppercase
    return (
        letters[index]
        if index < len(letters)
        else ref_id(index // len(letters) - 1) + letters[index % len(letters)]
    )


def _target(query: Prom | Sql | TraceQL | LogQL, ref: str) -> dict[str, Any]:
    if isinstance(query, Prom):
        return adapter.prom_target(ref, query.expr, query.legend, query.instant, query.exemplar, query.format)
    if isinstance(query, Sql):
        return adapter.sql_target(ref, query.sql, query.format)
    if isinstance(query, TraceQL):
        return adapter.tempo_target(ref, query.query, query.limit)
    return adapter.loki_target(ref, query.expr, query.legend)


def _thresholds(steps: tuple[tuple[float, str], ...]) -> dict[str, Any]:
    """Absolute steps above a green base."""
    return {
        "mode": "absolute",
        "steps": [{"value": None, "color": "green"}, *({"value": v, "color": c} for v, c in steps)],
    }


def _overrides(panel: Panel) -> list[dict[str, Any]]:
    """Thresholds of the queries that have their own (an application's objectives): their series take
    them instead of the panel's. Matched by display name (byRegexpOrNames): the official schema wants
    matcher options to be an object, which rules out matching by query (byFrameRefID takes a string)."""
    return [
        {
            "matcher": {"id": "byRegexpOrNames", "options": {"pattern": q.thresholds.pattern}},
            "properties": [{"id": "thresholds", "value": _thresholds(q.thresholds.steps)}],
        }
        for q in panel.queries
        if isinstance(q, Prom) and q.thresholds is not None
    ]


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds" if panel.type in ("stat", "bargauge") else "palette-classic"},
        "thresholds": _thresholds(panel.thresholds),
    }
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    custom = _merge(CUSTOM.get(panel.type, {}), panel.custom)
    if panel.show_thresholds and panel.type in ("timeseries", "barchart"):
        custom["thresholdsStyle"] = {"mode": "dashed"}
    if custom:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": _overrides(panel)}


def _links(panel: Panel, enabled: set[str]) -> list[dict[str, Any]]:
    return [
        adapter.panel_link(title, names.DASHBOARD_UIDS[key]) for title, key in panel.links if key in enabled
    ]


def viz(panel: Panel, x: int, y: int, enabled: set[str]) -> Any:
    kinds = {type(q) for q in panel.queries}
    datasource = (
        DATASOURCE[next(iter(kinds))] if len(kinds) == 1 else {"type": "datasource", "uid": "-- Mixed --"}
    )
    return adapter.viz_panel(
        type=panel.type,
        title=panel.title,
        description=panel.description,
        datasource=datasource,
        targets=[_target(q, ref_id(i)) for i, q in enumerate(panel.queries)],
        options=_merge(OPTIONS[panel.type], panel.options),
        field_config=_field_config(panel),
        grid_pos=adapter.grid(x, y, panel.width, panel.height),
        links=_links(panel, enabled),
    )


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def layout(panels: list[Panel], enabled: set[str]) -> list[Any]:
    """Grafana panels, flowing left to right; a panel that does not fit starts the next row."""
    out, x, y, row_height = [], 0, 0, 0
    for panel in panels:
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        out.append(viz(panel, x, y, enabled))
        x += panel.width
        row_height = max(row_height, panel.height)
    return out
