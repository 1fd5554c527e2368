#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ (or those named) for a fixed time each, from its seed
# corpus in fuzz/corpus/<target>/, and fails when any of them finds a crash, a leak, undefined
# behaviour, a failed check or a hang.
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]      (make fuzz FUZZ_SECONDS=... FUZZ_TARGETS=...)
# The seed corpus is only read: inputs found in this run go to BUILD_DIR/fuzz-corpus/<target>/,
# findings to BUILD_DIR/fuzz-artifacts/<target>/, logs to BUILD_DIR/fuzz-logs/<target>.log. Each
# target runs in the scratch directory BUILD_DIR/fuzz-run/.
set -euo pipefail

build=$(cd "${1:?build directory}" && pwd)
seconds=${2:?seconds per target}
shift 2
src=$(cd "$(dirname "$0")" && pwd)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(jobs tasks generations unified openai_generation openai_edit multipart url sizes config)
fi

dict_for() {
  case "$1" in
    jobs | tasks | generations | unified | openai_generation) echo "$src/dict/json.dict" ;;
    multipart | openai_edit) echo "$src/dict/multipart.dict" ;;
    url) echo "$src/dict/url.dict" ;;
    config) echo "$src/dict/config.dict" ;;
  esac
}

mkdir -p "$build/fuzz-run"
failed=()
printf '%-18s %9s %6s %6s %13s %9s  %s\n' target runs cov ft "corpus" exec/s result
for t in "${targets[@]}"; do
  exe="$build/fuzz/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz: no target $t (expected $exe)" >&2
    exit 2
  fi
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  dict=$(dict_for "$t")
  if [ -n "$dict" ]; then
    args+=(-dict="$dict")
  fi
  status=0
  (cd "$build/fuzz-run" && "$exe" "${args[@]}" "$corpus" "$src/corpus/$t") >"$log" 2>&1 ||
    status=$?
  seeds=$(find "$src/corpus/$t" -type f | wc -l)
  # The last status line: "#N DONE cov: C ft: F corp: K/S lim: … exec/s: E …"
  line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$line")
  execs=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$line")
  result=ok
  if [ "$status" -ne 0 ]; then
    result="FAILED (exit $status), see $log"
    failed+=("$t")
  fi
  printf '%-18s %9s %6s %6s %13s %9s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?} (${seeds} seed)" "${execs:-?}" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo >&2
    echo "=== fuzz_$t: $build/fuzz-logs/$t.log" >&2
    grep -E 'ERROR|SUMMARY|fuzz: |runtime error|Test unit written' "$build/fuzz-logs/$t.log" |
      head -n 20 >&2 || true
  done
  echo >&2
  echo "fuzz: ${failed[*]} failed; reproduce with $build/fuzz/fuzz_<target> <artifact>" >&2
  exit 1
fi
