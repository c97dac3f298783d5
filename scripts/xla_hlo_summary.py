#!/usr/bin/env python3
"""Summarises XLA's after-optimisation dumps (XLA_FLAGS="--xla_dump_to=DIR
--xla_dump_hlo_as_text"), CPU or GPU, for scripts/gpu-check.sh and by hand:

    python3 scripts/xla_hlo_summary.py DUMPDIR [DUMPDIR...]

For every *after_optimizations.txt module: custom calls by target (cuDNN convolutions,
cuBLAS GEMMs) with the algorithm XLA fixed for each cuDNN convolution (missing algorithms
mean autotuning was off), plain convolution() and dot() instructions left to XLA's own
emitters, fusions by kind and by name, transposes and copies, and the largest reduce
inputs (GoMLX v0.26.0's own matmul gradient shows up as a reduce of an outer product, e.g.
f32[1536,2048,512]; goacl's engine/dotgrad.go replaces it with two matmuls).
"""
import collections
import glob
import math
import os
import re
import sys

SHAPE = r"(?:f32|f16|bf16|f64|s32|s64|u32|u64|pred)\[([\d,]*)\]"


def elems(dims):
    return math.prod(int(d) for d in dims.split(",") if d) if dims else 1


def cudnn_algorithms(text):
    algos = collections.Counter()
    for line in text.splitlines():
        m = re.search(r'custom_call_target="(__cudnn\$conv\w*)"', line)
        if not m:
            continue
        a = re.search(r'"algorithm":\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}', line)
        if not a:
            algos[(m.group(1), "NO ALGORITHM SET (autotuning off?)")] += 1
            continue
        fields = []
        for key in ("algo_id", "math_type", "workspace_size"):
            f = re.search(r'"%s":\{?"?([^",}]*)' % key, a.group(1))
            if f:
                fields.append("%s=%s" % (key, f.group(1)))
        algos[(m.group(1), " ".join(fields))] += 1
    return algos


def summarise(path):
    text = open(path, errors="replace").read()
    print("== %s  (%.1f MB)" % (os.path.basename(path), len(text) / 1e6))
    for target, n in sorted(collections.Counter(re.findall(r'custom_call_target="([^"]+)"', text)).items()):
        print("   custom-call %-40s %5d" % (target, n))
    for (target, algo), n in sorted(cudnn_algorithms(text).items()):
        print("   %-32s %5d  algorithm: %s" % (target, n, algo))
    print("   plain convolution(): %d   dot(): %d   transpose(): %d   copy(): %d" % (
        len(re.findall(r"\sconvolution\(", text)), len(re.findall(r"\sdot\(", text)),
        len(re.findall(r"\stranspose\(", text)), len(re.findall(r"\scopy\(", text))))
    kinds = collections.Counter(re.findall(r"kind=(k\w+)", text))
    print("   fusions by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    entry = re.search(r"^ENTRY .*?^\}", text, re.M | re.S)
    if entry:
        names = collections.Counter(re.sub(r"\.\d+$", "", m) for m in re.findall(r"%([\w.\-]+) = [^ ]+ fusion\(", entry.group(0)))
        print("   entry fusions by name: " + ", ".join("%s %d" % kv for kv in names.most_common(12)))
    reduces = sorted({(elems(m.group(2)), m.group(2), m.group(1))
                      for m in re.finditer(r"= " + SHAPE + r"(?:\{[^}]*\})? reduce\(" + SHAPE, text)}, reverse=True)
    for n, src, dst in reduces[:6]:
        print("   reduce [%s] -> [%s]  (%.1f M elements in)" % (src, dst, n / 1e6))


def main():
    files = []
    for d in sys.argv[1:]:
        files += sorted(glob.glob(os.path.join(d, "**", "*after_optimizations.txt"), recursive=True))
    if not files:
        print("no *after_optimizations.txt under", sys.argv[1:])
    for f in files:
        try:
            summarise(f)
        except Exception as e:  # a report: keep going
            print("== %s: %s" % (f, e))


if __name__ == "__main__":
    main()
