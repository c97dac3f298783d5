"""The PyTorch half of the AutoAttack agreement test (acl/torchio/autoattack_test.go).

    /usr/bin/python3 interop/pytorch/autoattack.py JOBDIR

JOBDIR/job.json (paths relative to JOBDIR):
  sidecar, weights   a goacl export of a finetuned classifier (acl export -finetune ...)
  logit_images       safetensors with "x": images (NCHW float32 in [0, 1]) whose logits
                     are written as "logits", to compare with goacl's
  images             safetensors with "x" (NCHW float32 in [0, 1]) and "y" (int64): the
                     images AutoAttack attacks
  eps, seed          AutoAttack's L-inf radius and seed
  threads            torch.set_num_threads
  out                safetensors written: logits, clean_pred, adv_pred (int64) and robust
                     (uint8: correct on the clean image and on torchattacks' adversarial one)

The model is loaded with strict=True; the attack is torchattacks.AutoAttack(model,
norm="Linf", eps=eps, version="standard", n_classes=..., seed=seed): APGD-CE, APGD-T,
FAB-T, Square (5000 queries), each on the images still robust. Prints the accuracies, the
largest perturbation and the time.
"""
import json
import os
import sys
import time

import torch
import torchattacks
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from goacl_models import model_from_sidecar  # noqa: E402


def main():
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    path = lambda p: os.path.join(job_dir, p)  # noqa: E731
    torch.set_num_threads(job.get("threads", 1))
    model = model_from_sidecar(path(job["sidecar"]))
    model.load_state_dict(load_file(path(job["weights"])), strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(load_file(path(job["logit_images"]))["x"])
    data = load_file(path(job["images"]))
    x, y = data["x"], data["y"].long()
    with torch.no_grad():
        clean_pred = model(x).argmax(1)
    start = time.time()
    attack = torchattacks.AutoAttack(model, norm="Linf", eps=job["eps"], version="standard",
                                     n_classes=getattr(model, model.classifier_name).out_features,
                                     seed=job["seed"])
    adv = attack(x, y)
    seconds = time.time() - start
    with torch.no_grad():
        adv_pred = model(adv).argmax(1)
    robust = (clean_pred == y) & (adv_pred == y)
    linf = (adv - x).abs().max().item()
    if linf > job["eps"] + 1e-6 or adv.min().item() < 0 or adv.max().item() > 1:
        raise SystemExit(f"torchattacks returned a point outside the eps-ball or [0, 1]: Linf {linf}")
    save_file({"logits": logits.contiguous(), "clean_pred": clean_pred.contiguous(), "adv_pred": adv_pred.contiguous(),
               "robust": robust.to(torch.uint8).contiguous()}, path(job["out"]))
    n = len(y)
    print(f"torchattacks {torchattacks.__version__} AutoAttack standard eps={job['eps']:.5f} seed={job['seed']} on {n} images: "
          f"clean {100 * (clean_pred == y).float().mean():.2f}%, robust {100 * robust.float().mean():.2f}%, "
          f"max Linf {linf:.5f}, {seconds:.1f}s (torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
