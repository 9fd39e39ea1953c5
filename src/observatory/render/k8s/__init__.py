"""Kubernetes manifests for the whole stack, rendered into stack/k8s/ as a kustomization.

One file per object, named `<name>-<kind>.yaml` (kube-prometheus style), plus `kustomization.yaml`
listing them, so `kubectl apply -k stack/k8s` deploys everything. Secrets are referenced, never
rendered: the user creates them (docs/kubernetes.md), and no value ever lands in these files.
"""

from __future__ import annotations

from collections.abc import Sequence

from observatory.render.artifact import Artifact
from observatory.render.k8s import collector, components, configs, network
from observatory.render.k8s import objects as o
from observatory.spec.types import Spec

K8S_DIR = "stack/k8s"
KUSTOMIZATION = f"{K8S_DIR}/kustomization.yaml"


def namespace(spec: Spec) -> o.Manifest:
    # Baseline is enforced; restricted is only warned about, since it forbids nothing this stack does
    # but is not yet proven on every image (the database entrypoint).
    pod_security = {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.deploy.namespace, "labels": {**o.labels(o.PART_OF), **pod_security}},
    }


def manifests(spec: Spec, rendered: Sequence[Artifact]) -> list[o.Manifest]:
    """Every object, in the order `kubectl apply` should meet them (namespace and configs first)."""
    mounts = configs.mounts(spec, rendered)
    maps = [configs.configmap(m, spec) for m in mounts]
    workloads = [*components.render(spec, mounts), *collector.render(spec, mounts)]
    return [namespace(spec), *maps, *workloads, *network.render(spec)]


def file_name(manifest: o.Manifest) -> str:
    return f"{manifest['metadata']['name']}-{manifest['kind'].lower()}.yaml"


def kustomization(files: list[str]) -> Artifact:
    content = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    }
    return Artifact(KUSTOMIZATION, content, "yaml")


def render(spec: Spec, rendered: Sequence[Artifact]) -> list[Artifact]:
    """The manifests, given `rendered`: what every other renderer produced for compose."""
    artifacts = [Artifact(f"{K8S_DIR}/{file_name(m)}", m, "yaml") for m in manifests(spec, rendered)]
    files = [a.path.rpartition("/")[2] for a in artifacts]
    return [*artifacts, kustomization(files)]
