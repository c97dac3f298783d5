#!/usr/bin/env bash
# Runs the standard speed benchmark and records it under docs/results/:
#
#   bash bench/run.sh                       # width 16, batch 16 (the issue's CPU figure)
#   BENCH_NAME=bench-cpu-w32-b32 bash bench/run.sh -width 32 -batch 32 -rounds 3
#
# It builds cmd/acl into build/, then runs `acl bench` with the goacl step, the same step
# on the engine without the fast kernels (-baseline goacl:kernels=simplego, the "before"),
# and the PyTorch peer (bench/pytorch_step.py, /usr/bin/python3 with Debian's
# python3-torch) interleaved round by round, and saves the console output (.txt, with the
# exact command) and the full report (.json: every timing, CPU times, versions).
# Extra arguments are passed to `acl bench` and override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${BENCH_NAME:-bench-cpu-w16-b16}
OUTDIR=${BENCH_OUT:-docs/results}
mkdir -p build "$OUTDIR"
go build -o build/acl ./cmd/acl
ARGS=(bench -width 16 -batch 16 -steps 2 -rounds 5 -eval-batches 1 -baseline goacl:kernels=simplego
  -out "$OUTDIR/$NAME.json" "$@")
{
  echo "# command: ${GOMLX_BACKEND:+GOMLX_BACKEND=$GOMLX_BACKEND }./build/acl ${ARGS[*]}"
  echo "# built from $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+local changes'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  ./build/acl "${ARGS[@]}" 2>&1 | grep -v '^SimpleGo backend: parallelism'
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUTDIR/$NAME.txt"
