#!/usr/bin/env bash
# Stop a server started by a launch/launch_*.sh script: SIGTERM to rank 0 (it drains,
# tells every rank to shut down, and each logs its EXIT AUDIT line), then, if anything
# is still running after STOP_TIMEOUT seconds, SIGTERM and finally SIGKILL to mpirun.
# Prints the EXIT AUDIT lines, then checks that no rank is left on any host of the
# hostfile (remote hosts through $RSH, default ssh). Environment: RUN_DIR (default
# run/), STOP_TIMEOUT (60), HOSTFILE (default hostfiles/localhost), RSH.
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
# Every rank has "$RUN_DIR/rank{rank}.log" on its command line: look for it on each host.
HOSTFILE=${HOSTFILE:-$ROOT/hostfiles/localhost}
left=0
pattern="$RUN_DIR/rank[{]rank[}][.]log"
for h in $(grep -v '^\s*#' "$HOSTFILE" 2>/dev/null | awk 'NF {print $1}' | sort -u); do
  case "$h" in
    localhost|127.0.0.1|"$(hostname)"|"$(hostname -f 2>/dev/null)") out=$(pgrep -f -- "$pattern" || true) ;;
    *) out=$(${RSH:-ssh} -o BatchMode=yes -o ConnectTimeout=5 "$h" pgrep -f -- "'$pattern'" 2>/dev/null || true) ;;
  esac
  if [ -n "$out" ]; then echo "stop: rank processes still alive on $h: $out" >&2; left=1; fi
done
grep -h "EXIT AUDIT" "$RUN_DIR"/rank*.log 2>/dev/null || echo "stop: no EXIT AUDIT lines in $RUN_DIR/rank*.log" >&2
exit $left
