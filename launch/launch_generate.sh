#!/usr/bin/env bash
# Generate text with tensor parallelism over MPI ranks.
# Environment (all optional):
#   MODEL     model path (default: ../shared/models/stories260K/stories260K.gguf)
#   RANKS     number of ranks (default 2)
#   HOSTFILE  MPI hostfile (default hostfiles/localhost)
#   PROMPT    prompt text (default "Once upon a time")
#   N         tokens to generate (default 64)
#   THREADS   compute threads per rank (default: cores / ranks on the node)
#   MPI_ARGS  extra mpirun arguments (e.g. "--oversubscribe")
#   RSH_AGENT how mpirun reaches the other hosts (--mca plm_rsh_agent; default ssh)
#   NET       the network MPI uses between hosts (e.g. 10.0.0.0/24 or eth1): btl and oob
#             TCP restricted to it, --mca btl tcp,self (as launch_baseline.sh)
# Extra command-line arguments are passed to `shardlm generate`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${MODEL:-$ROOT/../shared/models/stories260K/stories260K.gguf}
RANKS=${RANKS:-2}
HOSTFILE=${HOSTFILE:-$ROOT/hostfiles/localhost}
PROMPT=${PROMPT:-Once upon a time}
N=${N:-64}
BIN=${SHARDLM_BIN:-$ROOT/build/shardlm}
if [ ! -x "$BIN" ]; then echo "launch_generate: $BIN not built (run tools/setup.sh)" >&2; exit 1; fi
if [ ! -e "$MODEL" ]; then echo "launch_generate: model $MODEL not found (set MODEL=...)" >&2; exit 1; fi
extra=()
if [ -n "${THREADS:-}" ]; then extra+=(--threads "$THREADS"); fi
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpi=(--bind-to none)
if [ -n "${RSH_AGENT:-}" ]; then mpi+=(--mca plm_rsh_agent "$RSH_AGENT"); fi
if [ -n "${NET:-}" ]; then mpi+=(--mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" --mca btl "tcp,self"); fi
# shellcheck disable=SC2086
exec mpirun -n "$RANKS" --hostfile "$HOSTFILE" "${mpi[@]}" ${MPI_ARGS:-} \
  "$BIN" generate --model "$MODEL" --prompt "$PROMPT" -n "$N" "${extra[@]}" "$@"
