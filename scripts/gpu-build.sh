#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on a GPU machine, where there is no Go toolchain,
# no module proxy and no ../shared: the acl binary (cgo on, so that the XLA backend can
# load the PJRT plugin) and a CIFAR-10 subset, into build/gpu/ (ignored by git; carry it).
#
#   bash scripts/gpu-build.sh                 # from the repository root, on this machine
#
# Output (≈53 MB, under the 64 MiB a device call carries):
#   build/gpu/acl                              linux/amd64 binary, -ldflags='-s -w'
#   build/gpu/data/train-10000.bin             the first 10,000 records of data_batch_1.bin
#   build/gpu/data/test-2000.bin               the first 2,000 records of test_batch.bin
#   build/gpu/data/batches.meta.txt
#   build/gpu/BUILD_INFO                       commit, Go version, time
# The CIFAR-10 reader wants five 10,000-record training files and a 10,000-record test file;
# gpu-check.sh rebuilds such a folder from the subset (see there).
#
# Environment: ACL_CIFAR10_DIR (default ../shared/datasets/cifar-10), GPU_BUILD_DIR
# (default build/gpu), GOAMD64 (default v1: the binary must run on any x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${ACL_CIFAR10_DIR:-../shared/datasets/cifar-10}
OUTDIR=${GPU_BUILD_DIR:-build/gpu}
REC=3073 # 1 label byte + 32·32·3 pixels

if ! command -v go >/dev/null 2>&1; then
  echo "gpu-build.sh: Go is not on PATH (this project needs Go 1.26; /usr/local/go/bin?)" >&2
  exit 1
fi
for f in data_batch_1.bin test_batch.bin; do
  if [ ! -f "$SRC/$f" ]; then
    echo "gpu-build.sh: $SRC/$f not found: set ACL_CIFAR10_DIR to the folder with the CIFAR-10 binary files" >&2
    exit 1
  fi
done

mkdir -p "$OUTDIR/data"
echo "gpu-build.sh: building $OUTDIR/acl (CGO_ENABLED=1, linux/amd64, GOAMD64=${GOAMD64:-v1})"
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 GOAMD64=${GOAMD64:-v1} \
  go build -trimpath -ldflags='-s -w' -o "$OUTDIR/acl" ./cmd/acl

echo "gpu-build.sh: CIFAR-10 subset from $SRC"
head -c $((10000 * REC)) "$SRC/data_batch_1.bin" >"$OUTDIR/data/train-10000.bin"
head -c $((2000 * REC)) "$SRC/test_batch.bin" >"$OUTDIR/data/test-2000.bin"
if [ -f "$SRC/batches.meta.txt" ]; then
  cp "$SRC/batches.meta.txt" "$OUTDIR/data/"
fi

{
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "go: $(go version)"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
} >"$OUTDIR/BUILD_INFO"
du -sh "$OUTDIR"
echo "gpu-build.sh: done; carry $OUTDIR (run: bash scripts/gpu-check.sh)"
