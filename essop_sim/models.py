"""Reference PyTorch models whose weight updates the traces record (needs the ``torch`` extra).

- :class:`DigitsMLP`: 64 -> 32 -> 32 -> 10 on scikit-learn's 8x8 digits (3 linear layers).
- :class:`DigitsCNN`: a small CNN on 1x8x8 digits: conv1 (1->8, 3x3, 8x8), conv2 (8->16, 3x3,
  stride 2, 4x4), conv3 (16->16, 3x3, 4x4), fc (256->10). Three convs and one fc, with a
  strided conv, in a few seconds of CPU training.
- :class:`ResNet32`: ResNet-32 for CIFAR-10 (He et al. 2016) with 1x1 projection shortcuts at
  the two down-sampling blocks: 33 convolutions + 1 fc, the network of the ESSOP paper. Module
  names equal :func:`essop_sim.workloads.resnet32_cifar10`'s layer names (``conv1``,
  ``stage2.block0.shortcut``, ``fc``...).

Inputs are float32 NCHW images: [B, 1, 8, 8] in [0, 1] for digits (the MLP also accepts
[B, 64]); [B, 3, 32, 32] normalised for CIFAR-10. Outputs are logits [B, 10].
"""

from __future__ import annotations

from collections import OrderedDict

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("essop_sim.models needs PyTorch: pip install 'essop-sim[torch]'") from exc

F = nn.functional


class DigitsMLP(nn.Module):
    """MLP for 8x8 digits: fc1 (64->32), fc2 (32->32), fc3 (32->10), ReLU between."""

    def __init__(self, hidden: int = 32, classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class DigitsCNN(nn.Module):
    """Small CNN for [B, 1, 8, 8] digits: 3 convs (one strided) + 1 fc, ReLU after each conv."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)             # -> 8 x 8x8
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)  # -> 16 x 4x4
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)           # -> 16 x 4x4
        self.fc = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.fc(x.flatten(1))


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU.

    The shortcut is the identity, or (when the block changes width or stride) a 1x1 strided
    projection conv ``shortcut`` followed by ``shortcut_bn`` (option B of He et al.).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            self.shortcut_bn = nn.BatchNorm2d(cout)
        else:
            self.shortcut = None
            self.shortcut_bn = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.shortcut is None else self.shortcut_bn(self.shortcut(x))
        return F.relu(out + short)


class ResNet32(nn.Module):
    """ResNet-32 for CIFAR-10: conv1 (3->16), stages of 5 blocks at 16/32/64 channels
    (32x32, 16x16, 8x8), global average pooling, fc (64->10). 33 convs + 1 fc."""

    def __init__(self, classes: int = 10, blocks_per_stage: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for s, (cout, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
            blocks = OrderedDict()
            for b in range(blocks_per_stage):
                blocks[f"block{b}"] = BasicBlock(cin, cout, stride if b == 0 else 1)
                cin = cout
            setattr(self, f"stage{s}", nn.Sequential(blocks))
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {"mlp": DigitsMLP, "cnn": DigitsCNN, "resnet32": ResNet32}


def build_model(name: str) -> nn.Module:
    """'mlp' | 'cnn' | 'resnet32' -> a freshly initialised model (seed torch first)."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}") from None
