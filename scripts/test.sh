#!/usr/bin/env bash
# Runs every test. The rate limit tests start real redis-server processes, so the script
# installs Debian's redis-server first when it is missing (root, or sudo without a password).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is missing; installing Debian's redis-server package"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "cannot install redis-server without root; install it (apt-get install redis-server) and run again" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"
