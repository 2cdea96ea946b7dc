#!/usr/bin/env bash
# Start the server with n-gram speculative decoding (prompt lookup, suffixes of up to
# NGRAM_MAX tokens, K proposed tokens per step) for greedy and sampled requests; otherwise exactly
# launch_baseline.sh (same environment: MODEL, RANKS, PORT, RUN_DIR, ...). Stop it with
# launch/stop_server.sh. Counters: GET /v1/spec_decode/metrics.
#   NGRAM_MIN (1), NGRAM_MAX (4), SPEC_K (5), SPEC_MAX_SEQS (4)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$ROOT/launch/launch_baseline.sh" --spec-decode ngram --ngram-min "${NGRAM_MIN:-1}" --ngram-max "${NGRAM_MAX:-4}" \
  --num-speculative-tokens "${SPEC_K:-5}" --spec-max-seqs "${SPEC_MAX_SEQS:-4}" "$@"
