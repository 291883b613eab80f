# Set-up shared by the loopback benchmarks, sourced by the scripts next to it. It defines
# `root` (the repository), `work` (a temporary folder) and `pids` (processes to stop). At
# exit it stops those processes and removes the folder.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Exits with the Debian packages to install unless every named command is found.
require_tools() {
  local tool package missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null && continue
    case $tool in
      nginx) package=nginx-light ;;
      taskset) package=util-linux ;;
      *) package=$tool ;;
    esac
    missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing tools. On Debian: apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

# Prints the start of an nginx configuration whose pid, log and temporary files live in the
# folder $1: one worker, no daemon, keep-alive without a request limit. The caller adds its
# servers and the closing brace of the http block.
nginx_head() {
  cat <<CONF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 1000000;
CONF
}

# Writes the origin's nginx configuration to $work/origin/nginx.conf: port $1 serves `small`
# (3 bytes) and `16k` (16 KiB) from $work/www.
write_origin() {
  mkdir -p "$work/origin" "$work/www"
  printf 'ok\n' > "$work/www/small"
  head -c 16384 /dev/zero | tr '\0' 'x' > "$work/www/16k"
  { nginx_head "$work/origin"; cat <<CONF
  server {
    listen 127.0.0.1:$1 backlog=4096;
    root $work/www;
    location / { default_type text/plain; }
  }
}
CONF
  } > "$work/origin/nginx.conf"
}

# Writes to $1 a gateway configuration that listens on port $2 and proxies to the origin on
# port $3, with the `rate_limiting` lines $4. It has a plain route (`/plain`) and a route
# (`/limit`) with a rate limit keyed by the `x-client` header, high enough never to reject.
# Both paths have the same length, so routing costs the same.
write_limit_config() {
  cat > "$1" <<CONF
listeners:
  - name: public
    address: "127.0.0.1:$2"
admin:
  address: "127.0.0.1:0"
access_log:
  format: off
rate_limiting:
$4
upstreams:
  - name: origin
    targets:
      - url: "http://127.0.0.1:$3"
    max_idle_per_target: 256
routes:
  - name: plain
    match: { path_prefix: /plain }
    upstream: origin
    rewrite: { strip_prefix: /plain }
  - name: limit
    match: { path_prefix: /limit }
    upstream: origin
    rewrite: { strip_prefix: /limit }
    rate_limits:
      - { key: "header:x-client", limit: 1000000, per: 1s }
CONF
}
