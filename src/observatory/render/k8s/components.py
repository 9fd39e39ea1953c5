"""The single-instance components on Kubernetes: Grafana, Prometheus, Alertmanager, Tempo, Loki, the
database, and the (replicated) ingester, each as workload + Service + PodDisruptionBudget.

Images, ports, commands and memory limits are the compose file's, so both runtimes behave alike. Stores
are StatefulSets with a volume claim each; Grafana keeps nothing worth a volume (every datasource and
dashboard is provisioned), so it is a Deployment with an emptyDir.
"""

from __future__ import annotations

import hashlib
from typing import Any

from observatory import names
from observatory.render.k8s import configs
from observatory.render.k8s import objects as o
from observatory.render.k8s.configs import Mounts
from observatory.render.target import s3_credential_envs
from observatory.spec.types import Spec

# Keys of the Secret `o.SECRET_NAME` the user creates (docs/kubernetes.md).
KEY_GRAFANA_ADMIN_USER = "grafana-admin-user"
KEY_GRAFANA_ADMIN_PASSWORD = "grafana-admin-password"
KEY_DB_PASSWORD = "db-password"
KEY_DB_READER_PASSWORD = "db-reader-password"
KEY_USER_ID_HASH_KEY = "user-id-hash-key"
KEY_DB_API_PASSWORD = "db-api-password"
KEY_API_TOKEN = "api-token"
# Built by `docker compose build` / docker/ingester/Dockerfile; push it and override the name with
# `kustomize edit set image` for a real cluster (kind and k3d can load it directly).
INGESTER_IMAGE = "llm-observatory/ingester:local"
# The same for the collector (docker/collector/Dockerfile): the project's own distribution, since
# the contrib image lacks the redact processor. The sampling tier runs it; the load-balancing tier,
# which only routes, runs the contrib image the spec pins (render/k8s/collector.py).
COLLECTOR_IMAGE = "llm-observatory/otel-collector:local"
# Uid and gid of the user each image runs as; fsGroup makes the claimed volume writable to it.
UIDS = {"grafana": 472, "prometheus": 65534, "alertmanager": 65534, "tempo": 10001, "loki": 10001}
UIDS |= {"timescaledb": 70, "otel-collector": 10001, "ingester": 10001, "api": 10001, "llm-proxy": 10001}
PROXY_IMAGE = "llm-observatory/proxy:local"  # built from docker/proxy/Dockerfile
# The proxy's replicas: two for availability; the autoscaler adds more under CPU load, up to this.
PROXY_MIN_REPLICAS, PROXY_MAX_REPLICAS = 2, 10


