#!/usr/bin/env bash
# Compares Gatehouse with nginx as reverse proxies in one run.
#
# Both proxies front the same origin (an nginx with one worker serving a small body and a
# 16 KiB body). Proxy and origin share CPU 0, wrk runs on CPU 1. Rounds interleave the two
# proxies so that drift on a noisy machine hits both alike. For each run the script prints
# requests per second, p99 latency, proxy CPU time per request (from /proc utime+stime) and
# the Gatehouse/nginx ratio.
#
# Usage: bench/proxy.sh [ROUNDS] [SECONDS] [CONNECTIONS]    (defaults 3, 10, 50)
# Needs: nginx, wrk, taskset (Debian: apt-get install nginx-light wrk util-linux).
set -eu

rounds=${1:-3}
seconds=${2:-10}
connections=${3:-50}
source "$(dirname "$0")/common.sh"
origin_port=18090
nginx_port=18091
gatehouse_port=18092

require_tools nginx wrk taskset
cargo build --release -q -p gatehouse --manifest-path "$root/Cargo.toml"
gatehouse="$root/target/release/gatehouse"

write_origin $origin_port
mkdir -p "$work/proxy"
{ nginx_head "$work/proxy"; cat <<CONF
  upstream origin { server 127.0.0.1:$origin_port; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Request-Id \$request_id;
      proxy_buffering off;
    }
  }
}
CONF
} > "$work/proxy/nginx.conf"

cat > "$work/gatehouse.yaml" <<CONF
listeners:
  - name: public
    address: "127.0.0.1:$gatehouse_port"
admin:
  address: "127.0.0.1:0"
access_log:
  format: off
upstreams:
  - name: origin
    targets:
      - url: "http://127.0.0.1:$origin_port"
    max_idle_per_target: 256
routes:
  - name: all
    match:
      path_prefix: /
    upstream: origin
CONF

taskset -c 0 nginx -c "$work/origin/nginx.conf" & pids+=($!)
taskset -c 0 nginx -c "$work/proxy/nginx.conf" & pids+=($!)
taskset -c 0 "$gatehouse" run --workers 1 --config "$work/gatehouse.yaml" >/dev/null 2>"$work/gatehouse.log" & gatehouse_pid=$!; pids+=($gatehouse_pid)
sleep 1
nginx_worker=$(pgrep -P "$(cat "$work/proxy/nginx.pid")" | head -n1)
echo "gatehouse idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$gatehouse_pid/status)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# Runs wrk against a port and prints "requests/s p99 cpu_us_per_request".
measure() {
  local port=$1 path=$2 pid=$3
  curl -sf "http://127.0.0.1:$port/$path" -o /dev/null
  local before after output requests rps p99
  before=$(cpu_ticks "$pid")
  output=$(taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$port/$path")
  after=$(cpu_ticks "$pid")
  requests=$(echo "$output" | awk '/requests in/ {print $1}')
  rps=$(echo "$output" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$output" | awk '$1 == "99%" {print $2}')
  awk -v r="$rps" -v p="$p99" -v t=$((after - before)) -v n="$requests" -v hz="$ticks_per_second" \
    'BEGIN { printf "%s %s %.2f\n", r, p, t / hz * 1e6 / n }'
}

printf '%-6s %-5s %-10s %12s %10s %12s\n' round body proxy requests/s p99 cpu_us/req
for round in $(seq "$rounds"); do
  for body in small 16k; do
    read -r n_rps n_p99 n_cpu < <(measure $nginx_port $body "$nginx_worker")
    printf '%-6s %-5s %-10s %12s %10s %12s\n' "$round" "$body" nginx "$n_rps" "$n_p99" "$n_cpu"
    read -r g_rps g_p99 g_cpu < <(measure $gatehouse_port $body $gatehouse_pid)
    printf '%-6s %-5s %-10s %12s %10s %12s\n' "$round" "$body" gatehouse "$g_rps" "$g_p99" "$g_cpu"
    awk -v g="$g_rps" -v n="$n_rps" -v gc="$g_cpu" -v nc="$n_cpu" -v b="$body" -v r="$round" \
      'BEGIN { printf "%-6s %-5s %-10s %12.3f %10s %12.3f\n", r, b, "ratio", g / n, "", gc / nc }'
  done
done
