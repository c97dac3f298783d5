#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# go vet and go test over every package, then the loss and layer golden cases again on
# XLA CPU. This is the README's test command and what CI (.ci/run) calls.
#
# It installs the XLA CPU PJRT plugin (scripts/install-xla-cpu.sh, PyPI xla-cpu-pjrt) and
# JAX (scripts/install-jax.sh, PyPI jax/jaxlib) into .cache/, and sets
# GOACL_REQUIRE_XLA=1 and GOACL_JAX_PYTHON, so that the XLA tests (internal/xlatest: the
# HLO census, the bench step's parity with the pure-Go engine, kill-and-resume on XLA) and
# the JAX peer's parity check fail, rather than skip, when what they need does not work.
# A plain `go test ./...` without them skips those tests with a message saying how to
# enable them.
#
# Test data is read from ../shared (next to the repository) unless ACL_CIFAR10_DIR,
# ACL_GOLDEN_DIR, ACL_GOLDEN_LAYERS_DIR or ACL_PSEUDO_LABELS_DIR point elsewhere.
# PyTorch comparisons use /usr/bin/python3 (ACL_TORCH_PYTHON) with the packages in
# ACL_PYTHON_TOOLS (see scripts/install-python-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "scripts/test.sh: Go is not on PATH (this project needs Go 1.26; /usr/local/go/bin?)" >&2
  exit 1
fi

# Notebook tests need Jupyter (Debian) and GoNB built from the module cache.
if [ -d notebooks ] && ls notebooks/*.ipynb >/dev/null 2>&1; then
  bash scripts/install-notebook-tools.sh
fi

# The interop tests check goacl against PyTorch: Debian's python3-torch and python3-scipy, PyPI's
# safetensors and torchattacks, installed once (about 50 s) and found again in a few seconds. Under
# ACL_REQUIRE_TORCH=1 those tests fail instead of skipping when PyTorch is missing.
ACL_PYTHON_TOOLS="$(bash scripts/install-python-tools.sh)"
export ACL_PYTHON_TOOLS ACL_REQUIRE_TORCH=1

# XLA on CPU: the plugin's absolute path is the installer's last line.
plugin=$(bash scripts/install-xla-cpu.sh | tail -n1)
[ -f "$plugin" ] || { echo "scripts/test.sh: the XLA CPU plugin was not installed" >&2; exit 1; }
export GOACL_REQUIRE_XLA=1
# The JAX peer of the benchmark (bench/jax_step.py), checked against the Go step.
GOACL_JAX_PYTHON=$(bash scripts/install-jax.sh | tail -n1)
export GOACL_JAX_PYTHON

go vet ./...
go test -count=1 -timeout 80m ./...
# The loss and layer golden cases (PyTorch's official values) on XLA CPU as well.
GOMLX_BACKEND="xla:$plugin" go test -count=1 -timeout 20m ./acl/losses/ ./layers/ -run Golden
