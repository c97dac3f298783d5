#!/usr/bin/env bash
# Executes one notebook at a scale on the notebooks' runs folder and renders it to
# docs/notebooks/<notebook>-<scale>.md (images in <notebook>-<scale>_files/), beside the
# smoke-scale renderings the notebook test writes (ACL_NOTEBOOK_DOCS=1 go test ./notebooks/).
#
#   bash scripts/render-notebook.sh cpu 04-ablation-table
#
# The notebook reuses the finished runs it finds (e.g. the CPU ablation that
# `acl experiment -preset cpu-ablation -runs notebooks/runs/cpu/ablation` wrote); whatever is
# missing it computes first, which at cpu scale can take hours. Environment:
# ACL_NOTEBOOK_RUNS (default notebooks/runs), ACL_CIFAR10_DIR (default as acl pretrain),
# NOTEBOOK_TIMEOUT (seconds per cell, default 14400).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  echo "usage: bash scripts/render-notebook.sh smoke|cpu|gpu NOTEBOOK (e.g. 04-ablation-table)" >&2
  exit 2
fi
SCALE=$1 NAME=${2%.ipynb}
[ -f "notebooks/$NAME.ipynb" ] || { echo "render-notebook.sh: notebooks/$NAME.ipynb not found" >&2; exit 2; }
bash scripts/install-notebook-tools.sh
export PATH="$(GOWORK=off go env GOPATH)/bin:$(dirname "$(command -v go)"):$PATH"
export ACL_NOTEBOOK_SCALE=$SCALE
export ACL_NOTEBOOK_RUNS=${ACL_NOTEBOOK_RUNS:-$PWD/notebooks/runs}
if [ -n "${ACL_CIFAR10_DIR:-}" ]; then export ACL_CIFAR10_DIR; fi
OUTDIR=$(mktemp -d)
trap 'rm -rf "$OUTDIR"' EXIT
(cd notebooks && /usr/bin/jupyter nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout="${NOTEBOOK_TIMEOUT:-14400}" --output-dir "$OUTDIR" "$NAME.ipynb")
# A cell that failed shows it only on stderr (GoNB); refuse to render one.
# (Only the cells' outputs are searched: a cell's source may mention these words.)
if python3 - "$OUTDIR/$NAME.ipynb" <<'EOF'
import json, re, sys
nb = json.load(open(sys.argv[1]))
texts = []
for cell in nb["cells"]:
    for out in cell.get("outputs", []):
        for v in [out.get("text", "")] + list(out.get("data", {}).values()) + [out.get("evalue", "")]:
            texts.append("".join(v) if isinstance(v, list) else str(v))
failed = any(re.search(r"exit status [0-9]+|panic: ", t) for t in texts)
sys.exit(0 if failed else 1)
EOF
then
  echo "render-notebook.sh: a cell of $NAME failed (see $OUTDIR/$NAME.ipynb); nothing rendered" >&2
  trap - EXIT
  exit 1
fi
rm -rf "docs/notebooks/${NAME}-${SCALE}_files"
/usr/bin/jupyter nbconvert --to markdown --output-dir docs/notebooks --output "${NAME}-${SCALE}" \
  '--NbConvertBase.display_data_priority=["image/png","text/html","text/markdown","image/svg+xml","image/jpeg","text/plain"]' \
  "$OUTDIR/$NAME.ipynb"
echo "rendered docs/notebooks/${NAME}-${SCALE}.md"
