"""Prometheus: the server config (scrape jobs, rule files, Alertmanager) for the stack.

It must load on the Debian Prometheus 2.42 the tests run and on the 3.x the compose file pins, so it
uses only keys both accept (no `storage.tsdb.retention` block, no group `labels`); retention and the
remote-write receiver are command-line flags, set from `settings.env`. On Kubernetes every collector
and ingester replica is scraped; on the local stack only the processes that run there, on loopback.
"""

from __future__ import annotations

from typing import Any

from observatory import names
from observatory.render.artifact import Artifact
from observatory.render.target import COMPOSE, LocalAddresses, Target
from observatory.spec.types import Spec

PROMETHEUS_CONFIG = "stack/prometheus/prometheus.yml"

# How often targets are scraped and rules evaluated: 15 s gives 4 samples per minute, enough for
# `rate(...[1m])` to survive one missed scrape.
SCRAPE_INTERVAL = "15s"


def scrape_targets(spec: Spec) -> list[tuple[str, str, str]]:
    """(job, host:port, metrics path) of every component of the stack that exposes metrics."""
    return [
        (names.JOB_PROMETHEUS, f"localhost:{names.PORT_PROMETHEUS}", "/metrics"),
        (names.JOB_ALERTMANAGER, f"{names.SVC_ALERTMANAGER}:{names.PORT_ALERTMANAGER}", "/metrics"),
        (names.JOB_TEMPO, f"{names.SVC_TEMPO}:{names.PORT_TEMPO_HTTP}", "/metrics"),
        (names.JOB_LOKI, f"{names.SVC_LOKI}:{names.PORT_LOKI_HTTP}", "/metrics"),
        (names.JOB_GRAFANA, f"{names.SVC_GRAFANA}:{names.PORT_GRAFANA}", "/metrics"),
        (names.JOB_COLLECTOR, f"{names.SVC_COLLECTOR}:{names.PORT_COLLECTOR_METRICS}", "/metrics"),
        (names.JOB_INGESTER, f"{names.SVC_INGESTER}:{names.PORT_INGESTER}", "/metrics"),
        *(
            [(names.JOB_PROXY, f"{names.SVC_PROXY}:{names.PORT_PROXY}", "/metrics")]
            if spec.proxy.enabled
            else []
        ),
    ]


def config(spec: Spec, target: Target = COMPOSE) -> dict[str, Any]:
    if target.local is not None:
        return _local(compose_config(spec), target.local)
    if target.kind == "kubernetes":
        return scrape_every_replica(
            compose_config(spec),
            {
                names.JOB_COLLECTOR: (
                    [names.SVC_COLLECTOR_HEADLESS, names.SVC_COLLECTOR_SAMPLING_HEADLESS],
                    names.PORT_COLLECTOR_METRICS,
                ),
                names.JOB_INGESTER: ([names.SVC_INGESTER_HEADLESS], names.PORT_INGESTER),
                names.JOB_PROXY: ([names.SVC_PROXY_HEADLESS], names.PORT_PROXY),
            },
        )
    return compose_config(spec)


def compose_config(spec: Spec) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "rule_files": [f"{names.PROMETHEUS_RULES_DIR}/*.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{names.SVC_ALERTMANAGER}:{names.PORT_ALERTMANAGER}"]}]}
            ]
        },
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [target]}]}
            for job, target, path in scrape_targets(spec)
        ],
    }


def scrape_every_replica(cfg: dict[str, Any], jobs: dict[str, tuple[list[str], int]]) -> dict[str, Any]:
    """`cfg` with the targets of `jobs` (job: DNS names, port) found by DNS A records, one per replica.

    For Kubernetes: scraping through a Service reaches one pod per scrape, so replicas' counters
    would interleave in one series; a headless Service's name resolves to every ready pod instead.
    """
    out = {**cfg, "scrape_configs": []}
    for job in cfg["scrape_configs"]:
        if job["job_name"] in jobs:
            dns_names, port = jobs[job["job_name"]]
            job = {k: v for k, v in job.items() if k != "static_configs"}
            job["dns_sd_configs"] = [{"names": dns_names, "type": "A", "port": port}]
        out["scrape_configs"].append(job)
    return out


def _local(cfg: dict[str, Any], at: LocalAddresses) -> dict[str, Any]:
    """`cfg` for the local stack: its processes on loopback ports, jobs of absent components dropped."""
    ports = {
        names.JOB_PROMETHEUS: at.prometheus,
        names.JOB_ALERTMANAGER: at.alertmanager,
        names.JOB_COLLECTOR: at.collector_metrics,
        names.JOB_INGESTER: at.ingester,
        **({names.JOB_PROXY: at.proxy} if at.proxy is not None else {}),
    }
    jobs = [
        {**job, "static_configs": [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]}
        for job in cfg["scrape_configs"]
        if job["job_name"] in ports
    ]
    return {
        **cfg,
        "rule_files": [at.rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{at.alertmanager}"]}]}]},
        "scrape_configs": jobs,
    }


def retention_flag_value(spec: Spec) -> str:
    """`--storage.tsdb.retention.time`: Prometheus keeps raw samples for the metrics warm tier."""
    return f"{spec.retention.metrics.warm_days}d"


def render(spec: Spec, target: Target = COMPOSE) -> list[Artifact]:
    return [Artifact(PROMETHEUS_CONFIG, config(spec, target), "yaml")]
