#!/usr/bin/env bash
# One-stream speculation on an edit prompt (docs/benchmarks.md, issue 15): `shardlm
# generate` under mpirun, 2 ranks x 1 thread, 400 greedy tokens, --spec-decode off then
# ngram, ROUNDS times in turn; prints each run's decode tok/s and steps, then each round's
# ngram / off ratio. The prompt is a short story, "Write the text above again, word for
# word:", and its first sentence, so the output repeats the input.
# Usage: bench/spec-edit-generate.sh [MODEL] [SHARDLM_BIN...]   (ROUNDS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-../shared/models/TinyStories-656K}
shift || true
BINS=("${@:-build/shardlm}")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
S="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball under a tree. She ran to the ball and kicked it very high. The ball flew over the fence and landed in the pond. Lily was sad, but her friend Tom helped her get the ball back."
P="$S
Write the text above again, word for word:
Once upon a time, there was a little girl named Lily."
run() {  # bin mode -> "tok_s steps"
  mpirun -n 2 --bind-to none "$1" generate -m "$MODEL" --prompt "$P" -n 400 --ignore-eos --temp 0 --no-echo -t 1 \
    --spec-decode "$2" 2>&1 | sed -nE 's/.*decode_tok_s=([0-9.]+).*steps=([0-9]+).*/\1 \2/p; s/.*steps=([0-9]+).*decode_tok_s=([0-9.]+).*/\2 \1/p' | head -1
}
for r in $(seq 1 "${ROUNDS:-5}"); do
  for b in "${BINS[@]}"; do
    read -r off off_steps <<<"$(run "$b" off)"
    read -r on on_steps <<<"$(run "$b" ngram)"
    awk -v r="$r" -v b="$b" -v a="$off" -v s1="$off_steps" -v o="$on" -v s2="$on_steps" \
      'BEGIN { printf "round %d %s: off %.0f tok/s (%d steps), ngram %.0f tok/s (%d steps), ngram/off %.2f\n", r, b, a, s1, o, s2, o / a }'
  done
done
