#!/usr/bin/env bash
# Cold start through the router: one replica with --lazy-load (the model loads on the first
# request) and --test-load-delay-ms 200 (5 layers: ~1 s of loading), started fresh per run;
# time the first client request after the router reports the replica up. Ports 18500-18501.
# Prints one line per run: MODE first_request_s=SECONDS (3 runs per mode).
set -u
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for mode in prewarm no-prewarm prewarm no-prewarm prewarm no-prewarm; do
  D=/tmp/pw-$mode; rm -rf $D; mkdir -p $D
  RUN_DIR=$D/replica PORT=18501 RANKS=1 THREADS=1 MPI_ARGS=--oversubscribe WAIT_S=60 bash launch/launch_baseline.sh --lazy-load --test-load-delay-ms 200 >/dev/null 2>&1
  extra=""; [ $mode = no-prewarm ] && extra=--no-prewarm
  ./build/shardlm router --backend http://127.0.0.1:18501 --port 18500 --health-interval-s 0.1 $extra > $D/router.log 2>&1 &
  rpid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' localhost:18500/health)" = 200 ]; do sleep 0.02; done
  t=$(curl -s -o /dev/null -w '%{time_total}' localhost:18500/v1/completions -d '{"prompt":"Once upon a time","max_tokens":8,"temperature":0}')
  echo "$mode first_request_s=$t"
  kill $rpid; wait $rpid 2>/dev/null
  RUN_DIR=$D/replica bash launch/stop_server.sh >/dev/null 2>&1
done
