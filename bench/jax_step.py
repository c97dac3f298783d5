#!/usr/bin/env python3
"""JAX peer of goacl's standard adversarial-contrastive benchmark step.

It computes exactly what benchmark.NewStep (acl/benchmark/step.go) and bench/pytorch_step.py
compute, as one jax.jit-compiled function per workload, so that `acl bench -peer jax`
can time goacl on XLA against JAX on the same compiler (XLA CPU here, XLA CUDA on a GPU):

  * encoder: CIFAR ResNet-18 at base width W (3x3 stem, BN, ReLU, no max-pool, stages of
    2 BasicBlocks with W, 2W, 4W, 8W channels and strides 1, 2, 2, 2, 1x1 conv + BN
    shortcut when the shape changes, global average pooling), bias-free convolutions
    padded like PyTorch (1 on each side for 3x3), BatchNorm momentum 0.1 / eps 1e-5;
    RoCL's projector Linear(8W, 2048) -> ReLU -> Linear(2048, 128). NHWC images and HWIO
    kernels, the layouts goacl uses (its variables load here unchanged);
  * two views x1, x2 of B 32x32x3 images in [0, 1] (a fixed synthetic batch, uniform);
  * attack with the model in eval mode (BN running statistics, nothing updates, only input
    gradients): target = z(x2) without gradient; PGD-5, eps 8/255, step 2/255, uniform
    random start clamped to [0, 1], clip to [0, 1] then project to the eps-ball (RoCL's
    order), maximising RoCL's 2-view NT-Xent of [z(x_adv); target];
  * loss in train mode (BN batch statistics over the 3B rows, running statistics
    updated): RoCL's 3-view NT-Xent (Base variant, t = 0.5) of z([x1; x2; x_adv]), every
    similarity's contrast side detached;
  * update: SGD as torch.optim.SGD(lr 0.01, momentum 0.9, weight_decay 5e-4): coupled
    weight decay on every parameter, momentum buffer initialised with the first gradient.

Evaluation workload: PGD-20 (same eps and step, uniform random start without clamp,
project then clip) on the mean cross-entropy of a 10-class linear head on the encoder
features in eval mode, then a clean forward of the adversarial batch; it returns the
number of correct predictions.

The PGD loops are Python loops, so they unroll at trace time into one XLA program, as
goacl's graph does. Parameters, BN statistics and momentum buffers are donated to the
step, so XLA updates them in place.

Usage:
  jax_step.py --width 16 --batch 16 --steps 5          # time N train steps, print JSON
  jax_step.py --width 16 --batch 16 --serve            # line protocol of `acl bench`
  jax_step.py --parity DIR                             # recompute Go's losses (acl bench -parity DIR -peer jax)
  jax_step.py --width 64 --batch 512 --compile-only    # time jit lowering and XLA compile of the train step
  jax_step.py --width 16 --batch 16 --stablehlo F      # write the train step's StableHLO (acl hlo -run F times it on goacl's XLA)
  jax_step.py --run-stablehlo F --steps 5              # compile and time a StableHLO file (e.g. acl hlo -stablehlo's) on JAX's XLA

Serve protocol (one JSON object per output line): after start-up it prints
{"ready": true, ...}; then reads "train N", "eval N" and "quit" on stdin and answers
{"kind": "train"|"eval", "seconds": [...], "cpu_seconds": [...], "value": last loss or
correct count}; cpu_seconds is the process CPU time (all threads) of each step.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

EPS = 8.0 / 255
STEP = 2.0 / 255
NORM_EPS = 1e-8  # RoCL's 1e-8 in the normalisation and in NT_xent
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


# XLA flags the peer adds for itself (never for goacl's process). jaxlib 0.10.2's XLA CPU
# runs dots and convolutions through XNNPACK by default, on one thread on this project's
# 2-core machine: the W16/B16 step took 0.42-0.65 s against 0.27 s with XLA's own
# multi-threaded kernels (measured, see docs/performance.md). The peer runs
# JAX at its best, as the PyTorch peer runs with OpenBLAS; --xla-flags "" keeps XLA's
# defaults.
DEFAULT_XLA_FLAGS = "--xla_cpu_use_xnnpack=false"


def default_xla_flags():
    """DEFAULT_XLA_FLAGS where JAX will run on the CPU (no CUDA plugin installed), else ""."""
    import importlib.util
    for name in ("jax_plugins.xla_cuda13", "jax_plugins.xla_cuda12", "jax_cuda13_plugin", "jax_cuda12_plugin"):
        try:
            if importlib.util.find_spec(name) is not None:
                return ""
        except ImportError:
            continue
    return DEFAULT_XLA_FLAGS


def import_jax(extra_flags):
    """Imports jax (float32 only, as goacl's step) with extra_flags added to XLA_FLAGS."""
    if extra_flags:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + extra_flags).strip()
    import jax
    jax.config.update("jax_enable_x64", False)
    return jax


