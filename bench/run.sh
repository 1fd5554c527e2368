#!/usr/bin/env bash
# `make bench`: every figure of issue #9, next to nginx, from one run on one machine. Everything
# binds 127.0.0.1 on free ports, runs from a copy of the binary in a temporary directory, and is
# stopped at the end. Prints one table and writes it to bench/results/bench-<date>.md.
# See docs/benchmarks.md.
#
#   1. rates: nginx answering a static `return 200`, imagegate's recordInfo (one task) and
#      createTask, each with wrk -c64 for BENCH_SECONDS, taking turns in BENCH_RATE_ROUNDS rounds;
#      generation held back (concurrency 1, the sandbox waiting an hour), so the run measures the
#      gateway, not the renderer.
#   2. result downloads: a real result of about 8 MiB hosted by imagegate (an image-to-image
#      edit through POST /openai/v1/images/edits, 3840x2160 PNG, drawn by the sandbox from an
#      uploaded reference that is part noise, so the PNG does not compress; the noise rows are
#      calibrated to the size asked), fetched from its signed /files/ URL over keep-alive, and
#      the same bytes served by nginx (sendfile on): request rates, and each server's CPU time
#      per response (/proc/<pid>/stat), since wrk reading every byte on the same cores may be
#      the ceiling of both rates.
#   3. in flight and how cost grows: one imagegate whose sandbox waits BENCH_INFLIGHT_LATENCY_MS
#      (a slow provider) with dispatcher.concurrency = BENCH_INFLIGHT_RUNNING; its store is filled
#      through the API (wrk and bench/wrk/fill.lua) to each of BENCH_GROWTH_STEPS and to
#      BENCH_INFLIGHT_TASKS; at each step: server RSS (/proc), recordInfo over random stored tasks
#      with wrk -c64 (p99, rate), then a createTask run of BENCH_GROWTH_SECONDS, stopped once it
#      has added half the tasks to the next step (its rate; the table says how many the store
#      holds after it). The step at BENCH_INFLIGHT_TASKS is the in-flight
#      figure; creates refused are counted over every create sent to that server.
#   4. creates dispatched at once: section 1 holds generation back, so its creates only queue.
#      A gateway below its concurrency starts each task as it is created; this run creates
#      BENCH_DISPATCH_TASKS tasks with dispatcher.concurrency 100,000 (the sandbox waiting as in
#      3), waits until they all run, and reports the create rate and the server's CPU per task.
#
#   bash bench/run.sh [build/imagegate]
#   BENCH_SECONDS (10)                  each measured figure (rates, downloads: all rounds; recordInfo steps)
#   BENCH_CONNECTIONS (64)              wrk connections for rates, fills and recordInfo steps
#   BENCH_THREADS (2)                   wrk threads
#   BENCH_SYNCHRONOUS (FULL)            imagegate's store.sqlite_synchronous
#   BENCH_NGINX_WORKERS (2)             nginx worker processes
#   BENCH_FILE_BYTES (8388608)          size asked of the downloaded result (8 MiB; within 2 %)
#   BENCH_DOWNLOAD_CONNECTIONS (8)      wrk connections for the downloads
#   BENCH_RATE_ROUNDS (2)               the rates' runs take turns this many times, each run
#                                       BENCH_SECONDS / rounds long; their runs are added up
#   BENCH_DOWNLOAD_ROUNDS (2)           nginx and imagegate alternate this many times, each run
#                                       BENCH_SECONDS / rounds long; their runs are added up
#   BENCH_INFLIGHT_TASKS (100000)       N: tasks accepted (queued or running) in the in-flight step
#   BENCH_INFLIGHT_RUNNING (10000)      M: dispatcher.concurrency, tasks running at once; when the
#                                       binary refuses it, the largest value it allows (printed)
#   BENCH_INFLIGHT_LATENCY_MS (3600000) the sandbox's latency: the slow provider (longer than the run)
#   BENCH_GROWTH_STEPS ("1000 10000 100000")  store sizes of the growth table
#   BENCH_GROWTH_SECONDS (3)            the createTask run at each step (at most; see above)
#   BENCH_SETTLE_SECONDS (60)           at most this long for the dispatcher to start its M tasks
#   BENCH_DISPATCH_TASKS (30000)        creates of section 4, each started at once (at most 100000)
#   BENCH_SET ("")                      more `--set key=value` for every imagegate, space-separated
#                                       (an A/B of one setting: BENCH_SET="store.sqlite_task_cache=0")
#   BENCH_RESULTS_DIR (bench/results), BENCH_KEEP=1 keeps the work directory
set -euo pipefail
src_bin=${1:-build/imagegate}
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
sync=${BENCH_SYNCHRONOUS:-FULL}
nginx_workers=${BENCH_NGINX_WORKERS:-2}
file_bytes=${BENCH_FILE_BYTES:-8388608}
dl_conns=${BENCH_DOWNLOAD_CONNECTIONS:-8}
dl_rounds=${BENCH_DOWNLOAD_ROUNDS:-2}
dl_seconds=$(((seconds + dl_rounds - 1) / dl_rounds))
rate_rounds=${BENCH_RATE_ROUNDS:-2}
rate_seconds=$(((seconds + rate_rounds - 1) / rate_rounds))
inflight_tasks=${BENCH_INFLIGHT_TASKS:-100000}
inflight_running=${BENCH_INFLIGHT_RUNNING:-10000}
inflight_latency=${BENCH_INFLIGHT_LATENCY_MS:-3600000}
growth_steps=${BENCH_GROWTH_STEPS:-1000 10000 100000}
growth_seconds=${BENCH_GROWTH_SECONDS:-3}
settle=${BENCH_SETTLE_SECONDS:-60}
dispatch_tasks=${BENCH_DISPATCH_TASKS:-30000}
results_dir=${BENCH_RESULTS_DIR:-$here/results}
extra_sets=()
for kv in ${BENCH_SET:-}; do extra_sets+=(--set "$kv"); done

