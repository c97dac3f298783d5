#!/usr/bin/env bash
# The GPU slice of the A-InfoNCE ablation (issue 19, docs/results/cpu-ablation): the rows
# of the CPU ablation (RoCL and AdvCL × {base, IP}, the random encoder, supervised PGD-AT)
# on CIFAR-10 with ResNet-18 width 64 and batch 512 (`acl experiment -preset gpu-slice`),
# for as many epochs as fit in about 8 minutes of one GPU, with the evaluation (SLF with
# PGD-20 on 2,000 test images, AutoAttack on 500 for seed 1) and the report. Run from the
# repository root on a GPU machine with build/gpu/ from scripts/gpu-build.sh carried along
# (the binary; the data as below), like scripts/gpu-check.sh (docs/gpu.md).
#
#   1. bring-up: nvidia-smi, the CUDA PJRT plugin JAX installed, `acl bench -device-check`;
#      stops early when it fails;
#   2. the step: `acl bench` times RoCL's W64/B512 step and its PGD-20 evaluation batch on
#      the card (the first step includes XLA's compilation);
#   3. the plan: from those times, the epochs (and, when even one epoch of 3 seeds does not
#      fit, 1 seed, then fewer images) that fit the time left, with AdvCL's and PGD-AT's
#      steps at ADVCL_RATIO and AT_RATIO times RoCL's (measured on the CPU:
#      docs/results/cpu-ablation/README.md) and the evaluation and compilations budgeted;
#   4. `acl experiment -preset gpu-slice -epochs E -seeds N ...` under the time left
#      (resumable: rerun the script and it continues), then the report, written also when
#      the time ran out (unfinished pieces show as such).
#
# Data: DATA (a folder with all of CIFAR-10's binary files), else the first of
# $ACL_CIFAR10_DIR, shared/datasets/cifar-10, ../shared/datasets/cifar-10 and the user cache
# (~/.cache/goacl/datasets/cifar-10) that holds it, else the 10,000-image subset gpu-build.sh
# carried (build/gpu/data, under the device's 64 MiB limit), rebuilt as five copies, so an
# "epoch" is five passes over 10,000 images; the report says which (the plan's note).
#
# Without a GPU (no nvidia-smi) it is a dry run on the XLA CPU plugin (the pure-Go backend
# if none is installed) at toy size: every stage runs, so the script is tested before GPU
# time is spent on it (docs/results/gpu-slice-dryrun.log).
#
# Environment:
#   OUT               where the log, the bench and the results folder go (the device machine
#                     sets it; default build/gpu-slice-out); the run directories go to RUNS
#                     (default ${TMPDIR:-/tmp}/goacl-gpu-slice/runs: checkpoints are large)
#   GPU_SLICE_BUDGET  seconds this script may use in all (default 540; give the device call
#                     a timeout_s >= this + 30)
#   GPU_BUILD_DIR     the output of gpu-build.sh (default build/gpu); ACL the acl binary
#                     (default $GPU_BUILD_DIR/acl)
#   ADVCL_RATIO, AT_RATIO  AdvCL's and PGD-AT's step time over RoCL's (default 1.7, 0.7: the CPU
#                     time of their pretrainings in the CPU ablation, 572–591 and 230 s against 338 s)
#   MAX_EPOCHS        the most epochs to plan (default 100 on a GPU, 2 in a dry run)
set -uo pipefail
cd "$(dirname "$0")/.."

START=$(date +%s)
BUDGET=${GPU_SLICE_BUDGET:-540}
BUILD=${GPU_BUILD_DIR:-build/gpu}
OUT=${OUT:-build/gpu-slice-out}
RUNS=${RUNS:-${TMPDIR:-/tmp}/goacl-gpu-slice/runs}
ACL=${ACL:-$BUILD/acl}
mkdir -p "$OUT"
LOG="$OUT/gpu-slice.log"
: >"$LOG"

TAG=gpu-slice
# log, left, stage, subset_data, unpack_acl, bring_up
source scripts/gpu-lib.sh
unpack_acl

