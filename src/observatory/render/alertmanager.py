"""Alertmanager: routes, inhibition and receivers from the spec's `alerting` section.

Secrets are `*_file` keys pointing at mounted files (the spec refuses environment references here,
since Alertmanager does not expand them). Matcher values are double-quoted so the config parses the
same under the classic and the UTF-8 matcher parsers (0.25 through 0.34).
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.alerts import slo
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
    routes = [_route(r) for r in alerting.routes]
    if alerting.heartbeat_receiver is not None:
        routes.insert(0, _heartbeat_route(alerting.heartbeat_receiver))
    if routes:
        route["routes"] = routes
    return {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "inhibit_rules": inhibit_rules(),
        "receivers": [_receiver(r) for r in alerting.receivers],
    }


def _heartbeat_route(receiver: str) -> dict[str, Any]:
    """The Watchdog goes to the heartbeat receiver only, re-sent every minute: a dead man's switch
    expects a steady beat and raises its own alarm when the beat stops."""
    return {
        "receiver": receiver,
        "matchers": [_matcher("alertname", names.ALERT_WATCHDOG)],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "1m",
    }


# Burn-rate alerts that have a page (critical) and a ticket (warning) twin.
BURN_RATE_ALERTS = (slo.ERROR_BURN, slo.LATENCY_BURN)


def inhibit_rules() -> list[dict[str, Any]]:
    """A firing critical burn-rate alert silences the warning of the same alert and application:
    the page already says the budget burns, the ticket would say it again, slower."""
    return [
        {
            "source_matchers": [_matcher("alertname", name), _matcher("severity", "critical")],
            "target_matchers": [_matcher("alertname", name), _matcher("severity", "warning")],
            "equal": ["alertname", "application"],
        }
        for name in BURN_RATE_ALERTS
    ]


def render(spec: Spec) -> list[Artifact]:
    return [Artifact(ALERTMANAGER_CONFIG, config(spec), "yaml")]
