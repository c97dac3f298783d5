#!/usr/bin/env bash
# Compile time of the standard train step on XLA CPU, goacl against JAX, in alternating
# rounds, recorded under docs/results/:
#
#   bash bench/compile-time.sh                  # W64/B512, 3 rounds
#   CT_WIDTH=16 CT_BATCH=16 bash bench/compile-time.sh
#
# goacl: `acl hlo -graph bench -compile` (GoMLX builds the graph and its StableHLO, the
# plugin GOMLX_BACKEND names, default xla:cpu, compiles it; nothing runs). JAX:
# `bench/jax_step.py --compile-only` (jit tracing and lowering, then jaxlib's XLA compile).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${CT_WIDTH:-64} B=${CT_BATCH:-512} ROUNDS=${CT_ROUNDS:-3}
OUTDIR=${CT_OUT:-docs/results}
NAME=${CT_NAME:-xla-cpu-compile-w$W-b$B}
PY=$(bash scripts/install-jax.sh | tail -n1)
bash scripts/install-xla-cpu.sh >/dev/null
mkdir -p build "$OUTDIR"
go build -o build/acl ./cmd/acl
{
  echo "# command: CT_WIDTH=$W CT_BATCH=$B CT_ROUNDS=$ROUNDS bash bench/compile-time.sh"
  echo "# built from $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+local changes'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in $(seq 1 "$ROUNDS"); do
    echo "round $r goacl $(GOMLX_BACKEND=${GOMLX_BACKEND:-xla:cpu} ./build/acl hlo -graph bench -width "$W" -batch "$B" -compile | head -n1)"
    echo "round $r jax $("$PY" bench/jax_step.py --width "$W" --batch "$B" --compile-only | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("jax %s: trace+lower %.2f s; XLA compile: %.2f s (XLA_FLAGS=%s)" % (d["jaxlib"], d["lower_seconds"], d["compile_seconds"], d["XLA_FLAGS"]))')"
  done
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUTDIR/$NAME.txt"