for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

work=$(mktemp -d /tmp/imagegate-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do stop_pid "$p"; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
# SIGTERM, then SIGKILL after 10 s (a server with thousands of running tasks may drain slowly).
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s)

# A stable copy of the binary: others may rebuild build/imagegate during the run.
for _ in $(seq 120); do [ -x "$src_bin" ] && cp "$src_bin" "$work/imagegate" 2>/dev/null && break; sleep 1; done
[ -x "$work/imagegate" ] || { echo "bench: no imagegate binary at $src_bin (make build)"; exit 1; }
bin=$work/imagegate

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fact() { echo "$1=$2" >>"$work/facts"; }  # figures handed to the report at the end
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
cpu_ticks() {  # user + system CPU of the processes given, in clock ticks (all their threads)
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
nginx_pids() { local m; m=$(cat "$work/nginx.pid"); echo "$m" $(pgrep -P "$m"); }
metric() {  # $1 port, $2 a metric line prefix → its value (summed when several lines match)
  curl -s -m 10 "http://127.0.0.1:$1/metrics" | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d\n", s}'
}
tasks_in_store() { metric "$1" 'imagegate_tasks{'; }
tasks_running() { metric "$1" 'imagegate_tasks{state="running"}'; }
wrk_line() {  # a one-line summary of a wrk output file
  awk '/Requests\/sec/ {r = $2} /Transfer\/sec/ {t = $2} / 99%/ {p = $2} /Non-2xx/ {n = $NF} /Socket errors/ {s = $0}
       END {printf "%s req/s, p99 %s, %s/s%s%s\n", r, p, t, (n ? ", non-2xx " n : ""), (s ? ", " s : "")}' "$1"
}
run_wrk() {  # name conns [wrk args...]: runs wrk for BENCH_SECONDS, output in $work/wrk-<name>.txt
  local name=$1 c=$2
  shift 2
  wrk -t"$threads" -c"$c" -d"${seconds}s" --timeout 10s --latency "$@" >"$work/wrk-$name.txt" 2>&1 || true
  printf '   %-26s %s\n' "$name" "$(wrk_line "$work/wrk-$name.txt")"
}
# Starts imagegate on a free port with a data dir and --set options; sets ig_pid and ig_port.
# Fails (returns 1) when the process exits before it answers.
start_imagegate() {  # name data_dir [--set ...]
  local name=$1 data=$2
  shift 2
  ig_port=$(free_port)
  "$bin" serve --listen "127.0.0.1:$ig_port" --data-dir "$data" --set log.level=warn \
    --set store.sqlite_synchronous="$sync" "${extra_sets[@]}" "$@" >"$work/imagegate-$name.log" 2>&1 &
  ig_pid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$ig_port/healthz" >/dev/null && { pids+=("$ig_pid"); return 0; }
    kill -0 "$ig_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  kill "$ig_pid" 2>/dev/null
  return 1
}
stop_imagegate() { stop_pid "$ig_pid"; wait "$ig_pid" 2>/dev/null || true; }

fact machine_cores "$(nproc)"
fact machine_cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
fact machine_kernel "$(uname -r)"
fact load_start "$(cut -d' ' -f1 /proc/loadavg)"
fact binary "$(realpath "$src_bin") ($(stat -c %y "$src_bin" | cut -d. -f1))${BENCH_SET:+; BENCH_SET=$BENCH_SET}"

# --- nginx: the static 200 (what this machine's loopback HTTP can do) and /files/ for downloads
nginx_port=$(free_port)
mkdir -p "$work/nginx" "$work/www/files"
cat >"$work/nginx.conf" <<CONF
worker_processes $nginx_workers;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"code":200,"msg":"success"}'; }
    location /files/ { root $work/www; default_type image/png; }
  }
}
CONF
chmod go+x "$work"  # nginx's workers run as nobody under root
nginx -c "$work/nginx.conf" -p "$work/nginx"

