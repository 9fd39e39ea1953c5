"""The six LLM dashboards, one JSON file each under dashboards/, from the spec's `dashboards` section.

Each dashboard module lists its panels as data (`panels.Panel`, with the slug from
`observatory.dashboards_catalog`); here the spec's choices are applied (a disabled dashboard is not
rendered, hidden panels are dropped, extra panels are appended) and `build`/`adapter` make the JSON.
Every dashboard links to the others by tag and has fixed UID `names.DASHBOARD_UIDS[name]`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from observatory import names
from observatory.dashboards_catalog import extra_panel_slug
from observatory.render.artifact import Artifact
from observatory.render.dashboards import (
    adapter,
    build,
    cost,
    logs,
    overview,
    performance,
    quality,
    sources,
    traces,
)
from observatory.render.dashboards.panels import PROM_LABELS, USER_ALL, Format, Panel, Prom, Sql
from observatory.spec.types import ExtraPanel, Spec
from observatory.sql import rollups

MODULES: dict[str, ModuleType] = {
    "overview": overview,
    "performance": performance,
    "cost": cost,
    "quality": quality,
    "traces": traces,
    "logs": logs,
}
TAG = "llm-observatory"
FOLDER = "dashboards"
# Each variable filters the next: the choices of model are those of the chosen applications, and so on.
_CHAIN = ("application", "environment", "provider", "model")
# The teams seen in the time range, from the daily and monthly totals: far smaller than the per-user
# rollups.
_TEAMS = (
    "SELECT DISTINCT team FROM (\n"
    + "\n  UNION ALL\n".join(
        f"  SELECT team FROM {rollup.name}\n  WHERE team <> '' AND {span}"
        for rollup, span in sources.calendar_split(rollups.TOTALS_DAILY)
    )
    + "\n) AS seen"
)
# The users seen in the time range up to three days; beyond, in the UTC months overlapping its last 31
# days (a rollup per user and day is large: 150,000 rows a month at 5,000 users).
_LAST_MONTH = "greatest($__timeFrom()::timestamptz, $__timeTo()::timestamptz - INTERVAL '31 days')"
_USERS = f"""SELECT DISTINCT user_id FROM (
  SELECT user_id FROM {names.VIEW_USERS_DAILY}
  WHERE user_id <> '' AND {sources.overlapping(rollups.USERS_DAILY)}
    AND {sources.SHORT}
  UNION ALL
  SELECT user_id FROM {names.VIEW_USERS_MONTHLY}
  WHERE user_id <> ''
    AND bucket >= date_trunc('month', {_LAST_MONTH} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    AND bucket < $__timeTo()::timestamptz
    AND {sources.LONG}
) AS seen
ORDER BY 1 LIMIT 1000"""
SQL_VARIABLES = {"team": f"{_TEAMS}\nORDER BY 1", "user": _USERS}
_TEXTBOXES = {
    "trace_id": "Trace id (32 hex digits)",
    "search": "Search (regular expression)",
}


def variable(name: str, among: tuple[str, ...]) -> Any:
    """Variable `name`; a Prometheus one lists label values under the earlier variables' choices."""
    if name in _TEXTBOXES:
        return adapter.textbox_variable(name, _TEXTBOXES[name])
    if name in SQL_VARIABLES:
        all_value = USER_ALL if name == "user" else ".*"
        return adapter.query_variable(name, SQL_VARIABLES[name], adapter.SQL, all_value)
    earlier = [v for v in _CHAIN[: _CHAIN.index(name)] if v in among]
    matchers = ",".join(f'{PROM_LABELS[v]}=~"${v}"' for v in earlier)
    query = f"label_values({names.METRIC_REQUESTS}{{{matchers}}}, {PROM_LABELS[name]})"
    return adapter.query_variable(name, query, adapter.PROMETHEUS)


def extra_panel(extra: ExtraPanel) -> Panel:
    """A spec's extra panel: its PromQL or SQL as given (a time series wants time, metric, value)."""
    fmt: Format = "time_series" if extra.type == "timeseries" else "table"
    query = (
        Prom(extra.promql, instant=extra.type != "timeseries")
        if extra.promql
        else Sql(extra.sql or "", (), fmt)
    )
    return Panel(extra_panel_slug(extra.title), extra.title, extra.type, (query,), unit=extra.unit, width=12)


def panel_specs(spec: Spec) -> dict[str, list[Panel]]:
    """The panels of every enabled dashboard after the spec's hidden_panels and extra_panels."""
    out = {}
    for board in spec.dashboards.dashboards:
        if not board.enabled:
            continue
        panels = MODULES[board.name].panels(spec) + [extra_panel(e) for e in board.extra_panels]
        out[board.name] = [p for p in panels if p.slug not in board.hidden_panels]
    return out


def render(spec: Spec) -> list[Artifact]:
    specs = panel_specs(spec)
    enabled = set(specs)
    artifacts = []
    for name, panels in specs.items():
        module = MODULES[name]
        uid = names.DASHBOARD_UIDS[name]
        board = adapter.dashboard(
            uid=uid,
            title=module.TITLE,
            description=module.DESCRIPTION,
            tags=[TAG, name],
            panels=build.layout(panels, enabled),
            variables=[variable(v, module.VARIABLES) for v in module.VARIABLES],
            time_from=module.TIME_FROM,
        )
        artifacts.append(Artifact(f"{FOLDER}/{uid}.json", adapter.dashboard_json(board), "json"))
    return artifacts


def panel_index(spec: Spec) -> list[dict[str, Any]]:
    """Where each panel slug ends up, for editors: every dashboard with its generated file, its panels
    in order with the `id` the rendered JSON gives them, and the slugs the spec hides (not drawn)."""
    rendered = {a.path: a.content for a in render(spec)}
    drawn_panels = panel_specs(spec)
    out = []
    for board in spec.dashboards.dashboards:
        entry: dict[str, Any] = {"name": board.name, "enabled": board.enabled, "file": None, "panels": []}
        entry["hidden"] = [p.slug for p in MODULES[board.name].panels(spec) if p.slug in board.hidden_panels]
        if board.enabled:
            entry["file"] = f"{FOLDER}/{names.DASHBOARD_UIDS[board.name]}.json"
            drawn = zip(drawn_panels[board.name], rendered[entry["file"]]["panels"], strict=True)
            entry["panels"] = [{"slug": p.slug, "title": p.title, "id": j["id"]} for p, j in drawn]
        out.append(entry)
    return out
