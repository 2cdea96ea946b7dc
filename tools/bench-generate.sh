#!/usr/bin/env bash
# Prefill and decode speed of `shardlm generate` on the 1.1B TinyLlama shape made
# by `shardlm make-model`, for each weight type and rank count; prints one table
# row per configuration with the median of REPS runs.
# Usage: tools/bench-generate.sh [DTYPES="f32 f16"] [RANKS="1 2"] [REPS=3] [PROMPT_WORDS=120] [N=32]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHARDLM_BIN:-$ROOT/build/shardlm}
DIR=${BENCH_MODELS:-/tmp/shardlm-bench}
DTYPES=${DTYPES:-f32 f16}
RANKS=${RANKS:-1 2}
REPS=${REPS:-3}
N=${N:-32}
PRESET=${PRESET:-tinyllama-1.1b}
VOCAB=${VOCAB:-$ROOT/../shared/models/llama2-tokenizer/tokenizer.bin}
if [ -z "${PROMPT:-}" ]; then
  PROMPT=""
  for _ in $(seq 1 "${PROMPT_WORDS:-120}"); do PROMPT+="the quick brown fox jumps over the lazy dog "; done
  PROMPT=${PROMPT:0:600}
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DIR"
echo "| model | ranks x threads | prompt tok | prefill tok/s (median) | decode tok/s (median) | load s | rss MiB per rank |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for dt in $DTYPES; do
  model="$DIR/$PRESET-$dt.gguf"
  if [ ! -f "$model" ]; then
    echo "bench: making $model" >&2
    "$BIN" make-model --preset "$PRESET" --dtype "$dt" --format gguf --out "$model" --vocab-from "$VOCAB" >&2
  fi
  for r in $RANKS; do
    threads=$(( $(nproc) / r )); [ "$threads" -lt 1 ] && threads=1
    pre=(); dec=(); line=""
    for i in $(seq 1 "$REPS"); do
      echo "bench: $PRESET $dt ranks=$r run $i/$REPS" >&2
      line=$(mpirun -n "$r" --oversubscribe --bind-to none "$BIN" generate --model "$model" --prompt "$PROMPT" \
        -n "$N" --temp 0 --ignore-eos --no-echo -t "$threads" 2>&1 >/dev/null | grep "figures:")
      pre+=("$(sed -E 's/.*prefill_tok_s=([0-9.]+).*/\1/' <<<"$line")")
      dec+=("$(sed -E 's/.*decode_tok_s=([0-9.]+).*/\1/' <<<"$line")")
    done
    med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    ptok=$(sed -E 's/.*prompt_tokens=([0-9]+).*/\1/' <<<"$line")
    load=$(sed -E 's/.*load_s=([0-9.]+).*/\1/' <<<"$line")
    rss=$(sed -E 's/.*rss_mb_per_rank=\[([0-9.,]+)\].*/\1/' <<<"$line")
    echo "| $PRESET $dt | $r x $threads | $ptok | $(med "${pre[@]}") | $(med "${dec[@]}") | $load | $rss |"
  done
done
