#!/usr/bin/env bash
# Cost of authentication on the proxy path: requests per second through a plain route, a
# route with API key authentication and a route with RS256 JWT authentication, in one
# Gatehouse process, in interleaved rounds. Origin and gateway share CPU 0, wrk runs on CPU 1.
#
# Usage: bench/auth.sh [ROUNDS] [SECONDS] [CONNECTIONS]    (defaults 3, 10, 50)
# Needs: nginx (as the origin), wrk, taskset, openssl.
set -eu

rounds=${1:-3}
seconds=${2:-10}
connections=${3:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
keys="$root/crates/gatehouse/tests/fixtures/jwt"
work=$(mktemp -d)
chmod 755 "$work"
origin_port=18190
gateway_port=18193
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for tool in nginx wrk taskset openssl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
cargo build --release -q -p gatehouse --manifest-path "$root/Cargo.toml"

base64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"RS256","typ":"JWT"}' | base64url)
payload=$(printf '{"iss":"https://idp.example.com/","aud":"gatehouse","sub":"bench","exp":%s}' $(( $(date +%s) + 86400 )) | base64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$keys/rsa1.key" -binary | base64url)
token="$header.$payload.$signature"
key_hash=$(printf 'bench-key' | "$root/target/release/gatehouse" hash-key)

mkdir -p "$work/www"
printf 'ok\n' > "$work/www/small"
cat > "$work/origin.conf" <<CONF
worker_processes 1; daemon off; pid $work/origin.pid; error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$origin_port backlog=4096; root $work/www; location / { default_type text/plain; } }
}
CONF

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
CONF

taskset -c 0 nginx -c "$work/origin.conf" & pids+=($!)
taskset -c 0 "$root/target/release/gatehouse" run --workers 1 --config "$work/gatehouse.yaml" >/dev/null 2>"$work/gatehouse.log" & pids+=($!)
sleep 1

run() {
  local path=$1; shift
  curl -sf "$@" "http://127.0.0.1:$gateway_port$path" -o /dev/null || { echo "request to $path failed" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" "$@" "http://127.0.0.1:$gateway_port$path" | awk '/Requests\/sec/ {print $2}'
}

printf '%-6s %12s %12s %12s %10s %10s\n' round plain api_key jwt key/plain jwt/plain
for round in $(seq "$rounds"); do
  plain=$(run /plain/small)
  key=$(run /key/small -H "x-api-key: bench-key")
  jwt=$(run /jwt/small -H "authorization: Bearer $token")
  awk -v r="$round" -v p="$plain" -v k="$key" -v j="$jwt" \
    'BEGIN { printf "%-6s %12s %12s %12s %10.3f %10.3f\n", r, p, k, j, k / p, j / p }'
done
