#!/usr/bin/env bash
# ctest fixture: writes the generated test models (deterministic random weights,
# real vocabulary) into $1. Every family preset in GGUF and HF form, and the
# llama preset in each weight type.
set -euo pipefail
OUT=${1:?output directory}
BIN=${SHARDLM_BIN:?}
SHARED=${SHARDLM_SHARED:-}
VOCAB="$SHARED/models/stories260K/stories260K.gguf"
if [ ! -f "$VOCAB" ]; then echo "SKIP: $VOCAB not found (../shared absent)"; exit 0; fi
mkdir -p "$OUT"
mk() { # preset dtype format name
  local path="$OUT/$4"
  if [ -e "$path" ]; then return; fi
  "$BIN" make-model --preset "$1" --dtype "$2" --format "$3" --out "$path.tmp" --vocab-from "$VOCAB" >/dev/null
  mv "$path.tmp" "$path"
}
for p in tiny-llama tiny-llama3 tiny-mistral tiny-mqa tiny-tied tiny-qwen2 tiny-qwen3 tiny-smollm; do
  mk "$p" f32 gguf "$p-f32.gguf"
  mk "$p" f32 hf "$p-f32-hf"
done
for t in f16 bf16 q8_0 q4_0; do
  mk tiny-llama "$t" gguf "tiny-llama-$t.gguf"
done
mk tiny-qwen2 bf16 hf tiny-qwen2-bf16-hf
mk tiny-llama f16 hf tiny-llama-f16-hf
echo "test models in $OUT"
