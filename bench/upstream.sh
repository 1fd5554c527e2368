#!/usr/bin/env bash
# The upstream benchmark: an OpenAI Images generation request sent to a fast fake upstream (nginx
# answering a fixed b64 PNG) directly, through the Portkey gateway and through imagegate's
# `openai` dialect, at 1 and 8 connections. Prints the latency each gateway adds over the direct
# path and the request rates, writes the table to bench/results/upstream-<date>.md, then checks
# that imagegate recorded one task per request and hosts the image it answered.
# Everything binds 127.0.0.1 and is stopped on exit. See docs/benchmarks.md.
#
#   bash bench/upstream.sh [build/imagegate]
#   BENCH_SECONDS (10)       length of each measured wrk run
#   BENCH_WARMUP (2)         a warm-up run at 8 connections before each path (0: none)
#   BENCH_THREADS (2)        wrk threads for the 8-connection runs (1 for 1 connection)
#   BENCH_IMAGEGATE (auto)   upstream: imagegate routes to the fake through [providers.fake]
#                            (kind "openai"); sandbox: the built-in sandbox draws the image (no
#                            upstream at all); auto: upstream, else sandbox when the binary
#                            refuses the provider config
#   BENCH_SYNCHRONOUS (FULL) imagegate's store.sqlite_synchronous
#   BENCH_NGINX_WORKERS (1)  worker processes of the fake upstream
#   BENCH_B64_PADDING (1)    1: the fake's b64_json ends in "=="; 0: in no "="
#   BENCH_PORTKEY_VERSION (1.15.2), BENCH_PORTKEY_DIR (bench/.portkey): where npm installs it
#   BENCH_RESULTS_DIR (bench/results), BENCH_KEEP=1 keeps the work directory
set -euo pipefail
bin=$(realpath "${1:-build/imagegate}")
here=$(cd "$(dirname "$0")" && pwd)
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
threads=${BENCH_THREADS:-2}
mode=${BENCH_IMAGEGATE:-auto}
sync=${BENCH_SYNCHRONOUS:-FULL}
nginx_workers=${BENCH_NGINX_WORKERS:-1}
portkey_version=${BENCH_PORTKEY_VERSION:-1.15.2}
portkey_dir=${BENCH_PORTKEY_DIR:-$here/.portkey}
results_dir=${BENCH_RESULTS_DIR:-$here/results}

case "$mode" in auto | upstream | sandbox) ;; *) echo "bench: BENCH_IMAGEGATE is auto, upstream or sandbox"; exit 2 ;; esac
[ -x "$bin" ] || { echo "bench: no imagegate binary at $bin (make build)"; exit 1; }
for tool in wrk nginx curl python3 node npm; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

work=$(mktemp -d /tmp/imagegate-upstream.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits (at most 15 s) until $1 answers HTTP at all; fails early when process $2 has exited.
wait_http() {
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" != 000 ] && return 0
    [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
    sleep 0.1
  done
  return 1
}
log_lines() { sleep 0.5; wc -l <"$work/nginx/access.log"; }  # after the access log's 100 ms flush

# --- the fake upstream: nginx answering every POST /v1/images/generations with one fixed body
python3 - "$work" "${BENCH_B64_PADDING:-1}" <<'PY'
import base64, json, struct, sys, time, zlib
work, padding = sys.argv[1], sys.argv[2] == "1"
W = H = 1024
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
rows = (b"\0" + bytes((40, 110, 180)) * W) * H  # flat colour, RGB
tail = chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
# A text chunk sets the length modulo 3, so that the base64 ends in "==" (padding, as two real
# answers in three do) or, with BENCH_B64_PADDING=0, in no "=" at all.
for n in range(3):
    png = head + chunk(b"tEXt", b"Comment\0imagegate bench" + b"." * n) + tail
    if len(png) % 3 == (1 if padding else 0):
        break
open(f"{work}/image.png", "wb").write(png)
body = {"created": int(time.time()), "background": "opaque",
        "data": [{"b64_json": base64.b64encode(png).decode()}],
        "output_format": "png", "quality": "medium", "size": "1024x1024",
        "usage": {"input_tokens": 2, "input_tokens_details": {"text_tokens": 2, "image_tokens": 0},
                  "output_tokens": 1756, "total_tokens": 1758}}
open(f"{work}/generation.json", "w").write(json.dumps(body, separators=(",", ":")))
PY
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<CONF
worker_processes $nginx_workers;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  log_format calls '\$request \$status';
  access_log $work/nginx/access.log calls buffer=64k flush=100ms;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    # The static module refuses POST with 405; error_page turns that into the file itself.
    location = /v1/images/generations {
      root $work/www; default_type application/json; error_page 405 =200 \$uri;
    }
    location / { default_type application/json; return 404 '{"error":{"message":"not found"}}'; }
  }
}
CONF
mkdir -p "$work/www/v1/images"
cp "$work/generation.json" "$work/www/v1/images/generations"
chmod -R go+rX "$work/www" && chmod go+x "$work"  # nginx's workers run as nobody under root
touch "$work/nginx/access.log"
nginx -c "$work/nginx.conf" -p "$work/nginx"
fake="http://127.0.0.1:$nginx_port/v1"

