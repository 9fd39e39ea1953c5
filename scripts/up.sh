#!/usr/bin/env bash
# Starts the container stack, waits until every service answers, and prints where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
# FRESH=1 (make up FRESH=1): the local stack deletes the data earlier runs kept before it starts.
fresh=()
[ "${FRESH:-}" = 1 ] && fresh=(--fresh)
# One .env for both stacks, so a user's id hashes alike in each (docs/user-id-hash-key.md).
scripts/secrets-env.sh
# Without a Docker engine: say what is missing, then run what can run here as local processes.
if ! why=$(scripts/compose.sh version 2>&1 >/dev/null); then
  printf '%s\n' "$why" | head -n 1 >&2
  echo "Starting the local stack instead (PostgreSQL, Prometheus, Alertmanager, ingester, collector)." >&2
  scripts/build-collector.sh >/dev/null
  # The local stack starts the proxy when the spec enables it; building it is cheap when current.
  if grep -q '^COMPOSE_PROFILES=.*proxy' stack/settings.env; then scripts/build-proxy.sh >/dev/null; fi
  exec .venv/bin/observatory local up "${fresh[@]}"
fi
if [ ${#fresh[@]} -gt 0 ]; then
  echo "FRESH=1 resets the local stack only; compose keeps its data in volumes:" \
    "remove them with 'scripts/compose.sh down --volumes' first" >&2
  exit 2
fi
scripts/compose.sh up -d --wait --remove-orphans
# Tempo and Loki have no shell for an in-container healthcheck: probe them from here.
set -a; . stack/settings.env; set +a
for target in "tempo:${TEMPO_PORT}" "loki:${LOKI_PORT}"; do
  name=${target%%:*}; port=${target##*:}
  for _ in $(seq 1 60); do
    curl -fsS -o /dev/null "http://${BIND_ADDRESS}:${port}/ready" && break
    sleep 2
  done || true
  curl -fsS -o /dev/null "http://${BIND_ADDRESS}:${port}/ready" || { echo "$name is not ready on port $port" >&2; exit 1; }
done
cat <<MSG
The stack is up:
  Grafana       http://${BIND_ADDRESS}:${GRAFANA_PORT}   (user and password in .env)
  Prometheus    http://${BIND_ADDRESS}:${PROMETHEUS_PORT}
  Alertmanager  http://${BIND_ADDRESS}:${ALERTMANAGER_PORT}
  Tempo         http://${BIND_ADDRESS}:${TEMPO_PORT}
  Loki          http://${BIND_ADDRESS}:${LOKI_PORT}
  TimescaleDB   ${BIND_ADDRESS}:${TIMESCALEDB_PORT}
MSG
# The proxy runs only when the spec enables it (observatory render puts it in COMPOSE_PROFILES).
if [[ ",${COMPOSE_PROFILES:-}," == *,proxy,* ]]; then
  proxy="http://${BIND_ADDRESS}:${PROXY_PORT}"
  echo "  LLM proxy     ${proxy}/openai/v1 and ${proxy}/anthropic   (base URLs: docs/proxy.md)"
fi
echo "Stop it with 'make down'; follow the logs with 'make logs'."
