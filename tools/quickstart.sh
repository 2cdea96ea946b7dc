#!/usr/bin/env bash
# Sets up (packages + build) and generates text with 2 ranks on localhost from the
# default model (the trained stories260K in ../shared/models unless MODEL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec launch/launch_generate.sh "$@"
