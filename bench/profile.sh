#!/usr/bin/env bash
# Profiles imagegate under load: starts it as step 1 of `make bench` does (generation held back),
# runs wrk on one endpoint, records the server process with perf while wrk runs, and writes
#   perf.data     the recording (`perf report -i perf.data` to browse it)
#   report.txt    `perf report --stdio --no-children`: where the samples are, callers below
#   folded.txt    the stacks folded one a line (`perf script report stackcollapse -- --kernel`)
#   flame.svg     a flame graph of folded.txt (bench/flamegraph.py; open it in a browser)
#   wrk.txt       wrk's output
# into PROFILE_OUT. Needs perf (linux-perf) and root or kernel.perf_event_paranoid <= 1.
# Everything binds 127.0.0.1 and is stopped on exit. See docs/benchmarks.md.
#
#   bash bench/profile.sh [build/imagegate]
#   PROFILE_ENDPOINT (recordInfo)  recordInfo | createTask
#   PROFILE_SECONDS (10)           how long perf records (wrk runs 2 s longer on each side)
#   PROFILE_CONNECTIONS (64), PROFILE_THREADS (2): wrk's
#   PROFILE_CALL_GRAPH (fp)        fp: `perf record -g` (frame pointers: kernel stacks whole, the
#                                  stacks of this -O3 build without frame pointers cut short, as
#                                  "[unknown]"); dwarf: `--call-graph dwarf` (user stacks whole,
#                                  perf.data about 90 times larger, `perf report` slower)
#   PROFILE_FREQ (999)             samples per second per CPU
#   PROFILE_OUT (bench/results/profile-<endpoint>-<date>-<time>)
set -euo pipefail
src_bin=${1:-build/imagegate}
here=$(cd "$(dirname "$0")" && pwd)
endpoint=${PROFILE_ENDPOINT:-recordInfo}
seconds=${PROFILE_SECONDS:-10}
conns=${PROFILE_CONNECTIONS:-64}
threads=${PROFILE_THREADS:-2}
call_graph=${PROFILE_CALL_GRAPH:-fp}
freq=${PROFILE_FREQ:-999}
out=${PROFILE_OUT:-$here/results/profile-$endpoint-$(date +%Y-%m-%d-%H%M%S)}

case "$endpoint" in recordInfo | createTask) ;; *) echo "profile: PROFILE_ENDPOINT is recordInfo or createTask"; exit 2 ;; esac
case "$call_graph" in fp) cg=(-g) ;; dwarf) cg=(--call-graph dwarf,16384) ;; *) echo "profile: PROFILE_CALL_GRAPH is fp or dwarf"; exit 2 ;; esac
for tool in perf wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "profile: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

work=$(mktemp -d /tmp/imagegate-profile.XXXXXX)
ig_pid=""
wrk_pid=""
cleanup() {
  [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null || true
  [ -n "$ig_pid" ] && kill "$ig_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of the binary, so that perf resolves the symbols of the very file that ran.
mkdir -p "$out"
cp "$src_bin" "$out/imagegate"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=$("$out/imagegate" keys create --name profile --data-dir "$work/data" 2>/dev/null)
"$out/imagegate" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --set log.level=warn \
  --set dispatcher.concurrency=1 --set sandbox.latency_ms=3600000 >"$work/imagegate.log" 2>&1 &
ig_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
if [ "$endpoint" = recordInfo ]; then
  task=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/jobs/createTask" \
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
    -d '{"model":"gpt-image-2-text-to-image","input":{"prompt":"profile"}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["taskId"])')
  args=(-s "$here/wrk/auth.lua" "http://127.0.0.1:$port/api/v1/jobs/recordInfo?taskId=$task")
else
  args=(-s "$here/wrk/create.lua" "http://127.0.0.1:$port/api/v1/jobs/createTask")
fi

echo "== wrk -t$threads -c$conns on $endpoint; perf record ${cg[*]} -F $freq on pid $ig_pid for ${seconds}s"
IG_KEY=$key wrk -t"$threads" -c"$conns" -d"$((seconds + 4))s" --latency "${args[@]}" >"$out/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 2
rm -f "$out/perf.data"
perf record "${cg[@]}" -F "$freq" -p "$ig_pid" -o "$out/perf.data" -- sleep "$seconds" 2>"$work/perf.log" ||
  { cat "$work/perf.log"; echo "profile: perf record failed (root, or sysctl kernel.perf_event_paranoid=1)"; exit 1; }
wait "$wrk_pid" || true
wrk_pid=""
kill "$ig_pid" 2>/dev/null || true
wait "$ig_pid" 2>/dev/null || true
ig_pid=""

perf report -i "$out/perf.data" --stdio --no-children --percent-limit 0.5 >"$out/report.txt" 2>/dev/null
# `perf script report <script>` reads ./perf.data whatever -i says.
(cd "$out" && perf script report stackcollapse -- --kernel >folded.txt 2>/dev/null)
python3 "$here/flamegraph.py" --title "imagegate $endpoint, wrk -c$conns, perf ${cg[*]}" \
  "$out/folded.txt" >"$out/flame.svg"
grep -E "Requests/sec" "$out/wrk.txt" | sed 's/^/   wrk: /'
echo "== the hottest symbols (self time):"
perf report -i "$out/perf.data" --stdio --no-children --sort dso,sym -g none --percent-limit 2 2>/dev/null |
  grep -E '^ +[0-9]' | head -15
echo "== written to $out: perf.data report.txt folded.txt flame.svg wrk.txt"