# === 1. rates ================================================================================
key=$("$bin" keys create --name bench --data-dir "$work/data-rates" 2>"$work/keys.log")
start_imagegate rates "$work/data-rates" --set dispatcher.concurrency=1 --set sandbox.latency_ms=3600000 ||
  { tail -5 "$work/imagegate-rates.log"; echo "bench: imagegate did not start"; exit 1; }
task=$(curl -sf -X POST "http://127.0.0.1:$ig_port/api/v1/jobs/createTask" \
  -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
  -d '{"model":"gpt-image-2-text-to-image","input":{"prompt":"bench"}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["taskId"])')
echo "== 1. rates: wrk -t$threads -c$conns, $rate_rounds rounds of ${rate_seconds}s each"
# nginx and imagegate's two endpoints take turns, round after round, so that a change in the
# load of a shared machine does not fall on one of them only (the ratios compare them).
for round in $(seq "$rate_rounds"); do
  seconds=$rate_seconds run_wrk "nginx-static-$round" "$conns" "http://127.0.0.1:$nginx_port/"
  seconds=$rate_seconds IG_KEY=$key run_wrk "recordInfo-$round" "$conns" -s "$here/wrk/auth.lua" \
    "http://127.0.0.1:$ig_port/api/v1/jobs/recordInfo?taskId=$task"
  seconds=$rate_seconds IG_KEY=$key run_wrk "createTask-$round" "$conns" -s "$here/wrk/create.lua" \
    "http://127.0.0.1:$ig_port/api/v1/jobs/createTask"
done
fact rate_rounds "$rate_rounds"
stop_imagegate

# === 2. result downloads =====================================================================
echo "== 2. result downloads: a ~$file_bytes-byte result, wrk -t$threads -c$dl_conns, $dl_rounds rounds of ${dl_seconds}s each"
key=$("$bin" keys create --name bench --data-dir "$work/data-files" 2>>"$work/keys.log")
start_imagegate files "$work/data-files" --set sandbox.latency_ms=0 ||
  { tail -5 "$work/imagegate-files.log"; echo "bench: imagegate did not start"; exit 1; }
# A 3840x2160 reference PNG whose first $1 rows are random and the rest flat grey; the sandbox
# keeps 60 % of the reference in an edit, and imagegate writes PNG with zlib level 1 and no filter,
# so each noise row costs about the same number of bytes in the result.
make_reference() {
  python3 - "$1" "$work/reference.png" <<'PY'
import os, struct, sys, zlib
W, H, noise = 3840, 2160, int(sys.argv[1])
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
rows = b"".join(b"\0" + os.urandom(3 * W) for _ in range(noise)) + (b"\0" + b"\x80" * 3 * W) * (H - noise)
open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))
PY
}
edit_result() {  # noise rows → prints "<task id> <signed url> <bytes>" of the result
  make_reference "$1"
  local status
  status=$(curl -s -m 120 -o "$work/edit.json" -w '%{http_code}' "http://127.0.0.1:$ig_port/openai/v1/images/edits" \
    -H "Authorization: Bearer $key" -F image=@"$work/reference.png" -F prompt="bench download" -F size=3840x2160)
  [ "$status" = 200 ] || { head -c 300 "$work/edit.json"; echo; echo "bench: the edit answered $status" >&2; return 1; }
  local id
  id=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT id FROM tasks ORDER BY row_id DESC LIMIT 1").fetchone()[0])' "$work/data-files/imagegate.db")
  curl -s -m 10 -H "Authorization: Bearer $key" "http://127.0.0.1:$ig_port/v1/tasks/$id" >"$work/task.json"
  python3 - "$id" "$work/task.json" "$work/data-files/results" <<'PY'
import json, os, sys
task_id, path, results = sys.argv[1:]
url = (json.load(open(path)).get("results") or [""])[0]
name = url.split("?")[0].rsplit("/", 1)[-1]
print(task_id, url, os.path.getsize(f"{results}/{task_id}/{name}") if name else 0)
PY
}
rows=$(python3 -c "print(min(2160, max(1, round(($file_bytes - 330000) / 10800))))")
read -r dl_task dl_url dl_size < <(edit_result "$rows") || true
[ -n "${dl_size:-}" ] || { echo "bench: no result from the edit"; exit 1; }
# One correction, linear in the noise rows, when the first try is more than 2 % off.
if python3 -c "import sys; sys.exit(abs($dl_size - $file_bytes) <= 0.02 * $file_bytes)"; then
  rows=$(python3 -c "print(min(2160, max(1, round($rows * ($file_bytes - 330000) / max(1, $dl_size - 330000)))))")
  read -r dl_task dl_url dl_size < <(edit_result "$rows") || true
  [ -n "${dl_size:-}" ] || { echo "bench: no result from the edit"; exit 1; }
