"""The PyTorch half of goacl's weight round-trip tests (interop/torchnames/roundtrip_test.go).

    /usr/bin/python3 interop/pytorch/roundtrip.py JOBDIR

JOBDIR/job.json lists cases; paths in it are relative to JOBDIR. images.safetensors holds
"x", the test images as NCHW float32 in [0, 1]. Two kinds of case:

  "load"  goacl exported weights: build the model of the sidecar, load the safetensors
          file with strict=True, and write the eval-mode outputs for each BN name.
  "make"  PyTorch makes weights for goacl to import: build the model of "layout" (a sidecar
          dict), give it random weights and BN statistics (train-mode passes over the
          images, per BN name), save the state dict as a torch.save checkpoint ("pt";
          "legacy": the format before PyTorch 1.6) as official checkpoints hold it —
          optionally nested under the key "nest", with DataParallel's "module." prefix
          ("module_prefix"), a name prefix ("prefix") and a second, independent model under
          "twin_prefix" (DynACL's encoder_q./encoder_k.), the classifier in a dict of its
          own next to the model ("classifier_dict": AdvCL's finetuning checkpoints) and
          extra tensors ("extra": name → shape) — and as safetensors ("safetensors",
          optional), and write the eval-mode outputs of the model.

Outputs go to the case's "out" safetensors file as "out.<bn name>" ("out.single" for a
single-BN model). The script prints one line per case.
"""
import json
import os
import sys
from collections import OrderedDict

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


def save_made(case, model, x, bn_names, path):
    """Saves a made model as an official checkpoint would hold it (see the module doc)."""
    layout = case["layout"]
    sd = model.state_dict()
    module = "module." if case.get("module_prefix") else ""
    prefix = module + case.get("prefix", "")
    entries = [(prefix + k, v) for k, v in sd.items()]
    if case.get("twin_prefix"):  # DynACL's resnet18_momentum: a second encoder
        twin = model_from_layout(layout)
        randomize(twin, x, bn_names, case["seed"] + 1000)
        entries += [(module + case["twin_prefix"] + k, v) for k, v in twin.state_dict().items()]
    classifier = None
    if case.get("classifier_dict"):
        # AdvCL's finetuning: the trained head in a dict of its own as fc.*, while the
        # model keeps its own (untrained) linear head.
        head = model.classifier_name
        classifier = OrderedDict((k.replace(head + ".", "fc.", 1), v) for k, v in sd.items() if k.startswith(head + "."))
        entries = [(k, torch.randn_like(v) if k.startswith(prefix + head + ".") else v) for k, v in entries]
    entries += [(module + k, torch.randn(*shape)) for k, shape in case.get("extra", {}).items()]
    if case.get("safetensors"):
        save_file({k: v.contiguous() for k, v in entries}, path(case["safetensors"]))
    obj = OrderedDict(entries)
    if case.get("nest"):
        obj = {"epoch": 3, case["nest"]: obj, "optim": {"state": {}, "param_groups": [{"lr": 0.1}]}}
        if classifier is not None:
            obj["classifier"] = classifier
    torch.save(obj, path(case["pt"]), _use_new_zipfile_serialization=not case.get("legacy"))


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
            save_made(case, model, x, bn_names, path)
            # The saved state dict must load back strictly into the same model.
            model_from_layout(layout).load_state_dict(model.state_dict(), strict=True)
        else:
            raise ValueError(f"unknown mode {case['mode']!r}")
        out = outputs(model, x, bn_names)
        save_file(out, path(case["out"]))
        print(case["name"], case["mode"], sorted(out), tuple(next(iter(out.values())).shape))


if __name__ == "__main__":
    main()
