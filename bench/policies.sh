#!/usr/bin/env bash
# Cost of policies on the proxy path: requests per second and p99 latency through a plain
# route, a route with API key authentication, one with RS256 JWT authentication, one with a
# local rate limit and one with a Redis rate limit, in interleaved rounds. The limits are
# keyed by an `x-client` header that wrk sets to one of 100,000 random values, so counters
# rarely collide, and they are high enough never to reject. Origin, Redis and the gateway
# share CPU 0; wrk runs on CPU 1.
#
# For each run it also prints the gateway's CPU time per request (from /proc) and its ratio
# to the plain route's. For the Redis route, that ratio leaves out Redis's own CPU time.
#
# Usage: bench/policies.sh [ROUNDS] [SECONDS] [CONNECTIONS]    (defaults 3, 10, 50)
# Needs: nginx (as the origin), redis-server, wrk, taskset, openssl.
set -eu

rounds=${1:-3}
seconds=${2:-10}
connections=${3:-50}
source "$(dirname "$0")/common.sh"
keys="$root/crates/gatehouse/tests/fixtures/jwt"
origin_port=18195
gateway_port=18193
redis_port=18194
redis_gateway=$((gateway_port + 10))

require_tools nginx redis-server wrk taskset openssl
cargo build --release -q -p gatehouse --manifest-path "$root/Cargo.toml"

base64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"RS256","typ":"JWT"}' | base64url)
payload=$(printf '{"iss":"https://idp.example.com/","aud":"gatehouse","sub":"bench","exp":%s}' $(( $(date +%s) + 86400 )) | base64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$keys/rsa1.key" -binary | base64url)
token="$header.$payload.$signature"
key_hash=$(printf 'bench-key' | "$root/target/release/gatehouse" hash-key)

write_origin $origin_port

cat > "$work/gatehouse.yaml" <<CONF
listeners:
  - name: public
    address: "127.0.0.1:$gateway_port"
admin:
  address: "127.0.0.1:0"
access_log:
  format: off
consumers:
  - id: bench
    api_keys: ["$key_hash"]
rate_limiting:
  store: memory
authentication:
  jwt:
    - name: bench
      issuer: "https://idp.example.com/"
      audiences: [gatehouse]
      keys: ["$keys/rsa1.pub.pem"]
      algorithms: [RS256]
      consumer_claim: sub
upstreams:
  - name: origin
    targets:
      - url: "http://127.0.0.1:$origin_port"
    max_idle_per_target: 256
routes:
  - name: plain
    match: { path_prefix: /plain }
    upstream: origin
    rewrite: { strip_prefix: /plain }
  - name: api-key
    match: { path_prefix: /key }
    upstream: origin
    rewrite: { strip_prefix: /key }
    auth: { methods: [api_key] }
  - name: jwt
    match: { path_prefix: /jwt }
    upstream: origin
    rewrite: { strip_prefix: /jwt }
    auth: { methods: ["jwt:bench"] }
  - name: local-limit
    match: { path_prefix: /local }
    upstream: origin
    rewrite: { strip_prefix: /local }
    rate_limits:
      - { key: "header:x-client", limit: 1000000, per: 1s }
CONF
sed -e "s/store: memory/store: redis\n  redis:\n    url: \"redis:\/\/127.0.0.1:$redis_port\/0\"/" \
    -e "s/127.0.0.1:$gateway_port/127.0.0.1:$((gateway_port + 10))/" \
    -e "s/local-limit/redis-limit/; s/path_prefix: \/local/path_prefix: \/redis/; s/strip_prefix: \/local/strip_prefix: \/redis/" \
    "$work/gatehouse.yaml" > "$work/gatehouse-redis.yaml"
cat > "$work/random-client.lua" <<'LUA'
request = function()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["x-client"] = tostring(math.random(1, 100000))
  return wrk.format(nil, nil, headers)
end
LUA

taskset -c 0 nginx -c "$work/origin/nginx.conf" & pids+=($!)
taskset -c 0 redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
taskset -c 0 "$root/target/release/gatehouse" run --workers 1 --config "$work/gatehouse.yaml" >/dev/null 2>"$work/gatehouse.log" & memory_pid=$!; pids+=($!)
taskset -c 0 "$root/target/release/gatehouse" run --workers 1 --config "$work/gatehouse-redis.yaml" >/dev/null 2>"$work/gatehouse-redis.log" & redis_pid=$!; pids+=($!)
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
# Runs wrk and prints "requests/s p99 cpu_us_per_request" (the gateway's CPU time).
run() {
  local port=$1 path=$2 pid=$memory_pid; shift 2
  [ "$port" = "$redis_gateway" ] && pid=$redis_pid
  curl -sf -H "x-client: 1" "$@" "http://127.0.0.1:$port$path" -o /dev/null || { echo "request to $path failed" >&2; exit 1; }
  local before after
  before=$(cpu_ticks "$pid")
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/random-client.lua" "$@" "http://127.0.0.1:$port$path" \
    > "$work/wrk.out"
  after=$(cpu_ticks "$pid")
  awk -v t=$((after - before)) -v hz="$ticks_per_second" '
    /requests in/ {n = $1} /Requests\/sec/ {rps = $2} $1 == "99%" {p99 = $2}
    END {printf "%s %s %.2f\n", rps, p99, t / hz * 1e6 / n}' "$work/wrk.out"
}

printf '%-6s %-12s %12s %10s %10s %12s %10s\n' round route requests/s p99 vs_plain cpu_us/req cpu_vs
for round in $(seq "$rounds"); do
  read -r plain plain_p99 plain_cpu < <(run $gateway_port /plain/small)
  printf '%-6s %-12s %12s %10s %10s %12s %10s\n' "$round" plain "$plain" "$plain_p99" 1.000 "$plain_cpu" 1.000
  while read -r name port path header; do
    if [ -n "$header" ]; then
      read -r rps p99 cpu < <(run "$port" "$path" -H "$header")
    else
      read -r rps p99 cpu < <(run "$port" "$path")
    fi
    awk -v r="$round" -v n="$name" -v x="$rps" -v p="$p99" -v b="$plain" -v c="$cpu" -v bc="$plain_cpu" \
      'BEGIN { printf "%-6s %-12s %12s %10s %10.3f %12s %10.3f\n", r, n, x, p, x / b, c, c / bc }'
  done <<ROUTES
api_key $gateway_port /key/small x-api-key: bench-key
jwt $gateway_port /jwt/small authorization: Bearer $token
local_limit $gateway_port /local/small
redis_limit $redis_gateway /redis/small
ROUTES
done