# --- Portkey: the npm package, its node server bound to 127.0.0.1 by a preloaded module
pk_js=$portkey_dir/node_modules/@portkey-ai/gateway/build/start-server.js
pk_installed=$(node -p "require('$portkey_dir/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null || true)
if [ "$pk_installed" != "$portkey_version" ]; then
  echo "== npm install @portkey-ai/gateway@$portkey_version into $portkey_dir"
  mkdir -p "$portkey_dir"
  timeout 300 npm install --prefix "$portkey_dir" --no-audit --no-fund --ignore-scripts \
    "@portkey-ai/gateway@$portkey_version" >"$work/npm.log" 2>&1 ||
    { tail -20 "$work/npm.log"; echo "bench: npm install failed"; exit 1; }
fi
pk_port=$(free_port)
NODE_ENV=production node --import "$here/portkey-loopback.mjs" "$pk_js" --port="$pk_port" --headless \
  >"$work/portkey.log" 2>&1 &
pk_pid=$!
pids+=("$pk_pid")
wait_http "http://127.0.0.1:$pk_port/" "$pk_pid" || { tail -20 "$work/portkey.log"; echo "bench: Portkey did not start"; exit 1; }

# --- imagegate: [providers.fake] of kind openai routed for gpt-image-2, or the sandbox
key=$("$bin" keys create --name bench --data-dir "$work/data" 2>"$work/keys.log")
export FAKE_KEY=sk-bench-fake-upstream
start_imagegate() {  # $1: upstream | sandbox; leaves ig_pid, or fails when it does not start
  ig_port=$(free_port)
  {
    printf '[server]\nlisten = "127.0.0.1:%s"\n\n[log]\nlevel = "warn"\n\n' "$ig_port"
    printf '[store]\nsqlite_synchronous = "%s"\n\n' "$sync"
    printf '[dispatcher]\nconcurrency = 64\npoll_ms = 100\n\n'
    if [ "$1" = upstream ]; then
      printf '[providers.fake]\nkind = "openai"\nbase_url = "%s"\napi_key_env = "FAKE_KEY"\n' "$fake"
      printf 'model = "gpt-image-2"\nconcurrency = 64\n\n[routing]\n"gpt-image-2" = ["fake"]\n'
    else
      printf '[sandbox]\nlatency_ms = 0\n'
    fi
  } >"$work/imagegate-$1.toml"
  "$bin" serve --config "$work/imagegate-$1.toml" --data-dir "$work/data" >"$work/imagegate-$1.log" 2>&1 &
  ig_pid=$!
  pids+=("$ig_pid")
  wait_http "http://127.0.0.1:$ig_port/healthz" "$ig_pid"
}
if [ "$mode" != sandbox ]; then
  if start_imagegate upstream; then
    mode=upstream
  elif [ "$mode" = upstream ]; then
    tail -5 "$work/imagegate-upstream.log"; echo "bench: imagegate refused the provider config"; exit 1
  else
    echo "== imagegate refused [providers.fake] (no openai provider in this build?):"
    tail -3 "$work/imagegate-upstream.log" | sed 's/^/   /'
    echo "   falling back to the sandbox provider: imagegate draws the image itself, no upstream call"
    mode=sandbox
  fi
fi
if [ "$mode" = sandbox ]; then
  start_imagegate sandbox || { tail -5 "$work/imagegate-sandbox.log"; echo "bench: imagegate did not start"; exit 1; }
fi

# --- one request on each path, checked, before any load
names=(direct portkey imagegate)
declare -A url=(
  [direct]="$fake/images/generations"
  [portkey]="http://127.0.0.1:$pk_port/v1/images/generations"
  [imagegate]="http://127.0.0.1:$ig_port/openai/v1/images/generations"
)
declare -A custom_host=([direct]="" [portkey]="$fake" [imagegate]="")
body='{"model":"gpt-image-2","prompt":"bench","size":"1024x1024"}'
for n in "${names[@]}"; do
  hdr=(-H "Authorization: Bearer $key" -H "Content-Type: application/json")
  [ -n "${custom_host[$n]}" ] && hdr+=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: ${custom_host[$n]}")
  status=$(curl -s -m 30 -o "$work/check-$n.json" -w '%{http_code}' "${hdr[@]}" -d "$body" "${url[$n]}" || true)
  python3 - "$n" "$status" "$work/check-$n.json" "$work/image.png" "$work/check-$n.png" <<'PY' || exit 1
import base64, json, struct, sys
name, status, path, fake, out = sys.argv[1:]
raw = open(path, "rb").read()
try:
    png = base64.b64decode(json.loads(raw)["data"][0]["b64_json"])
except Exception:
    hint = ("\n(a build before the padding fix of decode_base64 refuses b64 that ends in '='; "
            "BENCH_B64_PADDING=0 avoids it)" if b"not valid base64" in raw else "")
    sys.exit(f"bench: {name} answered {status}: {raw[:300]!r}{hint}")
if status != "200" or png[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"bench: {name} answered {status} without a PNG: {raw[:300]!r}")
open(out, "wb").write(png)
w, h = struct.unpack(">II", png[16:24])
same = "the fake's bytes" if png == open(fake, "rb").read() else "not the fake's bytes"
print(f"== check {name}: 200, {len(raw)} bytes of JSON, a {w}x{h} PNG of {len(png)} bytes ({same})")
PY
done

# --- load: warm-up at 8 connections, then 1 and 8 connections, path after path
run_wrk() {  # name label conns threads seconds
  local n=$1 label=$2 c=$3 t=$4 d=$5 calls_before
  calls_before=$(log_lines)
  date +%s%3N >"$work/span-$n-$label.txt"
  IG_KEY=$key PORTKEY_CUSTOM_HOST=${custom_host[$n]} timeout $((d + 30)) \
    wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s --latency -s "$here/wrk/images.lua" "${url[$n]}" \
    >"$work/wrk-$n-$label.txt" 2>&1
  date +%s%3N >>"$work/span-$n-$label.txt"
  echo "$(($(log_lines) - calls_before))" >"$work/calls-$n-$label.txt"
  printf '   %-9s %-6s %s, %s\n' "$n" "$label" \
    "$(awk '/Requests\/sec/ {print $2 " req/s"}' "$work/wrk-$n-$label.txt")" \
    "$(awk '/ 50%/ {print "p50 " $2} / 99%/ {print "p99 " $2}' "$work/wrk-$n-$label.txt" | paste -sd' ')"
}
echo "== load: ${seconds}s per run, warm-up ${warmup}s; imagegate provider: $mode"
for n in "${names[@]}"; do
  [ "$warmup" -gt 0 ] && run_wrk "$n" warmup 8 "$threads" "$warmup"
  run_wrk "$n" c1 1 1 "$seconds"
  run_wrk "$n" c8 8 "$threads" "$seconds"
done

# --- imagegate: every answered request is a recorded task, and the answered image is hosted
for _ in $(seq 300); do  # tasks still in flight when wrk stopped finish (at most 30 s)
  open=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM tasks WHERE state IN (\"queued\",\"running\")").fetchone()[0])' "$work/data/imagegate.db")
  [ "$open" = 0 ] && break
  sleep 0.1
