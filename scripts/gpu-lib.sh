# Shared by the GPU scripts (gpu-check.sh, gpu-slice.sh); sourced, not run. The caller sets
# START (date +%s), BUDGET (seconds in all), LOG (the log file), TAG (the log prefix),
# BUILD (the output of gpu-build.sh) and ACL (the acl binary; unpack_acl finds it there).

log() { echo "[$TAG $(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
left() { echo $((START + BUDGET - $(date +%s))); }

# stage NAME MIN MAX CMD...: runs CMD with output appended to the log under a limit of
# min(MAX, time left - 60) seconds, or skips it when that is under MIN; returns CMD's status.
stage() {
  local name=$1 need=$2 max=$3
  shift 3
  local lim=$(($(left) - 60))
  [ $lim -gt "$max" ] && lim=$max
  if [ $lim -lt "$need" ]; then
    log "SKIP $name: ${lim}s left, needs ${need}s"
    return 99
  fi
  log "== $name (limit ${lim}s) XLA_FLAGS=${XLA_FLAGS:-} GOACL_XLA_DOTGRAD=${GOACL_XLA_DOTGRAD:-}"
  log "\$ $*"
  local t0
  t0=$(date +%s)
  timeout --signal=INT --kill-after=20 "$lim" "$@" 2>&1 | grep -v '^\s*$' | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  log "== $name: status $rc after $(($(date +%s) - t0))s"
  return "$rc"
}

# subset_data DIR: rebuilds in DIR a folder the CIFAR-10 reader accepts from the subset
# gpu-build.sh carried. The reader wants data_batch_1..5.bin (10,000 records each) and
# test_batch.bin (10,000): the training files are the 10,000-image subset five times (an
# "epoch" is five passes), the test file is the 2,000-image subset five times (accuracies
# are those of the 2,000); AdvCL's pseudo labels go beside it.
subset_data() {
  local dir=$1 train
  rm -rf "$dir" && mkdir -p "$dir"
  train=$(cd "$BUILD/data" && pwd)/train-10000.bin
  for i in 1 2 3 4 5; do ln -s "$train" "$dir/data_batch_$i.bin"; done
  for i in 1 2 3 4 5; do cat "$BUILD/data/test-2000.bin" >>"$dir/test_batch.bin"; done
  if [ -f "$BUILD/data/batches.meta.txt" ]; then cp "$BUILD/data/batches.meta.txt" "$dir/"; fi
  # AdvCL's pseudo labels of the subset, where acl looks by default: next to the data folder.
  if [ -d "$BUILD/data/advcl-pseudo-labels" ]; then
    rm -rf "$(dirname "$dir")/advcl-pseudo-labels"
    cp -r "$BUILD/data/advcl-pseudo-labels" "$(dirname "$dir")/"
  fi
}

# unpack_acl: where $ACL is not an executable but gpu-build.sh's $BUILD/acl.gz is there,
# unpacks it into ${TMPDIR:-/tmp}/goacl-gpu/acl and points ACL at it.
unpack_acl() {
  if [ ! -x "$ACL" ] && [ -f "$BUILD/acl.gz" ]; then
    local dir=${TMPDIR:-/tmp}/goacl-gpu
    mkdir -p "$dir" && gunzip -c "$BUILD/acl.gz" >"$dir/acl" && chmod +x "$dir/acl" && ACL="$dir/acl"
  fi
}

# bring_up: sets GPU=1 and selects the CUDA plugin JAX installed (GOMLX_BACKEND=xla:cuda)
# when nvidia-smi sees a GPU, exiting when the plugin is missing; otherwise GPU=0 and the
# XLA CPU plugin (the pure-Go backend when it is not installed) for a dry run.
bring_up() {
  GPU=0
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >>"$LOG" 2>&1; then
    GPU=1
    log "GPU: $(nvidia-smi -L | head -1)"
    local dir plugin
    dir=$(python3 -c "import jax_plugins.xla_cuda13 as m, os; print(os.path.dirname(m.__file__))" 2>>"$LOG")
    plugin="$dir/xla_cuda_plugin.so"
    if [ -z "$dir" ] || [ ! -f "$plugin" ]; then
      log "FAIL: the CUDA PJRT plugin (jax_plugins.xla_cuda13/xla_cuda_plugin.so) was not found; stopping early"
      exit 1
    fi
    log "plugin: $plugin ($(python3 -c "import importlib.metadata as md; print('jax-cuda13-pjrt', md.version('jax-cuda13-pjrt'), 'jax', md.version('jax'))" 2>&1))"
    # xla:cuda finds the plugin through PJRT_PLUGIN_LIBRARY_PATH and points XLA at the
    # ptxas/libdevice of JAX's nvidia packages next to it (engine/pjrt.go).
    export PJRT_PLUGIN_LIBRARY_PATH="$plugin" GOMLX_BACKEND="xla:cuda" GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0
  else
    log "no GPU (nvidia-smi missing or failing): DRY RUN on CPU at toy size"
    if [ -f .cache/pjrt/cpu/pjrt_c_api_cpu_plugin.so ]; then
      export GOMLX_BACKEND="xla:cpu"
    else
      log "no XLA CPU plugin (bash scripts/install-xla-cpu.sh): the dry run uses the pure-Go backend"
      unset GOMLX_BACKEND
    fi
  fi
  log "backend: GOMLX_BACKEND=${GOMLX_BACKEND:-(default goacl)}"
}
