"""Reads a safetensors file with the reference library and writes its tensors back.

    /usr/bin/python3 interop/pytorch/resave_safetensors.py IN OUT

Used by the Go tests to check that files goacl writes are read by safetensors.torch, and
that what it reads is what goacl wrote (the Go test compares OUT with IN). Metadata is
kept. Prints each tensor's name, dtype and shape.
"""
import sys

from safetensors import safe_open
from safetensors.torch import save_file


def main():
    src, dst = sys.argv[1], sys.argv[2]
    tensors = {}
    with safe_open(src, framework="pt") as f:
        metadata = f.metadata()
        for name in f.keys():
            tensors[name] = f.get_tensor(name)
    for name in sorted(tensors):
        print(name, str(tensors[name].dtype).replace("torch.", ""), list(tensors[name].shape))
    save_file(tensors, dst, metadata=metadata)


if __name__ == "__main__":
    main()
