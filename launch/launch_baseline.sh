#!/usr/bin/env bash
# Start the OpenAI-compatible server (baseline configuration) in the background and
# wait until it is ready. Stop it with launch/stop_server.sh.
# Environment (all optional):
#   MODEL      model path (default: ../shared/models/stories260K/stories260K.gguf)
#   RANKS      number of ranks (default 2)
#   HOSTFILE   MPI hostfile (default hostfiles/localhost)
#   HOST, PORT where to listen (default 127.0.0.1:8080)
#   RUN_DIR    where the log and pid files go (default run/): server.log (everything
#              mpirun forwards) and rank<R>.log (each rank's own log, complete even when
#              mpirun aborts the job)
#   THREADS    compute threads per rank (default: cores / ranks on the node)
#   WAIT_S     how long to wait for /health (default 600)
#   LOG_LEVEL  trace, debug, info (default), warn, error
#   FOREGROUND=1  run in the foreground: Ctrl-C, or SIGTERM/SIGHUP to this script, stops
#              the server as stop_server.sh does (rank 0 drains; exit code mpirun's, 0)
#   MPI_ARGS   extra mpirun arguments (e.g. "--oversubscribe")
#   RSH_AGENT  how mpirun reaches the other hosts (--mca plm_rsh_agent; Open MPI's
#              default is ssh), e.g. "ssh -x" or a test agent
#   NET        the network MPI uses between hosts, e.g. 10.0.0.0/24 or eth1:
#              --mca btl_tcp_if_include NET --mca oob_tcp_if_include NET --mca btl tcp,self
#              (TCP only, for one rank per host; see docs/operations.md)
#   SIGKILL_TIMEOUT_S  Open MPI's teardown (a rank died, or a signal to mpirun itself):
#              SIGCONT, this long, SIGTERM, this long, SIGKILL (default 30); the ranks
#              start their stop at the SIGCONT and log their EXIT AUDIT before the SIGKILL
# Extra command-line arguments are passed to `shardlm serve` (e.g. --api-key KEY).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${MODEL:-$ROOT/../shared/models/stories260K/stories260K.gguf}
RANKS=${RANKS:-2}
HOSTFILE=${HOSTFILE:-$ROOT/hostfiles/localhost}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
RUN_DIR=${RUN_DIR:-$ROOT/run}
WAIT_S=${WAIT_S:-600}
BIN=${SHARDLM_BIN:-$ROOT/build/shardlm}
if [ ! -x "$BIN" ]; then echo "launch: $BIN not built (run tools/setup.sh)" >&2; exit 1; fi
if [ ! -e "$MODEL" ]; then echo "launch: model $MODEL not found (set MODEL=...)" >&2; exit 1; fi
mkdir -p "$RUN_DIR"
if [ -f "$RUN_DIR/mpirun.pid" ] && kill -0 "$(cat "$RUN_DIR/mpirun.pid")" 2>/dev/null; then
  echo "launch: a server from $RUN_DIR is already running (pid $(cat "$RUN_DIR/mpirun.pid")); run launch/stop_server.sh" >&2
  exit 1
fi
rm -f "$RUN_DIR"/rank*.log "$RUN_DIR/mpirun.uri"
extra=()
if [ -n "${THREADS:-}" ]; then extra+=(--threads "$THREADS"); fi
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_odls_base_sigkill_timeout=${SIGKILL_TIMEOUT_S:-30}
# --report-uri: the job's own id (its HNP URI, on every daemon's command line), for
# stop_server.sh to find this run's daemons on every host.
mpi=(--bind-to none --report-uri "$RUN_DIR/mpirun.uri")
if [ -n "${RSH_AGENT:-}" ]; then mpi+=(--mca plm_rsh_agent "$RSH_AGENT"); fi
if [ -n "${NET:-}" ]; then mpi+=(--mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" --mca btl "tcp,self"); fi
# shellcheck disable=SC2086
cmd=(mpirun -n "$RANKS" --hostfile "$HOSTFILE" "${mpi[@]}" ${MPI_ARGS:-}
  "$BIN" --log-level "${LOG_LEVEL:-info}" --log-file "$RUN_DIR/rank{rank}.log" serve --model "$MODEL" --host "$HOST" --port "$PORT" --pid-file "$RUN_DIR/rank0.pid" "${extra[@]}" "$@")
echo "launch: ${cmd[*]}" >&2
if [ "${FOREGROUND:-0}" = 1 ]; then
  # mpirun in a session of its own, this script waiting on it: a terminal's Ctrl-C, or
  # SIGTERM/SIGHUP to this script (an init system's stop), reaches only this script,
  # which stops the server through rank 0 (every rank drains and logs its EXIT AUDIT,
  # mpirun exits 0). A signal to mpirun itself starts Open MPI's teardown instead
  # (docs/operations.md: 2 x SIGKILL_TIMEOUT_S, exit code 1).
  setsid "${cmd[@]}" < /dev/null &
  mp=$!
  echo "$mp" > "$RUN_DIR/mpirun.pid"
  stop_job() {
    local r0
    r0=$(cat "$RUN_DIR/rank0.pid" 2>/dev/null || true)
    if [ -n "$r0" ] && kill -0 "$r0" 2>/dev/null; then
      echo "launch: stopping: SIGTERM to rank 0 (pid $r0; it drains, then every rank exits; again to exit at once)" >&2
      kill -TERM "$r0"
    else
      echo "launch: stopping: rank 0 not serving yet; SIGTERM to mpirun (pid $mp)" >&2
      kill -TERM "$mp" 2>/dev/null
    fi
  }
  trap stop_job INT TERM HUP
  while :; do
    rc=0; wait "$mp" || rc=$?
    kill -0 "$mp" 2>/dev/null || break
  done
  # A wait cut short by the trap (> 128) just as mpirun ended: its own status, if kept.
  if [ "$rc" -gt 128 ]; then r=0; wait "$mp" 2>/dev/null || r=$?; [ "$r" = 127 ] || rc=$r; fi
  rm -f "$RUN_DIR/mpirun.pid"
  echo "launch: mpirun exited with code $rc" >&2
  exit "$rc"
fi

setsid "${cmd[@]}" > "$RUN_DIR/server.log" 2>&1 < /dev/null &
echo $! > "$RUN_DIR/mpirun.pid"
echo "launch: mpirun pid $(cat "$RUN_DIR/mpirun.pid"), log $RUN_DIR/server.log" >&2
url="http://$HOST:$PORT/health"
[ "$HOST" = 0.0.0.0 ] && url="http://127.0.0.1:$PORT/health"
for _ in $(seq 1 $((WAIT_S * 4))); do
  if ! kill -0 "$(cat "$RUN_DIR/mpirun.pid")" 2>/dev/null; then
    echo "launch: the server exited; last lines of the log:" >&2
    tail -n 20 "$RUN_DIR/server.log" >&2
    exit 1
  fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = 200 ]; then
    echo "launch: ready at http://$HOST:$PORT (OpenAI API under /v1)" >&2
    exit 0
  fi
  sleep 0.25
done
echo "launch: not ready after $WAIT_S s; see $RUN_DIR/server.log (stop it with launch/stop_server.sh)" >&2
exit 1
