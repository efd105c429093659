"""Weight-update shapes of reference networks, for benchmarks and synthetic traces.

A layer's update is dW [m, n] = sum over K of delta_k x_k^T. For a convolution unrolled with
im2col, n = Cin * kh * kw, m = Cout, K = batch * Ho * Wo; for a fully connected layer n = inputs,
m = outputs, K = batch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerShape:
    """One layer's outer-product workload."""

    name: str
    kind: str  # 'conv2d' or 'linear'
    n: int  # x length (columns of dW)
    m: int  # delta length (rows of dW)
    K: int  # outer products summed into one update

    @property
    def elements(self) -> int:
        """Outer-product elements m * n * K (multiply-accumulates of an exact update)."""
        return self.m * self.n * self.K


def resnet32_cifar10(batch: int = 128) -> list[LayerShape]:
    """ResNet-32 for CIFAR-10 (He et al. 2016), 33 conv layers + 1 fully connected.

    conv1 (3 -> 16), three stages of 5 basic blocks (16, 32, 64 channels at 32x32, 16x16, 8x8,
    3x3 kernels) and a 1x1 projection shortcut at each of the two down-sampling blocks, then
    global average pooling and fc 64 -> 10. That is 1 + 30 + 2 = 33 convolutions, as the ESSOP
    paper counts.
    """
    layers = [LayerShape("conv1", "conv2d", 3 * 9, 16, batch * 32 * 32)]
    cin = 16
    for stage, (cout, hw) in enumerate(((16, 32), (32, 16), (64, 8)), start=1):
        positions = batch * hw * hw
        for block in range(5):
            prefix = f"stage{stage}.block{block}"
            layers.append(LayerShape(f"{prefix}.conv1", "conv2d", cin * 9, cout, positions))
            layers.append(LayerShape(f"{prefix}.conv2", "conv2d", cout * 9, cout, positions))
            if cin != cout:
                layers.append(LayerShape(f"{prefix}.shortcut", "conv2d", cin, cout, positions))
            cin = cout
    layers.append(LayerShape("fc", "linear", 64, 10, batch))
    return layers
