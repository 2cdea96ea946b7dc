#!/usr/bin/env bash
# shardlm side by side with llama.cpp on this machine (issue 18's targets), interleaved so
# that a shared machine's load hits both engines alike: each round runs every case for
# shardlm and for llama.cpp back to back (the order flips every round), every figure is
# logged with the 1-minute load average taken just before it, and the summary gives
# medians over the rounds and the median of the per-round ratios (shardlm / llama.cpp).
#
#   perf:  pp$P and tg$N per type, `shardlm-perf --isa LEVEL` vs llama-bench of the peer
#          build for that level (avx2: PEER_AVX2, built with -DGGML_NATIVE=OFF
#          -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF; native: PEER_NATIVE)
#   batch: shardlm-perf -p 0 -n $N -b $BATCH (aggregate tok/s of B sequences per step)
#   serve: `shardlm serve` (1 rank, --max-num-seqs S) vs llama-server (-np S), the same
#          GGUF, threads and client (tools/bench-peer-client.py: S streams, SERVE_TOKENS
#          tokens each, ignore_eos), for S in $STREAMS
#
# Usage: PEER_AVX2=DIR PEER_NATIVE=DIR tools/bench-peer.sh [perf] [batch] [serve]  (default: all)
# DIR holds llama-bench and llama-server. PEER_AVX2_LIBS (optional): a directory put first on
# LD_LIBRARY_PATH for the avx2 peer, e.g. an AVX2 build's bin/ holding only libggml-cpu.so
# (the one library whose code depends on the ISA flags) with PEER_AVX2=PEER_NATIVE's bin.
# PEER_NATIVE_LIBS (optional): the same for the native level, e.g. a libggml-cpu.so built
# with GGML_NATIVE=OFF and the CPU's AVX-512 flags named (GGML_NATIVE also compiles ggml's
# AMX backend, whose tiles die with SIGILL on a KVM guest that does not grant them).
# Environment (defaults): TYPES ("q4_0 q8_0 q4_k_m
# f16"), P (512), N (128), ROUNDS (3), THREADS (2), LEVELS ("avx2 native"), BATCH
# (1,4,8,16), STREAMS ("8 16"), SERVE_TYPE (q4_0), SERVE_TOKENS (64), SERVE_REPS (3),
# BENCH_MODELS (/tmp/shardlm-bench: tinyllama-1.1b-TYPE.gguf), OUT (/tmp/bench-peer-DATE:
# raw.tsv, logs, summary.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=${SHARDLM_PERF:-$ROOT/build/shardlm-perf}
DIR=${BENCH_MODELS:-/tmp/shardlm-bench}
TYPES=${TYPES:-q4_0 q8_0 q4_k_m f16}
P=${P:-512}; N=${N:-128}; ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}
LEVELS=${LEVELS:-avx2 native}; BATCH=${BATCH:-1,4,8,16}
STREAMS=${STREAMS:-8 16}; SERVE_TYPE=${SERVE_TYPE:-q4_0}; SERVE_TOKENS=${SERVE_TOKENS:-64}; SERVE_REPS=${SERVE_REPS:-3}
OUT=${OUT:-/tmp/bench-peer-$(date +%Y%m%d-%H%M%S)}
PARTS=${*:-perf batch serve}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
[ -f "$RAW" ] || printf 'round\tpart\ttype\tlevel\tengine\ttest\ttok_s\tload1\n' > "$RAW"

peer_env() {
  if [ "$1" = avx2 ] && [ -n "${PEER_AVX2_LIBS:-}" ]; then echo "LD_LIBRARY_PATH=$PEER_AVX2_LIBS"; fi
  if [ "$1" = native ] && [ -n "${PEER_NATIVE_LIBS:-}" ]; then echo "LD_LIBRARY_PATH=$PEER_NATIVE_LIBS"; fi
}
peer_dir() { if [ "$1" = avx2 ]; then echo "${PEER_AVX2:?set PEER_AVX2}"; else echo "${PEER_NATIVE:?set PEER_NATIVE}"; fi; }
model() { echo "$DIR/tinyllama-1.1b-$1.gguf"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RAW"; }

{
  echo "date: $(date -u '+%F %T UTC')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "cores: $(nproc); threads per engine: $THREADS"
  echo "shardlm: $(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" rev-parse --abbrev-ref HEAD))"
  for l in $LEVELS; do
    echo "llama.cpp $l: $(peer_dir "$l") $(peer_env "$l")"
    env $(peer_env "$l") ldd "$(peer_dir "$l")/llama-bench" 2>&1 | grep ggml-cpu || true
  done
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# shardlm-perf's table -> "test<TAB>median t/s" lines.
perf_rows() { awk -F'|' '/^\| tinyllama/ {gsub(/ /, "", $6); gsub(/^ +| +$/, "", $6); gsub(/ +/, "", $8); print $6 "\t" $8}'; }

shardlm_perf() {  # round type level args...
  local r=$1 t=$2 l=$3; shift 3
  local ld; ld=$(load1)
  local log="$OUT/shardlm-$t-$l-r$r-$RANDOM.log"
  mpirun -n 1 --bind-to none "$PERF" -m "$(model "$t")" -t "$THREADS" -r 1 --isa "$l" "$@" > "$log" 2>&1 || { echo "shardlm-perf failed: $log" >&2; return 0; }
  perf_rows < "$log" | while IFS=$'\t' read -r test v; do record "$r" "$part" "$t" "$l" shardlm "$test" "$v" "$ld"; done
}

