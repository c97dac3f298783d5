#!/usr/bin/env bash
# Separates "our graph" from "the compiler": the standard train step as goacl builds it and
# as JAX builds it, each compiled and run by goacl's XLA CPU plugin and by JAX's own XLA,
# in rotating rounds on the same machine:
#
#   bash bench/graph-swap.sh                    # W16/B16, 3 rounds, into docs/results/
#   SWAP_WIDTH=64 SWAP_BATCH=32 bash bench/graph-swap.sh
#
# Programs: `acl hlo -graph bench -stablehlo` (goacl's train step, as GoMLX hands it to
# XLA) and `bench/jax_step.py --stablehlo` (JAX's jit(train_step).lower(...).as_text()).
# Compilers: `acl hlo -run FILE` (the plugin GOMLX_BACKEND names, default xla:cpu, i.e.
# scripts/install-xla-cpu.sh's) and `jax_step.py --run-stablehlo FILE` (jaxlib's XLA,
# scripts/install-jax.sh's). Inputs are random, nothing is donated, each timing is the
# median of SWAP_REPS runs after one untimed run. SWAP_PLUGINS="a.so b.so" adds more
# goacl-side plugins (e.g. lammps-jax-pjrt-cpu's, JAX 0.11.2's XLA).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${SWAP_WIDTH:-16} B=${SWAP_BATCH:-16} ROUNDS=${SWAP_ROUNDS:-3} REPS=${SWAP_REPS:-5}
OUTDIR=${SWAP_OUT:-docs/results}
NAME=${SWAP_NAME:-xla-cpu-graph-swap-w$W-b$B}
PY=$(bash scripts/install-jax.sh | tail -n1)
plugin=$(bash scripts/install-xla-cpu.sh | tail -n1)
PLUGINS=("$plugin" ${SWAP_PLUGINS:-})
mkdir -p build "$OUTDIR"
go build -o build/acl ./cmd/acl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./build/acl hlo -graph bench -width "$W" -batch "$B" -stablehlo "$tmp/goacl.mlir" | tail -n1 >&2
"$PY" bench/jax_step.py --width "$W" --batch "$B" --stablehlo "$tmp/jax.mlir" >/dev/null
{
  echo "# command: SWAP_WIDTH=$W SWAP_BATCH=$B SWAP_ROUNDS=$ROUNDS SWAP_REPS=$REPS bash bench/graph-swap.sh"
  echo "# built from $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+local changes'), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# jax: $("$PY" -c 'import jax, jaxlib; print(jax.__version__, jaxlib.__version__)'); goacl plugins: ${PLUGINS[*]}"
  for r in $(seq 1 "$ROUNDS"); do
    for prog in goacl jax; do
      for p in "${PLUGINS[@]}"; do
        line=$(GOMLX_BACKEND="xla:$p" ./build/acl hlo -run "$tmp/$prog.mlir" -reps "$REPS")
        echo "round $r program $prog compiler plugin:$(basename "$(dirname "$p")")/$(basename "$p") ${line#*: }"
      done
      j=$("$PY" bench/jax_step.py --run-stablehlo "$tmp/$prog.mlir" --steps "$REPS")
      echo "round $r program $prog compiler jaxlib $(echo "$j" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("%d inputs, XLA compile %.2f s, run %.3f s (median; CPU %.3f s)" % (d["inputs"], d["compile_seconds"], d["median_run_seconds"], d["median_run_cpu_seconds"]))')"
    done
  done
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$tmp/log"
# Summary: median over rounds of each (program, compiler) cell.
python3 - "$tmp/log" <<'EOF' | tee -a "$tmp/log"
import re, sys, collections
cells = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ program (\S+) compiler (\S+) .*compile ([\d.]+) s, run ([\d.]+) s .*CPU ([\d.]+) s", line)
    if m:
        cells[(m.group(1), m.group(2))].append(tuple(float(x) for x in m.group(3, 4, 5)))
med = lambda v: sorted(v)[len(v) // 2]
print("# summary (medians over rounds): program x compiler -> compile s, run s (wall), run s (CPU)")
for (prog, comp), v in sorted(cells.items()):
    print("#   %-6s on %-45s compile %6.2f  run %.3f  CPU %.3f" % (prog, comp, med([x[0] for x in v]), med([x[1] for x in v]), med([x[2] for x in v])))
EOF
cp "$tmp/log" "$OUTDIR/$NAME.txt"
echo "written to $OUTDIR/$NAME.txt" >&2
