#!/usr/bin/env bash
# The one GPU check of this project (docs/gpu.md), run from the repository root on a GPU
# machine with build/gpu/ from scripts/gpu-build.sh carried along. In order, each stage
# under its own time limit, most decisive first, stopping early when bring-up fails:
#
#   1. bring-up: nvidia-smi -L; the CUDA PJRT plugin JAX installed (jax_plugins.xla_cuda13),
#      its version, found by GOMLX_BACKEND=xla:cuda through PJRT_PLUGIN_LIBRARY_PATH;
#      `acl bench -device-check` (a convolution, a matmul and a gradient on XLA against the
#      pure-Go backend);
#   2. census of the W64/B512 step as XLA receives it (`acl hlo`, no compile): the largest
#      intermediate tensor against the largest activation (the outer-product gradients of
#      the first GPU run were 16x);
#   3. compile time of that step alone (`acl hlo -compile`), with cuDNN autotuning on and
#      XLA's fusion autotuner off (--xla_gpu_experimental_enable_fusion_autotuner=false;
#      NOT --xla_gpu_autotune_level=0, which also skips cuDNN's algorithm choice);
#   4. the standard benchmark at W64/B512, goacl on XLA against PyTorch (CUDA) and JAX
#      (XLA CUDA) on the same card in the same run (`acl bench -peer pytorch,jax`), with
#      XLA's after-optimisation HLO dumped (summarised into hlo-summary.txt);
#   5. a short real RoCL-IP pretraining on the CIFAR-10 subset and the linear probe;
#   6. with what is left, the diagnosis of the first run's causes (from the XLA GPU
#      diagnosis kit): the same step with GoMLX's own outer-product matmul gradient
#      (GOACL_XLA_DOTGRAD=0), and with --xla_gpu_autotune_level=0, one timed step each.
#
# Without a GPU (no nvidia-smi) it is a dry run on the XLA CPU plugin
# (scripts/install-xla-cpu.sh; the pure-Go backend if none is installed) at toy size:
# every stage runs, with the GPU-only flags left out, so that the script is tested before
# GPU time is spent on it.
#
# Environment:
#   OUT               where the log and results go (the device machine sets it; default
#                     build/gpu-out); the device tool brings back at most 8 files
#   GPU_CHECK_BUDGET  seconds this script may use in all (default 540; give the device
#                     call a timeout_s >= this + 30)
#   GPU_BUILD_DIR     the output of gpu-build.sh (default build/gpu)
#   BENCH_WIDTH, BENCH_BATCH   the benchmark size on GPU (default 64 and 512)
#   BENCH_STEPS, BENCH_ROUNDS  steps per round and rounds on GPU (default 3 and 2)
set -uo pipefail
cd "$(dirname "$0")/.."

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-540}
BUILD=${GPU_BUILD_DIR:-build/gpu}
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
: >"$LOG"
ACL="$BUILD/acl"

TAG=gpu-check
# log, left, stage, subset_data, unpack_acl, bring_up
source scripts/gpu-lib.sh
unpack_acl

if [ ! -x "$ACL" ]; then
  log "FAIL: $ACL not found: run 'bash scripts/gpu-build.sh' first and carry $BUILD"
  exit 1
fi
log "build: $(tr '\n' ';' <"$BUILD/BUILD_INFO" 2>/dev/null)"
log "budget ${BUDGET}s, results in $OUT"

# ---- data: the carried subset as a folder the CIFAR-10 reader accepts ---------------------
DATA=${TMPDIR:-/tmp}/goacl-gpu-check/cifar-10
subset_data "$DATA"
log "data: $DATA (10,000 train images x5, 2,000 test images x5)"

# ---- 1. bring-up ------------------------------------------------------------------------
bring_up
NOFA="" DUMP="--xla_dump_to=$OUT/dump --xla_dump_hlo_as_text"
if [ $GPU = 1 ]; then
  NOFA="--xla_gpu_experimental_enable_fusion_autotuner=false"
  TORCH_DEVICE=cuda
  W=${BENCH_WIDTH:-64} B=${BENCH_BATCH:-512} STEPS=${BENCH_STEPS:-3} ROUNDS=${BENCH_ROUNDS:-2}
else
  TORCH_DEVICE=cpu
  W=8 B=8 STEPS=1 ROUNDS=1
fi
if ! stage "1 device check" 20 150 "$ACL" bench -device-check; then
  log "FAIL: the device check failed (see above); stopping early to save the budget"
  exit 1
