#!/usr/bin/env bash
# Installs the Python side of the PyTorch interoperability tests (interop/...), when missing:
#
#   - PyTorch from Debian (python3-torch 1.13, for /usr/bin/python3; PyPI's torch wheels are
#     not used: they are gigabytes and pull CUDA), with OpenBLAS (libopenblas0-pthread):
#     Debian's PyTorch runs nn.Linear through the system's libblas.so.3, by default the
#     reference BLAS (about 4 GFLOP/s on a 1024^3 product, against 78 with OpenBLAS), and
#     the benchmark peers should run at their best (docs/performance.md);
#   - SciPy from Debian (python3-scipy), which torchattacks imports;
#   - pure-Python or small wheels from PyPI (safetensors, torchattacks), pinned, installed with
#     /usr/bin/python3's own pip into a folder of their own (pip --target), never into the
#     system site-packages (Debian marks it externally managed, PEP 668). Tests put that
#     folder on PYTHONPATH.
#
# The folder is $ACL_PYTHON_TOOLS, default ${XDG_CACHE_HOME:-$HOME/.cache}/goacl/python-tools.
# Idempotent and fast when everything is present (one import check, no network).
# apt-get update runs only when the package lists are missing or an install fails.
# On success it prints the folder on stdout (scripts/test.sh reads it).
set -euo pipefail

PYTHON=/usr/bin/python3
TOOLS_DIR="${ACL_PYTHON_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/goacl/python-tools}"
# PyPI packages, pinned: name==version. safetensors 0.4.5 supports torch 1.13;
# torchattacks 3.5.1 (pure Python) needs only torch, numpy and scipy at import time (its
# declared requirements torchvision, tqdm and requests are not imported by AutoAttack).
PYPI_PACKAGES=(safetensors==0.4.5 torchattacks==3.5.1)

log() { echo "install-python-tools: $*" >&2; }

if [ ! -x "$PYTHON" ]; then
  log "$PYTHON is missing: install Debian's python3 (apt-get install python3)"
  exit 1
fi

# apt_install PKG...: installs Debian packages, waiting for another apt/dpkg instead of
# failing on its lock, updating the package lists only when needed.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get is not available: install the Debian packages $* for $PYTHON by hand"
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  local apt_opts=(-o DPkg::Lock::Timeout=600)
  export DEBIAN_FRONTEND=noninteractive
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    log "apt-get update (no package lists yet)"
    $sudo apt-get "${apt_opts[@]}" update -qq
  fi
  log "apt-get install $* (once; a few minutes)"
  if ! $sudo apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "$@" >/dev/null; then
    log "install failed with the current package lists: apt-get update and retry"
    $sudo apt-get "${apt_opts[@]}" update -qq
    if ! $sudo apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "$@" >/dev/null; then
      log "apt-get install $* failed"
      exit 1
    fi
  fi
}

# 1. PyTorch, SciPy and OpenBLAS from Debian.
if ! "$PYTHON" -c 'import torch, scipy' >/dev/null 2>&1 || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  apt_install python3-torch python3-scipy libopenblas0-pthread
  if ! "$PYTHON" -c 'import torch, scipy' >/dev/null 2>&1; then
    log "python3-torch and python3-scipy are installed but '$PYTHON -c \"import torch, scipy\"' still fails"
    exit 1
  fi
fi

# 2. PyPI packages into TOOLS_DIR. A stamp file records the pinned list it was made from.
stamp="$TOOLS_DIR/.goacl-packages"
want="${PYPI_PACKAGES[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  rm -rf "$TOOLS_DIR"
  mkdir -p "$TOOLS_DIR"
  for pkg in "${PYPI_PACKAGES[@]}"; do
    log "pip install $pkg into $TOOLS_DIR"
    # --no-deps: every dependency comes from Debian (torch, numpy, scipy), never from PyPI.
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
      --target "$TOOLS_DIR" "$pkg" >&2; then
      log "pip install $pkg failed (is PyPI reachable? set PIP_INDEX_URL for a mirror)"
      rm -rf "$TOOLS_DIR"
      exit 1
    fi
  done
  echo "$want" >"$stamp"
fi

# 3. Every module imports, from exactly the environment the tests use.
for mod in torch safetensors.torch torchattacks; do
  if ! PYTHONPATH="$TOOLS_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c "import $mod" >/dev/null 2>&1; then
    log "'import $mod' fails for $PYTHON with PYTHONPATH=$TOOLS_DIR (delete that folder to reinstall)"
    exit 1
  fi
done
echo "$TOOLS_DIR"
