#!/usr/bin/env bash
# Speculative sampling (docs/benchmarks.md), n-gram proposer: off and on servers up side by side (2 ranks x 1
# thread each), shardlm-bench ngram alternated off/on per concurrency level, sampled
# (--temperature T) or greedy (T=0). Usage: bench/spec-sampling-ngram.sh MODEL TAG T [levels...]
# Environment: MAX_TOKENS (64) per request, REPS (2) runs per level and mode.
set -euo pipefail
mkdir -p "${OUT_ROOT:-/tmp/spec-sampling}"
cd "$(dirname "$0")/.."
MODEL=$1; TAG=$2; T=$3; shift 3
LEVELS=${*:-1 4 8 16}
OUT=${OUT_ROOT:-/tmp/spec-sampling}/results-$TAG
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MPI_ARGS=--oversubscribe
RUN_DIR=${OUT_ROOT:-/tmp/spec-sampling}/off-$TAG PORT=18711 MODEL=$MODEL RANKS=2 THREADS=1 launch/launch_baseline.sh >/dev/null
RUN_DIR=${OUT_ROOT:-/tmp/spec-sampling}/on-$TAG PORT=18712 MODEL=$MODEL RANKS=2 THREADS=1 launch/launch_ngram.sh >/dev/null
trap 'RUN_DIR=${OUT_ROOT:-/tmp/spec-sampling}/off-'$TAG' launch/stop_server.sh >/dev/null; RUN_DIR=${OUT_ROOT:-/tmp/spec-sampling}/on-'$TAG' launch/stop_server.sh >/dev/null' EXIT
for c in $LEVELS; do
  n=$(( c * 2 > 4 ? c * 2 : 4 ))
  for rep in $(seq 1 "${REPS:-2}"); do
    for s in off on; do
      port=$([ $s = off ] && echo 18711 || echo 18712)
      echo "== c=$c rep=$rep $s load: $(cut -d' ' -f1-3 /proc/loadavg)"
      build/shardlm-bench ngram --url http://127.0.0.1:$port --label $s-c$c-r$rep --out $OUT --requests $n \
        --concurrency $c --max-tokens "${MAX_TOKENS:-64}" --temperature $T --seed 3 --no-progress 2>&1 | grep "^ngram "
    done
  done
done
