#!/usr/bin/env bash
# docker compose with the generated env files (images, ports, retention) and the local secrets (.env).
# Exits 1 with what to do instead when no Docker engine is reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1; then
  reason="the docker command is not installed"
elif ! why=$(docker info 2>&1 >/dev/null); then
  reason="docker info failed: $(printf '%s' "$why" | tail -n 1)"
else
  reason=""
fi
if [ -n "$reason" ]; then
  cat >&2 <<MSG
The container stack needs a Docker engine, and none is reachable here ($reason).
What you can do:
  - install Docker Engine (or Docker Desktop) with the compose plugin, then run this again;
  - without Docker: 'make render' writes every config, and 'make test' checks them against the real
    Prometheus and Alertmanager binaries (installed from Debian packages when run as root).
MSG
  exit 1
fi

args=(--env-file stack/images.env --env-file stack/settings.env)
[ -f .env ] && args+=(--env-file .env)
# The spec's optional services (the LLM proxy): settings.env names their profiles; passed as --profile
# rather than trusting every compose version to read COMPOSE_PROFILES from an --env-file.
profiles=$(sed -n 's/^COMPOSE_PROFILES=//p' stack/settings.env)
IFS=, read -ra profile_list <<< "$profiles"
for profile in "${profile_list[@]}"; do
  args+=(--profile "$profile")
done
exec docker compose "${args[@]}" "$@"
