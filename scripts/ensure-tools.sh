#!/usr/bin/env bash
# Installs the system tools the tests run for real (Prometheus, Alertmanager, PostgreSQL) from Debian
# packages, when they are missing and this runs as root with apt. Elsewhere it says what is missing;
# the tests that need a tool then skip, except under REQUIRE_TOOLS=1 (CI), where they fail.
set -euo pipefail
packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${packages[*]} (Debian packages)"
  apt-get update -qq
  # The packages would start their services; nothing here wants them running.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
else
  echo "missing system packages: ${packages[*]} (install them to run every test)" >&2
fi
