"""The Kubernetes manifests: valid against the pinned Kubernetes schemas, built by kustomize, and holding
exactly the config bytes compose mounts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv

from observatory import names
from observatory.render import k8s, render_artifacts, render_compose, render_files
from observatory.render.artifact import Artifact, serialize
from observatory.render.k8s import collector, configs
from observatory.spec import Spec, load
from tests.conftest import REPO, SPECS, free_port, go_tool, require_tool

# The Kubernetes release whose OpenAPI schemas every manifest must satisfy (strict: unknown fields fail).
KUBERNETES_VERSION = "1.37.0"
SPEC_FILES = {
    "repository": REPO / "observatory.yaml",
    "full": SPECS / "valid/full.yaml",  # object storage, a storage class, more replicas
    "postgres": SPECS / "valid/postgres.yaml",  # a managed database: no database in the cluster
}

# Where compose mounts each folder or file from (docker-compose.yml), by the ConfigMap that carries it.
COMPOSE_SOURCES = {
    "grafana-config": "stack/grafana/grafana.ini",
    "grafana-provisioning-dashboards": "provisioning/dashboards",
    "grafana-provisioning-datasources": "provisioning/datasources",
    "grafana-dashboards": "dashboards",
    "prometheus-config": "stack/prometheus/prometheus.yml",
    "prometheus-rules": "alerts",
    "alertmanager-config": "stack/alertmanager/alertmanager.yml",
    "tempo-config": "stack/tempo/tempo.yaml",
    "loki-config": "stack/loki/loki.yaml",
    "otel-collector-config": "stack/otel-collector/config.yaml",
}


@pytest.fixture(params=sorted(SPEC_FILES), scope="module")
def spec(request: pytest.FixtureRequest) -> Spec:
    return load(SPEC_FILES[request.param])


def k8s_artifacts(spec: Spec) -> list[Artifact]:
    return [a for a in render_artifacts(spec) if a.path.startswith(f"{k8s.K8S_DIR}/")]


def write_tree(spec: Spec, root: Path) -> Path:
    source = PurePosixPath(spec.source).name
    for artifact in k8s_artifacts(spec):
        path = root / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(serialize(artifact, source))
    return root / k8s.K8S_DIR


def rendered_objects(spec: Spec) -> dict[str, dict[str, Any]]:
    """File name to the object as `kubectl` reads it back (serialised, then parsed)."""
    source = PurePosixPath(spec.source).name
    out = {}
    for artifact in k8s_artifacts(spec):
        if artifact.path != k8s.KUSTOMIZATION:
            out[PurePosixPath(artifact.path).name] = yaml.safe_load(serialize(artifact, source))
    return out


def by_kind(spec: Spec, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered_objects(spec).values() if o["kind"] == kind}


def test_every_manifest_validates_against_the_pinned_kubernetes_schemas(spec: Spec) -> None:
    objects = rendered_objects(spec)
    assert len(objects) > 40
    errors = []
    for name, obj in objects.items():
        try:
            kv.validate(obj, KUBERNETES_VERSION, strict=True)
        except (kv.ValidationError, kv.SchemaNotFoundError) as error:
            errors.append(f"{name}: {str(error).splitlines()[0]}")
    assert errors == []


def test_the_schema_validation_rejects_a_broken_manifest() -> None:
    # Guards against a validator that passes everything (a wrong version string, a missing schema dir).
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "2"},
    }
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_builds_every_listed_file(spec: Spec, tmp_path: Path) -> None:
    folder = write_tree(spec, tmp_path)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(p.name for p in folder.iterdir() if p.name != "kustomization.yaml")
    binary = go_tool("kustomize")
    result = subprocess.run([binary, "build", str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert len(list(yaml.safe_load_all(result.stdout))) == len(listed)


def test_each_configmap_holds_exactly_the_bytes_compose_mounts(spec: Spec) -> None:
    files = render_files(spec)
    configmaps = by_kind(spec, "ConfigMap")
    # Tempo and Loki keep their cold tier in object storage when it is set; Prometheus scrapes every
    # replica (test_prometheus_scrapes_every_collector_and_ingester_replica).
    differs = {"prometheus-config"} | (
        {"tempo-config", "loki-config"} if spec.deploy.object_storage else set()
    )
    for name, source in COMPOSE_SOURCES.items():
        data = {k: v.encode() for k, v in configmaps[name]["data"].items()}
        if name in differs:
            continue
        if source in files:  # a single file mounted by name
            expected = {PurePosixPath(source).name: files[source]}
        else:  # a folder: the files directly in it that the container reads
            expected = {
                PurePosixPath(p).name: b
                for p, b in files.items()
                if str(PurePosixPath(p).parent) == source and not p.endswith("README.md")
            }
        assert data == expected, name


def test_every_config_compose_mounts_has_a_configmap() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounted = {
        volume.split(":")[0].removeprefix("./")
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }
    # The ingester's spec file is not rendered: `make deploy` creates its ConfigMap from the file.
    covered = set(COMPOSE_SOURCES.values()) | {"provisioning", "observatory.yaml"}
    assert mounted <= covered


def test_compose_mounts_each_config_where_the_manifests_do() -> None:
    # names.py is the one home of the paths inside the containers; compose is written by hand.
    spec = load(SPEC_FILES["repository"])
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounted = {
        volume.split(":")[0].removeprefix("./"): volume.split(":")[1]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }
    for mount in configs.mounts(spec, render_compose(spec)):
        source = COMPOSE_SOURCES[mount.configmap]
        if source.startswith("provisioning/"):  # compose mounts the whole folder
            assert mount.mount_path == f"{mounted['provisioning']}/{PurePosixPath(source).name}"
        else:
            assert mounted[source] == mount.mount_path, mount.configmap


def test_object_storage_puts_tempo_and_loki_on_s3_with_credentials_from_the_secret() -> None:
    spec = load(SPEC_FILES["full"])
    store = spec.deploy.object_storage
    assert store is not None
    configmaps = by_kind(spec, "ConfigMap")
    tempo = yaml.safe_load(configmaps["tempo-config"]["data"]["tempo.yaml"])["storage"]["trace"]
    loki = yaml.safe_load(configmaps["loki-config"]["data"]["loki.yaml"])
    assert tempo["backend"] == "s3"
    assert (tempo["s3"]["bucket"], tempo["s3"]["endpoint"]) == (store.bucket, store.endpoint)
    assert loki["common"]["storage"]["s3"]["bucketnames"] == store.bucket
    assert loki["schema_config"]["configs"][0]["object_store"] == "s3"
    # The spec names the access key's variable; the secret key is a file there, so a fixed variable here.
    assert tempo["s3"]["access_key"] == "${S3_ACCESS_KEY_ID}"
    assert tempo["s3"]["secret_key"] == f"${{{names.ENV_S3_SECRET_ACCESS_KEY}}}"
    for name in ("tempo", "loki"):
        container = by_kind(spec, "StatefulSet")[name]["spec"]["template"]["spec"]["containers"][0]
        assert "-config.expand-env=true" in container["args"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
        assert refs == {
            "S3_ACCESS_KEY_ID": configs.KEY_S3_ACCESS_KEY_ID,
            names.ENV_S3_SECRET_ACCESS_KEY: configs.KEY_S3_SECRET_ACCESS_KEY,
        }


def test_secrets_are_referenced_and_never_rendered(spec: Spec) -> None:
    objects = rendered_objects(spec).values()
    assert not [o for o in objects if o["kind"] == "Secret"]
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for env in container.get("env", []):
                assert "valueFrom" in env or "PASSWORD" not in env["name"], env


def test_stores_are_statefulsets_with_claims_of_the_spec_storage_class(spec: Spec) -> None:
    statefulsets = by_kind(spec, "StatefulSet")
    expected = {"prometheus", "alertmanager", "tempo", "loki"}
    assert set(statefulsets) == (expected if spec.storage.host else expected | {"timescaledb"})
    for workload in statefulsets.values():
        (claim,) = workload["spec"]["volumeClaimTemplates"]
        assert claim["spec"].get("storageClassName") == spec.deploy.storage_class


def test_collector_and_ingester_scale_from_the_spec_replicas_by_autoscaler(spec: Spec) -> None:
    deployments, hpas = by_kind(spec, "Deployment"), by_kind(spec, "HorizontalPodAutoscaler")
    expected = {
        collector.LB: spec.deploy.collector_replicas,
        collector.SAMPLING: spec.deploy.collector_replicas,
        "ingester": spec.deploy.ingester_replicas,
    }
    for name, replicas in expected.items():
        # The autoscaler owns the count (at least the spec's); a count in the manifest would fight it.
        assert "replicas" not in deployments[name]["spec"]
        assert hpas[name]["spec"]["minReplicas"] == replicas
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name


def test_the_load_balancing_tier_routes_traces_by_id_to_the_headless_sampling_service(spec: Spec) -> None:
    lb = yaml.safe_load(by_kind(spec, "ConfigMap")[collector.LB_CONFIGMAP]["data"]["config.yaml"])
    exporter = lb["exporters"]["load_balancing/traces"]
    assert exporter["routing_key"] == "traceID"
    hostname = exporter["resolver"]["dns"]["hostname"]
    assert hostname == f"{collector.SAMPLING_HEADLESS}.{spec.deploy.namespace}.svc.cluster.local"
    headless = by_kind(spec, "Service")[collector.SAMPLING_HEADLESS]["spec"]
    assert headless["clusterIP"] == "None"
    assert (
        headless["selector"]
        == by_kind(spec, "Deployment")[collector.SAMPLING]["spec"]["selector"]["matchLabels"]
    )
    assert lb["service"]["pipelines"]["traces"]["exporters"] == ["load_balancing/traces"]


def test_applications_reach_only_the_collector_otlp_ports_and_the_proxy_when_enabled(spec: Spec) -> None:
    policies = by_kind(spec, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_to_all = {
        name: [p["port"] for p in rule["ports"]]
        for name, policy in policies.items()
        for rule in policy["spec"].get("ingress", [])
        if rule.get("from") == [{"namespaceSelector": {}}]
    }
    proxy = {f"{names.SVC_PROXY}-ingress": [names.PORT_PROXY]} if spec.proxy.enabled else {}
    assert open_to_all == {f"{collector.LB}-ingress": [4317, 4318], **proxy}
    if spec.storage.host is None:
        (rule,) = policies["timescaledb-ingress"]["spec"]["ingress"]
        clients = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]}
        assert clients == {"ingester", "grafana", "api"}
    # The query API is reached on its port only (it checks a bearer token on every request).
    assert policies["api-ingress"]["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8090}]}]


def test_every_container_has_probes_and_resource_limits(spec: Spec) -> None:
    for obj in rendered_objects(spec).values():
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            assert {"readinessProbe", "livenessProbe"} <= container.keys(), obj["metadata"]["name"]
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()


def _kubeconfig_without_a_cluster(tmp_path: Path) -> Path:
    """A kubeconfig whose API server is a loopback port nothing listens on."""
    port = free_port()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nowhere", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
        "current-context": "nowhere",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("script", ["deploy.sh", "undeploy.sh"])
def test_deploy_scripts_fail_clearly_when_no_cluster_is_reachable(script: str, tmp_path: Path) -> None:
    require_tool("kubectl")
    env = {**os.environ, "KUBECONFIG": str(_kubeconfig_without_a_cluster(tmp_path))}
    result = subprocess.run(
        [str(REPO / "scripts" / script)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 1
    assert "no Kubernetes cluster is reachable" in result.stderr


@pytest.mark.parametrize("script", ["deploy.sh", "undeploy.sh"])
def test_deploy_scripts_fail_clearly_without_kubectl(script: str, tmp_path: Path) -> None:
    # A PATH with bash and the coreutils the script needs, but no kubectl.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "kubectl is not installed" in result.stderr


def test_prometheus_scrapes_every_collector_ingester_and_proxy_replica(spec: Spec, tmp_path: Path) -> None:
    # Through a Service, each scrape reaches one pod: replicas' counters would interleave in a series.
    compose_cfg = yaml.safe_load(render_files(spec)["stack/prometheus/prometheus.yml"])
    data = by_kind(spec, "ConfigMap")["prometheus-config"]["data"]["prometheus.yml"]
    k8s_cfg = yaml.safe_load(data)
    services = by_kind(spec, "Service")
    per_pod = {}
    for compose_job, job in zip(compose_cfg["scrape_configs"], k8s_cfg["scrape_configs"], strict=True):
        if "dns_sd_configs" not in job:
            assert job == compose_job  # everything else is scraped as compose does
            continue
        ((target,),) = compose_job["static_configs"][0].values()
        (sd,) = job["dns_sd_configs"]
        assert sd["type"] == "A" and sd["port"] == int(target.rsplit(":", 1)[1])
        for name in sd["names"]:
            service = services[name]["spec"]
            assert service["clusterIP"] == "None", name  # headless: one A record per ready pod
            assert sd["port"] in {p["port"] for p in service["ports"]}, name
            per_pod.setdefault(job["job_name"], set()).add(service["selector"]["app.kubernetes.io/name"])
    proxy = {names.JOB_PROXY: {names.SVC_PROXY}} if spec.proxy.enabled else {}
    assert per_pod == {
        "otel-collector": {collector.LB, collector.SAMPLING},
        "ingester": {"ingester"},
        **proxy,
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(data)
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
