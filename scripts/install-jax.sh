#!/usr/bin/env bash
# Installs JAX for CPU (jax + jaxlib from PyPI) into a virtual environment in the project's
# cache folder (.cache/jax-venv/, ignored by git), for the JAX peer of the benchmark
# (bench/jax_step.py, `acl bench -peer jax`), and prints that environment's python as the
# LAST line of its output (the only line on stdout):
#
#   ./build/acl bench -peer jax -jax-python "$(bash scripts/install-jax.sh | tail -n1)"
#
# Idempotent: an environment that already imports the pinned versions is kept.
# Environment: PYTHON (default python3, 3.10 or newer with venv and pip), JAX_VERSION
# (default below: the newest jax/jaxlib PyPI served this project's Python 3.11 when the
# benchmark was recorded).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.cache/jax-venv"
PYTHON=${PYTHON:-python3}
JAX_VERSION=${JAX_VERSION:-0.10.2}

say() { echo "install-jax: $*" >&2; }
die() { echo "install-jax: ERROR: $*" >&2; exit 1; }

want="import jax, jaxlib, numpy; assert jax.__version__ == '$JAX_VERSION' and jaxlib.__version__ == '$JAX_VERSION', (jax.__version__, jaxlib.__version__); print(jax.__version__)"
if [ -x "$VENV/bin/python" ] && v=$("$VENV/bin/python" -c "$want" 2>/dev/null); then
  say "already installed: jax $v in $VENV"
  echo "$VENV/bin/python"
  exit 0
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: JAX needs Python 3.10 or newer with venv and pip; set PYTHON=/path/to/python3"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (Debian: apt-get install python3-venv)"
fi
say "installing jax==$JAX_VERSION jaxlib==$JAX_VERSION (CPU) from PyPI"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "jax==$JAX_VERSION" "jaxlib==$JAX_VERSION" numpy >&2 ||
  die "pip could not install the PyPI packages jax==$JAX_VERSION and jaxlib==$JAX_VERSION; check that PyPI is reachable, or set JAX_VERSION to a version it serves for $("$VENV/bin/python" --version 2>&1)"
v=$("$VENV/bin/python" -c "$want") || die "jax $JAX_VERSION installed but does not import"
say "installed jax $v; devices: $("$VENV/bin/python" -c 'import jax; print(jax.devices())' 2>/dev/null)"
echo "$VENV/bin/python"
