#!/usr/bin/env python3
"""PyTorch peer of `acl bench-ops`: times single convolutions and matmuls (forward, input
gradient, weight gradient) of the ResNet-18 CIFAR shapes, so that goacl's kernels can be
compared with PyTorch's on the same machine in the same run (cmd/acl/bench_ops.go).

Each op is timed in every PyTorch *variant* of its kind, and `acl bench-ops` compares
goacl with the fastest:

  conv    nchw            F.conv2d / aten.convolution_backward, default (NCHW) tensors
          nhwc            the same on channels_last tensors (goacl's own layout)
  matmul  mm              torch.mm (dx = dy @ b.T, dw = a.T @ dy): the BLAS PyTorch was
                          built with (Debian's python3-torch: generic BLAS, i.e. the
                          system's libblas.so.3)
          onednn-rows     the same product as a 1x1 convolution through oneDNN, the rows
                          of a as the batch: x [M,K,1,1], weight [N,K,1,1]
          onednn-spatial  the same, the rows of a as one spatial axis, channels_last:
                          x [1,K,M,1]

The gradients call aten.convolution_backward with an output mask selecting only the
wanted gradient: what autograd runs for a convolution whose other operand needs no
gradient (torch.nn.grad.conv2d_weight in PyTorch 1.13 instead runs a grouped
convolution that is many times slower, so it is not used).

Serve protocol (--serve; one JSON object per line both ways). After start-up the peer
prints {"ready": true, "torch": ..., "threads": ...}; then it answers:

  {"cmd": "prepare", "op": SPEC, "min_time": s}  allocates the op's tensors (uniform in
      [-1, 1)), runs every variant four times, calibrates reps per variant so that one sample
      takes about min_time s; answers {"reps": {variant: n}}
  {"cmd": "time", "op": SPEC}   one sample per variant (order rotating between calls):
      {"variants": {variant: {"seconds": s, "cpu_seconds": c}}}, s and c per run
      (the sample's total divided by its reps; c is the process CPU time, all threads)
  {"cmd": "check", "op": SPEC, "dir": D}   loads D/x.npy, D/w.npy, D/dy.npy in goacl's
      layouts (x NHWC or [M,K], w [kh,kw,Cin,Cout] or [K,N], dy like the op's forward
      output), computes the op's pass in every variant and writes D/<variant>.npy in
      goacl's layout of the result; answers {"files": {variant: path}}
  {"cmd": "quit"}

SPEC is {"name", "kind": "conv"|"matmul", "pass": "fwd"|"dx"|"dw"} plus, for conv,
"n", "h", "w", "cin", "cout", "k", "stride", "pad" (square kernel, same stride and
padding on both axes, no bias) and, for matmul, "m", "kdim", "ndim" (a [M,K] @ b [K,N]).
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

VARIANTS = {"conv": ["nchw", "nhwc"], "matmul": ["mm", "onednn-rows", "onednn-spatial"]}
MASK = {"dx": [True, False, False], "dw": [False, True, False]}


def conv_out(spec):
    return (spec["h"] + 2 * spec.get("pad", 0) - spec["k"]) // spec["stride"] + 1, \
           (spec["w"] + 2 * spec.get("pad", 0) - spec["k"]) // spec["stride"] + 1


def conv_fn(spec, variant, x, w, dy):
    """x [N,Cin,H,W], w [Cout,Cin,k,k], dy [N,Cout,Ho,Wo] (logical NCHW): the function
    computing spec's pass in this variant, and the function mapping its result back to
    goacl's layout."""
    s, p = spec["stride"], spec.get("pad", 0)
    if variant == "nhwc":
        cl = torch.channels_last
        x, w, dy = x.contiguous(memory_format=cl), w.contiguous(memory_format=cl), dy.contiguous(memory_format=cl)
    else:
        x, w, dy = x.contiguous(), w.contiguous(), dy.contiguous()
    ps = spec["pass"]
    if ps == "fwd":
        return (lambda: F.conv2d(x, w, None, s, p)), lambda r: r.permute(0, 2, 3, 1)
    i = 0 if ps == "dx" else 1
    fn = lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, MASK[ps])[i]
    back = (lambda r: r.permute(0, 2, 3, 1)) if ps == "dx" else (lambda r: r.permute(2, 3, 1, 0))
    return fn, back


