#!/usr/bin/env bash
# Stop a server started by a launch/launch_*.sh script (for launch_replicas.sh: the router,
# then every replica as below): SIGTERM to rank 0 (it drains,
# tells every rank to shut down, and each logs its EXIT AUDIT line), then, if anything
# is still running after STOP_TIMEOUT seconds, SIGTERM and finally SIGKILL to mpirun.
# Then it checks every host of the hostfile (remote hosts through $RSH, default ssh;
# or, when RSH is unset, through $RSH_AGENT, the agent the launch used) for this run's
# processes, found by the run's own ids, never by name: ranks (RUN_DIR's rank log on
# their command line) and mpirun's daemons and their agent shells (the job's HNP URI,
# RUN_DIR/mpirun.uri). It SIGKILLs each by pid (a frozen rank, one that mpirun could not
# reach, the daemon on a cut host), reports what it ended, and prints the EXIT AUDIT
# lines. Exit code 1 if one survives that or a host cannot be checked. Environment: RUN_DIR (default run/), STOP_TIMEOUT (100: above the default drain 30 s + heartbeat 60 s), HOSTFILE (default
# hostfiles/localhost), RSH, RSH_AGENT.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/run}
STOP_TIMEOUT=${STOP_TIMEOUT:-100}  # > --drain-timeout-s (30) + --heartbeat-timeout-s (60)
# A launch_replicas.sh run: stop the router, then each replica (RUN_DIR/replicas lists their run dirs).
if [ -f "$RUN_DIR/replicas" ]; then
  rp=$(cat "$RUN_DIR/router.pid" 2>/dev/null || true)
  if [ -n "$rp" ] && kill -0 "$rp" 2>/dev/null; then
    echo "stop: SIGTERM to the router (pid $rp): it drains (--drain-timeout-s, 30 s by default)" >&2
    kill -TERM "$rp"
    for _ in $(seq 1 $((STOP_TIMEOUT * 4))); do kill -0 "$rp" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$rp" 2>/dev/null; then echo "stop: SIGKILL to the router" >&2; kill -KILL "$rp"; fi
  fi
  rm -f "$RUN_DIR/router.pid"
  rc=0
  while read -r dir; do
    [ -n "$dir" ] || continue
    RUN_DIR="$dir" bash "$0" || rc=1
  done < "$RUN_DIR/replicas"
  exit $rc
fi
mpid=$(cat "$RUN_DIR/mpirun.pid" 2>/dev/null || true)
r0=$(cat "$RUN_DIR/rank0.pid" 2>/dev/null || true)
alive() { [ -n "$mpid" ] && kill -0 "$mpid" 2>/dev/null; }
stop_mpirun() {
  # A rank 0 that already exited (MPI_Abort) can be a zombie until mpirun reaps it.
  if [ -n "$r0" ] && kill -0 "$r0" 2>/dev/null && ! grep -q '^State:.*zombie' "/proc/$r0/status" 2>/dev/null; then
    echo "stop: SIGTERM to rank 0 (pid $r0)" >&2
    kill -TERM "$r0"
  else
    echo "stop: rank 0 pid unknown or exited; SIGTERM to mpirun (pid $mpid)" >&2
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
}
if alive; then
  stop_mpirun
else
  # Still look on every host below: ranks mpirun could not reach may be left.
  echo "stop: no server running from $RUN_DIR" >&2
fi
rm -f "$RUN_DIR/mpirun.pid" "$RUN_DIR/rank0.pid"
# Every rank has "$RUN_DIR/rank{rank}.log" on its command line: look for it on each host.
HOSTFILE=${HOSTFILE:-$ROOT/hostfiles/localhost}
left=0
# on_host HOST COMMAND: run the shell command on that host (here for this machine).
# shellcheck disable=SC2086  # RSH and RSH_AGENT may carry arguments ("ssh -p 2222")
on_host() {
  case "$1" in
    localhost|127.0.0.1|"$(hostname)"|"$(hostname -f 2>/dev/null)") sh -c "$2" ;;
    *) if [ -z "${RSH:-}" ] && [ -n "${RSH_AGENT:-}" ]; then
         timeout 15 $RSH_AGENT "$1" "$2"
       else
         timeout 15 ${RSH:-ssh} -o BatchMode=yes -o ConnectTimeout=5 "$1" "$2"
       fi ;;
  esac
}
# This run's processes on a host, by the run's own ids (never by a program's name):
# ranks carry "$RUN_DIR/rank{rank}.log" on their command line, and mpirun's daemons
# (orted) and the agent's shells that start them carry the job's HNP URI (written by
# mpirun --report-uri at launch). The scan prints "PID NAME" per process and skips
# itself (its own command line names the ids too).
uri=$(head -n 1 "$RUN_DIR/mpirun.uri" 2>/dev/null | tr -d '\r' || true)
jobfam=${uri%%;*}; hnp=${uri#*;}; hnp=${hnp%%;*}
scan_script() {  # $1: extra shell to run on the found PIDs ("" or kill)
  cat <<EOF
: shardlm-stop-scan
for p in /proc/[0-9]*; do
  c=\$(tr '\\0' ' ' < \$p/cmdline 2>/dev/null) || continue
  case "\$c" in *shardlm-stop-scan*) continue ;; esac
  hit=
  case "\$c" in *'$RUN_DIR/rank{rank}.log'*) hit=1 ;; esac
  if [ -n '$jobfam' ] && [ -n '$hnp' ]; then case "\$c" in *'$jobfam'*'$hnp'*) hit=1 ;; esac; fi
  [ -n "\$hit" ] || continue
  pid=\${p#/proc/}; name=\$(basename "\${c%% *}")
  echo "\$pid \$name"
  $1
done
exit 0
EOF
}
for h in $(grep -v '^\s*#' "$HOSTFILE" 2>/dev/null | awk 'NF {print $1}' | sort -u); do
  out=$(on_host "$h" "$(scan_script '')" 2>/dev/null); rc=$?
  if [ $rc -ne 0 ]; then echo "stop: cannot check $h for this run's processes (exit code $rc)" >&2; left=1; continue; fi
  [ -n "$out" ] || continue
  echo "stop: this run's processes still alive on $h: $(echo "$out" | tr '\n' ',' | sed 's/,$//'); SIGCONT + SIGKILL to each" >&2
  on_host "$h" "$(scan_script 'kill -CONT $pid 2>/dev/null; kill -KILL $pid 2>/dev/null')" >/dev/null 2>&1
  sleep 1
  out=$(on_host "$h" "$(scan_script '')" 2>/dev/null)
  if [ -n "$out" ]; then echo "stop: still alive on $h after SIGKILL: $(echo "$out" | tr '\n' ' ')" >&2; left=1
  else echo "stop: ended on $h by pid: the processes above" >&2; fi
done
rm -f "$RUN_DIR/mpirun.uri"
grep -h "EXIT AUDIT" "$RUN_DIR"/rank*.log 2>/dev/null || echo "stop: no EXIT AUDIT lines in $RUN_DIR/rank*.log" >&2
exit $left
