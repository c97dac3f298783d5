#!/usr/bin/env python3
"""PyTorch peer of goacl's standard adversarial-contrastive benchmark step.

It computes exactly what benchmark.NewStep (acl/benchmark/step.go) computes, so that
`acl bench` can time both frameworks on the same machine in the same run:

  * encoder: CIFAR ResNet-18 at base width W (3x3 stem, BN, ReLU, no max-pool, stages of
    2 BasicBlocks with W, 2W, 4W, 8W channels and strides 1, 2, 2, 2, 1x1 conv + BN
    shortcut when the shape changes, global average pooling), bias-free convolutions,
    BatchNorm momentum 0.1 / eps 1e-5; RoCL's projector Linear(8W, 2048) -> ReLU ->
    Linear(2048, 128);
  * two views x1, x2 of B 32x32x3 images in [0, 1] (a fixed synthetic batch, uniform);
  * attack with the model in eval mode (BN uses running statistics, nothing updates, only
    input gradients are computed): target = z(x2) without gradient; PGD-5, eps 8/255,
    step 2/255, uniform random start clamped to [0, 1], clip to [0, 1] then project to the
    eps-ball (RoCL's order), maximising RoCL's 2-view NT-Xent of [z(x_adv); target];
  * loss with the model in train mode (BN batch statistics over the 3B rows, running
    statistics updated): RoCL's 3-view NT-Xent (Base variant, t = 0.5) of
    z([x1; x2; x_adv]), every similarity's contrast side detached;
  * update: torch.optim.SGD(lr 0.01, momentum 0.9, weight_decay 5e-4).

Evaluation workload: PGD-20 (same eps and step, uniform random start without clamp,
project then clip) on the mean cross-entropy of a 10-class linear head on the encoder
features in eval mode, then a clean forward of the adversarial batch; it returns the
number of correct predictions.

Usage:
  pytorch_step.py --width 16 --batch 16 --steps 5          # time N train steps, print JSON
  pytorch_step.py --width 16 --batch 16 --serve            # line protocol for `acl bench`
  pytorch_step.py ... --device cuda                        # on a GPU

Serve protocol (one JSON object per output line): after start-up it prints
{"ready": true, ...}; then reads commands "train N", "eval N" and "quit" from stdin and
answers {"kind": "train"|"eval", "seconds": [...], "cpu_seconds": [...], "value": last loss
or correct count}; cpu_seconds is the process CPU time (all threads) of each step.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 8.0 / 255
STEP = 2.0 / 255
NORM_EPS = 1e-8  # RoCL's 1e-8 in the normalisation and in NT_xent


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for s, stride in enumerate([1, 2, 2, 2]):
            c = width << s
            layers += [BasicBlock(cin, c, stride), BasicBlock(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*layers)
        self.feature_dim = cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


class Embed(nn.Module):
    """Encoder + RoCL projector."""

    def __init__(self, width):
        super().__init__()
        self.encoder = ResNet18(width)
        d = self.encoder.feature_dim
        self.projector = nn.Sequential(nn.Linear(d, 2048), nn.ReLU(), nn.Linear(2048, 128))

    def forward(self, x):
        return self.projector(self.encoder(x))


def rocl_pair_losses(z, t):
    """RoCL's per-pair NT-Xent losses: S = zh @ sg(zh).T / t with zh = z / (|z| + 1e-8),
    l(r->c) = -log(e^S_rc / (sum_{k != r} e^S_rk + 1e-8) + 1e-8)."""
    zh = z / (z.norm(dim=1, keepdim=True) + NORM_EPS)
    s = zh @ zh.detach().t() / t
    eye = torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    e = torch.where(eye, torch.zeros_like(s), torch.exp(s))
    den = e.sum(dim=1, keepdim=True) + NORM_EPS
    return -torch.log(e / den + NORM_EPS)


def rocl_two_view(a, b, t):
    """RoCLTwoViewNTXent: (1/2B) sum_i [l(a_i->b_i) + l(b_i->a_i)]."""
    bsz = a.shape[0]
    ell = rocl_pair_losses(torch.cat([a, b]), t)
    idx = torch.arange(bsz, device=a.device)
    return (ell[idx, bsz + idx].sum() + ell[bsz + idx, idx].sum()) / (2 * bsz)


def rocl_three_view(z, t):
    """RoCLNTXent, Base variant: sum of l over all same-instance pairs of the view-major
    [aug1; aug2; adv] rows, divided by the number of rows 3B."""
    r = z.shape[0]
    bsz = r // 3
    ell = rocl_pair_losses(z, t)
    inst = torch.arange(r, device=z.device) % bsz
    pos = (inst[:, None] == inst[None, :]) & ~torch.eye(r, dtype=torch.bool, device=z.device)
    return torch.where(pos, ell, torch.zeros_like(ell)).sum() / r


class Workload:
    def __init__(self, width, batch, device, seed, attack_steps, eval_steps, cfg=None):
        cfg = cfg or {}
        torch.manual_seed(seed)
        self.device = device
        self.model = Embed(width).to(device)
        self.head = nn.Linear(self.model.encoder.feature_dim, 10).to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.get("learning_rate", 0.01),
                                   momentum=cfg.get("momentum", 0.9), weight_decay=cfg.get("weight_decay", 5e-4))
        self.attack_steps, self.eval_steps = attack_steps, eval_steps
        self.eps, self.step = cfg.get("epsilon", EPS), cfg.get("step_size", STEP)
        self.t = cfg.get("temperature", 0.5)
        self.random_start = not cfg.get("no_random_start", False)
        g = torch.Generator().manual_seed(seed)
        # NCHW here; the same distribution as the Go side's NHWC batch.
        self.x1 = torch.rand(batch, 3, 32, 32, generator=g).to(device)
        self.x2 = torch.rand(batch, 3, 32, 32, generator=g).to(device)
        self.xe = torch.rand(batch, 3, 32, 32, generator=g).to(device)
        self.y = torch.randint(0, 10, (batch,), generator=g).to(device)

    def train_step(self):
        m, x1, x2 = self.model, self.x1, self.x2
        m.eval()
        with torch.no_grad():
            target = m(x2)
        eps, step = self.eps, self.step
        lo, hi = x1 - eps, x1 + eps
        adv = x1.clone()
        if self.random_start:
            adv = (x1 + torch.empty_like(x1).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(self.attack_steps):
            adv.requires_grad_(True)
            loss = rocl_two_view(m(adv), target, self.t)
            (grad,) = torch.autograd.grad(loss, [adv])
            adv = adv.detach() + step * grad.sign()
            adv = torch.min(torch.max(adv.clamp(0, 1), lo), hi)
        adv = adv.detach()
        m.train()
        loss = rocl_three_view(m(torch.cat([x1, x2, adv])), self.t)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def eval_batch(self):
        m, x, y = self.model, self.xe, self.y
        m.eval()

        def logits(v):
            return self.head(m.encoder(v))

        eps, step = self.eps, self.step
        adv = x.clone()
        if self.random_start:
            adv = x + torch.empty_like(x).uniform_(-eps, eps)
        for _ in range(self.eval_steps):
            adv.requires_grad_(True)
            loss = F.cross_entropy(logits(adv), y)
            (grad,) = torch.autograd.grad(loss, [adv])
            adv = adv.detach() + step * grad.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
        with torch.no_grad():
            return float((logits(adv.detach()).argmax(1) == y).sum().item())

    def timed(self, kind, n):
        fn = self.train_step if kind == "train" else self.eval_batch
        seconds, cpu, value = [], [], None
        for _ in range(n):
            self.sync()
            t0, c0 = time.perf_counter(), time.process_time()
            value = fn()
            self.sync()
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"kind": kind, "seconds": seconds, "cpu_seconds": cpu, "value": value}

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def torch_key(go_name):
    """Maps a goacl variable (scope path) to the state_dict key of Embed and the
    transposition from goacl's layout: convolutions [kh,kw,Cin,Cout] -> [Cout,Cin,kh,kw],
    linear weights [in,out] -> [out,in]."""
    parts = go_name.strip("/").split("/")
    leaf = {"weights": "weight", "gamma": "weight", "beta": "bias", "biases": "bias",
            "running_mean": "running_mean", "running_var": "running_var"}[parts[-1]]
    if parts[0] == "projector":
        layer = {"linear_1": "0", "linear_2": "2"}[parts[1]]
        return "projector.%s.%s" % (layer, leaf), (1, 0) if leaf == "weight" else None
    assert parts[0] == "resnet18", go_name
    conv = parts[-1] == "weights"
    perm = (3, 2, 0, 1) if conv else None
    if parts[1] == "stem":
        return "encoder.%s.%s" % ("conv1" if parts[2] == "conv" else "bn1", leaf), perm
    stage, block = int(parts[1][len("stage"):]), int(parts[2][len("block"):])
    prefix = "encoder.layers.%d." % (2 * (stage - 1) + block - 1)
    if parts[3] == "shortcut":
        return prefix + "shortcut.%s.%s" % ("0" if parts[4] == "conv" else "1", leaf), perm
    return prefix + "%s.%s" % (parts[3], leaf), perm


def parity(a):
    """Loads the weights and batch written by `acl bench -parity DIR`, runs the same train
    steps (no random start) and compares the losses with Go's."""
    import numpy as np

    with open(os.path.join(a.parity, "manifest.json")) as f:
        man = json.load(f)
    cfg = man["config"]
    device = torch.device(a.device)
    w = Workload(cfg["width"], cfg["batch"], device, a.seed, cfg["attack_steps"], cfg["eval_steps"], cfg)
    state = w.model.state_dict()
    loaded = set()
    for name, fname in man["variables"].items():
        key, perm = torch_key(name)
        v = torch.from_numpy(np.load(os.path.join(a.parity, fname)))
        if perm is not None:
            v = v.permute(*perm)
        if key not in state or tuple(state[key].shape) != tuple(v.shape):
            sys.exit("parity: %s -> %s: shape %s does not match %s" % (name, key, tuple(v.shape), tuple(state[key].shape) if key in state else "missing"))
        state[key] = v.contiguous()
        loaded.add(key)
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit("parity: no goacl value for %s" % missing)
    w.model.load_state_dict(state)
    nchw = lambda f: torch.from_numpy(np.load(os.path.join(a.parity, f))).permute(0, 3, 1, 2).contiguous().to(device)
    w.x1, w.x2 = nchw(man["x1"]), nchw(man["x2"])
    losses = [w.train_step() for _ in man["losses"]]
    rel = max(abs(p - g) / max(abs(g), 1e-12) for p, g in zip(losses, man["losses"]))
    ok = rel <= a.parity_tol
    print(json.dumps({"parity": "ok" if ok else "MISMATCH", "go_losses": man["losses"], "pytorch_losses": losses,
                      "max_relative_difference": rel, "tolerance": a.parity_tol, "torch": torch.__version__}))
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
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (CPU)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--serve", action="store_true", help="answer 'train N' / 'eval N' / 'quit' on stdin")
    p.add_argument("--parity", default="", help="folder written by `acl bench -parity`: recompute Go's losses")
    p.add_argument("--parity-tol", type=float, default=5e-4,
                   help="largest relative loss difference accepted (PGD sign flips of near-zero gradients give ~1e-4)")
    a = p.parse_args()
    if a.parity:
        torch.set_num_threads(a.threads)
        parity(a)
        return
    if a.batch < 2 or a.width < 1:
        sys.exit("pytorch_step.py: --batch must be >= 2 and --width >= 1")
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("pytorch_step.py: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.benchmark = True
    w = Workload(a.width, a.batch, device, a.seed, a.attack_steps, a.eval_steps)
    info = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    if a.serve:
        print(json.dumps(info), flush=True)
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
    out = dict(info, width=a.width, batch=a.batch, train=w.timed("train", a.steps))
    if a.eval_batches > 0:
        w.eval_batch()
        out["eval"] = w.timed("eval", a.eval_batches)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
