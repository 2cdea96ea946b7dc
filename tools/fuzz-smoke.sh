#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for N seconds.
#   tools/fuzz-smoke.sh [SECONDS]      default 60 per fuzzer
#   FUZZ_RUNS=1000000 tools/fuzz-smoke.sh   a campaign: that many executions per fuzzer instead
# Env: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_TARGETS (default: all six,
# "fuzz-gguf fuzz-safetensors fuzz-wire fuzz-http fuzz-openai fuzz-tokenizer"), FUZZ_JOBS
# (parallel fuzzing jobs per target, default 1), FUZZ_RUNS (executions per fuzzer; unset:
# SECONDS of time each).
# Seeds come from fuzz/make-seeds.py; the growing corpus is kept in
# $FUZZ_BUILD/fuzz-corpus/<target>; a crash or leak is saved as
# fuzz/crashes/<target>-crash-<sha1> (reproduce: $FUZZ_BUILD/fuzz/<target> FILE).
# Exit status: 0 if no fuzzer found anything, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER="${1:-60}"
BUILD="${FUZZ_BUILD:-build-fuzz}"
TARGETS="${FUZZ_TARGETS:-fuzz-gguf fuzz-safetensors fuzz-wire fuzz-http fuzz-openai fuzz-tokenizer}"
JOBS="${FUZZ_JOBS:-1}"

CC=$(command -v clang-14 || command -v clang || true)
CXX=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z "$CXX" || -z "$CC" ]]; then
  echo "fuzz-smoke: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi
if [[ ! -f "$BUILD/build.ninja" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DSHARDLM_FUZZ=ON -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
fi
# shellcheck disable=SC2086
cmake --build "$BUILD" --target $TARGETS -j"${BUILD_JOBS:-1}"

python3 fuzz/make-seeds.py "$BUILD/fuzz-seeds" >/dev/null
mkdir -p fuzz/crashes
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
for t in $TARGETS; do
  kind="${t#fuzz-}"
  corpus="$BUILD/fuzz-corpus/$t"
  mkdir -p "$corpus"
  if [[ -n "${FUZZ_RUNS:-}" ]]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$SECONDS_PER"); fi
  args=("${limit[@]}" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="fuzz/crashes/$t-")
  [[ -f "fuzz/$kind.dict" ]] && args+=(-dict="fuzz/$kind.dict")
  [[ "$JOBS" -gt 1 ]] && args+=(-fork="$JOBS")
  echo "== $t: ${FUZZ_RUNS:+$FUZZ_RUNS runs}${FUZZ_RUNS:-${SECONDS_PER}s}"
  log="$BUILD/$t.log"
  if "$BUILD/fuzz/$t" "${args[@]}" "$corpus" "$BUILD/fuzz-seeds/$kind" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^stat::average_exec_per_sec|Done [0-9]+ runs" "$log" || tail -3 "$log"
    echo "   corpus: $(find "$corpus" -type f | wc -l) inputs"
  else
    failed=1
    echo "!! $t FOUND A PROBLEM (log: $log):"
    grep -E "ERROR: |runtime error|^tensor '|SUMMARY|Test unit written|artifact_prefix" "$log" | head -20
  fi
done
exit $failed
