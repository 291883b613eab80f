#!/usr/bin/env bash
# Route lookup cost on real API route tables and on synthetic tables up to 10,000 routes.
# Usage: bench/router.sh [SHARED_ROUTES_DIR]   (default: ../shared/routes next to the repository)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
routes=${1:-$root/../shared/routes}
cargo run --release -q --manifest-path "$root/Cargo.toml" -p gatehouse-proxy --example router_bench -- "$routes"
