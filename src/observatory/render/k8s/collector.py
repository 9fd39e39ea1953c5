"""The two-tier collector: a load-balancing tier in front of the sampling tier that runs the rendered config.

Tail sampling decides per trace, so every span of a trace must reach the same collector. With one
collector that is automatic; with many, the load-balancing tier (the contrib `load_balancing`
exporter) hashes the trace id to pick a sampling pod from the headless Service's DNS records, so
sampling stays correct at any replica count. Metric streams are routed by stream id for the same
reason: `delta_to_cumulative` keeps per-stream state. Logs carry no such state and go to the Service.
"""

from __future__ import annotations

import hashlib
from typing import Any

from observatory import names
from observatory.render.artifact import Artifact, serialize
from observatory.render.collector import ENV_INSTANCE
from observatory.render.collector import receivers as collector_receivers
from observatory.render.k8s import components as c
from observatory.render.k8s import configs
from observatory.render.k8s import objects as o
from observatory.render.k8s.configs import Mounts
from observatory.spec.types import Spec

LB = names.SVC_COLLECTOR  # applications keep sending to the compose name
SAMPLING = names.SVC_COLLECTOR_SAMPLING
SAMPLING_HEADLESS = names.SVC_COLLECTOR_SAMPLING_HEADLESS
LB_CONFIGMAP = "otel-collector-lb-config"
OTLP_PORTS = [("otlp-grpc", names.PORT_OTLP_GRPC), ("otlp-http", names.PORT_OTLP_HTTP)]
PORTS = [*OTLP_PORTS, ("metrics", names.PORT_COLLECTOR_METRICS), ("health", names.PORT_COLLECTOR_HEALTH)]


def _otlp_protocol() -> dict[str, Any]:
    # Plain gRPC inside the cluster (the NetworkPolicies fence it); queued and retried like every exporter.
    return {
        "tls": {"insecure": True},
        "sending_queue": {"enabled": True, "queue_size": 5000},
        "retry_on_failure": {"enabled": True, "max_elapsed_time": "5m"},
    }


def lb_config(spec: Spec) -> dict[str, Any]:
    ns = spec.deploy.namespace
    dns = {"hostname": f"{SAMPLING_HEADLESS}.{ns}.svc.cluster.local", "port": names.PORT_OTLP_GRPC}

    def balancer(routing_key: str) -> dict[str, Any]:
        return {"routing_key": routing_key, "protocol": {"otlp": _otlp_protocol()}, "resolver": {"dns": dns}}

    any_addr = "0.0.0.0"
    # Applications send here: the same limits (timeouts, body size) as the rendered config's receivers.
    receivers = collector_receivers()
    protocols = receivers["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"{any_addr}:{names.PORT_OTLP_GRPC}"
    protocols["http"]["endpoint"] = f"{any_addr}:{names.PORT_OTLP_HTTP}"
    metrics_reader = {
        "pull": {"exporter": {"prometheus": {"host": any_addr, "port": names.PORT_COLLECTOR_METRICS}}}
    }
    return {
        "extensions": {"health_check": {"endpoint": f"{any_addr}:{names.PORT_COLLECTOR_HEALTH}"}},
        "receivers": receivers,
        "processors": {
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}
        },
        "exporters": {
            "load_balancing/traces": balancer("traceID"),
            "load_balancing/metrics": balancer("streamID"),
            "otlp_grpc/logs": {
                "endpoint": f"{SAMPLING}.{ns}.svc.cluster.local:{names.PORT_OTLP_GRPC}",
                **_otlp_protocol(),
            },
        },
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"level": "normal", "readers": [metrics_reader]}},
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["load_balancing/traces"],
                },
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["load_balancing/metrics"],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["otlp_grpc/logs"],
                },
            },
        },
    }


def lb_configmap(spec: Spec) -> tuple[o.Manifest, str]:
    body = serialize(
        Artifact("stack/k8s/otel-collector-lb.yaml", lb_config(spec), "yaml"), configs.source_name(spec)
    )
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": o.metadata(LB_CONFIGMAP, spec, LB),
        "data": {"config.yaml": body.decode("utf-8")},
    }
    return manifest, hashlib.sha256(body).hexdigest()