done
first=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT id FROM tasks WHERE dialect = \"openai\" ORDER BY row_id LIMIT 1").fetchone()[0])' "$work/data/imagegate.db")
curl -s -m 10 -H "Authorization: Bearer $key" "http://127.0.0.1:$ig_port/v1/tasks/$first" >"$work/first-task.json"
hosted=$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1])).get("results") or [""])[0])' "$work/first-task.json")
hosted_status=$(curl -s -m 10 -o "$work/hosted.png" -w '%{http_code}' "$hosted" || true)

python3 - "$work" "$mode" "$seconds" "$warmup" "$first" "$hosted" "$hosted_status" "$results_dir" "$bin" \
  "$portkey_version" "$nginx_workers" "$sync" "$threads" <<'PY'
import datetime, hashlib, os, platform, re, sqlite3, subprocess, sys
(work, mode, seconds, warmup, first, hosted, hosted_status, results_dir, binary,
 pk_version, nginx_workers, sync, threads) = sys.argv[1:]
names = ["direct", "portkey", "imagegate"]
labels = {"direct": "direct (nginx)", "portkey": f"Portkey {pk_version}",
          "imagegate": f"imagegate ({'openai provider' if mode == 'upstream' else 'sandbox, no upstream'})"}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}

def ms(text):
    v, u = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(v) * UNITS[u]