def security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def config_mounts(
    all_mounts: Mounts, component: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Volumes and mounts of the component's ConfigMaps, and a digest of their bytes: a pod template
    annotation that changes with any config, so `kubectl apply` rolls the pods (subPath mounts never
    see ConfigMap updates)."""
    volumes, mounts, digest = [], [], hashlib.sha256()
    for mount in all_mounts:
        if mount.component != component:
            continue
        volume, volume_mount = configs.volume_and_mount(mount)
        volumes.append(volume)
        mounts.append(volume_mount)
        for key, value in mount.files.items():
            digest.update(key.encode() + b"\0" + value)
    return volumes, mounts, digest.hexdigest()


def container(name: str, image: str, ports: list[tuple[str, int]], **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        **{k: v for k, v in fields.items() if k not in ("volumeMounts",)},
        "ports": [o.port(n, p) for n, p in ports],
        "volumeMounts": fields.get("volumeMounts", []),
        "securityContext": CONTAINER_SECURITY,
    }


def with_digest(workload: o.Manifest, digest: str) -> o.Manifest:
    workload["spec"]["template"]["metadata"]["annotations"] = {"observatory.dev/config-sha256": digest}
    return workload


def grafana(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    name, ports = names.SVC_GRAFANA, [("http", names.PORT_GRAFANA)]
    volumes, mounts, digest = config_mounts(all_mounts, name)
    env = [
        o.secret_env(names.ENV_GRAFANA_ADMIN_USER, KEY_GRAFANA_ADMIN_USER),
        o.secret_env(names.ENV_GRAFANA_ADMIN_PASSWORD, KEY_GRAFANA_ADMIN_PASSWORD),
        o.secret_env(names.ENV_DB_READER_PASSWORD, KEY_DB_READER_PASSWORD),
    ]
    main = container(
        name,
        spec.images.grafana,
        ports,
        env=env,
        volumeMounts=[*mounts, {"name": "data", "mountPath": names.GRAFANA_DATA_DIR}],
        **o.probes("/api/health", "/api/health", names.PORT_GRAFANA),
        resources=o.resources("100m", "256Mi", "1", "512Mi"),
    )
    pod = {
        "securityContext": security(UIDS[name]),
        "containers": [main],
        "volumes": [*volumes, {"name": "data", "emptyDir": {}}],
    }
    workload = with_digest(o.deployment(name, spec, 1, pod), digest)
    return [workload, o.service(name, spec, name, ports), o.pdb(name, spec, 1)]


def store(
    spec: Spec,
    all_mounts: Mounts,
    name: str,
    image: str,
    args: list[str],
    ports: list[tuple[str, int]],
    health: tuple[str, str],
    data: tuple[str, str],
    memory: str,
    env: list[dict[str, Any]] | None = None,
) -> list[o.Manifest]:
    """A single-replica StatefulSet with its claimed volume, Service and disruption budget."""
    volumes, mounts, digest = config_mounts(all_mounts, name)
    path, size = data
    main = container(
        name,
        image,
        ports,
        args=args,
        env=env or [],
        volumeMounts=[*mounts, {"name": "data", "mountPath": path}],
        **o.probes(health[0], health[1], ports[0][1]),
        resources=o.resources("100m", _half(memory), "2", memory),
    )
    pod = {"securityContext": security(UIDS[name]), "containers": [main], "volumes": volumes}
    workload = with_digest(o.statefulset(name, spec, pod, "data", size), digest)
    return [workload, o.service(name, spec, name, ports), o.pdb(name, spec, 1)]


def _half(memory: str) -> str:
    number, unit = int(memory[:-2]), memory[-2:]
    return f"{number // 2}{unit}"


def prometheus(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    args = [
        f"--config.file={names.PROMETHEUS_CONFIG_PATH}",
        f"--storage.tsdb.path={names.PROMETHEUS_DATA_DIR}",
        f"--storage.tsdb.retention.time={spec.retention.metrics.warm_days}d",
        "--web.enable-remote-write-receiver",
        "--web.enable-lifecycle",
        "--enable-feature=exemplar-storage",
    ]
    ports, health = [("http", names.PORT_PROMETHEUS)], ("/-/ready", "/-/healthy")
    return store(
        spec,
        all_mounts,
        names.SVC_PROMETHEUS,
        spec.images.prometheus,
        args,
        ports,
        health,
        (names.PROMETHEUS_DATA_DIR, "20Gi"),
        "2Gi",
    )


def alertmanager(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    args = [
        f"--config.file={names.ALERTMANAGER_CONFIG_PATH}",
        f"--storage.path={names.ALERTMANAGER_DATA_DIR}",
    ]
    ports, health = [("http", names.PORT_ALERTMANAGER)], ("/-/ready", "/-/healthy")
    out = store(
        spec,
        all_mounts,
        names.SVC_ALERTMANAGER,
        spec.images.alertmanager,
        args,
        ports,
        health,
        (names.ALERTMANAGER_DATA_DIR, "1Gi"),
        "256Mi",
    )
    # Receiver credentials are `*_file` paths in the config: mount each from the optional Secret.
    files = sorted({ref.file for r in spec.alerting.receivers for _, ref in r.secrets if ref.file})
    if files:
        pod = out[0]["spec"]["template"]["spec"]
        secret = {"secretName": o.ALERTMANAGER_SECRET_NAME, "optional": False}
        pod["volumes"].append({"name": "receivers", "secret": secret})
        pod["containers"][0]["volumeMounts"] += [
            {"name": "receivers", "mountPath": f, "subPath": f.rsplit("/", 1)[-1], "readOnly": True}
            for f in files
        ]
    return out


def _s3_env(spec: Spec) -> list[dict[str, Any]]:
    store_ = spec.deploy.object_storage
    if store_ is None:
        return []
    access, secret = s3_credential_envs(store_)
    return [
        o.secret_env(access, configs.KEY_S3_ACCESS_KEY_ID),
        o.secret_env(secret, configs.KEY_S3_SECRET_ACCESS_KEY),
    ]


def tempo(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    args = [f"-config.file={names.TEMPO_CONFIG_PATH}", "-target=all", "-config.expand-env=true"]
    ports = [
        ("http", names.PORT_TEMPO_HTTP),
        ("grpc", names.PORT_TEMPO_GRPC),
        ("otlp-grpc", names.PORT_OTLP_GRPC),
    ]
    ports.append(("otlp-http", names.PORT_OTLP_HTTP))
    size = "10Gi" if spec.deploy.object_storage else "20Gi"  # with a bucket the disk holds the WAL only
    data = (names.TEMPO_DATA_DIR, size)
    return store(
        spec,
        all_mounts,
        names.SVC_TEMPO,
        spec.images.tempo,
        args,
        ports,
        ("/ready", "/ready"),
        data,
        "2Gi",
        _s3_env(spec),
    )


def loki(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    args = [f"-config.file={names.LOKI_CONFIG_PATH}", "-config.expand-env=true"]
    ports, data = (
        [("http", names.PORT_LOKI_HTTP), ("grpc", names.PORT_LOKI_GRPC)],
        (names.LOKI_DATA_DIR, "20Gi"),
    )
    return store(
        spec,
        all_mounts,
        names.SVC_LOKI,
        spec.images.loki,
        args,
        ports,
        ("/ready", "/ready"),
        data,
        "1Gi",
        _s3_env(spec),
    )


def timescaledb(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    """The database, unless the spec points at a managed one (`storage.host`)."""
    if spec.storage.host is not None:
        return []
    name, ports = names.SVC_TIMESCALEDB, [("postgres", names.PORT_POSTGRES)]
    env = [
        {"name": "POSTGRES_USER", "value": names.DB_WRITER_USER},
        {"name": "POSTGRES_DB", "value": spec.storage.database},
        # A subdirectory: the volume's root holds lost+found, which initdb refuses.
        {"name": "PGDATA", "value": f"{names.POSTGRES_DATA_DIR}/pgdata"},
        o.secret_env("POSTGRES_PASSWORD", KEY_DB_PASSWORD),
        o.secret_env(names.ENV_DB_READER_PASSWORD, KEY_DB_READER_PASSWORD),
    ]
    out = store(
        spec,
        all_mounts,
        name,
        spec.images.timescaledb,
        [],
        ports,
        ("", ""),
        (names.POSTGRES_DATA_DIR, "20Gi"),
        "2Gi",
        env,
    )
    # PostgreSQL speaks no HTTP: readiness asks the server itself (this image has a shell), liveness
    # only checks the port so a long recovery is not killed.
    main = out[0]["spec"]["template"]["spec"]["containers"][0]
    ready = ["pg_isready", "-U", names.DB_WRITER_USER, "-d", spec.storage.database, "-h", "127.0.0.1"]
    main["readinessProbe"] = {"exec": {"command": ready}, "periodSeconds": 5, "timeoutSeconds": 5}
    main["livenessProbe"] = {
        "tcpSocket": {"port": names.PORT_POSTGRES},
        "periodSeconds": 10,
        "failureThreshold": 6,
    }
    return out


def database_url(
    spec: Spec, user: str = names.DB_WRITER_USER, password_env: str = names.ENV_DB_PASSWORD
) -> str:
    # $(VAR) is expanded by the kubelet from the env entries before it; the password never lands in a file.
    storage = spec.storage
    host = storage.host or names.SVC_TIMESCALEDB
    url = f"postgresql://{user}:$({password_env})@{host}:{storage.port}/{storage.database}"
    # A managed database is reached with the TLS mode the spec asks for; the in-cluster one as compose does.
    return url if storage.host is None else f"{url}?sslmode={storage.sslmode}"


def ingester(spec: Spec) -> list[o.Manifest]:
    name, ports, replicas = names.SVC_INGESTER, [("http", names.PORT_INGESTER)], spec.deploy.ingester_replicas
    env = [
        o.secret_env(names.ENV_DB_PASSWORD, KEY_DB_PASSWORD),
        o.secret_env(names.ENV_DB_READER_PASSWORD, KEY_DB_READER_PASSWORD),
        o.secret_env(names.ENV_DB_API_PASSWORD, KEY_DB_API_PASSWORD),  # migrate sets the API role's
        {"name": "OBSERVATORY_DATABASE_URL", "value": database_url(spec)},
    ]
    spec_mount = {
        "name": "spec",
        "mountPath": names.SPEC_PATH,
        "subPath": "observatory.yaml",
    }
    main = container(
        name,
        INGESTER_IMAGE,
        ports,
        imagePullPolicy="IfNotPresent",
        env=env,
        args=[
            f"--spec={names.SPEC_PATH}",
            "ingest",
            f"--listen=0.0.0.0:{names.PORT_INGESTER}",
        ],
        volumeMounts=[{**spec_mount, "readOnly": True}],
        **o.probes("/readyz", "/healthz", names.PORT_INGESTER),
        resources=o.resources("100m", "256Mi", "1", "512Mi"),
    )
    pod = {
        "securityContext": security(UIDS[name]),
        "containers": [main],
        "volumes": [o.configmap_volume("spec", o.SPEC_CONFIGMAP)],
    }
    maximum = max(replicas * 4, replicas + 1)
    return [
        o.deployment(name, spec, None, pod),  # the autoscaler keeps at least `replicas`
        o.service(name, spec, name, ports),
        o.service(names.SVC_INGESTER_HEADLESS, spec, name, ports, headless=True),  # Prometheus: every pod
        o.pdb(name, spec, replicas),
        o.hpa(name, spec, replicas, maximum),
    ]


def api(spec: Spec) -> list[o.Manifest]:
    """The query API: stateless, two replicas behind its Service, reading through its own role."""
    name, ports = names.SVC_API, [("http", names.PORT_API)]
    env = [
        o.secret_env(names.ENV_DB_API_PASSWORD, KEY_DB_API_PASSWORD),
        o.secret_env(names.ENV_API_TOKEN, KEY_API_TOKEN),
        {
            "name": names.ENV_API_DATABASE_URL,
            "value": database_url(spec, names.DB_API_USER, names.ENV_DB_API_PASSWORD),
        },
        {
            "name": names.ENV_API_PROMETHEUS_URL,
            "value": f"http://{names.SVC_PROMETHEUS}:{names.PORT_PROMETHEUS}",
        },
        {"name": names.ENV_API_TEMPO_URL, "value": f"http://{names.SVC_TEMPO}:{names.PORT_TEMPO_HTTP}"},
    ]
    spec_mount = {
        "name": "spec",
        "mountPath": names.SPEC_PATH,
        "subPath": "observatory.yaml",
        "readOnly": True,
    }
    main = container(
        name,
        INGESTER_IMAGE,  # the same package
        ports,
        imagePullPolicy="IfNotPresent",
        env=env,
        args=[f"--spec={names.SPEC_PATH}", "api", f"--listen=0.0.0.0:{names.PORT_API}"],
        volumeMounts=[spec_mount],
        **o.probes("/readyz", "/healthz", names.PORT_API),
        resources=o.resources("50m", "128Mi", "1", "256Mi"),
    )
    pod = {
        "securityContext": security(UIDS[name]),
        "containers": [main],
        "volumes": [o.configmap_volume("spec", o.SPEC_CONFIGMAP)],
    }
    return [o.deployment(name, spec, 2, pod), o.service(name, spec, name, ports), o.pdb(name, spec, 2)]


def llm_proxy(spec: Spec) -> list[o.Manifest]:
    """The LLM proxy, when the spec enables it: stateless replicas behind a Service for the
    applications, a headless Service for Prometheus, and an autoscaler on CPU."""
    from observatory import proxy

    name, ports = names.SVC_PROXY, [("http", names.PORT_PROXY)]
    collector_url = f"http://{names.SVC_COLLECTOR}:{names.PORT_OTLP_HTTP}"
    main = container(
        name,
        PROXY_IMAGE,
        ports,
        imagePullPolicy="IfNotPresent",
        args=proxy.flags(spec, f"0.0.0.0:{names.PORT_PROXY}", collector_url),
        **o.probes("/readyz", "/healthz", names.PORT_PROXY),
        resources=o.resources("100m", "64Mi", "2", "512Mi"),
    )
    # Open streams finish during a rollout: the proxy drains for up to 30 s after SIGTERM.
    pod = {"securityContext": security(UIDS[name]), "containers": [main], "terminationGracePeriodSeconds": 45}
    return [
        o.deployment(name, spec, None, pod),
        o.service(name, spec, name, ports),
        o.service(names.SVC_PROXY_HEADLESS, spec, name, ports, headless=True),
        o.pdb(name, spec, PROXY_MIN_REPLICAS),
        o.hpa(name, spec, PROXY_MIN_REPLICAS, PROXY_MAX_REPLICAS),
    ]


def render(spec: Spec, all_mounts: Mounts) -> list[o.Manifest]:
    stores = (prometheus, alertmanager, tempo, loki, timescaledb)
    return [
        *grafana(spec, all_mounts),
        *(m for f in stores for m in f(spec, all_mounts)),
        *ingester(spec),
        *api(spec),
        *(llm_proxy(spec) if spec.proxy.enabled else []),
    ]