def layer_names(width):
    """The goacl variable scopes of ResNet-18 and RoCL's projector, in forward order, with
    their kinds and shapes: ("conv", scope, (kh, kw, cin, cout)), ("bn", scope, (c,)),
    ("linear", scope, (in, out))."""
    out = [("conv", "/resnet18/stem/conv", (3, 3, 3, width)), ("bn", "/resnet18/stem/bn", (width,))]
    cin = width
    for s, stride in enumerate([1, 2, 2, 2]):
        c = width << s
        for b in (1, 2):
            p = "/resnet18/stage%d/block%d" % (s + 1, b)
            i = cin if b == 1 else c
            out += [("conv", p + "/conv1", (3, 3, i, c)), ("bn", p + "/bn1", (c,)),
                    ("conv", p + "/conv2", (3, 3, c, c)), ("bn", p + "/bn2", (c,))]
            if b == 1 and (stride != 1 or i != c):
                out += [("conv", p + "/shortcut/conv", (1, 1, i, c)), ("bn", p + "/shortcut/bn", (c,))]
        cin = c
    out += [("linear", "/projector/linear_1", (8 * width, 2048)), ("linear", "/projector/linear_2", (2048, 128))]
    return out


def init_model(width, seed):
    """PyTorch's default initialisation (kaiming_uniform(a=sqrt 5): U(+-1/sqrt(fan_in)) for
    weights and linear biases; BN gamma 1, beta 0, running mean 0, variance 1), as float32
    numpy arrays keyed by goacl's variable names (scope/leaf)."""
    rng = np.random.default_rng(seed)
    params, stats = {}, {}
    for kind, scope, shape in layer_names(width) + [("linear", "/bench_head/linear", (8 * width, 10))]:
        if kind == "bn":
            params[scope + "/gamma"] = np.ones(shape, np.float32)
            params[scope + "/beta"] = np.zeros(shape, np.float32)
            stats[scope + "/running_mean"] = np.zeros(shape, np.float32)
            stats[scope + "/running_var"] = np.ones(shape, np.float32)
            continue
        fan_in = int(np.prod(shape[:-1]))
        bound = 1.0 / np.sqrt(fan_in)
        params[scope + "/weights"] = rng.uniform(-bound, bound, shape).astype(np.float32)
        if kind == "linear":
            params[scope + "/biases"] = rng.uniform(-bound, bound, shape[-1:]).astype(np.float32)
    return params, stats


