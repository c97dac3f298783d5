#!/usr/bin/env bash
# Installs what the notebook test (notebooks/notebooks_test.go) needs, when it is missing:
#
#   - Jupyter's nbconvert and client from Debian (/usr/bin/jupyter; there is no PyPI here);
#   - GoNB v0.11.1 and goimports, built from the Go module cache (GOWORK=off, outside any
#     module: `go install mod@version` is refused by the proxy here, download + build works);
#   - the GoNB kernel spec (`gonb --install --logtostderr --raw_error --force_deps`).
#
# Idempotent and fast when everything is present (a few version checks, no network).
# apt-get update runs only when the package lists are missing or an install fails.
# The binaries go to $(go env GOPATH)/bin, which must be on PATH when notebooks run
# (the notebook test adds it). See ../shared/docs/gonb-notes.md.
set -euo pipefail

GONB_VERSION=v0.11.1
# golang.org/x/tools version for goimports: v0.52.0 builds with Go 1.26.
XTOOLS_VERSION=v0.52.0
JUPYTER=/usr/bin/jupyter

log() { echo "install-notebook-tools: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "Go is not on PATH (this project needs Go 1.26)"
  exit 1
fi
GOBIN_DIR="$(GOWORK=off go env GOPATH)/bin"
mkdir -p "$GOBIN_DIR"
export PATH="$GOBIN_DIR:$PATH"

# 1. Jupyter (nbconvert + client) from Debian.
if ! "$JUPYTER" nbconvert --version >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "$JUPYTER nbconvert is missing and apt-get is not available: install jupyter-nbconvert and jupyter-client"
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  pkgs=(jupyter-nbconvert jupyter-client)
  # Wait for another apt/dpkg (e.g. a parallel install) instead of failing on its lock.
  apt_opts=(-o DPkg::Lock::Timeout=600)
  export DEBIAN_FRONTEND=noninteractive
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    log "apt-get update (no package lists yet)"
    $SUDO apt-get "${apt_opts[@]}" update -qq
  fi
  log "apt-get install ${pkgs[*]}"
  if ! $SUDO apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
    log "install failed with the current package lists: apt-get update and retry"
    $SUDO apt-get "${apt_opts[@]}" update -qq
    $SUDO apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  "$JUPYTER" nbconvert --version >/dev/null
fi

# build_from_cache MODULE VERSION PKG_SUBDIR OUTPUT: downloads MODULE@VERSION into the module
# cache and builds its package PKG_SUBDIR into OUTPUT, outside any module (GOWORK=off, from a
# temporary directory), so the repository's go.mod is untouched. A stamp file next to the
# binary records the version it was built from.
build_from_cache() {
  local mod=$1 version=$2 sub=$3 out=$4
  local stamp="$out.version"
  if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod@$version" ]; then
    return 0
  fi
  log "building $mod@$version ($sub) into $out"
  local tmp dir
  tmp="$(mktemp -d)"
  (
    cd "$tmp"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod download "$mod@$version"
    dir="$(go list -m -f '{{.Dir}}' "$mod@$version")"
    go build -C "$dir" -o "$out" "./$sub"
  )
  rm -rf "$tmp"
  echo "$mod@$version" >"$stamp"
}

# 2. GoNB and goimports (the kernel needs both on PATH).
build_from_cache github.com/janpfeifer/gonb "$GONB_VERSION" . "$GOBIN_DIR/gonb"
build_from_cache golang.org/x/tools "$XTOOLS_VERSION" cmd/goimports "$GOBIN_DIR/goimports"

# 3. The kernel spec, (re)installed when it does not point at this gonb with --raw_error.
kernel_ok=false
for spec in "$HOME/.local/share/jupyter/kernels/gonb/kernel.json" /usr/local/share/jupyter/kernels/gonb/kernel.json /usr/share/jupyter/kernels/gonb/kernel.json; do
  if [ -f "$spec" ] && grep -q -- "$GOBIN_DIR/gonb" "$spec" && grep -q -- "--raw_error" "$spec"; then
    kernel_ok=true
    break
  fi
done
if ! $kernel_ok; then
  log "installing the GoNB kernel spec"
  "$GOBIN_DIR/gonb" --install --logtostderr --raw_error --force_deps
fi
