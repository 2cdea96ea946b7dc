#!/usr/bin/env bash
# Every feature on, behind the router: launch_replicas.sh (REPLICAS × RANKS, the router in
# front; its environment: REPLICAS 2, RANKS 1, PORT, BASE_PORT, HOSTFILES, ROUTER_ARGS, ...)
# with each replica serving
#   - quantized KV in memory (KV_DTYPE, default int8: greedy text equal to f16 on the
#     test models) and the disk tier (--kv-tier cpu_disk, KV_DISK_GB 8 per rank,
#     KV_DISK_DIR default ~/.cache/shardlm/kv: replicas on one host share it — files are
#     content-addressed and a restore is checked on every rank, so a block another
#     replica deleted is recomputed, never wrong),
#   - sticky sessions (SESSION_TTL_S 600, MAX_PINNED_GB 2),
#   - n-gram speculative decoding (NGRAM_MAX 4, SPEC_K 5, SPEC_MAX_SEQS 4),
#   - the response cache (RESPONSE_CACHE_MB 256).
# Extra arguments go to every replica's `shardlm serve`. Stop it with launch/stop_server.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir_args=()
if [ -n "${KV_DISK_DIR:-}" ]; then dir_args=(--kv-disk-dir "$KV_DISK_DIR"); fi
exec "$ROOT/launch/launch_replicas.sh" \
  --kv-cache-dtype "${KV_DTYPE:-int8}" --kv-tier cpu_disk "${dir_args[@]}" --kv-disk-gb "${KV_DISK_GB:-8}" \
  --session-ttl-s "${SESSION_TTL_S:-600}" --max-pinned-gb "${MAX_PINNED_GB:-2}" \
  --spec-decode ngram --ngram-max "${NGRAM_MAX:-4}" --num-speculative-tokens "${SPEC_K:-5}" \
  --spec-max-seqs "${SPEC_MAX_SEQS:-4}" --response-cache-mb "${RESPONSE_CACHE_MB:-256}" "$@"