class Model:
    """ResNet-18 + RoCL projector (+ the evaluation head) as pure functions of a parameter
    dict and a BN statistics dict."""

    def __init__(self, jax, width):
        self.jax, self.jnp, self.lax = jax, jax.numpy, jax.lax
        self.width = width

    def conv(self, p, scope, x, stride):
        w = p[scope + "/weights"]
        pad = (w.shape[0] - 1) // 2  # PyTorch's padding=1 for 3x3, 0 for 1x1
        return self.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad), (pad, pad)],
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def bn(self, p, stats, new_stats, scope, x, train):
        jnp = self.jnp
        g, b = p[scope + "/gamma"], p[scope + "/beta"]
        if train:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            n = x.shape[0] * x.shape[1] * x.shape[2]
            m = BN_MOMENTUM
            new_stats[scope + "/running_mean"] = (1 - m) * stats[scope + "/running_mean"] + m * self.lax.stop_gradient(mean)
            new_stats[scope + "/running_var"] = (1 - m) * stats[scope + "/running_var"] + m * self.lax.stop_gradient(var) * (n / (n - 1))
        else:
            mean, var = stats[scope + "/running_mean"], stats[scope + "/running_var"]
        scale = g / jnp.sqrt(var + BN_EPS)
        return x * scale + (b - mean * scale)

    def features(self, p, stats, x, train):
        """Encoder features [N, 8W]; returns (features, updated BN statistics)."""
        relu = self.jax.nn.relu
        new_stats = dict(stats)
        out = relu(self.bn(p, stats, new_stats, "/resnet18/stem/bn", self.conv(p, "/resnet18/stem/conv", x, 1), train))
        cin = self.width
        for s, stride in enumerate([1, 2, 2, 2]):
            c = self.width << s
            for b in (1, 2):
                pre = "/resnet18/stage%d/block%d" % (s + 1, b)
                st = stride if b == 1 else 1
                h = relu(self.bn(p, stats, new_stats, pre + "/bn1", self.conv(p, pre + "/conv1", out, st), train))
                h = self.bn(p, stats, new_stats, pre + "/bn2", self.conv(p, pre + "/conv2", h, 1), train)
                sc = out
                if b == 1 and (stride != 1 or cin != c):
                    sc = self.bn(p, stats, new_stats, pre + "/shortcut/bn", self.conv(p, pre + "/shortcut/conv", out, stride), train)
                out = relu(h + sc)
            cin = c
        return self.jnp.mean(out, axis=(1, 2)), new_stats

    def linear(self, p, scope, h):
        return h @ p[scope + "/weights"] + p[scope + "/biases"]

    def embed(self, p, stats, x, train):
        h, new_stats = self.features(p, stats, x, train)
        z = self.linear(p, "/projector/linear_2", self.jax.nn.relu(self.linear(p, "/projector/linear_1", h)))
        return z, new_stats


def rocl_pair_losses(jnp, lax, z, t):
    """RoCL's per-pair NT-Xent losses: S = zh @ sg(zh).T / t with zh = z / (|z| + 1e-8),
    l(r->c) = -log(e^S_rc / (sum_{k != r} e^S_rk + 1e-8) + 1e-8)."""
    zh = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + NORM_EPS)
    s = zh @ lax.stop_gradient(zh).T / t
    eye = jnp.eye(s.shape[0], dtype=bool)
    e = jnp.where(eye, 0.0, jnp.exp(s))
    den = jnp.sum(e, axis=1, keepdims=True) + NORM_EPS
    return -jnp.log(e / den + NORM_EPS)


def rocl_two_view(jnp, lax, a, b, t):
    bsz = a.shape[0]
    ell = rocl_pair_losses(jnp, lax, jnp.concatenate([a, b]), t)
    idx = jnp.arange(bsz)
    return (jnp.sum(ell[idx, bsz + idx]) + jnp.sum(ell[bsz + idx, idx])) / (2 * bsz)


def rocl_three_view(jnp, lax, z, t):
    r = z.shape[0]
    bsz = r // 3
    ell = rocl_pair_losses(jnp, lax, z, t)
    inst = jnp.arange(r) % bsz
    pos = (inst[:, None] == inst[None, :]) & ~jnp.eye(r, dtype=bool)
    return jnp.sum(jnp.where(pos, ell, 0.0)) / r


