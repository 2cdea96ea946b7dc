#!/usr/bin/env bash
# Start REPLICAS copies of the server (each one launch_baseline.sh job of RANKS ranks) and
# `shardlm router` in front of them, in the background; wait until the router is ready.
# Stop everything with launch/stop_server.sh (same RUN_DIR): the router, then every
# replica on every host of its hostfile, with their EXIT AUDIT lines.
# Environment (all optional; the rest as launch_baseline.sh: MODEL, THREADS, WAIT_S,
# LOG_LEVEL, MPI_ARGS, RSH_AGENT, NET, SIGKILL_TIMEOUT_S):
#   REPLICAS    number of replicas (default 2)
#   RANKS       ranks per replica (default 1)
#   HOST, PORT  where the router listens (default 127.0.0.1:8080)
#   BASE_PORT   replica i listens on BASE_PORT + i (default PORT + 1)
#   REPLICA_HOST  the address replicas bind and the router calls (default 127.0.0.1)
#   HOSTFILES   one MPI hostfile per replica, space-separated (default hostfiles/localhost each)
#   RUN_DIR     run/ by default: replica i in RUN_DIR/replica<i>/ (server.log, rank<R>.log),
#               the router's router.log, router.pid and backends.txt (reread on SIGHUP)
#   ROUTER_ARGS extra `shardlm router` arguments (e.g. "--api-key KEY --migration-limit 2")
# Extra command-line arguments go to every replica's `shardlm serve` (after
# --max-connections-per-client 4096: every request reaches a replica from the router's one
# address, so serve's per-client default of 64 would cap the router).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPLICAS=${REPLICAS:-2}
RANKS=${RANKS:-1}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
BASE_PORT=${BASE_PORT:-$((PORT + 1))}
REPLICA_HOST=${REPLICA_HOST:-127.0.0.1}
RUN_DIR=${RUN_DIR:-$ROOT/run}
WAIT_S=${WAIT_S:-600}
BIN=${SHARDLM_BIN:-$ROOT/build/shardlm}
read -r -a hostfiles <<< "${HOSTFILES:-}"
mkdir -p "$RUN_DIR"
if [ -f "$RUN_DIR/router.pid" ] && kill -0 "$(cat "$RUN_DIR/router.pid")" 2>/dev/null; then
  echo "launch: a router from $RUN_DIR is already running; run launch/stop_server.sh" >&2
  exit 1
fi
: > "$RUN_DIR/replicas"
: > "$RUN_DIR/backends.txt"
for i in $(seq 0 $((REPLICAS - 1))); do
  dir="$RUN_DIR/replica$i"
  echo "$dir" >> "$RUN_DIR/replicas"
  echo "http://$REPLICA_HOST:$((BASE_PORT + i))" >> "$RUN_DIR/backends.txt"
  hf=${hostfiles[$i]:-$ROOT/hostfiles/localhost}
  if ! RUN_DIR="$dir" RANKS="$RANKS" HOST="$REPLICA_HOST" PORT=$((BASE_PORT + i)) HOSTFILE="$hf" \
      "$ROOT/launch/launch_baseline.sh" --max-connections-per-client 4096 --max-connections 8192 "$@"; then
    echo "launch: replica $i did not start (see $dir/server.log); stop the others with launch/stop_server.sh" >&2
    exit 1
  fi
done
# shellcheck disable=SC2086
cmd=("$BIN" --log-level "${LOG_LEVEL:-info}" router --backends "$RUN_DIR/backends.txt" --host "$HOST" --port "$PORT"
  --pid-file "$RUN_DIR/router.pid" ${ROUTER_ARGS:-})
echo "launch: ${cmd[*]}" >&2
setsid "${cmd[@]}" > "$RUN_DIR/router.log" 2>&1 < /dev/null &
echo $! > "$RUN_DIR/router.pid"
url="http://$HOST:$PORT/health"
[ "$HOST" = 0.0.0.0 ] && url="http://127.0.0.1:$PORT/health"
for _ in $(seq 1 $((WAIT_S * 4))); do
  if ! kill -0 "$(cat "$RUN_DIR/router.pid")" 2>/dev/null; then
    echo "launch: the router exited; last lines of its log:" >&2
    tail -n 20 "$RUN_DIR/router.log" >&2
    exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ]; then
    echo "launch: router ready at http://$HOST:$PORT in front of $REPLICAS replicas ($(tr '\n' ' ' < "$RUN_DIR/backends.txt"))" >&2
    exit 0
  fi
  sleep 0.25
done
echo "launch: the router is not ready after $WAIT_S s; see $RUN_DIR/router.log" >&2
exit 1
