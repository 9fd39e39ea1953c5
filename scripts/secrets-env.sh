#!/usr/bin/env bash
# Creates the git-ignored .env with random secrets for the stack, and adds any secret an existing .env
# lacks (one made before a secret existed, or by `observatory local up`, which writes only the hash key).
# A secret already there is never changed: a new OBSERVATORY_USER_ID_HASH_KEY would hash every user
# differently from then on (rotating it is deliberate: docs/user-id-hash-key.md).
# There are no default passwords: each machine gets its own, readable only by its owner.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
[ -f .env ] || echo "# Secrets of the local stack, made by scripts/secrets-env.sh. Never commit this file." > .env
added=()
add() {  # NAME VALUE: append NAME=VALUE unless .env already sets NAME
  grep -q "^$1=" .env || { echo "$1=$2" >> .env; added+=("$1"); }
}
add GRAFANA_ADMIN_USER admin
add GRAFANA_ADMIN_PASSWORD "$(random)"
add OBSERVATORY_DB_PASSWORD "$(random)"
add OBSERVATORY_DB_READER_PASSWORD "$(random)"
add OBSERVATORY_USER_ID_HASH_KEY "$(random)"
if [ ${#added[@]} -gt 0 ]; then
  echo "wrote ${added[*]} to .env (random secrets; Grafana login: admin, password in .env)"
fi