fi
# Does this XLA know the fusion-autotuner flag? An unknown flag aborts XLA: probe it on the
# device check (small) before the big stages use it.
if [ -n "$NOFA" ] && ! XLA_FLAGS="$NOFA" timeout 120 "$ACL" bench -device-check >>"$LOG" 2>&1; then
  log "WARNING: this XLA rejects $NOFA; the stages below run without it (fusion autotuner ON)"
  NOFA=""
fi

# ---- 2. census of the step as XLA receives it --------------------------------------------
stage "2 census W${W}/B${B} (no compile)" 10 60 "$ACL" hlo -graph bench -width "$W" -batch "$B" | tail -n 14

# ---- 3. compile time of the step ---------------------------------------------------------
XLA_FLAGS="$NOFA" stage "3 compile W${W}/B${B}" 30 240 "$ACL" hlo -graph bench -width "$W" -batch "$B" -compile |
  grep -E "XLA compile|largest intermediate"

# ---- 4. benchmark: goacl (XLA), PyTorch and JAX, same card, same run ----------------------
BENCH_JSON="$OUT/bench-w${W}-b${B}.json"
PEERS=pytorch,jax
python3 -c "import jax" 2>/dev/null || PEERS=pytorch
[ $GPU = 0 ] && [ -x .cache/jax-venv/bin/python ] && PEERS=pytorch,jax
XLA_FLAGS="$NOFA $DUMP" stage "4 benchmark W${W}/B${B}" 60 300 "$ACL" bench -width "$W" -batch "$B" -steps "$STEPS" \
  -rounds "$ROUNDS" -eval-batches 1 -peer "$PEERS" -pytorch-device "$TORCH_DEVICE" -out "$BENCH_JSON"
if ls "$OUT"/dump/*after_optimizations.txt >/dev/null 2>&1; then
  python3 scripts/xla_hlo_summary.py "$OUT"/dump >"$OUT/hlo-summary.txt" 2>&1 && log "HLO summary: $OUT/hlo-summary.txt"
  (cd "$OUT" && find dump -name '*after_optimizations.txt' | tar czf hlo-dumps.tgz -T - 2>/dev/null)
fi
rm -rf "$OUT/dump"

# ---- 5. short real run on the subset, with evaluation ------------------------------------
RUN=${TMPDIR:-/tmp}/goacl-gpu-check/run
rm -rf "$RUN"
if [ $GPU = 1 ]; then
  # Images the time allows, from the benchmark's Go step time (keep 40% for compilation,
  # checkpoints and the probe); at least one batch, at most the subset.
  REMAIN=$(($(left) - 150))
  STEP_S=$(python3 -c "import json;print(json.load(open('$BENCH_JSON'))['go']['summary']['train_median_seconds'])" 2>/dev/null || echo 2)
  IMGS=$(python3 -c "print(max(512, min(10000, int(($REMAIN * 0.6) / max($STEP_S, 0.05)) * 512)))")
  PRE=(pretrain -method rocl -variant ip -preset paper -data "$DATA" -out "$RUN" -epochs 1 -batch 512 -subset "$IMGS"
    -log-every 1 -probe -probe-epochs 10 -probe-train "$IMGS" -probe-test 2000)
else
  PRE=(pretrain -method rocl -variant ip -preset smoke -data "$DATA" -out "$RUN" -epochs 1 -subset 64 -batch 32
    -log-every 1 -probe -probe-epochs 2 -probe-train 256 -probe-test 200)
fi
XLA_FLAGS="$NOFA" stage "5 real run" 60 300 "$ACL" "${PRE[@]}"
for f in status.json metrics.jsonl; do
  [ -f "$RUN/$f" ] && cp "$RUN/$f" "$OUT/run-$f"
done

# ---- 6. the first run's suspected causes, one timed step each -----------------------------
XLA_FLAGS="$NOFA" GOACL_XLA_DOTGRAD=0 stage "6a GoMLX's outer-product matmul gradient" 90 200 \
  "$ACL" bench -width "$W" -batch "$B" -steps 1 -rounds 1 -eval-batches 0 -peer none
if [ $GPU = 1 ]; then
  XLA_FLAGS="--xla_gpu_autotune_level=0" stage "6b --xla_gpu_autotune_level=0" 90 200 \
    "$ACL" bench -width "$W" -batch "$B" -steps 1 -rounds 1 -eval-batches 1 -peer none
fi
log "done in $(($(date +%s) - START))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
