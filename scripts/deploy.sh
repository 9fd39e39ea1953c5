#!/usr/bin/env bash
# Deploys the rendered stack (stack/k8s/) to the cluster kubectl points at, then waits for every
# rollout. `make deploy` renders first. The Secret the manifests reference must exist beforehand
# (docs/kubernetes.md); this script checks for it rather than inventing values.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "deploy: $*" >&2; exit 1; }

command -v kubectl >/dev/null 2>&1 \
  || fail "kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"
if ! kubectl cluster-info --request-timeout=10s >/dev/null 2>&1; then
  context=$(kubectl config current-context 2>/dev/null || echo "none")
  fail "no Kubernetes cluster is reachable (kubectl cluster-info failed; current context: ${context})"
fi
[ -f stack/k8s/kustomization.yaml ] || fail "stack/k8s/kustomization.yaml is missing; run make render"

ns=$(.venv/bin/python -c 'from observatory.spec import load; print(load(None).deploy.namespace)')
selector="app.kubernetes.io/part-of=llm-observatory"

# The namespace first: the Secret check and the spec ConfigMap below live in it.
kubectl apply --server-side -f "stack/k8s/${ns}-namespace.yaml"
kubectl -n "$ns" get secret llm-observatory-secrets >/dev/null 2>&1 \
  || fail "create the Secret llm-observatory-secrets in namespace ${ns} first (docs/kubernetes.md)"

# The ingester reads the spec itself; it is not a rendered file, so it is sent from the working tree.
kubectl -n "$ns" create configmap observatory-spec --from-file=observatory.yaml=observatory.yaml \
  --dry-run=client -o yaml | kubectl apply --server-side -f -
kubectl apply --server-side -k stack/k8s

for workload in $(kubectl -n "$ns" get deployment,statefulset -l "$selector" -o name); do
  kubectl -n "$ns" rollout status "$workload" --timeout=10m
done
echo "deployed to namespace ${ns}; Grafana: kubectl -n ${ns} port-forward svc/grafana 3000:3000"