def wrk(name, label):
    p = f"{work}/wrk-{name}-{label}.txt"
    if not os.path.exists(p):
        return None
    t = open(p).read()
    r = {"text": t}
    r["p50"] = ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))
    r["p99"] = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    r["requests"] = int(re.search(r"(\d+) requests in", t).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", t)
    r["socket"] = m.group(1).strip() if m else ""
    r["calls"] = int(open(f"{work}/calls-{name}-{label}.txt").read())
    return r

runs = {n: {l: wrk(n, l) for l in ("warmup", "c1", "c8")} for n in names}
d1 = runs["direct"]["c1"]
f = lambda v: f"{v:.2f} ms"
rows = ["| path | p50 | p99 | req/s @1 conn | req/s @8 conn | added p50 vs direct | added p99 vs direct |",
        "|---|---:|---:|---:|---:|---:|---:|"]
for n in names:
    c1, c8 = runs[n]["c1"], runs[n]["c8"]
    add50 = "—" if n == "direct" else f"{c1['p50'] - d1['p50']:+.2f} ms"
    add99 = "—" if n == "direct" else f"{c1['p99'] - d1['p99']:+.2f} ms"
    rows.append(f"| {labels[n]} | {f(c1['p50'])} | {f(c1['p99'])} | {c1['rps']:.0f} | {c8['rps']:.0f} | {add50} | {add99} |")
detail = ["| path | conns | requests | non-2xx | socket errors | upstream calls | p50 | p99 | req/s |",
          "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
for n in names:
    for l, c in (("warmup", 8), ("c1", 1), ("c8", 8)):
        r = runs[n][l]
        if r:
            detail.append(f"| {n}{' (warm-up)' if l == 'warmup' else ''} | {c} | {r['requests']} | {r['non2xx']} | "
                          f"{r['socket'] or '—'} | {r['calls']} | {f(r['p50'])} | {f(r['p99'])} | {r['rps']:.0f} |")

# imagegate's store: one task per request (wrk does not count the requests in flight when it
# stops; those tasks were created and finish afterwards), and the checked answer's image hosted.
db = sqlite3.connect(f"{work}/data/imagegate.db")
states = dict(db.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
tasks = sum(states.values())
try:
    calls = db.execute("SELECT route, provider_kind, error_class, count(*) FROM upstream_calls GROUP BY 1, 2, 3").fetchall()
except sqlite3.OperationalError:  # a build from before upstream calls were recorded
    calls = None
ig = [r for r in runs["imagegate"].values() if r]

def pct(v, q):
    return sorted(v)[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
inside = []  # per run: where a task's time went, from its row (created → started → completed)
for l, c in (("c1", 1), ("c8", 8)):
    if not runs["imagegate"][l]:
        continue
    t0, t1 = map(int, open(f"{work}/span-imagegate-{l}.txt").read().split())
    rs = db.execute("SELECT started_ms - created_ms, completed_ms - started_ms, completed_ms - created_ms, row_id "
                    "FROM tasks WHERE created_ms BETWEEN ? AND ? AND state = 'succeeded'", (t0, t1)).fetchall()
    q, w, tot = ([r[i] for r in rs] for i in range(3))
    up = []
    if calls is not None and rs:
        up = [r[0] for r in db.execute(
            "SELECT duration_ms FROM upstream_calls WHERE duration_ms >= 0 AND task_row BETWEEN ? AND ?",
            (min(r[3] for r in rs), max(r[3] for r in rs))).fetchall()]
    cell = lambda v: f"{pct(v, .5)} / {pct(v, .99)}" if v else "—"
    inside.append(f"| {c} | {len(rs)} | {cell(q)} | {cell(w)} | {cell(up)} | {cell(tot)} | "
                  f"{runs['imagegate'][l]['p50']:.1f} / {runs['imagegate'][l]['p99']:.1f} |")
answered = 1 + sum(r["requests"] for r in ig)  # + the checking curl
inflight_max = sum(8 if l != "c1" else 1 for l, r in runs["imagegate"].items() if r)
ig_calls = sum(r["calls"] for r in ig)
check = open(f"{work}/check-imagegate.png", "rb").read()
hosted_png = open(f"{work}/hosted.png", "rb").read() if os.path.exists(f"{work}/hosted.png") else b""
verify = [
    f"- tasks in imagegate's SQLite: **{tasks}** ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); "
    f"requests wrk counted as answered, plus the checking request: **{answered}** "
    f"(non-2xx among them: {sum(r['non2xx'] for r in ig)}). "
    f"Difference {tasks - answered:+d}: requests still in flight when wrk stopped (at most {inflight_max}, one per connection per run) "
    f"are recorded and finished but not counted by wrk.",
    "- upstream calls recorded by imagegate: "
    + ("(this build has no upstream_calls table)" if calls is None else
       ", ".join(f"route {r or '-'} kind {k or '-'} {('ok' if e == '' else e)} {c}" for r, k, e, c in calls) or "none")
    + f"; requests the fake upstream logged during the imagegate runs: {ig_calls}.",
    f"- the checking request's answer is task `{first}`; `GET /v1/tasks/{{id}}` names {hosted.split('?')[0] or 'no result'}: "
    f"HTTP {hosted_status}, {len(hosted_png)} bytes, "
    + ("**the same bytes as the b64_json answered**" if hosted_png == check else "**not the bytes answered**")
    + f" (sha256 {hashlib.sha256(hosted_png).hexdigest()[:16]}…); "
    + ("the image is the fake upstream's, byte for byte." if check == open(f"{work}/image.png", "rb").read()
       else "the image is not the fake upstream's bytes (re-encoded, or drawn by the sandbox)."),
]
ok = runs["imagegate"]["c1"]["p50"] - d1["p50"] < runs["portkey"]["c1"]["p50"] - d1["p50"]
fast = runs["imagegate"]["c8"]["rps"] > runs["portkey"]["c8"]["rps"]
goal = [f"- less added p50 than Portkey at 1 connection: **{'yes' if ok else 'no'}**",
        f"- a higher rate than Portkey at 8 connections: **{'yes' if fast else 'no'}**"]

def out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
now = datetime.datetime.now()
head = [f"# Upstream benchmark, {now:%Y-%m-%d %H:%M}", "",
        f"- machine: {os.cpu_count()} cores ({cpu}), load average at the end {os.getloadavg()[0]:.2f}; "
        "wrk, nginx, Portkey and imagegate share these cores",
        f"- imagegate: `{binary}`, provider: **{mode}**"
        + (" (`[providers.fake]` kind `openai` → the fake upstream)" if mode == "upstream"
           else " (the built-in sandbox draws each image; **no upstream call**, so its numbers are not yet the upstream path)"),
        f"- Portkey `@portkey-ai/gateway@{pk_version}` on node {out(['node', '--version'])}, `NODE_ENV=production --headless`",
        f"- fake upstream: nginx ({nginx_workers} worker) answering a fixed {os.path.getsize(f'{work}/generation.json')}-byte JSON "
        f"(a 1024x1024 flat-colour PNG of {os.path.getsize(f'{work}/image.png')} bytes as b64_json)",
        f"- wrk: {seconds} s per run (warm-up {warmup} s at 8 connections first), 1 connection with 1 thread, "
        f"8 connections with {threads} threads; "
        f"imagegate sqlite_synchronous={sync}",
        "- p50/p99 and the added latency are from the 1-connection runs; added = path − direct", ""]
text = "\n".join(head + rows + ["", "## Goal", ""] + goal + ["", "## imagegate: tasks recorded, image hosted", ""]
                 + verify
                 + ["", "Where imagegate's time goes, from the task rows (ms, p50 / p99; the rows keep whole "
                    "milliseconds). Response − task total is the time the answer takes after the task ends: "
                    "the wake-up of the waiting openai request, reading the image and encoding it.", "",
                    "| conns | tasks | queued (created → started) | run (started → completed) | of which the upstream call | task total | response (wrk) |",
                    "|---:|---:|---:|---:|---:|---:|---:|"] + inside
                 + ["", "## Every run", ""] + detail) + "\n"
print()
print(text)
os.makedirs(results_dir, exist_ok=True)
path = f"{results_dir}/upstream-{now:%Y-%m-%d}.md"
open(path, "w").write(text)
print(f"written to {path}")
PY
