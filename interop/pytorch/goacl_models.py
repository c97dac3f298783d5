"""PyTorch twins of goacl's encoders, for loading goacl's exported weights with strict=True.

goacl (Go) exports a state dict (safetensors) plus a sidecar JSON (format
"goacl-torch-layout/1") that says which model it fits. With this file next to your code:

    from goacl_models import model_from_sidecar
    from safetensors.torch import load_file
    model = model_from_sidecar("encoder.json")
    model.load_state_dict(load_file("encoder.safetensors"), strict=True)

The models take NCHW images in [0, 1] (any input normalisation is inside the model, as in
the official ACL/DynACL models) and return the features (8*width) or, with num_classes,
the logits. Multi-BN models take the BN name: model(x, bn_name="pgd").

State-dict names follow the official repositories, in three schemes:
  "cifar"        RoCL models/resnet.py, AdvCL models/resnet_cifar.py:
                 conv1, bn1, layer<s>.<b>.{conv1,bn1,conv2,bn2}, shortcut.0/.1, linear
  "torchvision"  ACL/DynACL models/resnet.py: as cifar with downsample.0/.1 and fc
  "multibn"      AdvCL models/resnet_cifar_multibn_ensembleFC.py, ACL/DynACL
                 models/resnet_multi_bn.py: <bn>.bn_list.<i>, downsample.conv/.bn, fc
The small CNN (goacl's SmallCNN, no official counterpart) is conv1..conv4 + bn1..bn4 with
the same BN and classifier names. Only torch is needed.
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

SIDECAR_FORMAT = "goacl-torch-layout/1"


class Normalize(nn.Module):
    """(x - mean) / std per channel, with mean and std as buffers (normalize.mean/std)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x):
        return (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]


class MultiBatchNorm(nn.Module):
    """One BatchNorm2d per BN name, stored as bn_list.<i> in bn_names order."""

    def __init__(self, channels, bn_names):
        super().__init__()
        self.bn_names = list(bn_names)
        self.bn_list = nn.ModuleList([nn.BatchNorm2d(channels) for _ in self.bn_names])

    def forward(self, x, bn_name):
        if bn_name not in self.bn_names:
            raise ValueError(f"bn_name {bn_name!r} is not one of {self.bn_names}")
        return self.bn_list[self.bn_names.index(bn_name)](x)


def _bn(channels, bn_names):
    return nn.BatchNorm2d(channels) if bn_names is None else MultiBatchNorm(channels, bn_names)


def _apply_bn(bn, x, bn_name):
    return bn(x, bn_name) if isinstance(bn, MultiBatchNorm) else bn(x)


class Downsample(nn.Module):
    """The multibn scheme's projection shortcut: downsample.conv and downsample.bn."""

    def __init__(self, cin, cout, stride, bn_names):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.bn = _bn(cout, bn_names)

    def forward(self, x, bn_name):
        return _apply_bn(self.bn, self.conv(x), bn_name)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, scheme, bn_names):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _bn(cout, bn_names)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout, bn_names)
        self.projection = None
        if stride != 1 or cin != cout:
            if scheme == "multibn":
                self.downsample = Downsample(cin, cout, stride, bn_names)
                self.projection = "downsample"
            else:
                seq = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                self.projection = "shortcut" if scheme == "cifar" else "downsample"
                setattr(self, self.projection, seq)

    def forward(self, x, bn_name=None):
        out = F.relu(_apply_bn(self.bn1, self.conv1(x), bn_name))
        out = _apply_bn(self.bn2, self.conv2(out), bn_name)
        if self.projection is None:
            shortcut = x
        elif isinstance(getattr(self, self.projection), Downsample):
            shortcut = self.downsample(x, bn_name)
        else:
            shortcut = getattr(self, self.projection)(x)
        return F.relu(out + shortcut)


def _check(scheme, bn_names):
    if scheme not in ("cifar", "torchvision", "multibn"):
        raise ValueError(f"unknown scheme {scheme!r} (cifar, torchvision, multibn)")
    if (scheme == "multibn") != (bn_names is not None):
        raise ValueError("bn_names is required by the multibn scheme and only by it")


