#!/usr/bin/env bash
# Stop a server started by a launch/launch_*.sh script: SIGTERM to rank 0 (it drains,
# tells every rank to shut down, and each logs its EXIT AUDIT line), then, if anything
# is still running after STOP_TIMEOUT seconds, SIGTERM and finally SIGKILL to mpirun.
# Prints the EXIT AUDIT lines. Environment: RUN_DIR (default run/), STOP_TIMEOUT (60).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/run}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}
mpid=$(cat "$RUN_DIR/mpirun.pid" 2>/dev/null || true)
r0=$(cat "$RUN_DIR/rank0.pid" 2>/dev/null || true)
alive() { [ -n "$mpid" ] && kill -0 "$mpid" 2>/dev/null; }
if ! alive; then
  echo "stop: no server running from $RUN_DIR" >&2
  rm -f "$RUN_DIR/mpirun.pid" "$RUN_DIR/rank0.pid"
  exit 0
fi
if [ -n "$r0" ] && kill -0 "$r0" 2>/dev/null; then
  echo "stop: SIGTERM to rank 0 (pid $r0)" >&2
  kill -TERM "$r0"
else
  echo "stop: rank 0 pid unknown; SIGTERM to mpirun (pid $mpid)" >&2
  kill -TERM "$mpid"
fi
for _ in $(seq 1 $((STOP_TIMEOUT * 4))); do alive || break; sleep 0.25; done
if alive; then
  echo "stop: still running after $STOP_TIMEOUT s; SIGTERM to mpirun" >&2
  kill -TERM "$mpid" 2>/dev/null
  for _ in $(seq 1 40); do alive || break; sleep 0.25; done
fi
if alive; then
  echo "stop: SIGKILL to the process group of mpirun" >&2
  kill -KILL -- "-$mpid" 2>/dev/null || kill -KILL "$mpid" 2>/dev/null
fi
rm -f "$RUN_DIR/mpirun.pid" "$RUN_DIR/rank0.pid"
grep -h "EXIT AUDIT" "$RUN_DIR"/rank*.log 2>/dev/null || echo "stop: no EXIT AUDIT lines in $RUN_DIR/rank*.log" >&2
exit 0
