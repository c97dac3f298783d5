"""Writes the small checkpoint files the Go readers are tested on, with real PyTorch.

    /usr/bin/python3 interop/pytorch/make_fixtures.py OUTDIR

OUTDIR receives:
  plain.pt            model.state_dict() of a tiny conv/BN/linear model (OrderedDict at the
                      root, with int64 num_batches_tracked)
  nested.pt           a training-script checkpoint: {"epoch", "state_dict" (keys with a
                      "module." prefix, every dtype, non-contiguous and shared-storage views,
                      a Parameter, an empty tensor), "optim", and plain Python values}
  proto4.pt           nested.pt's content saved with pickle protocol 4
  legacy.pt           plain.pt's state dict in the pre-1.6 (non-zip) torch.save format
  legacy_nested.pt    nested.pt's content in the pre-1.6 format
  evil.pt             a torch-format zip whose data.pkl calls os.system when unpickled
  expected.safetensors  nested.pt's state dict as contiguous tensors, written by the
                      reference safetensors library (also the safetensors reader's fixture)

Values are small arange patterns so that the Go tests can also compute them directly.
The committed copies live in interop/testdata; the Go tests regenerate them
when PyTorch is available and compare.
"""
import collections
import io
import os
import pickle
import sys
import zipfile

import torch
from safetensors.torch import save_file


def tiny_model_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, bias=False),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(4 * 3 * 3 * 3, dtype=torch.float32).reshape(4, 3, 3, 3) / 100)
        model[1].running_mean.copy_(torch.tensor([0.5, -0.5, 1.0, 2.0]))
        model[1].running_var.copy_(torch.tensor([1.5, 2.5, 0.5, 4.0]))
        model[1].num_batches_tracked.fill_(12)
        model[3].weight.copy_(torch.arange(8, dtype=torch.float32).reshape(2, 4) - 3)
        model[3].bias.copy_(torch.tensor([0.25, -0.75]))
    return model.state_dict()


def nested_state():
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5
    storage_owner = torch.arange(10, dtype=torch.float32)
    sd = collections.OrderedDict()
    sd["contiguous"] = base
    sd["transposed"] = base.transpose(0, 2)  # non-contiguous view of base's storage
    sd["slice"] = storage_owner[3:7]  # view at storage offset 3
    sd["strided"] = storage_owner[::3]  # stride 3
    sd["float64"] = torch.arange(6, dtype=torch.float64).reshape(2, 3) / 3
    sd["float16"] = torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16)
    sd["bfloat16"] = torch.tensor([1.0, -3.5, 0.25], dtype=torch.bfloat16)
    sd["int64_scalar"] = torch.tensor(123456789012, dtype=torch.int64)
    sd["int32"] = torch.tensor([-1, 2, -3], dtype=torch.int32)
    sd["int16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["int8"] = torch.tensor([-7, 7], dtype=torch.int8)
    sd["uint8"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    sd["parameter"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    prefixed = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    return sd, {
        "epoch": 7,
        "state_dict": prefixed,
        "optim": {
            "state": {0: {"momentum_buffer": torch.ones(2)}},
            "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False, "params": [0, 1]}],
        },
        "acc": 83.5,
        "name": "fixture",
        "shape": torch.Size([2, 3]),
        "nothing": None,
        "pair": (1, 2.5, "a"),
        "big": 2**70,
        "negative": -5,
        "raw": b"\x00\x01",
    }


class Evil:
    """Unpickling this runs os.system: the reader must refuse it, never run it."""

    def __reduce__(self):
        return (os.system, ("echo goacl-pickle-executed >&2",))


def write_evil(path):
    buf = io.BytesIO()
    pickle.dump({"state_dict": collections.OrderedDict(), "payload": Evil()}, buf, protocol=2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", buf.getvalue())
        z.writestr("evil/version", "3\n")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.save(tiny_model_state(), os.path.join(out, "plain.pt"))
    sd, ckpt = nested_state()
    torch.save(ckpt, os.path.join(out, "nested.pt"))
    torch.save(ckpt, os.path.join(out, "proto4.pt"), pickle_protocol=4)
    torch.save(tiny_model_state(), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(ckpt, os.path.join(out, "legacy_nested.pt"), _use_new_zipfile_serialization=False)
    write_evil(os.path.join(out, "evil.pt"))
    flat = {k: v.detach().contiguous().clone() for k, v in sd.items()}
    save_file(flat, os.path.join(out, "expected.safetensors"), metadata={"source": "make_fixtures.py"})


if __name__ == "__main__":
    main()
