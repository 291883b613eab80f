#!/usr/bin/env bash
# Latency of the rate limiters below saturation: a plain route, a route with a local rate
# limit and a route with a Redis rate limit, each loaded at fixed request rates by
# `crates/gatehouse-proxy/examples/fixed_rate.rs`. Unlike wrk, that client sends on a fixed
# schedule, so a percentile shows how long requests take at that load rather than how long
# they queue behind each other at full load.
#
# Two gateways run with one worker each, one with the memory store and one with Redis.
# Both limits are keyed by an `x-client` header with one of 100,000 random values, so
# counters rarely collide, and are high enough never to reject. Origin and gateways share
# CPU 0. Redis runs on CPU 1 with the client, which at these rates needs little CPU, as a
# Redis server of its own would. Rounds interleave the routes so that drift on a noisy
# machine hits all alike.
#
# Usage: bench/latency.sh [ROUNDS] [SECONDS] [RATES] [CONNECTIONS]
#        (defaults 3, 10, "1000 3000 6000", 50)
# Needs: nginx (as the origin), redis-server, taskset, curl.
set -eu

rounds=${1:-3}
seconds=${2:-10}
rates=${3:-1000 3000 6000}
connections=${4:-50}
source "$(dirname "$0")/common.sh"
origin_port=18395
memory_port=18393
redis_port=18394
redis_gateway=18396

require_tools nginx redis-server taskset curl
cargo build --release -q -p gatehouse --manifest-path "$root/Cargo.toml"
cargo build --release -q -p gatehouse-proxy --example fixed_rate --manifest-path "$root/Cargo.toml"
client="$root/target/release/examples/fixed_rate"
write_origin $origin_port

write_limit_config "$work/memory.yaml" $memory_port $origin_port "  store: memory"
write_limit_config "$work/redis.yaml" $redis_gateway $origin_port "  store: redis
  redis:
    url: \"redis://127.0.0.1:$redis_port/0\""

taskset -c 0 nginx -c "$work/origin/nginx.conf" & pids+=($!)
taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
for config in memory redis; do
  taskset -c 0 "$root/target/release/gatehouse" run --workers 1 --config "$work/$config.yaml" \
    >/dev/null 2>"$work/$config.log" & pids+=($!)
done
sleep 1
for port in $memory_port $redis_gateway; do
  curl -sf -H "x-client: 1" -o /dev/null "http://127.0.0.1:$port/limit/small" \
    || { echo "the gateway on port $port returned no response; see $work/*.log" >&2; exit 1; }
done

printf '%-6s %-7s %-12s %9s %8s %8s %8s %8s %8s\n' \
  round rate route "req/s" p50_ms p90_ms p99_ms p999_ms max_ms
for round in $(seq "$rounds"); do
  for rate in $rates; do
    while read -r name port path; do
      result=$(taskset -c 1 "$client" "$port" "$path" "$rate" "$seconds" "$connections")
      printf '%-6s %-7s %-12s %9s %8s %8s %8s %8s %8s\n' "$round" "$rate" "$name" $result \
        | tee -a "$work/results"
    done <<ROUTES
plain $memory_port /plain/small
local_limit $memory_port /limit/small
redis_limit $redis_gateway /limit/small
ROUTES
  done
done

# Prints the median over the rounds of column $1 of the results for rate $2 and route $3.
median() {
  awk -v rate="$2" -v name="$3" -v column="$1" '$2 == rate && $3 == name {print $column}' \
    "$work/results" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

echo
echo "Medians over $rounds rounds:"
printf '%-7s %-12s %8s %8s %8s %14s\n' rate route p50_ms p90_ms p99_ms p99_above_plain
for rate in $rates; do
  plain_p99=$(median 7 "$rate" plain)
  for name in plain local_limit redis_limit; do
    p99=$(median 7 "$rate" "$name")
    printf '%-7s %-12s %8s %8s %8s %14.3f\n' "$rate" "$name" "$(median 5 "$rate" "$name")" \
      "$(median 6 "$rate" "$name")" "$p99" "$(awk -v a="$p99" -v b="$plain_p99" 'BEGIN {print a - b}')"
  done
done
