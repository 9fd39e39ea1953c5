"""Alertmanager: routes and receivers from the spec's `alerting` section.

Secrets are `*_file` keys pointing at mounted files (the spec refuses environment references here,
since Alertmanager does not expand them). Matcher values are double-quoted so the config parses the
same under the classic and the UTF-8 matcher parsers (0.25 through 0.34).
"""

from __future__ import annotations

from typing import Any

from observatory.render.artifact import Artifact
from observatory.spec.types import Receiver, Route, Spec

ALERTMANAGER_CONFIG = "stack/alertmanager/alertmanager.yml"


def _matcher(label: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{label}="{escaped}"'


def _route(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {
        "receiver": route.receiver,
        "matchers": [_matcher(label, value) for label, value in route.matchers],
    }
    if route.continue_matching:
        out["continue"] = True
    return out


def _receiver(receiver: Receiver) -> dict[str, Any]:
    settings = dict(receiver.settings)
    files = {key: ref.file for key, ref in receiver.secrets}
    out: dict[str, Any] = {"name": receiver.name}
    if receiver.kind == "webhook":
        out["webhook_configs"] = [{"url": settings["url"], "send_resolved": True}]
    elif receiver.kind == "slack":
        out["slack_configs"] = [
            {"api_url_file": files["api_url"], "channel": settings["channel"], "send_resolved": True}
        ]
    elif receiver.kind == "pagerduty":
        out["pagerduty_configs"] = [{"routing_key_file": files["routing_key"], "send_resolved": True}]
    elif receiver.kind == "email":
        email = {
            "to": settings["to"],
            "from": settings["sender"],
            "smarthost": settings["smarthost"],
            "send_resolved": True,
        }
        if "auth_username" in settings:
            email["auth_username"] = settings["auth_username"]
        if "auth_password" in files:
            email["auth_password_file"] = files["auth_password"]
        out["email_configs"] = [email]
    return out


def config(spec: Spec) -> dict[str, Any]:
    alerting = spec.alerting
    route: dict[str, Any] = {
        "receiver": alerting.default_receiver,
        "group_by": list(alerting.group_by),
        "group_wait": f"{alerting.group_wait_seconds}s",
        "group_interval": f"{alerting.group_interval_seconds}s",
        "repeat_interval": f"{alerting.repeat_interval_hours}h",
    }
    if alerting.routes:
        route["routes"] = [_route(r) for r in alerting.routes]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "receivers": [_receiver(r) for r in alerting.receivers],
    }


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(ALERTMANAGER_CONFIG, config(spec), "yaml")]