if [ ! -x "$ACL" ]; then
  log "FAIL: $ACL not found: run 'bash scripts/gpu-build.sh' first and carry $BUILD (or set ACL)"
  exit 1
fi
[ -f "$BUILD/BUILD_INFO" ] && log "build: $(tr '\n' ';' <"$BUILD/BUILD_INFO")"
log "budget ${BUDGET}s; results in $OUT/results, runs in $RUNS"

# ---- 1. bring-up ---------------------------------------------------------------------------
bring_up
if [ $GPU = 1 ]; then
  export XLA_FLAGS="${XLA_FLAGS:---xla_gpu_experimental_enable_fusion_autotuner=false}"
  W=64 B=512 MAXE=${MAX_EPOCHS:-100}
  SHRINK=()
else
  W=4 B=32 MAXE=${MAX_EPOCHS:-2}
  # The gpu-slice plan shrunk to toy size: the same rows, pieces and report.
  SHRINK=(-width 4 -batch 32 -subset 256 -eval-train 256 -eval-test 100 -autoattack-images 16)
fi
# ---- data ----------------------------------------------------------------------------------
complete() { [ -f "$1/data_batch_5.bin" ] && [ -f "$1/test_batch.bin" ]; }
NOTE=""
DATADIR=""
CANDIDATES=("${DATA:-}" "${ACL_CIFAR10_DIR:-}" shared/datasets/cifar-10 ../shared/datasets/cifar-10 "$HOME/.cache/goacl/datasets/cifar-10")
# A dry run uses the carried subset when there is one: what the device machine will have.
if [ $GPU = 0 ] && [ -f "$BUILD/data/train-10000.bin" ]; then CANDIDATES=("${DATA:-}"); fi
for d in "${CANDIDATES[@]}"; do
  if [ -n "$d" ] && complete "$d"; then
    DATADIR=$(cd "$d" && pwd)
    break
  fi
done
if [ -z "$DATADIR" ] && [ -f "$BUILD/data/train-10000.bin" ]; then
  DATADIR=${TMPDIR:-/tmp}/goacl-gpu-slice/cifar-10-subset
  subset_data "$DATADIR"
  NOTE="Data on this machine: not all of CIFAR-10 but the 10,000-image training subset and 2,000 test images that scripts/gpu-build.sh carries, each repeated five times, so one epoch is five passes over the 10,000 images and the test images repeat."
fi
if [ -z "$DATADIR" ]; then
  DATADIR="$HOME/.cache/goacl/datasets/cifar-10"
  log "data: no complete CIFAR-10 folder and no carried subset: acl downloads CIFAR-10 into $DATADIR (needs the network)"
fi
log "data: $DATADIR${NOTE:+ (the carried subset, five times)}"

if ! stage "1 device check" 20 150 "$ACL" bench -device-check; then
  log "FAIL: the device check failed (see above); stopping early to save the budget"
  exit 1
fi

# ---- 2. the step on this device ------------------------------------------------------------
BENCH="$OUT/bench-w$W-b$B.json"
if ! stage "2 step time W$W/B$B" 30 300 "$ACL" bench -width "$W" -batch "$B" -steps 3 -rounds 1 -eval-batches 1 -peer none -out "$BENCH"; then
  log "FAIL: the step could not be timed; stopping"
  exit 1
fi

