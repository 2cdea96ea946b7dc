#!/usr/bin/env bash
# Sets up (packages + build) and runs the OpenAI-compatible server with 2 ranks on
# localhost (port 8080) from the default model (the trained stories260K in
# ../shared/models unless MODEL is set), in the foreground: Ctrl-C stops every rank.
# Environment as for launch/launch_baseline.sh (MODEL, RANKS, PORT, THREADS, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
echo "quickstart: try  curl -s localhost:${PORT:-8080}/v1/completions -d '{\"prompt\":\"Once upon a time\",\"max_tokens\":64}'" >&2
FOREGROUND=1 exec launch/launch_baseline.sh "$@"
