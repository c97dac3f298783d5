#!/usr/bin/env bash
# Installs the XLA CPU PJRT plugin that GOMLX_BACKEND=xla:cpu loads, into the project's
# cache folder (.cache/pjrt/cpu/, ignored by git; no root-wide install), and prints the
# plugin's absolute path as the LAST line of its output (the only line on stdout;
# progress goes to stderr):
#
#   GOMLX_BACKEND=xla:$(bash scripts/install-xla-cpu.sh | tail -n1) go test ./acl/losses/ -run Golden
#   bash scripts/install-xla-cpu.sh && GOMLX_BACKEND=xla:cpu go test ./acl/losses/ -run Golden
#
# It downloads the wheel of the PyPI package xla-cpu-pjrt (a manylinux x86-64 wheel
# holding the plugin) with pip into .cache/pjrt/wheels/, or, if that package cannot be had,
# lammps-jax-pjrt-cpu (the same plugin built from JAX's XLA); extracts the plugin as
# .cache/pjrt/cpu/pjrt_c_api_cpu_plugin.so; checks that it loads (dlopen, GetPjrtApi and
# its PJRT C API version) and, the first time, that GoMLX compiles and runs a small
# convolution/matmul/gradient graph on it that agrees with the pure-Go backend
# (`acl bench -device-check`). Running it again does nothing but the quick load check.
#
# Environment: PYTHON (default python3, needs pip), XLA_CPU_PJRT_REINSTALL=1 to redo
# everything, GOACL_SKIP_DEVICE_CHECK=1 to skip the Go check (e.g. without Go).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache/pjrt"
DEST="$CACHE/cpu"
PLUGIN="$DEST/pjrt_c_api_cpu_plugin.so"
STAMP="$DEST/INSTALLED"
PYTHON=${PYTHON:-python3}
# Package, version and the plugin's path inside the wheel, in order of preference.
CANDIDATES=(
  "xla-cpu-pjrt==0.0.1 xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so"
  "lammps-jax-pjrt-cpu==0.11.2 lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"
)

say() { echo "install-xla-cpu: $*" >&2; }
die() { echo "install-xla-cpu: ERROR: $*" >&2; exit 1; }

# check_loads FILE: dlopen the plugin, call GetPjrtApi and print its PJRT C API version.
check_loads() {
  "$PYTHON" "$(dirname "${BASH_SOURCE[0]}")/pjrt_api_version.py" "$1"
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) die "the XLA CPU plugin wheels on PyPI (xla-cpu-pjrt, lammps-jax-pjrt-cpu) are for Linux x86-64 only; this is $(uname -s) $(uname -m). Build or obtain a PJRT CPU plugin and set GOMLX_BACKEND=xla:/absolute/path/to/it.so" ;;
esac
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: it is needed (with pip) to download the PyPI package xla-cpu-pjrt; set PYTHON=/path/to/python3"

if [ "${XLA_CPU_PJRT_REINSTALL:-0}" = 1 ]; then
  rm -f "$STAMP" "$PLUGIN"
fi

if [ -f "$PLUGIN" ] && [ -f "$STAMP" ]; then
  if api=$(check_loads "$PLUGIN" 2>&1); then
    say "already installed: $(head -n1 "$STAMP"), PJRT C API $api"
    echo "$PLUGIN"
    exit 0
  fi
  say "the installed plugin does not load ($api); installing it again"
  rm -f "$STAMP" "$PLUGIN"
fi

"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip: it is needed to download the PyPI package xla-cpu-pjrt (Debian: apt-get install python3-pip)"
mkdir -p "$CACHE/wheels" "$DEST"
chosen="" inner="" errors=""
for cand in "${CANDIDATES[@]}"; do
  spec=${cand%% *} path=${cand#* }
  name=${spec%%==*} version=${spec#*==}
  say "downloading $spec from PyPI (pip, into .cache/pjrt/wheels)"
  if out=$("$PYTHON" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$CACHE/wheels" "$spec" 2>&1); then
    wheel=$(ls -t "$CACHE/wheels/${name//-/_}-$version-"*.whl 2>/dev/null | head -n1)
    if [ -n "$wheel" ]; then
      chosen=$spec inner=$path
      break
    fi
    errors+=$'\n'"  $spec: pip reported success but no wheel is in $CACHE/wheels"
  else
    errors+=$'\n'"  $spec: $(echo "$out" | grep -iE 'error|no matching|could not' | head -n3)"
  fi
  say "could not download $spec; trying the next package"
done
[ -n "$chosen" ] || die "could not download the XLA CPU plugin from PyPI: neither package xla-cpu-pjrt nor lammps-jax-pjrt-cpu could be had:$errors
Check that PyPI is reachable (pip download xla-cpu-pjrt==0.0.1), or install a PJRT CPU plugin yourself and set GOMLX_BACKEND=xla:/absolute/path/to/it.so"

say "extracting $inner from $(basename "$wheel")"
tmp="$DEST/.extract.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' "$wheel" "$inner" "$tmp" ||
  die "$(basename "$wheel") (package ${chosen%%==*}) does not hold $inner: the package's layout changed; update CANDIDATES in $0"
chmod 0755 "$tmp/$inner"
mv -f "$tmp/$inner" "$PLUGIN"

api=$(check_loads "$PLUGIN" 2>&1) || die "the plugin from ${chosen%%==*} does not load: $api"
say "loaded $PLUGIN: PJRT C API $api"
if [ "${GOACL_SKIP_DEVICE_CHECK:-0}" != 1 ]; then
  if command -v go >/dev/null 2>&1; then
    say "checking that GoMLX compiles and runs a graph on it (acl bench -device-check)"
    if ! check=$(cd "$ROOT" && GOMLX_BACKEND="xla:$PLUGIN" go run ./cmd/acl bench -device-check 2>&1); then
      echo "$check" >&2
      die "the plugin from ${chosen%%==*} loads but GoMLX could not run a graph on it (see above)"
    fi
    say "$(echo "$check" | tail -n1)"
  else
    say "Go not on PATH: skipped the graph check (acl bench -device-check)"
  fi
fi
printf '%s (PJRT C API %s)\nwheel: %s\ninstalled: %s\n' "$chosen" "$api" "$(basename "$wheel")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STAMP"
echo "$PLUGIN"