fi
[ -n "$dl_url" ] || { echo "bench: the edit's task names no result URL"; exit 1; }
dl_path=${dl_url#http://*/}
dl_path=/${dl_path%%\?*}
mkdir -p "$work/www$(dirname "$dl_path")"
curl -sf -m 60 -o "$work/www$dl_path" "$dl_url" || { echo "bench: could not download $dl_url"; exit 1; }
chmod -R go+rX "$work/www"
cmp -s "$work/www$dl_path" "$work/data-files/results/$dl_task/$(basename "$dl_path")" ||
  { echo "bench: the signed URL did not serve the stored result's bytes"; exit 1; }
nginx_size=$(curl -s -m 60 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$nginx_port$dl_path")
[ "$nginx_size" = "$dl_size" ] || { echo "bench: nginx served $nginx_size bytes, not $dl_size"; exit 1; }
echo "   result: task $dl_task, $dl_path, $dl_size bytes ($rows noise rows of 2160); nginx serves the same bytes"
fact dl_size "$dl_size"
fact dl_rows "$rows"
rss_before=$(rss_kb "$ig_pid" VmRSS)
# The servers' CPU time during each run: with wrk on the same cores reading every byte, the
# request rates may meet at the client's ceiling; the CPU a server spends per response shows
# whether it copies the file through user space.
# The two alternate in BENCH_DOWNLOAD_ROUNDS rounds of BENCH_SECONDS / rounds each, so that a
# change in the load of a shared machine does not fall on one of them only.
cpu_nginx=0
cpu_imagegate=0
for round in $(seq "$dl_rounds"); do
  c0=$(cpu_ticks $(nginx_pids))
  seconds=$dl_seconds run_wrk "nginx-download-$round" "$dl_conns" "http://127.0.0.1:$nginx_port$dl_path"
  cpu_nginx=$((cpu_nginx + $(cpu_ticks $(nginx_pids)) - c0))
  c0=$(cpu_ticks "$ig_pid")
  seconds=$dl_seconds run_wrk "imagegate-download-$round" "$dl_conns" "$dl_url"
  cpu_imagegate=$((cpu_imagegate + $(cpu_ticks "$ig_pid") - c0))
done
fact dl_rounds "$dl_rounds"
fact dl_cpu_nginx "$cpu_nginx"
fact dl_cpu_imagegate "$cpu_imagegate"
fact clk_tck "$(getconf CLK_TCK)"
fact dl_rss_before "$rss_before"
fact dl_rss_after "$(rss_kb "$ig_pid" VmRSS)"
fact dl_hwm "$(rss_kb "$ig_pid" VmHWM)"
stop_imagegate

# === 3. in flight, and how cost grows ========================================================
key=$("$bin" keys create --name bench --data-dir "$work/data-inflight" 2>>"$work/keys.log")
running_used=$inflight_running
if ! start_imagegate inflight "$work/data-inflight" --set dispatcher.concurrency="$running_used" \
  --set sandbox.latency_ms="$inflight_latency"; then
  cap=$(sed -n 's/.*dispatcher.concurrency: must be between 1 and \([0-9]*\).*/\1/p' "$work/imagegate-inflight.log" | head -1)
  [ -n "$cap" ] || { tail -5 "$work/imagegate-inflight.log"; echo "bench: imagegate did not start"; exit 1; }
  echo "== this binary refuses dispatcher.concurrency=$running_used (at most $cap): running $cap at once instead"
  running_used=$cap
  start_imagegate inflight "$work/data-inflight" --set dispatcher.concurrency="$running_used" \
    --set sandbox.latency_ms="$inflight_latency" ||
    { tail -5 "$work/imagegate-inflight.log"; echo "bench: imagegate did not start"; exit 1; }
fi
fact running_asked "$inflight_running"
fact running_used "$running_used"
fact inflight_tasks "$inflight_tasks"
create_url="http://127.0.0.1:$ig_port/api/v1/jobs/createTask"
steps=$(printf '%s\n' $growth_steps "$inflight_tasks" | sort -n | uniq | paste -sd' ')
fact steps "$steps"
echo "== 3. in flight and growth: dispatcher.concurrency=$running_used, sandbox.latency_ms=$inflight_latency, steps: $steps"

# wrk with bench/wrk/fill.lua: creates until each thread has `quota` answers (the threads then
# write their done files and wrk is stopped) or `duration` has passed. Output in
# $work/wrk-<name>.txt; true when every thread reached its quota.
quota_wrk() {  # name quota duration
  local name=$1 quota=$2 duration=$3 wrk_pid
  rm -rf "$work/done" && mkdir "$work/done"
  IG_KEY=$key IG_QUOTA=$quota IG_DONE_DIR=$work/done \
    wrk -t"$threads" -c"$conns" -d"$duration" --timeout 10s --latency -s "$here/wrk/fill.lua" \
    "$create_url" >"$work/wrk-$name.txt" 2>&1 &
  wrk_pid=$!
  while [ "$(find "$work/done" -type f | wc -l)" -lt "$threads" ] && kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.05; done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  [ "$(find "$work/done" -type f | wc -l)" -ge "$threads" ]
}

# What the threads of the last quota_wrk run wrote: "<answers> <ns from the first thread's first
# answer to the last one's last>" (%.0f: awk's %d stops at 2^31 - 1, 2.147 s of nanoseconds).
done_answers_ns() {
  cat "$work"/done/* | awk '{n += $1; if (!s || $2 < s) s = $2; if ($3 > e) e = $3}
                            END {printf "%d %.0f\n", n, e - s}'
}
answers_rate() { awk '{printf "%.2f", $1 / ($2 / 1e9)}' <<<"$1"; }  # req/s of done_answers_ns

fill_to() {  # target step: creates tasks through the API until the store holds about `target`
  local target=$1 step=$2 have need t0 t1
  have=$(tasks_in_store "$ig_port")
  need=$((target - have))
  [ "$need" -gt 0 ] || { fact "fill_$step" "0 0 0"; return 0; }
  t0=$(date +%s%N)
  quota_wrk "fill-$step" $(((need + threads - 1) / threads)) 3600s || true
  t1=$(date +%s%N)
  fact "fill_$step" "$need $((t1 - t0)) $have"
  printf '   fill to %-8s %s creates in %s s\n' "$step" "$need" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')"
}

# The createTask run of a step: BENCH_GROWTH_SECONDS, but never past halfway to the next step
# (at 25,000 creates a second, 3 s from the 1,000 step would fill the store past 10,000 and the
# table would have no row there). With a cap the rate is the threads' answers over their own
# first-to-last time (bench/wrk/fill.lua), written as the fact create_<step>.
create_run() {  # step next_step
  local step=$1 next=$2 cap name="createTask-$1"
  if [ -z "$next" ]; then
    seconds=$growth_seconds IG_KEY=$key run_wrk "$name" "$conns" -s "$here/wrk/create.lua" "$create_url"
    return
  fi
  cap=$(((next - $(tasks_in_store "$ig_port")) / 2))
  [ "$cap" -ge $((conns * 4)) ] || cap=$((conns * 4))
  if quota_wrk "$name" $(((cap + threads - 1) / threads)) "${growth_seconds}s"; then
    local answers_ns
    answers_ns=$(done_answers_ns)
    fact "create_$step" "$answers_ns"
    printf '   %-26s %s req/s (%s creates, the cap; p99 %s)\n' "$name" \
      "$(answers_rate "$answers_ns")" "${answers_ns%% *}" \
      "$(awk '/ 99%/ {print $2}' "$work/wrk-$name.txt")"
  else
    printf '   %-26s %s\n' "$name" "$(wrk_line "$work/wrk-$name.txt")"
  fi
}

set -- $steps
for step in $steps; do
  shift
  next=${1:-}
  fill_to "$step" "$step"
  # Let the dispatcher start its tasks (up to M) before measuring.
  want=$(python3 -c "print(min($running_used, $(tasks_in_store "$ig_port")))")
  t_end=$(($(date +%s) + settle))
  while [ "$(tasks_running "$ig_port")" -lt "$want" ] && [ "$(date +%s)" -lt "$t_end" ]; do sleep 0.5; done
  sleep 2  # the last starts' writes
  stored=$(tasks_in_store "$ig_port")
  running=$(tasks_running "$ig_port")
  rss=$(rss_kb "$ig_pid" VmRSS)
  python3 - "$work/data-inflight/imagegate.db" "$work/ids.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
ids = [r[0] for r in db.execute("SELECT id FROM tasks ORDER BY random() LIMIT 10000")]
open(sys.argv[2], "w").write("\n".join(ids) + "\n")
PY
  echo "   step $step: $stored tasks in the store, $running running, RSS $((rss / 1024)) MiB"
  IG_KEY=$key IG_IDS=$work/ids.txt run_wrk "recordInfo-$step" "$conns" -s "$here/wrk/record_random.lua" \
    "http://127.0.0.1:$ig_port/api/v1/jobs/recordInfo"
  create_run "$step" "$next"
  fact "step_$step" "$stored $running $rss $(tasks_in_store "$ig_port") $(rss_kb "$ig_pid" VmRSS)"
done
fact hwm_inflight "$(rss_kb "$ig_pid" VmHWM)"
stop_imagegate

# === 4. creates dispatched at once ===========================================================
echo "== 4. creates dispatched at once: $dispatch_tasks creates, dispatcher.concurrency=100000"
key=$("$bin" keys create --name bench --data-dir "$work/data-dispatch" 2>>"$work/keys.log")
start_imagegate dispatch "$work/data-dispatch" --set dispatcher.concurrency=100000 \
  --set sandbox.latency_ms="$inflight_latency" ||
  { tail -5 "$work/imagegate-dispatch.log"; echo "bench: imagegate did not start"; exit 1; }
create_url="http://127.0.0.1:$ig_port/api/v1/jobs/createTask"
c0=$(cpu_ticks "$ig_pid")
if quota_wrk dispatch $(((dispatch_tasks + threads - 1) / threads)) 600s; then
  answers_ns=$(done_answers_ns)
  # The CPU of a create includes starting its run: wait until every task runs.
  t_end=$(($(date +%s) + settle))
  while [ "$(tasks_running "$ig_port")" -lt "${answers_ns%% *}" ] &&
    [ "$(date +%s)" -lt "$t_end" ]; do
    sleep 0.2
  done
  running=$(tasks_running "$ig_port")
  fact dispatch "$answers_ns $(($(cpu_ticks "$ig_pid") - c0)) $running $(rss_kb "$ig_pid" VmRSS)"
  printf '   %-26s %s req/s (%s creates; %s running after)\n' "createTask-dispatched" \
    "$(answers_rate "$answers_ns")" "${answers_ns%% *}" "$running"
else
  echo "   createTask-dispatched: the creates did not all answer" \
    "($(wrk_line "$work/wrk-dispatch.txt"))"
  fact dispatch "0 0 0 0 0"
fi
stop_imagegate

fact load_end "$(cut -d' ' -f1 /proc/loadavg)"
fact elapsed "$(($(date +%s) - started))"

# === report ==================================================================================
python3 - "$work" "$results_dir" "$seconds" "$conns" "$threads" "$dl_conns" "$sync" "$growth_seconds" \
  "$nginx_workers" "$inflight_latency" <<'PY'
import datetime, os, re, sys
work, results_dir, seconds, conns, threads, dl_conns, sync, growth_seconds, nginx_workers, latency = sys.argv[1:]
facts = dict(l.rstrip("\n").split("=", 1) for l in open(f"{work}/facts"))
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}
SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}

def ms(text):
    v, u = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(v) * UNITS[u]

def wrk(name):
    t = open(f"{work}/wrk-{name}.txt").read()
    r = {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "requests": 0, "non2xx": 0, "socket": "", "bps": 0.0, "seconds": 0.0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", t): r["rps"] = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", t, re.M): r["p50"] = ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", t, re.M): r["p99"] = ms(m.group(1))
    if m := re.search(r"(\d+) requests in ([\d.]+)([smh]),", t):
        r["requests"], r["seconds"] = int(m.group(1)), float(m.group(2)) * {"s": 1, "m": 60, "h": 3600}[m.group(3)]
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", t): r["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: (.*)", t): r["socket"] = m.group(1).strip()
    if m := re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?B)", t): r["bps"] = float(m.group(1)) * SIZES[m.group(2)]
    return r

def timeouts(r):
    m = re.search(r"timeout (\d+)", r["socket"])
    return int(m.group(1)) if m else 0

def yes(ok): return "**yes**" if ok else "**no**"
def mb(kb): return f"{int(kb) * 1024 / 1e6:.0f} MB"  # decimal, as #9 states its goal
def n(x): return f"{x:,.0f}"

def dispatched_note(fact):  # "<answers> <ns> <cpu ticks> <running> <rss kB>" of section 4
    answers, ns, ticks, running, rss = (int(x) for x in fact.split())
    if not answers or not ns:
        return "- creates dispatched at once (section 4): the run did not complete; see its wrk output."
    cpu_us = ticks / int(facts["clk_tck"]) * 1e6 / answers
    return (f"- creates dispatched at once (dispatcher.concurrency 100,000, each task started as it is created, "
            f"the sandbox waiting): {n(answers / (ns / 1e9))} req/s over {n(answers)} creates, "
            f"server CPU {cpu_us:.0f} µs per create with its start (user + system); {n(running)} running after, RSS {mb(rss)}.")

def rounds(name, count):  # the rounds of one run added up: rate over their total time, worst p99
    rs = [wrk(f"{name}-{i}") for i in range(1, int(count) + 1)]
    total = sum(r["seconds"] for r in rs)
    return {"requests": sum(r["requests"] for r in rs), "rps": sum(r["requests"] for r in rs) / total if total else 0.0,
            "p99": max(r["p99"] for r in rs), "each": [r["rps"] for r in rs]}
nginx, record, create = (rounds(name, facts["rate_rounds"]) for name in ("nginx-static", "recordInfo", "createTask"))
ndl, idl = rounds("nginx-download", facts["dl_rounds"]), rounds("imagegate-download", facts["dl_rounds"])
size = int(facts["dl_size"])
steps = [int(s) for s in facts["steps"].split()]
N = int(facts["inflight_tasks"])
m_asked, m_used = int(facts["running_asked"]), int(facts["running_used"])
rows_g = []
refused = 0
timed_out = 0
sent = 0
for s in steps:
    stored, running, rss, after, rss_after = map(int, facts[f"step_{s}"].split())
    rec, cre = wrk(f"recordInfo-{s}"), wrk(f"createTask-{s}")
    if f"create_{s}" in facts:  # capped run: answers over the threads' own time, not wrk's
        answers, ns = map(int, facts[f"create_{s}"].split())
        cre["rps"] = answers / (ns / 1e9) if ns > 0 else 0.0
    fill_need, fill_ns, _ = map(int, facts[f"fill_{s}"].split())
    fill = wrk(f"fill-{s}") if fill_need > 0 else None
    for r in (cre, fill):
        if r:
            refused += r["non2xx"]; timed_out += timeouts(r); sent += r["requests"]
    rows_g.append(dict(step=s, stored=stored, running=running, rss=rss, after=after, rec=rec, cre=cre,
                       fill_rate=(fill_need / (fill_ns / 1e9) if fill_need > 0 else None)))
inflight = next(r for r in rows_g if r["step"] == N)

ratio = lambda a, b: round(a / b, 2) if b else float("nan")  # compared with the goals as shown
r_rec, r_cre = ratio(record["rps"], nginx["rps"]), ratio(create["rps"], nginx["rps"])
r_dl = ratio(idl["rps"], ndl["rps"])
m_note = "" if m_used == m_asked else f" (asked {n(m_asked)}; this binary allows at most {n(m_used)})"
MB = 1e6
tick_ms = 1000 / int(facts["clk_tck"])
def cpu_per(r, who): return int(facts[f"dl_cpu_{who}"]) * tick_ms / max(1, r["requests"])
def cpu_ms(r, who):
    return f"{cpu_per(r, who):.1f} ms ({int(facts[f'dl_cpu_{who}']) * tick_ms / 1000:.1f} s for {n(r['requests'])})"
cpu_ratio = cpu_per(idl, "imagegate") / max(1e-9, cpu_per(ndl, "nginx"))
table = [
    "| figure | imagegate | nginx | imagegate ÷ nginx | goal (#9) | met |",
    "|---|---:|---:|---:|---|---|",
    f"| `recordInfo` req/s (one task; wrk -c{conns}) | {n(record['rps'])} (p99 {record['p99']:.2f} ms) | {n(nginx['rps'])} (p99 {nginx['p99']:.2f} ms) | {r_rec:.2f}× | ≥ 0.40× | {yes(r_rec >= 0.40)} |",
    f"| `createTask` req/s (synchronous={sync}; wrk -c{conns}) | {n(create['rps'])} (p99 {create['p99']:.2f} ms) | {n(nginx['rps'])} | {r_cre:.2f}× | ≥ 0.25× | {yes(r_cre >= 0.25)} |",
    f"| result download, {size:,} B file, keep-alive (wrk -c{dl_conns}, {facts['dl_rounds']} rounds each) | {idl['rps']:.0f} req/s = {idl['rps'] * size / MB:,.0f} MB/s (p99 {idl['p99']:.1f} ms) | {ndl['rps']:.0f} req/s = {ndl['rps'] * size / MB:,.0f} MB/s (p99 {ndl['p99']:.1f} ms) | {r_dl:.2f}× | ≥ 0.9× | {yes(r_dl >= 0.9)} |",
    f"| result download: server CPU per response (user + system) | {cpu_ms(idl, 'imagegate')} | {cpu_ms(ndl, 'nginx')} | {cpu_ratio:.2f}× | no user-space copy of the file per request | — |",
    f"| in flight: tasks accepted / running | {n(inflight['stored'])} / {n(inflight['running'])}{m_note} | — | — | {n(100000)} / {n(10000)} | {yes(inflight['stored'] >= 100000 and inflight['running'] >= 10000)} |",
    f"| in flight: server RSS | {mb(inflight['rss'])} ({int(inflight['rss']) / 1024:.0f} MiB) | — | — | ≤ 200 MB | {yes(int(inflight['rss']) * 1024 <= 200 * MB)} |",
    f"| in flight: `recordInfo` p99, random tasks (wrk -c{conns}) | {inflight['rec']['p99']:.2f} ms ({n(inflight['rec']['rps'])} req/s) | {nginx['p99']:.2f} ms (static 200) | — | < 5 ms | {yes(inflight['rec']['p99'] < 5)} |",
    f"| in flight: creates refused (non-2xx) / timed out, of {n(sent)} answered | {n(refused)} / {n(timed_out)} | — | — | 0 | {yes(refused == 0 and timed_out == 0)} |",
]
growth = [
    f"| tasks in the store | running | RSS | `createTask` req/s ({growth_seconds} s or half the way to the next step; store after) | p99 | `recordInfo` req/s (random tasks) | p99 | fill rate to this step |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r in rows_g:
    growth.append(f"| {n(r['stored'])} | {n(r['running'])} | {mb(r['rss'])} | {n(r['cre']['rps'])} ({n(r['after'])}) | "
                  f"{r['cre']['p99']:.1f} ms | {n(r['rec']['rps'])} | {r['rec']['p99']:.2f} ms | "
                  f"{'—' if r['fill_rate'] is None else n(r['fill_rate']) + ' /s'} |")
# Memory per task, step to step: what the RSS grew by over the tasks added (running, queued).
steps_mem = []
for a, b in zip(rows_g, rows_g[1:]):
    dr, dq = b["running"] - a["running"], (b["stored"] - b["running"]) - (a["stored"] - a["running"])
    d = (int(b["rss"]) - int(a["rss"])) * 1024
    steps_mem.append(f"{n(a['stored'])} → {n(b['stored'])} tasks ({dr:+,} running, {dq:+,} queued): "
                     f"RSS {d / 1e6:+,.0f} MB, **{d / max(1, b['stored'] - a['stored']):,.0f} bytes per task added**")
notes = [
    "- RSS per task, step to step (includes SQLite's page cache and what the allocator keeps): "
    + ("; ".join(steps_mem) if steps_mem else "one step only") + ".",
    f"- downloads: imagegate's RSS {mb(facts['dl_rss_before'])} before, {mb(facts['dl_rss_after'])} after, "
    f"peak {mb(facts['dl_hwm'])}; rounds, req/s: imagegate {', '.join(f'{x:.0f}' for x in idl['each'])}, "
    f"nginx {', '.join(f'{x:.0f}' for x in ndl['each'])}; the result is a 3840×2160 PNG drawn by the sandbox from a reference whose "
    f"top {facts['dl_rows']} rows are noise, served from its signed `/files/` URL; nginx serves a copy of the same bytes.",
    f"- rates, each round's req/s in turn: nginx {' / '.join(n(x) for x in nginx['each'])}; `recordInfo` "
    f"{' / '.join(n(x) for x in record['each'])}; `createTask` {' / '.join(n(x) for x in create['each'])}.",
    f"- in-flight server: peak RSS {mb(facts['hwm_inflight'])}; tasks are queued or running (the sandbox waits {int(latency) / 1000:.0f} s), none ends during the run.",
    dispatched_note(facts["dispatch"]),
]
cpu = facts["machine_cpu"]
now = datetime.datetime.now()
head = [f"# `make bench`, {now:%Y-%m-%d %H:%M}", "",
        f"- machine: {facts['machine_cores']} cores ({cpu}), kernel {facts['machine_kernel']}; load average "
        f"{facts['load_start']} at the start, {facts['load_end']} at the end; wrk, nginx and imagegate share the cores",
        f"- binary: `{facts['binary']}`",
        f"- wrk -t{threads}, {seconds} s per figure (-c{conns}; downloads -c{dl_conns}; rates in {facts['rate_rounds']} rounds, downloads in {facts['dl_rounds']}); nginx {nginx_workers} workers, "
        f"keepalive_requests 1000000, sendfile on; total run {int(facts['elapsed']) // 60} min {int(facts['elapsed']) % 60} s", ""]
text = "\n".join(head + ["## Goals of #9", ""] + table + ["", "## How cost grows (tasks queued or running, one server)", ""]
                 + growth + [""] + notes) + "\n"
print()
print(text)
os.makedirs(results_dir, exist_ok=True)
path = f"{results_dir}/bench-{now:%Y-%m-%d}.md"
open(path, "w").write(text)
print(f"written to {path}")
PY
