#!/usr/bin/env bash
# Start the server with draft-model speculative decoding: DRAFT_MODEL (a small model with
# the target's vocabulary, e.g. a Q4_0 copy of the target) runs on rank 0 and proposes
# SPEC_K tokens per step (greedy or sampled requests), which the target verifies in its batch;
# otherwise exactly launch_baseline.sh (same environment: MODEL, RANKS, PORT, RUN_DIR, ...).
# Stop it with launch/stop_server.sh. Counters: GET /v1/spec_decode/metrics.
#   DRAFT_MODEL (required), SPEC_K (5), SPEC_MAX_SEQS (4), DRAFT_CONTEXT_LEN (0: the draft's own), DRAFT_THREADS (1)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${DRAFT_MODEL:-}" ]; then
  echo "launch_draft.sh: set DRAFT_MODEL to the draft model (same vocabulary as MODEL)" >&2
  exit 2
fi
exec "$ROOT/launch/launch_baseline.sh" --spec-decode draft --draft-model "$DRAFT_MODEL" \
  --num-speculative-tokens "${SPEC_K:-5}" --spec-max-seqs "${SPEC_MAX_SEQS:-4}" \
  --draft-context-len "${DRAFT_CONTEXT_LEN:-0}" --draft-threads "${DRAFT_THREADS:-1}" "$@"
