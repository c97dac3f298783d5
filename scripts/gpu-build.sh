#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on a GPU machine, where there is no Go toolchain,
# no module proxy and no ../shared: the acl binary (cgo on, so that the XLA backend can
# load the PJRT plugin) and a CIFAR-10 subset, into build/gpu/ (ignored by git; carry it).
#
#   bash scripts/gpu-build.sh                 # from the repository root, on this machine
#
# Output (≈46 MB; a device call carries at most 64 MiB with the working tree):
#   build/gpu/acl.gz                           linux/amd64 binary, -ldflags='-s -w', gzipped
#                                              (the scripts unpack it into $TMPDIR: carried
#                                              files and the working tree share 64 MiB)
#   build/gpu/data/train-10000.bin             the first 10,000 records of data_batch_1.bin
#   build/gpu/data/test-2000.bin               the first 2,000 records of test_batch.bin
#   build/gpu/data/batches.meta.txt
#   build/gpu/data/advcl-pseudo-labels/cifar-10/pseudo_train_*.npy
#                                              AdvCL's pseudo labels of the subset as the
#                                              rebuilt folder holds it (the first 10,000 labels
#                                              five times; 1 MB), when the source has them
#   build/gpu/BUILD_INFO                       commit, Go version, time
# The CIFAR-10 reader wants five 10,000-record training files and a 10,000-record test file;
# gpu-check.sh rebuilds such a folder from the subset (see there).
#
# Environment: ACL_CIFAR10_DIR (default ../shared/datasets/cifar-10; AdvCL's pseudo labels
# are read from advcl-pseudo-labels/cifar-10 next to it, or ACL_PSEUDO_LABELS_DIR), GPU_BUILD_DIR
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
echo "gpu-build.sh: building $OUTDIR/acl.gz (CGO_ENABLED=1, linux/amd64, GOAMD64=${GOAMD64:-v1})"
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 GOAMD64=${GOAMD64:-v1} \
  go build -trimpath -ldflags='-s -w' -o "$OUTDIR/acl" ./cmd/acl
gzip -9 -f "$OUTDIR/acl"

echo "gpu-build.sh: CIFAR-10 subset from $SRC"
head -c $((10000 * REC)) "$SRC/data_batch_1.bin" >"$OUTDIR/data/train-10000.bin"
head -c $((2000 * REC)) "$SRC/test_batch.bin" >"$OUTDIR/data/test-2000.bin"
if [ -f "$SRC/batches.meta.txt" ]; then
  cp "$SRC/batches.meta.txt" "$OUTDIR/data/"
fi
# AdvCL's pseudo labels are one per training record: the rebuilt folder's five training
# files are the subset five times, so its labels are the subset's 10,000 five times. A .npy
# file of int32 labels is a 128-byte header (its shape, (50000,), stays right) and the data.
PSEUDO=${ACL_PSEUDO_LABELS_DIR:-$SRC/../advcl-pseudo-labels/cifar-10}
rm -rf "$OUTDIR/data/advcl-pseudo-labels"
if ls "$PSEUDO"/pseudo_train_*.npy >/dev/null 2>&1; then
  mkdir -p "$OUTDIR/data/advcl-pseudo-labels/cifar-10"
  for f in "$PSEUDO"/pseudo_train_*.npy; do
    if ! head -c 128 "$f" | grep -q "'descr': '<i4'.*'shape': (50000,)"; then
      echo "gpu-build.sh: $f is not 50,000 int32 labels with a 128-byte header; AdvCL rows will lack pseudo labels" >&2
      continue
    fi
    out="$OUTDIR/data/advcl-pseudo-labels/cifar-10/$(basename "$f")"
    head -c 128 "$f" >"$out"
    head -c $((128 + 10000 * 4)) "$f" | tail -c $((10000 * 4)) >"$out.part"
    for i in 1 2 3 4 5; do cat "$out.part" >>"$out"; done
    rm "$out.part"
  done
  echo "gpu-build.sh: AdvCL pseudo labels of the subset from $PSEUDO"
else
  echo "gpu-build.sh: no AdvCL pseudo labels in $PSEUDO: the GPU slice's AdvCL rows will stop with an error" >&2
fi

{
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "go: $(go version)"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
} >"$OUTDIR/BUILD_INFO"
du -sh "$OUTDIR"
echo "gpu-build.sh: done; carry $OUTDIR (run: bash scripts/gpu-check.sh)"
