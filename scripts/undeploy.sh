#!/usr/bin/env bash
# Removes what `make deploy` created, keeping the namespace and the data volumes (like `make down`
# keeps compose volumes). With --purge, deletes the namespace and with it every volume claim.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "undeploy: $*" >&2; exit 1; }

command -v kubectl >/dev/null 2>&1 \
  || fail "kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"
kubectl cluster-info --request-timeout=10s >/dev/null 2>&1 \
  || fail "no Kubernetes cluster is reachable (kubectl cluster-info failed)"

ns=$(.venv/bin/python -c 'from observatory.spec import load; print(load(None).deploy.namespace)')
if [ "${1:-}" = "--purge" ]; then
  kubectl delete namespace "$ns" --ignore-not-found --wait
  echo "deleted namespace ${ns} and all its data"
  exit 0
fi

kubectl -n "$ns" delete \
  deployment,statefulset,service,configmap,poddisruptionbudget,horizontalpodautoscaler,networkpolicy \
  -l app.kubernetes.io/part-of=llm-observatory --ignore-not-found --wait
kubectl -n "$ns" delete configmap observatory-spec --ignore-not-found
echo "removed the stack; namespace ${ns} and its volume claims are kept (scripts/undeploy.sh --purge deletes them)"
