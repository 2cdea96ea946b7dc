#!/usr/bin/env bash
# 1.1B Q8_0 target drafted by its own Q4_0 copy, 2 ranks x 1 thread, `shardlm generate`,
# off and draft alternated; greedy (text compared) and sampled. Prints the figures lines.
# Usage: N=40 K=4 bench/spec-sampling-draft.sh (outputs under OUT_ROOT, default /tmp/spec-sampling)
set -uo pipefail
mkdir -p "${OUT_ROOT:-/tmp/spec-sampling}"
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
M=/tmp/shardlm-bench/tinyllama-1.1b-q8_0.gguf
D=/tmp/shardlm-bench/tinyllama-1.1b-q4_0.gguf
N=${N:-48}
K=${K:-4}
run() {  # label, extra args
  local label=$1; shift
  local t0=$(cut -d' ' -f1 /proc/loadavg)
  mpirun -n 2 --bind-to none --oversubscribe build/shardlm generate -m $M --prompt "Once upon a time" -n $N \
    --ignore-eos --no-echo -t 1 "$@" > ${OUT_ROOT:-/tmp/spec-sampling}/draft-$label.out 2> ${OUT_ROOT:-/tmp/spec-sampling}/draft-$label.err
  echo "$label load=$t0 $(grep -o 'decode_tok_s=[0-9.]*\|steps=[0-9]*\|spec_[a-z_]*=[0-9.]*' ${OUT_ROOT:-/tmp/spec-sampling}/draft-$label.err | tr '\n' ' ')"
}
SPEC=(--spec-decode draft --draft-model $D --num-speculative-tokens $K)
for rep in 1 2; do
  run greedy-off-$rep --temp 0
  run greedy-on-$rep --temp 0 "${SPEC[@]}"
  cmp -s ${OUT_ROOT:-/tmp/spec-sampling}/draft-greedy-off-$rep.out ${OUT_ROOT:-/tmp/spec-sampling}/draft-greedy-on-$rep.out && echo "greedy text equal ($rep)" || echo "greedy text DIFFERS ($rep)"
  run sampled-off-$rep --temp 0.8 --top-k 40 --seed 7
  run sampled-on-$rep --temp 0.8 --top-k 40 --seed 7 "${SPEC[@]}"
done