class _Encoder(nn.Module):
    """Shared parts: input normalisation, BN-name check, pooling and classifier."""

    def _setup(self, scheme, bn_names, input_mean, input_std, features, num_classes):
        _check(scheme, bn_names)
        if (input_mean is None) != (input_std is None):
            raise ValueError("give both input_mean and input_std, or neither")
        if input_mean is not None:
            self.normalize = Normalize(input_mean, input_std)
        self.scheme, self.bn_names, self.feature_dim = scheme, bn_names, features
        self.classifier_name = None
        if num_classes:
            self.classifier_name = "linear" if scheme == "cifar" else "fc"
            setattr(self, self.classifier_name, nn.Linear(features, num_classes))

    def _head(self, out):
        h = out.mean(dim=(2, 3))  # global average pooling (avg_pool2d(4) on 4x4 maps)
        if self.classifier_name is None:
            return h
        return getattr(self, self.classifier_name)(h)

    def _bn_name(self, bn_name):
        if self.bn_names is None:
            if bn_name is not None:
                raise ValueError("this model has a single BN: call it without bn_name")
            return None
        if bn_name is None:
            raise ValueError(f"this model has BN names {self.bn_names}: pass bn_name")
        return bn_name


class ResNet18(_Encoder):
    """The CIFAR ResNet-18 of RoCL, AdvCL and ACL (3x3 stem, no max-pool) at base width W."""

    def __init__(self, width=64, scheme="cifar", bn_names=None, input_mean=None, input_std=None,
                 num_classes=0, in_channels=3):
        super().__init__()
        self._setup(scheme, bn_names, input_mean, input_std, 8 * width, num_classes)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = _bn(width, bn_names)
        cin = width
        for s in range(4):
            cout = width << s
            blocks = []
            for b in range(2):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride, scheme, bn_names))
                cin = cout
            setattr(self, f"layer{s + 1}", nn.ModuleList(blocks))

    def forward(self, x, bn_name=None):
        bn_name = self._bn_name(bn_name)
        if hasattr(self, "normalize"):
            x = self.normalize(x)
        out = F.relu(_apply_bn(self.bn1, self.conv1(x), bn_name))
        for s in range(4):
            for block in getattr(self, f"layer{s + 1}"):
                out = block(out, bn_name)
        return self._head(out)


class SmallCNN(_Encoder):
    """goacl's SmallCNN: four 3x3 convolutions (W, 2W, 4W, 8W channels, strides 1, 2, 2, 2),
    each followed by BN and ReLU, then global average pooling."""

    def __init__(self, width=16, scheme="cifar", bn_names=None, input_mean=None, input_std=None,
                 num_classes=0, in_channels=3):
        super().__init__()
        self._setup(scheme, bn_names, input_mean, input_std, 8 * width, num_classes)
        cin = in_channels
        for k in range(4):
            cout = width << k
            setattr(self, f"conv{k + 1}", nn.Conv2d(cin, cout, 3, 1 if k == 0 else 2, 1, bias=False))
            setattr(self, f"bn{k + 1}", _bn(cout, bn_names))
            cin = cout

    def forward(self, x, bn_name=None):
        bn_name = self._bn_name(bn_name)
        if hasattr(self, "normalize"):
            x = self.normalize(x)
        out = x
        for k in range(4):
            out = F.relu(_apply_bn(getattr(self, f"bn{k + 1}"), getattr(self, f"conv{k + 1}")(out), bn_name))
        return self._head(out)


ARCHS = {"resnet18": ResNet18, "smallcnn": SmallCNN}


def model_from_layout(layout):
    """Builds the model a sidecar dict (or the parsed sidecar JSON) describes, in eval mode."""
    if layout.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"sidecar format {layout.get('format')!r}, want {SIDECAR_FORMAT!r}")
    cls = ARCHS[layout["arch"]]
    model = cls(width=layout["width"], scheme=layout["scheme"], bn_names=layout.get("bn_names"),
                input_mean=layout.get("input_mean"), input_std=layout.get("input_std"),
                num_classes=layout.get("num_classes", 0), in_channels=layout.get("in_channels", 3))
    return model.eval()


def model_from_sidecar(path):
    """Builds the model the sidecar JSON file at path describes, in eval mode."""
    with open(path) as f:
        return model_from_layout(json.load(f))
