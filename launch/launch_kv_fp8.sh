#!/usr/bin/env bash
# Start the server with an FP8 (e4m3fn) KV cache: one byte per element plus one f16
# scale per position and KV head, about half the bytes of the default F16 cache per
# token; otherwise exactly launch_baseline.sh (same environment: MODEL, RANKS, PORT,
# RUN_DIR, ...). Stop it with launch/stop_server.sh. GET /admin/status shows the cache's
# dtype, bytes per token and capacity (kv_cache).
#   KV_DTYPE (fp8_e4m3; int8 for the symmetric int8 cache)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$ROOT/launch/launch_baseline.sh" --kv-cache-dtype "${KV_DTYPE:-fp8_e4m3}" "$@"
