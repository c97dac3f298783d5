#!/usr/bin/env bash
# Installs the XLA CUDA PJRT plugin that GOMLX_BACKEND=xla:cuda loads, for your own GPU
# machine (Linux x86-64, an NVIDIA driver for CUDA 13, or 12 with XLA_CUDA=12), into the
# project's cache folder (.cache/pjrt/cuda/, ignored by git), and prints the plugin's
# absolute path as the LAST line of its output (the only line on stdout):
#
#   bash scripts/install-xla-cuda.sh && GOMLX_BACKEND=xla:cuda ./build/acl bench -device-check
#
# It pip-installs (into .cache/pjrt/cuda/site, a private folder, not your Python) the PyPI
# package jax-cuda13-pjrt (the plugin JAX uses) and, unless XLA_CUDA_LIBS=system, the
# NVIDIA libraries JAX's "with-cuda" extra pulls in (cuBLAS, cuDNN, cuFFT, cuSOLVER,
# cuSPARSE, NCCL, the CUDA runtime, nvcc's ptxas, nvvm's libdevice, ...: several GB) where
# the plugin looks for them (its RPATH is $ORIGIN/../../nvidia/...). It checks that the
# plugin loads (dlopen, GetPjrtApi, PJRT C API version) and, when nvidia-smi sees a GPU
# and Go is installed, that GoMLX runs a small graph on it (`acl bench -device-check`).
# GOMLX_BACKEND=xla:cuda then finds it (engine.FindPlugin) and points XLA at the ptxas and
# libdevice installed next to it.
#
# Environment: XLA_CUDA=13 (default) or 12; XLA_CUDA_LIBS=pip (default) or system (use the
# machine's CUDA installation instead: the plugin must find its libraries through
# LD_LIBRARY_PATH); PYTHON (default python3, with pip); XLA_CUDA_REINSTALL=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/.cache/pjrt/cuda"
SITE="$DEST/site"
STAMP="$DEST/INSTALLED"
PYTHON=${PYTHON:-python3}
CUDA=${XLA_CUDA:-13}
LIBS=${XLA_CUDA_LIBS:-pip}

say() { echo "install-xla-cuda: $*" >&2; }
die() { echo "install-xla-cuda: ERROR: $*" >&2; exit 1; }

case "$CUDA" in
  13) PKG="jax-cuda13-pjrt==0.12.1"
      NVLIBS=(nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvcc nvidia-cuda-runtime "nvidia-cudnn-cu13>=9.12,<10"
        nvidia-cufft nvidia-cusolver nvidia-cusparse nvidia-nccl-cu13 nvidia-nvjitlink nvidia-cuda-nvrtc
        nvidia-nvshmem-cu13 nvidia-nvvm)
      NVDATA="nvidia/cu13" ;;
  12) PKG="jax-cuda12-pjrt==0.12.0.1"
      NVLIBS=("nvidia-cublas-cu12>=12.1.3.1" "nvidia-cuda-cupti-cu12>=12.1.105" "nvidia-cuda-nvcc-cu12>=12.6.85"
        "nvidia-cuda-runtime-cu12>=12.1.105" "nvidia-cudnn-cu12>=9.8,<10" "nvidia-cufft-cu12>=11.0.2.54"
        "nvidia-cusolver-cu12>=11.4.5.107" "nvidia-cusparse-cu12>=12.1.0.106" "nvidia-nccl-cu12>=2.18.1"
        "nvidia-nvjitlink-cu12>=12.1.105")
      NVDATA="nvidia/cuda_nvcc" ;;
  *) die "XLA_CUDA=$CUDA: use 13 (default) or 12" ;;
esac
INNER="$SITE/jax_plugins/xla_cuda$CUDA/xla_cuda_plugin.so"

# check_loads FILE: dlopen the plugin, call GetPjrtApi and print its PJRT C API version.
check_loads() {
  "$PYTHON" "$(dirname "${BASH_SOURCE[0]}")/pjrt_api_version.py" "$1"
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "the CUDA PJRT plugin wheels on PyPI (jax-cuda13-pjrt, jax-cuda12-pjrt) are for Linux x86-64 only; this is $(uname -s) $(uname -m)" ;;
esac
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: it is needed (with pip) to download the PyPI package ${PKG%%==*}; set PYTHON=/path/to/python3"
[ "${XLA_CUDA_REINSTALL:-0}" = 1 ] && rm -rf "$SITE" "$STAMP"

if [ -f "$INNER" ] && [ -f "$STAMP" ] && grep -q "^$PKG libs=$LIBS" "$STAMP"; then
  if api=$(check_loads "$INNER" 2>&1); then
    say "already installed: $(head -n1 "$STAMP"), PJRT C API $api"
    echo "$INNER"
    exit 0
  fi
  say "the installed plugin does not load ($api); installing it again"
fi

"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (Debian: apt-get install python3-pip)"
mkdir -p "$SITE"
want=("$PKG")
if [ "$LIBS" = pip ]; then
  want+=("${NVLIBS[@]}")
  say "installing $PKG and the NVIDIA CUDA $CUDA libraries from PyPI into $SITE (several GB)"
else
  say "installing $PKG from PyPI into $SITE (CUDA libraries: the system's, XLA_CUDA_LIBS=system)"
fi
"$PYTHON" -m pip install --disable-pip-version-check --upgrade --only-binary=:all: --target "$SITE" "${want[@]}" >&2 ||
  die "pip could not install ${want[*]} into $SITE: check that PyPI is reachable and serves these packages (PyPI: ${PKG%%==*} and, with XLA_CUDA_LIBS=pip, the nvidia-* libraries)"
[ -f "$INNER" ] || die "${PKG%%==*} installed but $INNER is missing: the package's layout changed; update this script"
api=$(check_loads "$INNER" 2>&1) || die "the plugin from ${PKG%%==*} does not load: $api"
say "loaded $INNER: PJRT C API $api"
if [ "$LIBS" = pip ] && [ ! -d "$SITE/$NVDATA" ]; then
  say "warning: $SITE/$NVDATA (ptxas, libdevice) not found; XLA may need XLA_FLAGS=--xla_gpu_cuda_data_dir=..."
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && command -v go >/dev/null 2>&1; then
  say "checking that GoMLX runs a graph on the GPU (acl bench -device-check)"
  if ! check=$(cd "$ROOT" && GOMLX_BACKEND="xla:cuda" PJRT_PLUGIN_LIBRARY_PATH="$INNER" go run ./cmd/acl bench -device-check 2>&1); then
    echo "$check" >&2
    die "the plugin loads but GoMLX could not run a graph on the GPU (see above)"
  fi
  say "$(echo "$check" | tail -n1)"
else
  say "no GPU visible (nvidia-smi) or no Go: skipped the graph check; run 'GOMLX_BACKEND=xla:cuda go run ./cmd/acl bench -device-check' on the GPU machine"
fi
printf '%s libs=%s (PJRT C API %s)\ninstalled: %s\n' "$PKG" "$LIBS" "$api" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STAMP"
echo "$INNER"
