#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# go vet and go test over every package. This is the README's test command and what
# CI (.ci/run) calls.
#
# Test data is read from ../shared (next to the repository) unless ACL_CIFAR10_DIR,
# ACL_GOLDEN_DIR, ACL_GOLDEN_LAYERS_DIR or ACL_PSEUDO_LABELS_DIR point elsewhere.
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

go vet ./...
go test -count=1 -timeout 80m ./...
