#!/usr/bin/env bash
# Installs the PyTorch peer of the benchmarks (bench/pytorch_step.py, bench/pytorch_ops.py):
# Debian's python3-torch with OpenBLAS, through scripts/install-python-tools.sh (the one
# installer of the project's Python side). Idempotent; needs root (or sudo) for apt-get.
# Prints the interpreter as the last line of its output.
set -euo pipefail
bash "$(dirname "$0")/install-python-tools.sh" >/dev/null
echo /usr/bin/python3
