#!/usr/bin/env bash
# Creates the git-ignored .env with random secrets for the local stack, unless it already exists.
# There are no default passwords: each machine gets its own, readable only by its owner.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] && exit 0
umask 077
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
{
  echo "# Secrets of the local stack, made by scripts/secrets-env.sh. Never commit this file."
  echo "GRAFANA_ADMIN_USER=admin"
  echo "GRAFANA_ADMIN_PASSWORD=$(random)"
  echo "OBSERVATORY_DB_PASSWORD=$(random)"
  echo "OBSERVATORY_DB_READER_PASSWORD=$(random)"
  echo "OBSERVATORY_USER_ID_HASH_KEY=$(random)"
} > .env
echo "wrote .env with random secrets (Grafana login: admin, password in .env)"
