"""The PyTorch half of goacl's weight round-trip tests (interop/torchnames/roundtrip_test.go).

    /usr/bin/python3 interop/pytorch/roundtrip.py JOBDIR

JOBDIR/job.json lists cases; paths in it are relative to JOBDIR. images.safetensors holds
"x", the test images as NCHW float32 in [0, 1]. Two kinds of case:

  "load"  goacl exported weights: build the model of the sidecar, load the safetensors
          file with strict=True, and write the eval-mode outputs for each BN name.
  "make"  PyTorch makes weights for goacl to import: build the model of "layout" (a sidecar
          dict), give it random weights and BN statistics (train-mode passes over the
          images, per BN name), save the state dict as a torch.save checkpoint (optionally
          nested under a key, with DataParallel's "module." prefix and extra tensors that
          official checkpoints carry) and as safetensors, and write the eval-mode outputs.

Outputs go to the case's "out" safetensors file as "out.<bn name>" ("out.single" for a
single-BN model). The script prints one line per case.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goacl_models import model_from_layout  # noqa: E402


def outputs(model, x, bn_names):
    model.eval()
    out = {}
    with torch.no_grad():
        for bn in bn_names:
            y = model(x, bn_name=bn) if bn is not None else model(x)
            out["out." + (bn if bn is not None else "single")] = y.contiguous()
    return out


def randomize(model, x, bn_names, seed):
    """Random weights, BN statistics from train-mode passes, random BN affine parameters."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.reset_parameters()
    model.train()
    with torch.no_grad():
        for i, bn in enumerate(bn_names):
            for k in range(2):
                xb = x[k * 64:(k + 1) * 64]
                xb = (xb + 0.05 * (i + 1) * torch.randn_like(xb)).clamp(0, 1)
                model(xb, bn_name=bn) if bn is not None else model(xb)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.1)
    model.eval()


def main():
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    path = lambda p: os.path.join(job_dir, p)  # noqa: E731
    x = load_file(path(job["images"]))["x"]
    torch.set_num_threads(1)  # the tests share 2 cores with other packages: no OpenMP spinning
    for case in job["cases"]:
        bn_names = case["bn_names"]
        if case["mode"] == "load":
            with open(path(case["sidecar"])) as f:
                layout = json.load(f)
            model = model_from_layout(layout)
            model.load_state_dict(load_file(path(case["weights"])), strict=True)
        elif case["mode"] == "make":
            layout = case["layout"]
            model = model_from_layout(layout)
            randomize(model, x, bn_names, case["seed"])
            sd = model.state_dict()
            extra = {k: torch.randn(*shape) for k, shape in case.get("extra", {}).items()}
            flat = {k: v.contiguous() for k, v in sd.items()}
            flat.update(extra)
            save_file(flat, path(case["safetensors"]))
            prefix = "module." if case.get("module_prefix") else ""
            pt_sd = type(sd)((prefix + k, v) for k, v in list(sd.items()) + list(extra.items()))
            obj = pt_sd
            if case.get("nest"):
                obj = {"epoch": 3, case["nest"]: pt_sd, "optim": {"state": {}, "param_groups": [{"lr": 0.1}]}}
            torch.save(obj, path(case["pt"]))
            # The saved state dict must load back strictly into the same model.
            model_from_layout(layout).load_state_dict(sd, strict=True)
        else:
            raise ValueError(f"unknown mode {case['mode']!r}")
        out = outputs(model, x, bn_names)
        save_file(out, path(case["out"]))
        print(case["name"], case["mode"], sorted(out), tuple(next(iter(out.values())).shape))


if __name__ == "__main__":
    main()