class Workload:
    def __init__(self, jax, width, batch, seed, attack_steps, eval_steps, cfg=None, params=None, stats=None):
        cfg = cfg or {}
        self.jax, jnp = jax, jax.numpy
        self.model = Model(jax, width)
        p0, s0 = init_model(width, seed)
        if params is not None:
            p0.update(params)
            s0.update(stats)
        self.params = {k: jnp.asarray(v) for k, v in p0.items()}
        self.stats = {k: jnp.asarray(v) for k, v in s0.items()}
        # torch.optim.SGD starts the buffer at the first step's d; a zero buffer gives the
        # same first update (0.9·0 + d), so every step is one compiled program.
        self.momentum_buf = {k: jnp.zeros_like(v) for k, v in self.params.items()}
        self.lr, self.mom, self.wd = cfg.get("learning_rate", 0.01), cfg.get("momentum", 0.9), cfg.get("weight_decay", 5e-4)
        self.attack_steps, self.eval_steps = attack_steps, eval_steps
        self.eps, self.step = cfg.get("epsilon", EPS), cfg.get("step_size", STEP)
        self.t = cfg.get("temperature", 0.5)
        self.random_start = not cfg.get("no_random_start", False)
        rng = np.random.default_rng(seed)
        u = lambda: jnp.asarray(rng.random((batch, 32, 32, 3), dtype=np.float32))
        self.x1, self.x2, self.xe = u(), u(), u()
        self.y = jnp.asarray(rng.integers(0, 10, batch, dtype=np.int32))
        self.key = jax.random.PRNGKey(seed)
        self._train = jax.jit(self._train_fn, donate_argnums=(0, 1, 2))
        self._eval = jax.jit(self._eval_fn)

    def _train_fn(self, params, stats, buf, x1, x2, key):
        jax, jnp, lax, m = self.jax, self.jax.numpy, self.jax.lax, self.model
        enc = {k: v for k, v in params.items() if not k.startswith("/bench_head/")}
        target = lax.stop_gradient(m.embed(enc, stats, x2, False)[0])
        eps, step = self.eps, self.step
        lo, hi = x1 - eps, x1 + eps
        adv = x1
        if self.random_start:
            adv = jnp.clip(x1 + jax.random.uniform(key, x1.shape, minval=-eps, maxval=eps), 0, 1)
        attack = jax.grad(lambda a: rocl_two_view(jnp, lax, m.embed(enc, stats, a, False)[0], target, self.t))
        for _ in range(self.attack_steps):
            adv = adv + step * jnp.sign(attack(adv))
            adv = jnp.minimum(jnp.maximum(jnp.clip(adv, 0, 1), lo), hi)
        adv = lax.stop_gradient(adv)

        def loss_fn(enc):
            z, new_stats = m.embed(enc, stats, jnp.concatenate([x1, x2, adv]), True)
            return rocl_three_view(jnp, lax, z, self.t), new_stats

        (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(enc)
        new_params, new_buf = dict(params), dict(buf)
        for k, g in grads.items():
            d = g + self.wd * params[k]
            b = self.mom * buf[k] + d
            new_buf[k] = b
            new_params[k] = params[k] - self.lr * b
        return new_params, new_stats, new_buf, loss

    def _eval_fn(self, params, stats, x, y, key):
        jax, jnp, lax, m = self.jax, self.jax.numpy, self.jax.lax, self.model

        def logits(v):
            return m.linear(params, "/bench_head/linear", m.features(params, stats, v, False)[0])

        def ce(v):
            lp = jax.nn.log_softmax(logits(v))
            return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

        eps, step = self.eps, self.step
        adv = x
        if self.random_start:
            adv = x + jax.random.uniform(key, x.shape, minval=-eps, maxval=eps)
        g = jax.grad(ce)
        for _ in range(self.eval_steps):
            adv = adv + step * jnp.sign(g(adv))
            adv = jnp.clip(jnp.minimum(jnp.maximum(adv, x - eps), x + eps), 0, 1)
        return jnp.sum((jnp.argmax(logits(lax.stop_gradient(adv)), axis=1) == y).astype(jnp.float32))

    def train_step(self):
        self.key, sub = self.jax.random.split(self.key)
        self.params, self.stats, self.momentum_buf, loss = self._train(
            self.params, self.stats, self.momentum_buf, self.x1, self.x2, sub)
        return float(loss)

    def eval_batch(self):
        self.key, sub = self.jax.random.split(self.key)
        return float(self._eval(self.params, self.stats, self.xe, self.y, sub))

    def timed(self, kind, n):
        fn = self.train_step if kind == "train" else self.eval_batch
        seconds, cpu, value = [], [], None
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            value = fn()  # float() waits for the result
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"kind": kind, "seconds": seconds, "cpu_seconds": cpu, "value": value}

    def compile_times(self):
        """Seconds to trace and lower the train step to StableHLO, and to compile the
        lowered program with XLA."""
        self.key, sub = self.jax.random.split(self.key)
        t0 = time.perf_counter()
        lowered = self._train.lower(self.params, self.stats, self.momentum_buf, self.x1, self.x2, sub)
        t1 = time.perf_counter()
        lowered.compile()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1