# ---- 3. the plan that fits -----------------------------------------------------------------
PLAN_ARGS=(-preset gpu-slice "${SHRINK[@]}")
if [ -f "$RUNS/plan.json" ]; then
  # A rerun continues the runs folder's plan (acl experiment refuses another one).
  read -r EPOCHS SEEDS SUBSET < <(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(p['scale']['epochs'], len(p['seeds']), p['scale']['subset'] or -1)" "$RUNS/plan.json")
  log "continuing the plan in $RUNS/plan.json"
else
  "$ACL" experiment "${PLAN_ARGS[@]}" -runs "$RUNS" -print-plan >"$OUT/plan-preset.json"
  read -r EPOCHS SEEDS SUBSET < <(python3 - "$BENCH" "$OUT/plan-preset.json" "$(($(left) - 90))" "$MAXE" "${ADVCL_RATIO:-1.7}" "${AT_RATIO:-0.7}" <<'EOF' 2>>"$LOG"
import json, sys
bench = json.load(open(sys.argv[1]))["go"]
plan = json.load(open(sys.argv[2]))
left, maxe, advcl, at = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
s = bench["summary"]["train_median_seconds"]          # RoCL's step of B images
ev = bench["summary"]["eval_median_seconds"]          # PGD-20 of B images
compile_s = max(bench["train_seconds"][0] - s, 0.0)   # the first step's extra: XLA compiling
sc, e = plan["scale"], plan["eval"]
B = sc["batch_size"]
n_train = sc["subset"] or 50000
fwd = ev / 61.0                                       # a forward of B images (PGD-20: 21 forwards, 20 backwards)
rows = plan["rows"]
step_cost = sum({"rocl": 1.0, "advcl": advcl, "supervised": at}[r["method"]] for r in rows if r.get("baseline") != "random-init")
def cost(seeds, images, epochs):
    pretrain = seeds * epochs * (images // B) * s * step_cost
    knn = seeds * len(rows) * (epochs + 1) * (images + sc["knn"]["test_images"]) / B * fwd
    slf = seeds * len(rows) * (e["epochs"] * (e["train_subset"] or 50000) / B * fwd * 1.2 + e["test_subset"] / B * ev)
    aa = len(rows) * 6 * e["autoattack_images"] / B * ev  # APGD-CE ≈ 5 PGD-20s, the rest on the few robust points
    comp = seeds * len(rows) * 3 * compile_s              # each run compiles its step, its features and its evaluation
    return pretrain + knn + slf + aa + comp
budget = left * 0.85
print("gpu-slice plan: RoCL step %.3fs, PGD-20 batch %.3fs, compile %.1fs; %d training images; budget %.0fs" % (s, ev, compile_s, n_train, budget), file=sys.stderr)
for seeds in (3, 1):
    fits = [ep for ep in range(1, maxe + 1) if cost(seeds, n_train, ep) <= budget]
    if fits:
        ep = max(fits)
        print("gpu-slice plan: %d seeds x %d epochs, estimated %.0fs" % (seeds, ep, cost(seeds, n_train, ep)), file=sys.stderr)
        print(ep, seeds, sc["subset"] or -1)
        break
else:
    images = n_train
    while images > 4 * B and cost(1, images, 1) > budget:
        images //= 2
    print("gpu-slice plan: 1 seed x 1 epoch on %d images, estimated %.0fs" % (images, cost(1, images, 1)), file=sys.stderr)
    print(1, 1, images)
EOF
  )
fi
if [ -z "${EPOCHS:-}" ]; then
  log "FAIL: could not plan from $BENCH (see the log)"
  exit 1
fi
grep "gpu-slice plan:" "$LOG" | tail -n 2
log "plan: $EPOCHS epoch(s), $SEEDS seed(s), subset $SUBSET (-1: all) in the $(left)s left"

# ---- 4. the experiment and its report ------------------------------------------------------
ARGS=("${PLAN_ARGS[@]}" -epochs "$EPOCHS" -seeds "$SEEDS" -subset "$SUBSET" -data "$DATADIR" -runs "$RUNS" -results "$OUT/results")
[ -n "$NOTE" ] && ARGS+=(-note "$NOTE")
stage "4 experiment" 60 100000 "$ACL" experiment "${ARGS[@]}"
BUDGET=$((BUDGET + 60)) stage "4 report" 5 40 "$ACL" experiment -report-only -runs "$RUNS" -results "$OUT/results" | tail -n 30
log "done in $(($(date +%s) - START))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ') results: $(ls "$OUT/results" 2>/dev/null | tr '\n' ' ')"
