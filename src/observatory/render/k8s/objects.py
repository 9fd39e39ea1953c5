"""Small builders for the Kubernetes objects every component uses: metadata, probes, services, workloads.

They return plain dicts in the order `kubectl get -o yaml` prints, so the rendered files read like
hand-written manifests. Nothing here knows about a particular component.
"""

from __future__ import annotations

from typing import Any

from observatory.spec.types import SecretRef, Spec

PART_OF = "llm-observatory"
# The one Secret the user creates before `make deploy` (docs/kubernetes.md); manifests only reference it.
SECRET_NAME = "llm-observatory-secrets"
# Receiver credentials for Alertmanager live apart: they are optional and their keys come from the spec.
ALERTMANAGER_SECRET_NAME = "llm-observatory-alertmanager"
# The spec file itself, which the ingester reads; `make deploy` creates it from observatory.yaml.
SPEC_CONFIGMAP = "observatory-spec"

Manifest = dict[str, Any]


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": PART_OF}


def selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component}


def metadata(name: str, spec: Spec, component: str | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": spec.deploy.namespace, "labels": labels(component or name)}


def http_probe(path: str, port: int, period_seconds: int = 10, failures: int = 6) -> dict[str, Any]:
    # httpGet, not exec: the collector, Tempo and Loki images are FROM scratch and have no shell.
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_seconds,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def probes(ready: str, alive: str, port: int) -> dict[str, Any]:
    # Liveness is lenient (a minute of failures) so a slow WAL replay is not killed in a loop.
    return {"readinessProbe": http_probe(ready, port), "livenessProbe": http_probe(alive, port, 10, 6)}


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def secret_env(env: str, key: str, name: str = SECRET_NAME) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def secret_ref(ref: SecretRef, key: str, volume: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The env entries and volume mounts that put secret `key` where the spec's reference expects it:
    an environment variable for `{env: NAME}`, the file itself (subPath of volume) for `{file: PATH}`."""
    if ref.env is not None:
        return [secret_env(ref.env, key)], []
    assert ref.file is not None  # the spec guarantees exactly one of env and file
    return [], [{"name": volume, "mountPath": ref.file, "subPath": key, "readOnly": True}]


def port(name: str, number: int) -> dict[str, Any]:
    return {"name": name, "containerPort": number, "protocol": "TCP"}


def service(
    name: str, spec: Spec, component: str, ports: list[tuple[str, int]], headless: bool = False
) -> Manifest:
    body: dict[str, Any] = {
        "selector": selector(component),
        "ports": [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in ports],
    }
    if headless:
        # One DNS A record per ready pod: what the load-balancing exporter's dns resolver reads.
        body = {"clusterIP": "None", **body}
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata(name, spec, component), "spec": body}


def pod_template(component: str, pod: dict[str, Any]) -> dict[str, Any]:
    base = {"automountServiceAccountToken": False, "enableServiceLinks": False}
    return {"metadata": {"labels": labels(component)}, "spec": {**base, **pod}}


def deployment(name: str, spec: Spec, replicas: int | None, pod: dict[str, Any]) -> Manifest:
    """A Deployment; `replicas` None leaves the count to its HorizontalPodAutoscaler: a count in the
    manifest would be reset on every `kubectl apply`, and server-side apply would refuse it as a
    conflict with the autoscaler, which owns the field."""
    body: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    body |= {"selector": {"matchLabels": selector(name)}, "template": pod_template(name, pod)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(name, spec), "spec": body}


def statefulset(name: str, spec: Spec, pod: dict[str, Any], volume: str, size: str) -> Manifest:
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if spec.deploy.storage_class is not None:
        claim["storageClassName"] = spec.deploy.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(name, spec),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector(name)},
            "template": pod_template(name, pod),
            # Labelled, so `make undeploy --purge` and people can find the data volumes.
            "volumeClaimTemplates": [{"metadata": {"name": volume, "labels": labels(name)}, "spec": claim}],
        },
    }


def pdb(name: str, spec: Spec, replicas: int) -> Manifest:
    # Single-replica stores may go down for a node drain (maxUnavailable 1 lets the drain finish);
    # replicated tiers keep all but one pod up during voluntary disruptions.
    budget = {"maxUnavailable": 1} if replicas <= 1 else {"minAvailable": replicas - 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, spec),
        "spec": {**budget, "selector": {"matchLabels": selector(name)}},
    }


def hpa(name: str, spec: Spec, minimum: int, maximum: int, cpu_percent: int = 70) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(name, spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_percent},
                    },
                }
            ],
        },
    }


def configmap_volume(volume: str, configmap: str) -> dict[str, Any]:
    return {"name": volume, "configMap": {"name": configmap}}


def secret_volume(volume: str, secret: str = SECRET_NAME) -> dict[str, Any]:
    return {"name": volume, "secret": {"secretName": secret}}
