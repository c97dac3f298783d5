#!/usr/bin/env bash
# Installs the PyTorch peer of the benchmarks (bench/pytorch_step.py, bench/pytorch_ops.py)
# from Debian: python3-torch (PyTorch 1.13 for /usr/bin/python3) and OpenBLAS
# (libopenblas0-pthread): Debian's PyTorch runs nn.Linear through the system's libblas.so.3,
# by default the reference BLAS (about 4 GFLOP/s on a 1024^3 product here, against 78 with
# OpenBLAS), and the peer should run at its best (docs/performance.md). Idempotent; needs
# root (or sudo) for apt-get. Prints the interpreter as the last line of its output.
set -euo pipefail
PKGS=(python3-torch libopenblas0-pthread)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  command -v apt-get >/dev/null 2>&1 || { echo "install-pytorch: apt-get not found: install PyTorch for python3 yourself (pip install torch) and pass acl bench -pytorch /path/to/python" >&2; exit 1; }
  echo "install-pytorch: apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2 ||
    { echo "install-pytorch: apt-get could not install ${missing[*]} (Debian packages)" >&2; exit 1; }
fi
/usr/bin/python3 -c "import torch; print('install-pytorch: torch', torch.__version__, file=__import__('sys').stderr)"
echo /usr/bin/python3
