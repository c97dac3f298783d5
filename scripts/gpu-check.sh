#!/usr/bin/env bash
# The one GPU check of this project (see ../shared/docs/gpu-runs.md), run from the
# repository root with build/gpu/ from scripts/gpu-build.sh carried along:
#
#   1. bring-up: nvidia-smi -L, the PJRT plugin's path and version, a tiny graph on XLA
#      compared with the pure-Go backend (`acl bench -device-check`); stop early on failure;
#   2. the standard benchmark for goacl (XLA) and the PyTorch peer (CUDA) on the same card
#      at width 64 / batch 512, in the same run (`acl bench`), both figures and their ratio;
#   3. with what is left (stopping ≥ 90 s before the budget ends): a short real RoCL-IP
#      pretraining on the CIFAR-10 subset, then the linear-probe evaluation.
#
# Without a GPU (no nvidia-smi, or no CUDA plugin) it is a dry run on CPU: every GPU part is
# skipped with a message, and the same three stages run at toy size on the pure-Go backend,
# so that the script is tested before GPU time is spent on it.
#
# Environment:
#   OUT               where the log and results go (the device machine sets it; default
#                     build/gpu-out); at most 8 files, the device tool brings back 8
#   GPU_CHECK_BUDGET  seconds this script may use in all (default 500; give the device
#                     call a timeout_s ≥ this + 30)
#   GPU_BUILD_DIR     the output of gpu-build.sh (default build/gpu)
#   BENCH_WIDTH, BENCH_BATCH   the benchmark size on GPU (default 64 and 512)
#   BENCH_STEPS, BENCH_ROUNDS  steps per round and rounds on GPU (default 3 and 3)
set -uo pipefail
cd "$(dirname "$0")/.."

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-500}
BUILD=${GPU_BUILD_DIR:-build/gpu}
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
: >"$LOG"
ACL="$BUILD/acl"

