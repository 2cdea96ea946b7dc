#!/usr/bin/env bash
# Start the server with the disk tier of the KV cache (--kv-tier cpu_disk): blocks
# evicted from memory are written to KV_DISK_DIR on every rank (each its own heads'
# part) and read back on a later prefix hit, also after a restart. Otherwise exactly
# launch_baseline.sh (same environment: MODEL, RANKS, PORT, RUN_DIR, ...). Stop it with
# launch/stop_server.sh. State: GET /admin/kv, GET /admin/sessions, /metrics.
#   KV_DISK_DIR (~/.cache/shardlm/kv), KV_DISK_GB (8, per rank), KV_DISK_MIN_TOKENS (64),
#   SESSION_TTL_S (600), MAX_PINNED_GB (2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir_args=()
if [ -n "${KV_DISK_DIR:-}" ]; then dir_args=(--kv-disk-dir "$KV_DISK_DIR"); fi
exec "$ROOT/launch/launch_baseline.sh" --kv-tier cpu_disk "${dir_args[@]}" --kv-disk-gb "${KV_DISK_GB:-8}" \
  --kv-disk-min-tokens "${KV_DISK_MIN_TOKENS:-64}" --session-ttl-s "${SESSION_TTL_S:-600}" \
  --max-pinned-gb "${MAX_PINNED_GB:-2}" "$@"
