#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# go vet and go test over every package. This is the README's test command and what
# CI (.ci/run) calls.
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

# The interop tests check goacl against PyTorch: Debian's python3-torch and PyPI's
# safetensors, installed once (about 50 s) and found again in a few seconds. Under
# ACL_REQUIRE_TORCH=1 those tests fail instead of skipping when PyTorch is missing.
ACL_PYTHON_TOOLS="$(bash scripts/install-python-tools.sh)"
export ACL_PYTHON_TOOLS ACL_REQUIRE_TORCH=1

go vet ./...
go test -count=1 -timeout 80m ./...