log() { echo "[gpu-check $(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
left() { echo $((START + BUDGET - $(date +%s))); }
# run CMD... with output appended to the log, under `timeout`; returns its status.
run_logged() {
  local limit=$1
  shift
  log "\$ $*  (limit ${limit}s)"
  timeout --signal=INT --kill-after=20 "$limit" "$@" 2>&1 | tee -a "$LOG"
  return "${PIPESTATUS[0]}"
}

if [ ! -x "$ACL" ]; then
  log "FAIL: $ACL not found: run 'bash scripts/gpu-build.sh' first and carry $BUILD"
  exit 1
fi
log "build: $(tr '\n' ';' <"$BUILD/BUILD_INFO" 2>/dev/null)"
log "budget ${BUDGET}s, results in $OUT"

# ---- data: rebuild a folder the CIFAR-10 reader accepts from the carried subset ----------
# The reader wants data_batch_1..5.bin (10,000 records each) and test_batch.bin (10,000):
# the training files are the 10,000-image subset five times (an "epoch" is five passes),
# the test file is the 2,000-image subset five times (accuracies are those of the 2,000).
DATA=${TMPDIR:-/tmp}/goacl-gpu-check/cifar-10
rm -rf "$DATA" && mkdir -p "$DATA"
TRAIN=$(cd "$BUILD/data" && pwd)/train-10000.bin
for i in 1 2 3 4 5; do ln -s "$TRAIN" "$DATA/data_batch_$i.bin"; done
for i in 1 2 3 4 5; do cat "$BUILD/data/test-2000.bin" >>"$DATA/test_batch.bin"; done
[ -f "$BUILD/data/batches.meta.txt" ] && cp "$BUILD/data/batches.meta.txt" "$DATA/"
log "data: $DATA (10,000 train images ×5, 2,000 test images ×5)"

# ---- 1. bring-up ------------------------------------------------------------------------
GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >>"$LOG" 2>&1; then
  GPU=1
  log "GPU: $(nvidia-smi -L | head -1)"
else
  log "no GPU (nvidia-smi missing or failing): DRY RUN on CPU; GPU bring-up, the GPU benchmark and the GPU run are skipped"
fi
if [ $GPU = 1 ]; then
  PLUGIN_DIR=$(python3 -c "import jax_plugins.xla_cuda13 as m, os; print(os.path.dirname(m.__file__))" 2>>"$LOG")
  PLUGIN="$PLUGIN_DIR/xla_cuda_plugin.so"
  if [ -z "$PLUGIN_DIR" ] || [ ! -f "$PLUGIN" ]; then
    log "FAIL: the CUDA PJRT plugin (jax_plugins.xla_cuda13/xla_cuda_plugin.so) was not found; stopping early"
    exit 1
  fi
  log "plugin: $PLUGIN"
  log "plugin version: $(python3 -c "import importlib.metadata as md; print('jax-cuda13-pjrt', md.version('jax-cuda13-pjrt'), 'jax', md.version('jax'))" 2>&1)"
  export GOMLX_BACKEND="xla:$PLUGIN" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
  NVCC_DIR=$(python3 -c "import nvidia.cuda_nvcc as m, os; print(os.path.dirname(m.__file__))" 2>/dev/null)
  if [ -n "$NVCC_DIR" ] && [ -z "${XLA_FLAGS:-}" ]; then
    export XLA_FLAGS="--xla_gpu_cuda_data_dir=$NVCC_DIR"
    log "XLA_FLAGS=$XLA_FLAGS"
  fi
  TORCH_DEVICE=cuda
else
  TORCH_DEVICE=cpu
fi
if ! run_logged 150 "$ACL" bench -device-check; then
  log "FAIL: the device check failed (see above); stopping early to save the budget"
  exit 1
fi

# ---- 2. benchmark: goacl and PyTorch, same card, same run --------------------------------
if [ $GPU = 1 ]; then
  W=${BENCH_WIDTH:-64} B=${BENCH_BATCH:-512} STEPS=${BENCH_STEPS:-3} ROUNDS=${BENCH_ROUNDS:-3} EVALS=1
  BENCH_JSON="$OUT/bench-gpu-w${W}-b${B}.json"
else
  log "GPU benchmark skipped (dry run): toy size on CPU instead"
  W=4 B=4 STEPS=1 ROUNDS=1 EVALS=1
  BENCH_JSON="$OUT/bench-dryrun-w${W}-b${B}.json"
fi
LIMIT=$(($(left) - 150))
[ $LIMIT -gt 300 ] && LIMIT=300
if [ $LIMIT -lt 30 ]; then
  log "no time left for the benchmark"
else
  run_logged "$LIMIT" "$ACL" bench -width "$W" -batch "$B" -steps $STEPS -rounds $ROUNDS -eval-batches $EVALS \
    -pytorch-device "$TORCH_DEVICE" -out "$BENCH_JSON" || log "benchmark failed or was cut (status $?)"
fi

# ---- 3. short real run on the subset, with evaluation ------------------------------------
RUN=${TMPDIR:-/tmp}/goacl-gpu-check/run
rm -rf "$RUN"
REMAIN=$(($(left) - 90))
if [ $GPU = 1 ]; then
  # Images the remaining time allows, from the benchmark's Go step time (keep 40% for
  # compilation, checkpoints and the probe); at least one batch, at most the subset.
  STEP_S=$(python3 -c "import json;print(json.load(open('$BENCH_JSON'))['go']['summary']['train_median_seconds'])" 2>/dev/null || echo 2)
  IMGS=$(python3 -c "print(max(512, min(10000, int(($REMAIN * 0.6) / max($STEP_S, 0.05)) * 512)))")
  PRE=(pretrain -method rocl -variant ip -preset paper -data "$DATA" -out "$RUN" -epochs 1 -batch 512 -subset "$IMGS"
    -log-every 1 -probe -probe-epochs 10 -probe-train "$IMGS" -probe-test 2000)
else
  log "GPU run skipped (dry run): smoke-size pretraining on CPU instead"
  PRE=(pretrain -method rocl -variant ip -preset smoke -data "$DATA" -out "$RUN" -epochs 1 -subset 64 -batch 32
    -log-every 1 -probe -probe-epochs 2 -probe-train 256 -probe-test 200)
fi
if [ $REMAIN -lt 30 ]; then
  log "no time left for the real run"
else
  run_logged "$REMAIN" "$ACL" "${PRE[@]}" || log "the real run failed or was cut (status $?)"
fi
for f in config.json status.json metrics.jsonl provenance.json; do
  [ -f "$RUN/$f" ] && cp "$RUN/$f" "$OUT/run-$f"
done
log "done in $(($(date +%s) - START))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
