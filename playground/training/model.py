"""d2l's ResNet-18 for CIFAR: a 3x3 stride-1 stem, no max-pool, four stages of two basic blocks.

Built from torchvision's BasicBlock (its shortcut is a 1x1 conv + BatchNorm where d2l uses a
1x1 conv with bias: the torchvision form is the standard one and trains at least as well).
`width` is the first stage's channel count (64 in the paper and d2l); small widths keep the
CPU tests fast while running exactly the same code.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock


def _stage(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    shortcut = None
    if stride != 1 or in_ch != out_ch:
        shortcut = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
        )
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride, shortcut), BasicBlock(out_ch, out_ch))


def resnet18(num_classes: int = 10, width: int = 64) -> nn.Sequential:
    widths = [width, 2 * width, 4 * width, 8 * width]
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        _stage(width, widths[0], 1),
        _stage(widths[0], widths[1], 2),
        _stage(widths[1], widths[2], 2),
        _stage(widths[2], widths[3], 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(widths[3], num_classes),
    )
