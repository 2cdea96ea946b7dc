#!/usr/bin/env bash
# label: e2e
# A real client: the official `openai` npm package (tests/npm, version pinned in its
# package-lock.json) against `shardlm serve` on 2 ranks with --api-key test-key, started
# and stopped by the launch scripts. Runs tests/npm/openai-client.test.mjs under node:test.
# Installs into the build tree (beside $SHARDLM_TEST_MODELS; never into the source tree), with
# the npm cache beside it so later runs work offline.
# Exit 77 (skip) when node/npm are absent or too old, the model is absent, or npm cannot
# reach its registry; any failing test or a shardlm serve process left behind fails.
set -uo pipefail
SOURCE=${SHARDLM_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
SHARED=${SHARDLM_SHARED:-$SOURCE/../shared}
BIN=${SHARDLM_BIN:-$SOURCE/build/shardlm}
MODEL=$SHARED/models/stories260K/stories260K.gguf
EXPECTED=$SHARED/models/stories260K/expected-greedy-once-upon-a-time.txt
WORK=$(dirname "${SHARDLM_TEST_MODELS:-/tmp/x}")/npm-openai
KEY=test-key

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# ---- prerequisites ----
NODE=$(command -v node || command -v nodejs || true)
[ -n "$NODE" ] || skip "node not found on PATH (install nodejs >= 18)"
NPM=$(command -v npm || true)
[ -n "$NPM" ] || skip "npm not found on PATH (install npm)"
node_major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 18 ] 2>/dev/null || skip "node $("$NODE" --version 2>/dev/null) is older than 18 (no fetch, no node:test)"
[ -f "$MODEL" ] || skip "$MODEL not found (../shared is absent)"
[ -x "$BIN" ] || fail "$BIN is not built"
echo "node $("$NODE" --version) ($NODE), npm $("$NPM" --version 2>/dev/null) ($NPM)"

# ---- install the pinned client outside the source tree ----
mkdir -p "$WORK" || fail "cannot create $WORK"
cp "$SOURCE/tests/npm/package.json" "$SOURCE/tests/npm/package-lock.json" \
  "$SOURCE/tests/npm/openai-client.test.mjs" "$WORK/" || fail "cannot copy tests/npm to $WORK"
export npm_config_cache="$WORK/.npm-cache" npm_config_update_notifier=false npm_config_fund=false \
  npm_config_audit=false npm_config_fetch_retries=1 npm_config_fetch_retry_mintimeout=2000 \
  npm_config_fetch_retry_maxtimeout=10000
if ! (cd "$WORK" && timeout 300 "$NPM" ci --prefer-offline --no-audit --no-fund > npm-ci.log 2>&1); then
  tail -n 20 "$WORK/npm-ci.log"
  if ! (cd "$WORK" && timeout 30 "$NPM" ping > /dev/null 2>&1); then
    skip "npm ci failed and the npm registry is unreachable (no network?); see $WORK/npm-ci.log"
  fi
  fail "npm ci failed in $WORK (the registry answers); see $WORK/npm-ci.log"
fi
echo "openai $("$NODE" -p 'require(process.argv[1]).version' "$WORK/node_modules/openai/package.json")"

# ---- the server ----
PORT=$("$NODE" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shardlm-e2e-npm-XXXXXX")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MODEL RANKS=2 PORT RUN_DIR WAIT_S=120 \
  SHARDLM_BIN="$BIN" MPI_ARGS="${MPI_ARGS:---oversubscribe}"
stopped=0
stop() {
  [ "$stopped" = 1 ] && return
  stopped=1
  bash "$SOURCE/launch/stop_server.sh"
}
trap stop EXIT
trap 'exit 130' INT TERM

# PIDs of shardlm serve processes whose command line names RUN_DIR (every rank gets
# --pid-file $RUN_DIR/rank0.pid).
leftovers() {
  local f pid cmd
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    cmd=$( { tr '\0' '\n' < "$f"; } 2>/dev/null) || continue
    case "$(head -n 1 <<< "$cmd")" in *shardlm) ;; *) continue ;; esac
    grep -qx serve <<< "$cmd" && grep -qF "$RUN_DIR" <<< "$cmd" && echo "$pid"
  done
}

# Prompt steps of 32 tokens that pause 250 ms each (a test aid): the abort test's request
# then runs for seconds before its first token on any machine.
if ! bash "$SOURCE/launch/launch_baseline.sh" --api-key "$KEY" --max-batch-tokens 32 --test-prefill-delay-ms 250; then
  tail -n 40 "$RUN_DIR/server.log" 2>/dev/null
  fail "the server did not start"
fi

# ---- the client tests ----
rc=0
(cd "$WORK" && SHARDLM_URL="http://127.0.0.1:$PORT" SHARDLM_API_KEY="$KEY" SHARDLM_MODEL_ID=stories260K.gguf \
  SHARDLM_EXPECTED_FILE="$EXPECTED" timeout 600 "$NODE" --test --test-reporter=spec openai-client.test.mjs) \
  > "$WORK/node-test.log" 2>&1 || rc=$?
cat "$WORK/node-test.log"

stop
sleep 0.5
left=$(leftovers)
if [ "$rc" != 0 ]; then
  echo "---- last lines of $RUN_DIR/server.log ----"
  tail -n 40 "$RUN_DIR/server.log"
fi
[ -z "$left" ] || { ps -o pid,args -p "$(tr '\n' ',' <<< "$left" | sed 's/,$//')"; fail "shardlm serve processes left: $left"; }
if [ "$rc" != 0 ]; then
  # Last, so that a caller keeping only the tail of this output still sees which test failed and why.
  echo "---- the failing client tests ----"
  sed -n '/failing tests:/,$p' "$WORK/node-test.log" | head -n 60
  fail "openai-client.test.mjs failed (exit $rc)"
fi
rm -rf "$RUN_DIR"
echo "PASS"