def matmul_fn(spec, variant, a, b, dy):
    """a [M,K], b [K,N], dy [M,N]: the function computing spec's pass in this variant and
    the function mapping its result to a plain matrix."""
    m, k, n = spec["m"], spec["kdim"], spec["ndim"]
    ps = spec["pass"]
    if variant == "mm":
        a, b, dy = a.contiguous(), b.contiguous(), dy.contiguous()
        bt, at = b.t(), a.t()
        fn = {"fwd": lambda: torch.mm(a, b), "dx": lambda: torch.mm(dy, bt), "dw": lambda: torch.mm(at, dy)}[ps]
        return fn, lambda r: r
    # A 1x1 convolution: weight [N,K,1,1] holds b transposed.
    if variant == "onednn-rows":
        x = a.contiguous().view(m, k, 1, 1)
        g = dy.contiguous().view(m, n, 1, 1)
        w = b.t().contiguous().view(n, k, 1, 1)
        unrows = lambda r, c: r.reshape(m, c)
    else:  # onednn-spatial: NHWC [1, M, 1, K] seen as logical NCHW [1, K, M, 1].
        x = a.contiguous().view(1, m, 1, k).permute(0, 3, 1, 2)
        g = dy.contiguous().view(1, m, 1, n).permute(0, 3, 1, 2)
        w = b.t().contiguous().view(n, k, 1, 1).contiguous(memory_format=torch.channels_last)
        unrows = lambda r, c: r.permute(0, 2, 3, 1).reshape(m, c)
    if ps == "fwd":
        return (lambda: F.conv2d(x, w)), lambda r: unrows(r, n)
    i = 0 if ps == "dx" else 1
    fn = lambda: torch.ops.aten.convolution_backward(g, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, MASK[ps])[i]
    if ps == "dx":
        return fn, lambda r: unrows(r, k)
    return fn, lambda r: r.reshape(n, k).t()


def make_inputs(spec, gen):
    """Uniform [-1, 1) operands in PyTorch's logical layouts."""
    u = lambda *shape: torch.rand(*shape, generator=gen) * 2 - 1
    if spec["kind"] == "conv":
        ho, wo = conv_out(spec)
        return (u(spec["n"], spec["cin"], spec["h"], spec["w"]), u(spec["cout"], spec["cin"], spec["k"], spec["k"]),
                u(spec["n"], spec["cout"], ho, wo))
    return u(spec["m"], spec["kdim"]), u(spec["kdim"], spec["ndim"]), u(spec["m"], spec["ndim"])


def build(spec, variant, inputs):
    maker = conv_fn if spec["kind"] == "conv" else matmul_fn
    return maker(spec, variant, *inputs)


class Op:
    def __init__(self, spec, seed):
        gen = torch.Generator().manual_seed(seed)
        self.variants = VARIANTS[spec["kind"]]
        inputs = make_inputs(spec, gen)
        self.fns = {v: build(spec, v, inputs)[0] for v in self.variants}
        self.reps = {}
        self.calls = 0

    def prepare(self, min_time):
        for v, fn in self.fns.items():
            fn()  # first run: oneDNN primitive creation, allocations
            t = float("inf")
            for _ in range(3):  # the fastest of three: one slow run would shorten every sample
                t0 = time.perf_counter()
                fn()
                t = min(t, time.perf_counter() - t0)
            self.reps[v] = max(1, min(100000, int(min_time / max(t, 1e-7)) + 1))
        return {"reps": self.reps}

    def time(self):
        out = {}
        order = self.variants[self.calls % len(self.variants):] + self.variants[:self.calls % len(self.variants)]
        self.calls += 1
        for v in order:
            fn, n = self.fns[v], self.reps[v]
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            out[v] = {"seconds": (time.perf_counter() - t0) / n, "cpu_seconds": (time.process_time() - c0) / n}
        return {"variants": out}


def check(spec, d):
    """Recomputes spec's pass on goacl's operands (see the module doc) in every variant."""
    import numpy as np

    load = lambda f: torch.from_numpy(np.load(os.path.join(d, f)))
    x, w, dy = load("x.npy"), load("w.npy"), load("dy.npy")
    if spec["kind"] == "conv":
        x, w, dy = x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), dy.permute(0, 3, 1, 2)
    files = {}
    for v in VARIANTS[spec["kind"]]:
        fn, back = build(spec, v, (x, w, dy))
        path = os.path.join(d, v + ".npy")
        np.save(path, back(fn()).contiguous().numpy())
        files[v] = path
    return {"files": files}


def serve(seed):
    ops = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line == "quit":
            break
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "quit":
                break
            spec = req["op"]
            if cmd == "prepare":
                ops[spec["name"]] = Op(spec, seed)
                ans = ops[spec["name"]].prepare(float(req.get("min_time", 0.1)))
            elif cmd == "time":
                if spec["name"] not in ops:
                    raise ValueError("op %r was not prepared" % spec["name"])
                ans = ops[spec["name"]].time()
            elif cmd == "check":
                ans = check(spec, req["dir"])
            else:
                raise ValueError("unknown command %r: use prepare, time, check or quit" % cmd)
        except Exception as e:  # answered, so that the Go side reports it
            ans = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(ans), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--serve", action="store_true", help="answer JSON commands on stdin (see above)")
    a = p.parse_args()
    if not a.serve:
        sys.exit("pytorch_ops.py: run by `acl bench-ops` with --serve (see the module doc)")
    torch.set_num_threads(a.threads)
    info = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "blas": "generic" if "BLAS_INFO=generic" in torch.__config__.show() else "see torch.__config__.show()"}
    print(json.dumps(info), flush=True)
    serve(a.seed)


if __name__ == "__main__":
    main()
