#!/usr/bin/env bash
# Sets up (packages + build) and runs the whole test suite with ctest.
# Tests that need ../shared (models, reference) skip with a visible reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The fault matrix (label faults: tests/scripts/test-faults.py, ~5 min, root, network
# namespaces) is not part of the default run: `tools/test.sh -L faults`, or TEST_FAULTS=1
# to run it with everything else.
exclude=(-LE faults)
if [ -n "${TEST_FAULTS:-}" ] || [[ " $* " == *faults* ]]; then exclude=(); fi
ctest --test-dir build --output-on-failure --timeout 900 -j"${TEST_JOBS:-2}" "${exclude[@]}" "$@"