def lowered_text(w):
    """The train step's program as JAX hands it to XLA (StableHLO text)."""
    key = w.jax.random.PRNGKey(0)
    return w._train.lower(w.params, w.stats, w.momentum_buf, w.x1, w.x2, key).as_text()


def run_stablehlo(path, reps, xla_flags):
    """Compiles the StableHLO file with this jaxlib's XLA and times it: uniform [0,1)
    floats and zero integers as inputs, no donation (aliasing attributes removed), one
    untimed run, then reps timed ones. The same file runs on goacl's XLA plugin with
    `acl hlo -run FILE`: the pair separates the program from the compiler."""
    import re
    jax = import_jax(xla_flags)
    jax.config.update("jax_enable_x64", True)  # goacl's programs carry a u64 RNG state
    from jax.extend import backend as jb
    from jax._src.lib import xla_client as xc
    text = re.sub(r" \{tf\.aliasing_output = \d+ : i32\}", "", open(path).read())
    sig = re.search(r"func\.func (?:public )?@main\((.*?)\)\s*(?:->|\{)", text, re.S)
    if not sig:
        sys.exit("%s: no func.func @main" % path)
    types = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "ui32": np.uint32, "ui64": np.uint64, "i1": np.bool_}
    b = jb.get_backend()
    dev = b.devices()[0]
    rng = np.random.default_rng(1)
    ins = []
    for t in re.findall(r"%[\w.]+: tensor<([^>]*)>", sig.group(1)):
        parts = t.split("x")
        dims = [int(d) for d in parts[:-1]]
        dt = types[parts[-1]]
        a = rng.random(dims, dtype=dt) if parts[-1] in ("f32", "f64") else np.zeros(dims, dt)
        ins.append(jax.device_put(a, dev))
    t0 = time.perf_counter()
    exe = b.compile_and_load(text, xc.DeviceList((dev,)), xc.CompileOptions())
    compile_s = time.perf_counter() - t0
    walls, cpus = [], []
    for r in range(reps + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        for o in exe.execute(ins):
            o.block_until_ready()
        if r:
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    med = lambda v: sorted(v)[len(v) // 2]
    print(json.dumps(dict(info(jax), file=path, inputs=len(ins), compile_seconds=compile_s, run_seconds=walls,
                          run_cpu_seconds=cpus, median_run_seconds=med(walls), median_run_cpu_seconds=med(cpus))))


def info(jax):
    import jaxlib
    d = jax.devices()[0]
    return {"ready": True, "jax": jax.__version__, "jaxlib": jaxlib.__version__, "device": "%s" % d,
            "platform": d.platform, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}


def parity(jax, a):
    """Loads the weights and batch written by `acl bench -parity DIR -peer jax`, runs the
    same train steps (no random start) and compares the losses with Go's."""
    with open(os.path.join(a.parity, "manifest.json")) as f:
        man = json.load(f)
    cfg = man["config"]
    params, stats = {}, {}
    for name, fname in man["variables"].items():
        v = np.load(os.path.join(a.parity, fname))
        (stats if name.rsplit("/", 1)[1].startswith("running_") else params)[name] = v
    w = Workload(jax, cfg["width"], cfg["batch"], a.seed, cfg["attack_steps"], cfg["eval_steps"], cfg, params, stats)
    ref, _ = init_model(cfg["width"], a.seed)
    for k in ref:
        if not k.startswith("/bench_head/") and k not in params:
            sys.exit("parity: no goacl value for %s" % k)
        if k in params and params[k].shape != ref[k].shape:
            sys.exit("parity: %s has shape %s, want %s" % (k, params[k].shape, ref[k].shape))
    w.x1 = jax.numpy.asarray(np.load(os.path.join(a.parity, man["x1"])))
    w.x2 = jax.numpy.asarray(np.load(os.path.join(a.parity, man["x2"])))
    losses = [w.train_step() for _ in man["losses"]]
    rel = max(abs(p - g) / max(abs(g), 1e-12) for p, g in zip(losses, man["losses"]))
    ok = rel <= a.parity_tol
    print(json.dumps({"parity": "ok" if ok else "MISMATCH", "go_losses": man["losses"], "jax_losses": losses,
                      "max_relative_difference": rel, "tolerance": a.parity_tol, "jax": jax.__version__}))
    if not ok:
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3, help="timed train steps (without --serve)")
    p.add_argument("--eval-batches", type=int, default=0, help="timed eval batches (without --serve)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (without --serve)")
    p.add_argument("--attack-steps", type=int, default=5)
    p.add_argument("--eval-steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="accepted for the same command line as the PyTorch peer; XLA's CPU client uses all cores, as goacl's XLA backend does")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--serve", action="store_true", help="answer 'train N' / 'eval N' / 'quit' on stdin")
    p.add_argument("--parity", default="", help="folder written by `acl bench -parity -peer jax`: recompute Go's losses")
    p.add_argument("--parity-tol", type=float, default=5e-4,
                   help="largest relative loss difference accepted (PGD sign flips of near-zero gradients give ~1e-4)")
    p.add_argument("--xla-flags", default=None,
                   help="flags added to XLA_FLAGS in this process (default: %s without a CUDA plugin, i.e. XLA's multi-threaded CPU kernels, see DEFAULT_XLA_FLAGS; none with one)" % DEFAULT_XLA_FLAGS)
    p.add_argument("--stablehlo", default="", help="write the train step's lowered program (StableHLO text) to this file and exit")
    p.add_argument("--run-stablehlo", default="", help="compile this StableHLO file with JAX's XLA, time --steps runs and exit (see run_stablehlo)")
    p.add_argument("--compile-only", action="store_true", help="print the train step's trace/lower and XLA compile seconds as JSON")
    a = p.parse_args()
    if a.xla_flags is None:
        a.xla_flags = default_xla_flags()
    if a.run_stablehlo:
        run_stablehlo(a.run_stablehlo, a.steps, a.xla_flags)
        return
    jax = import_jax(a.xla_flags)
    if a.parity:
        parity(jax, a)
        return
    if a.batch < 2 or a.width < 1:
        sys.exit("jax_step.py: --batch must be >= 2 and --width >= 1")
    w = Workload(jax, a.width, a.batch, a.seed, a.attack_steps, a.eval_steps)
    inf = info(jax)
    if a.stablehlo:
        with open(a.stablehlo, "w") as f:
            f.write(lowered_text(w))
        print(json.dumps(dict(inf, stablehlo=a.stablehlo)))
        return
    if a.compile_only:
        lower_s, compile_s = w.compile_times()
        print(json.dumps(dict(inf, width=a.width, batch=a.batch, lower_seconds=lower_s, compile_seconds=compile_s)))
        return
    if a.serve:
        print(json.dumps(inf), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            if cmd[0] not in ("train", "eval") or len(cmd) != 2:
                print(json.dumps({"error": "unknown command %r: use 'train N', 'eval N' or 'quit'" % line.strip()}), flush=True)
                continue
            print(json.dumps(w.timed(cmd[0], int(cmd[1]))), flush=True)
        return
    for _ in range(a.warmup):
        w.train_step()
    out = dict(inf, width=a.width, batch=a.batch, train=w.timed("train", a.steps))
    if a.eval_batches > 0:
        w.eval_batch()
        out["eval"] = w.timed("eval", a.eval_batches)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
