"""NetworkPolicies: deny all ingress in the namespace, then allow exactly the flows the stack uses.

Applications (anywhere in the cluster) reach only the collector's OTLP ports; each store is reached
only by the components that read or write it; Prometheus scrapes everything's metrics port.
Egress stays open: components need DNS and, with object storage, a bucket outside the cluster.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.k8s import collector
from observatory.render.k8s import objects as o
from observatory.spec.types import Spec

PROM, GRAFANA, SAMPLING = names.SVC_PROMETHEUS, names.SVC_GRAFANA, collector.SAMPLING


def _from(*components: str) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": o.selector(c)}} for c in components]


def _ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": n} for n in numbers]


def policy(spec: Spec, target: str, rules: list[dict[str, Any]]) -> o.Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": o.metadata(f"{target}-ingress", spec, target),
        "spec": {
            "podSelector": {"matchLabels": o.selector(target)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def default_deny(spec: Spec) -> o.Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": o.metadata("default-deny-ingress", spec, o.PART_OF),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def render(spec: Spec) -> list[o.Manifest]:
    otlp = _ports(names.PORT_OTLP_GRPC, names.PORT_OTLP_HTTP)
    metrics = {"from": _from(PROM), "ports": _ports(names.PORT_COLLECTOR_METRICS)}
    everywhere: list[dict[str, Any]] = [
        {"namespaceSelector": {}}
    ]  # any pod in any namespace: the applications
    rules: dict[str, list[dict[str, Any]]] = {
        collector.LB: [{"from": everywhere, "ports": otlp}, metrics],
        SAMPLING: [{"from": _from(collector.LB), "ports": _ports(names.PORT_OTLP_GRPC)}, metrics],
        names.SVC_INGESTER: [{"from": _from(SAMPLING, PROM), "ports": _ports(names.PORT_INGESTER)}],
        PROM: [{"from": _from(GRAFANA, SAMPLING, names.SVC_API), "ports": _ports(names.PORT_PROMETHEUS)}],
        names.SVC_ALERTMANAGER: [{"from": _from(PROM, GRAFANA), "ports": _ports(names.PORT_ALERTMANAGER)}],
        names.SVC_TEMPO: [
            {"from": _from(SAMPLING), "ports": otlp},
            {"from": _from(GRAFANA, PROM, names.SVC_API), "ports": _ports(names.PORT_TEMPO_HTTP)},
        ],
        names.SVC_LOKI: [{"from": _from(SAMPLING, GRAFANA, PROM), "ports": _ports(names.PORT_LOKI_HTTP)}],
        # People reach Grafana (port-forward or an Ingress); Prometheus scrapes it on the same port.
        GRAFANA: [{"ports": _ports(names.PORT_GRAFANA)}],
        # Scripts, CI jobs and bots reach the query API (port-forward or an Ingress); it checks tokens.
        names.SVC_API: [{"ports": _ports(names.PORT_API)}],
    }
    if spec.proxy.enabled:
        # Applications anywhere in the cluster call the proxy; Prometheus scrapes it on the same port.
        rules[names.SVC_PROXY] = [{"from": everywhere, "ports": _ports(names.PORT_PROXY)}]
    if spec.storage.host is None:
        clients = _from(names.SVC_INGESTER, GRAFANA, names.SVC_API)
        rules[names.SVC_TIMESCALEDB] = [{"from": clients, "ports": _ports(names.PORT_POSTGRES)}]
    return [default_deny(spec), *(policy(spec, target, r) for target, r in rules.items())]