def _tier(
    spec: Spec, name: str, image: str, volumes: list[Any], mounts: list[Any], env: list[Any], **fields: Any
) -> dict[str, Any]:
    main = c.container(
        "otel-collector",
        image,
        PORTS,
        **fields,
        args=[f"--config={names.COLLECTOR_CONFIG_PATH}"],
        env=env,
        volumeMounts=mounts,
        **o.probes("/", "/", names.PORT_COLLECTOR_HEALTH),
        resources=o.resources("200m", "512Mi", "2", "1Gi"),
    )
    # Spread replicas over nodes so one node going away leaves most of each tier running.
    spread = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": o.selector(name)},
    }
    return {
        "securityContext": c.security(c.UIDS["otel-collector"]),
        "containers": [main],
        "volumes": volumes,
        "topologySpreadConstraints": [spread],
    }


def lb_tier(spec: Spec) -> list[o.Manifest]:
    configmap, digest = lb_configmap(spec)
    mount = {
        "name": "config",
        "mountPath": names.COLLECTOR_CONFIG_PATH,
        "subPath": "config.yaml",
        "readOnly": True,
    }
    # The contrib image: this tier only routes, and needs the contrib load_balancing exporter, which
    # the project's own distribution (built for the rendered config) does not carry.
    volumes = [o.configmap_volume("config", LB_CONFIGMAP)]
    pod = _tier(spec, LB, spec.images.otel_collector, volumes, [mount], [])
    metrics = [("metrics", names.PORT_COLLECTOR_METRICS)]
    return [
        *_workloads(spec, LB, pod, digest, configmap),
        o.service(names.SVC_COLLECTOR_HEADLESS, spec, LB, metrics, headless=True),  # Prometheus: every pod
    ]


def sampling_tier(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    """The tier that runs the rendered collector config: sampling, pricing, derived metrics."""
    volumes, mounts, digest = c.config_mounts(all_mounts, SAMPLING)
    env, secret_mounts = o.secret_ref(spec.pii.user_id_hash_key, c.KEY_USER_ID_HASH_KEY, "secrets")
    # Each replica writes its own copy of the derived series; the pod name tells them apart.
    env = [*env, {"name": ENV_INSTANCE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    if secret_mounts:
        volumes = [*volumes, o.secret_volume("secrets")]
    # The exporters' disk queue. An emptyDir survives container restarts, not the pod: a Deployment
    # that autoscales cannot hold claims, and a drained pod flushes its queue before it stops.
    volumes = [*volumes, {"name": "queue", "emptyDir": {}}]
    mounts = [*mounts, *secret_mounts, {"name": "queue", "mountPath": names.COLLECTOR_DATA_DIR}]
    # The project's own distribution: the rendered config needs its redact processor.
    # Built locally and loaded into the cluster (kind, k3d) like the ingester's: never pulled when present.
    pod = _tier(spec, SAMPLING, c.COLLECTOR_IMAGE, volumes, mounts, env, imagePullPolicy="IfNotPresent")
    pod["terminationGracePeriodSeconds"] = 60
    out = _workloads(spec, SAMPLING, pod, digest, None)
    # The load-balancing exporter resolves it to reach every sampling pod, and Prometheus to scrape each.
    ports = [*OTLP_PORTS, ("metrics", names.PORT_COLLECTOR_METRICS)]
    return [*out, o.service(SAMPLING_HEADLESS, spec, SAMPLING, ports, headless=True)]


def _workloads(
    spec: Spec, name: str, pod: dict[str, Any], digest: str, configmap: o.Manifest | None
) -> list[o.Manifest]:
    replicas = spec.deploy.collector_replicas
    workload = c.with_digest(o.deployment(name, spec, None, pod), digest)  # the autoscaler keeps `replicas`
    out = [configmap] if configmap is not None else []
    ports = [*OTLP_PORTS, ("metrics", names.PORT_COLLECTOR_METRICS)]
    return [
        *out,
        workload,
        o.service(name, spec, name, ports),
        o.pdb(name, spec, replicas),
        o.hpa(name, spec, replicas, replicas * 4),
    ]


def render(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    return [*lb_tier(spec), *sampling_tier(spec, all_mounts)]
