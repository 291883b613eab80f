#!/usr/bin/env bash
# Instructions per request in the gateway, counted by callgrind, for a plain route and for
# routes with a local rate limit (draft fields, then no fields) and a Redis rate limit.
# Instruction counts do not depend on what else the machine runs, so they compare builds
# where wall-clock benchmarks are too noisy.
#
# Each route is measured with two gateway runs under valgrind, of 1,000 and of 1,000 + N
# requests. Their difference divided by N leaves out start-up and shutdown. A Python client
# sends keep-alive requests on four connections with an `x-client` header drawn from
# 100,000 values, the key of both limits. The Redis store timeout is 5 s so that no call,
# slowed down by valgrind, falls back to the local stand-in.
#
# Usage: bench/instructions.sh [N]    (default 5000)
# Needs: valgrind, nginx (as the origin), redis-server, python3, curl.
set -eu

requests=${1:-5000}
source "$(dirname "$0")/common.sh"
origin_port=18290
gateway_port=18293
redis_port=18294

require_tools valgrind nginx redis-server python3 curl
cargo build --release -q -p gatehouse --manifest-path "$root/Cargo.toml"
gatehouse="$root/target/release/gatehouse"
write_origin $origin_port

write_limit_config "$work/memory.yaml" $gateway_port $origin_port "  store: memory"
write_limit_config "$work/memory-off.yaml" $gateway_port $origin_port "  store: memory
  headers: off"
write_limit_config "$work/redis.yaml" $gateway_port $origin_port "  store: redis
  redis:
    url: \"redis://127.0.0.1:$redis_port/0\"
    timeout: 5s"

cat > "$work/client.py" <<'PY'
import random, socket, sys

port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
random.seed(7)
connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
for i in range(count):
    connection = connections[i % len(connections)]
    client = random.randint(1, 100000)
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nx-client: {client}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            sys.exit("connection closed before a response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"unexpected response: {head.splitlines()[0].decode()}")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(65536)
PY

nginx -c "$work/origin/nginx.conf" & pids+=($!)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
sleep 1

# Prints the instructions callgrind counted in a gateway run of $3 requests to path $2.
count() {
  local config=$1 path=$2 total=$3 out="$work/callgrind.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$gatehouse" run --workers 1 --config "$config" \
    >/dev/null 2>"$work/gateway.log" &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$gateway_port/plain/small" && break
    sleep 0.3
  done
  python3 "$work/client.py" "$gateway_port" "$path" "$total"
  kill -INT "$pid"
  wait "$pid" || true
  awk '/^summary:/ {print $2}' "$out"
}

printf '%-28s %14s %12s\n' route instr/request above_plain
plain=0
while read -r name config path; do
  base=$(count "$work/$config" "$path" 1000)
  more=$(count "$work/$config" "$path" $((1000 + requests)))
  per=$(( (more - base) / requests ))
  [ "$name" = plain ] && plain=$per
  printf '%-28s %14s %12s\n' "$name" "$per" $((per - plain))
done <<ROUTES
plain memory.yaml /plain/small
local_limit memory.yaml /limit/small
local_limit_headers_off memory-off.yaml /limit/small
redis_limit redis.yaml /limit/small
ROUTES