llama_bench() {  # round type level
  local r=$1 t=$2 l=$3 ld; ld=$(load1)
  local log="$OUT/llama-$t-$l-r$r.csv"
  env $(peer_env "$l") "$(peer_dir "$l")/llama-bench" -m "$(model "$t")" -t "$THREADS" -p "$P" -n "$N" -r 1 -o csv > "$log" 2>"$log.err" || { echo "llama-bench failed: $log.err" >&2; return 0; }
  python3 - "$log" <<'EOF' | while IFS=$'\t' read -r test v; do record "$r" "$part" "$t" "$l" llama.cpp "$test" "$v" "$ld"; done
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    p, n = int(row["n_prompt"]), int(row["n_gen"])
    print(f"{'pp%d' % p if p else 'tg%d' % n}\t{float(row['avg_ts']):.2f}")
EOF
}

run_perf() {
  part=perf
  for r in $(seq 1 "$ROUNDS"); do
    for t in $TYPES; do
      for l in $LEVELS; do
        echo "perf round $r: $t $l (load $(load1))" >&2
        if [ $((r % 2)) = 1 ]; then shardlm_perf "$r" "$t" "$l" -p "$P" -n "$N"; llama_bench "$r" "$t" "$l"
        else llama_bench "$r" "$t" "$l"; shardlm_perf "$r" "$t" "$l" -p "$P" -n "$N"; fi
      done
    done
  done
}

run_batch() {
  part=batch
  for r in $(seq 1 "$ROUNDS"); do
    for t in $TYPES; do
      for l in $LEVELS; do
        echo "batch round $r: $t $l (load $(load1))" >&2
        shardlm_perf "$r" "$t" "$l" -p 0 -n "$N" -b "$BATCH"
      done
    done
  done
}

# --- serve: both servers up at once (idle between runs), client runs alternate ---
# shardlm through launch/launch_baseline.sh (1 rank) and launch/stop_server.sh.
LLAMA_PID=""; SRUN=""
stop_servers() {
  if [ -n "$SRUN" ]; then RUN_DIR=$SRUN STOP_TIMEOUT=60 "$ROOT/launch/stop_server.sh" > "$SRUN/stop.log" 2>&1 || true; SRUN=""; fi
  if [ -n "$LLAMA_PID" ]; then kill "$LLAMA_PID" 2>/dev/null || true; wait "$LLAMA_PID" 2>/dev/null || true; LLAMA_PID=""; fi
}
trap stop_servers EXIT
wait_health() {  # url seconds
  local i
  for i in $(seq 1 "$2"); do curl -sf "$1/health" > /dev/null 2>&1 && return 0; sleep 1; done
  echo "server at $1 not healthy after $2 s" >&2; return 1
}
run_serve() {
  part=serve
  local m; m=$(model "$SERVE_TYPE")
  for l in $LEVELS; do
    for s in $STREAMS; do
      echo "serve: $l, $s streams: starting servers (load $(load1))" >&2
      SRUN=$OUT/run-shardlm-$l-$s
      SHARDLM_ISA=$l MODEL=$m RANKS=1 THREADS=$THREADS PORT=18431 RUN_DIR=$SRUN WAIT_S=900 \
        "$ROOT/launch/launch_baseline.sh" --max-num-seqs "$s" 2> "$OUT/launch-shardlm-$l-$s.log" || { stop_servers; continue; }
      env $(peer_env "$l") "$(peer_dir "$l")/llama-server" -m "$m" --host 127.0.0.1 --port 18432 -t "$THREADS" -tb "$THREADS" -np "$s" \
        -c $((s * 512)) > "$OUT/serve-llama-$l-$s.log" 2>&1 &
      LLAMA_PID=$!
      wait_health http://127.0.0.1:18432 900 || { stop_servers; continue; }
      for r in $(seq 1 "$SERVE_REPS"); do
        local order="18431 18432"; [ $((r % 2)) = 0 ] && order="18432 18431"
        for port in $order; do
          local eng=shardlm; [ "$port" = 18432 ] && eng=llama.cpp
          local ld line; ld=$(load1)
          line=$(python3 "$ROOT/tools/bench-peer-client.py" "http://127.0.0.1:$port" "$s" --max-tokens "$SERVE_TOKENS") || { echo "client failed ($eng)" >&2; continue; }
          echo "  $eng: $line" >&2
          record "$r" serve "$SERVE_TYPE" "$l" "$eng" "streams$s" "${line##*tok_s=}" "$ld"
        done
      done
      stop_servers
    done
  done
}

for p in $PARTS; do "run_$p"; done

# Summary: per (part, type, level, test) median t/s of each engine over the rounds, the
# median of the per-round ratios, and the load averages seen.
python3 - "$RAW" > "$OUT/summary.md" <<'EOF'
import collections, csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = collections.defaultdict(dict)
for r in rows:
    by[(r["part"], r["type"], r["level"], r["test"])].setdefault(r["engine"], {})[r["round"]] = (float(r["tok_s"]), float(r["load1"]))
print("| part | type | level | test | shardlm t/s | llama.cpp t/s | ratio (median of rounds) | rounds | load1 range |")
print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
for (part, t, l, test), e in sorted(by.items()):
    a, b = e.get("shardlm", {}), e.get("llama.cpp", {})
    med = lambda d: f"{statistics.median(v[0] for v in d.values()):.2f}" if d else "-"
    ratios = [a[k][0] / b[k][0] for k in a if k in b and b[k][0] > 0]
    loads = [v[1] for d in (a, b) for v in d.values()]
    print(f"| {part} | {t} | {l} | {test} | {med(a)} | {med(b)} | {statistics.median(ratios):.2f} |" if ratios else
          f"| {part} | {t} | {l} | {test} | {med(a)} | {med(b)} | - |", end="")
    print(f" {max(len(a), len(b))} | {min(loads):.1f}-{max(loads):.1f} |")
EOF
cat "$OUT/summary.md"
echo "raw figures: $RAW" >&2
