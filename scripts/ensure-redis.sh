#!/usr/bin/env bash
# Installs redis-server and redis-cli from Debian's packages when they are missing (needs root),
# and stops the system instance the package starts: our tests and demo run their own.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "redis-server is not installed; run: sudo apt-get install -y redis-server" >&2
  exit 1
fi
echo "installing redis-server (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq redis-server >/dev/null
(service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
