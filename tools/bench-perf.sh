#!/usr/bin/env bash
# The shardlm-perf table of docs/benchmarks.md: prompt processing and generation speed
# on the 1.1B TinyLlama shape for each weight type, on 1 rank x 1 thread, 1 rank x 2
# threads and 2 ranks x 1 thread (TP=2), each with its fraction of the bandwidth limit.
# Models are made in $BENCH_MODELS (default /tmp/shardlm-bench) on first use.
# Usage: tools/bench-perf.sh [TYPES="f16 q8_0 q4_0 q4_k_m"] [P=512] [N=128] [REPS=3]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHARDLM_BIN:-$ROOT/build/shardlm}
PERF=${SHARDLM_PERF:-$ROOT/build/shardlm-perf}
DIR=${BENCH_MODELS:-/tmp/shardlm-bench}
TYPES=${TYPES:-f16 q8_0 q4_0 q4_k_m}
P=${P:-512}; N=${N:-128}; REPS=${REPS:-3}
VOCAB=${VOCAB:-$ROOT/../shared/models/llama2-tokenizer/tokenizer.bin}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DIR"
model_for() {
  local t=$1 m="$DIR/tinyllama-1.1b-$1.gguf"
  if [ ! -f "$m" ]; then
    case $t in
      f32|f16|bf16|q8_0|q4_0)
        "$BIN" make-model --preset tinyllama-1.1b --dtype "$t" --format gguf --out "$m" --vocab-from "$VOCAB" >&2 ;;
      *)
        model_for f32 >/dev/null
        "$BIN" quantize "$DIR/tinyllama-1.1b-f32.gguf" "$m" --type "${t^^}" >&2 ;;
    esac
  fi
  echo "$m"
}
first=1
for t in $TYPES; do
  m=$(model_for "$t")
  for setup in "1 1" "1 2" "2 1"; do
    set -- $setup
    echo "bench-perf: $t ranks=$1 threads=$2" >&2
    out=$(mpirun -n "$1" --oversubscribe --bind-to none "$PERF" -m "$m" -p "$P" -n "$N" -r "$REPS" -t "$2" 2>/dev/null)
    if [ $first = 1 ]; then echo "$out" | sed -n 1,2p; first=0; fi
    echo "$out" | sed -n 3,4p
    echo "$out" | grep "read bandwidth" | sed "s/^/<!-- $t ${1}x$2: /; s/$/ -->/"
  done
done
