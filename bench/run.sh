#!/usr/bin/env bash
# `make bench`: request rates of imagegate's createTask and recordInfo next to nginx answering a
# static 200, in the same run on the same machine, and their ratio. Everything binds 127.0.0.1
# and is stopped at the end.
#   BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 64), BENCH_THREADS (default 2)
set -euo pipefail
bin=$(realpath "${1:-build/imagegate}")
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}

for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

work=$(mktemp -d /tmp/imagegate-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- nginx: a static 200, the reference for "what this machine's loopback HTTP can do"
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"code":200,"msg":"success"}'; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work/nginx"

# --- imagegate: generation held back so the run measures the gateway, not the renderer
ig_port=$(free_port)
key=$("$bin" keys create --name bench --data-dir "$work/data")
"$bin" serve --listen "127.0.0.1:$ig_port" --data-dir "$work/data" \
  --set log.level=warn --set dispatcher.concurrency=1 --set sandbox.latency_ms=3600000 \
  --set store.sqlite_synchronous="${BENCH_SYNCHRONOUS:-FULL}" >"$work/imagegate.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ig_port/healthz" >/dev/null && break; sleep 0.1; done

task=$(curl -sf -X POST "http://127.0.0.1:$ig_port/api/v1/jobs/createTask" \
  -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  -d '{"model":"gpt-image-2-text-to-image","input":{"prompt":"bench"}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["taskId"])')

rate() {  # wrk output → requests/sec
  awk '/Requests\/sec/ {print $2}'
}
run_wrk() {
  wrk -t"$threads" -c"$conns" -d"${seconds}s" --latency "$@" 2>&1 | tee -a "$work/wrk.log"
}

echo "== nginx static 200 (reference)"
nginx_out=$(run_wrk "http://127.0.0.1:$nginx_port/")
echo "$nginx_out" | grep -E "Latency|Requests/sec|99%"
echo "== imagegate GET /api/v1/jobs/recordInfo"
record_out=$(IG_KEY=$key run_wrk -s "$here/wrk/auth.lua" \
  "http://127.0.0.1:$ig_port/api/v1/jobs/recordInfo?taskId=$task")
echo "$record_out" | grep -E "Latency|Requests/sec|99%|Non-2xx"
echo "== imagegate POST /api/v1/jobs/createTask"
create_out=$(IG_KEY=$key run_wrk -s "$here/wrk/create.lua" \
  "http://127.0.0.1:$ig_port/api/v1/jobs/createTask")
echo "$create_out" | grep -E "Latency|Requests/sec|99%|Non-2xx"

nginx_rps=$(echo "$nginx_out" | rate)
record_rps=$(echo "$record_out" | rate)
create_rps=$(echo "$create_out" | rate)
python3 - "$nginx_rps" "$record_rps" "$create_rps" <<'PY'
import sys
nginx, record, create = map(float, sys.argv[1:])
print()
print("%-34s %12s %10s" % ("endpoint", "req/s", "vs nginx"))
print("%-34s %12.0f %10s" % ("nginx static 200", nginx, "1.00"))
print("%-34s %12.0f %10.2f" % ("imagegate recordInfo (GET)", record, record / nginx))
print("%-34s %12.0f %10.2f" % ("imagegate createTask (POST)", create, create / nginx))
PY
