"""ResNet-32 for CIFAR (He et al. 2016, option A) and the ResLT three-branch head (Cui et al.).

The backbone is split in ``stem`` + three ``stages`` + ``head`` so that later chapters can hang
early exits after any stage. A head takes the last feature map (B, C, 8, 8) and returns either one
logit tensor (``LinearHead``) or the three ResLT branch logits ``(z_H, z_M, z_T)`` whose sum is the
prediction (``ResLTHead``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import LtError

BRANCH_STYLES = ("bn", "conv", "split")
HEADS = ("linear", "cosine", "reslt")
HEAD_INITS = ("kaiming", "default")


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU-3x3 conv-BN plus a parameter-free (option A) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        # Option A: subsample, then zero-pad the new channels (split evenly, the odd one at the end,
        # so widths such as 15 -> 30 -> 63 work; for 16 -> 32 -> 64 it is LDAM-DRW's planes // 4 padding).
        self.extra = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class LinearHead(nn.Module):
    """Global average pool + linear classifier: the plain ResNet-32 head."""

    def __init__(self, channels: int, num_classes: int = 10):
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean((2, 3)))


class NormedLinear(nn.Module):
    """Cosine classifier of LDAM-DRW: normalized features times normalized class weights (in [-1, 1])."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


class CosineHead(nn.Module):
    """Global average pool + cosine classifier (the partner of the LDAM loss, which scales it by s)."""

    def __init__(self, channels: int, num_classes: int = 10):
        super().__init__()
        self.fc = NormedLinear(channels, num_classes)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean((2, 3)))


class ResLTHead(nn.Module):
    """Three branches N_{h+m+t}, N_{m+t}, N_t on the shared feature map and one shared classifier.

    Branch styles (all return ``(z_H, z_M, z_T)``; the prediction is their sum, paper Sec. 3.2):

    * ``bn``: three BatchNorms on the feature map, one per branch (the official CIFAR code).
    * ``conv``: a 1x1 conv C -> 3C + BN + ReLU, split into three C-channel branches (the paper's
      "1x1 grouped convolution with group number 3" taken as three independent 1x1 convs; any C works).
    * ``split``: one ``nn.Conv2d(C, C, 1, groups=3)``; each branch is a third of the channels (the
      report's head; needs C % 3 == 0, which is why the report cut the last stage from 64 to 48).
    """

    def __init__(self, channels: int, num_classes: int = 10, style: str = "split"):
        super().__init__()
        if style not in BRANCH_STYLES:
            raise LtError(f"unknown ResLT branch style {style!r}; choose one of {', '.join(BRANCH_STYLES)}")
        self.style = style
        if style == "bn":
            self.branches = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(3))
            branch_channels = channels
        elif style == "conv":
            self.branches = nn.Sequential(
                nn.Conv2d(channels, 3 * channels, 1, bias=False), nn.BatchNorm2d(3 * channels), nn.ReLU()
            )
            branch_channels = channels
        else:
            if channels % 3:
                raise LtError(
                    f"the 'split' ResLT head needs a last-stage width divisible by 3, got {channels}; "
                    "use widths such as 16/32/48 or 15/30/63, or branch style 'bn' or 'conv'"
                )
            self.branches = nn.Conv2d(channels, channels, 1, groups=3)
            branch_channels = channels // 3
        self.fc = nn.Linear(branch_channels, num_classes)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.style == "bn":
            parts = [bn(fmap) for bn in self.branches]
        else:
            parts = self.branches(fmap).chunk(3, dim=1)
        z_h, z_m, z_t = (self.fc(p.mean((2, 3))) for p in parts)
        return z_h, z_m, z_t


def make_head(kind: str, channels: int, num_classes: int = 10, branch_style: str = "split") -> nn.Module:
    if kind == "linear":
        return LinearHead(channels, num_classes)
    if kind == "cosine":
        return CosineHead(channels, num_classes)
    if kind == "reslt":
        return ResLTHead(channels, num_classes, branch_style)
    raise LtError(f"unknown head {kind!r}; choose one of {', '.join(HEADS)}")


def fused_logits(output) -> torch.Tensor:
    """The prediction logits of a model output: the tensor itself, or the sum of the ResLT branches."""
    if isinstance(output, torch.Tensor):
        return output
    return output[0] + output[1] + output[2]


class ResNet32(nn.Module):
    """ResNet-32 for 32x32 inputs: 3x3 stem, three stages of five BasicBlocks, a head.

    ``widths`` are the stage widths (16/32/64 in He et al.; the report uses 16/32/48 and 15/30/63).
    ``head`` is ``"linear"``, ``"cosine"`` or ``"reslt"`` (then ``branch_style`` picks the ResLT branches).
    Convolutions and linear layers start from Kaiming-normal weights (LDAM-DRW's resnet32);
    ``head_init="default"`` leaves the final classifier at PyTorch's default (the official ResLT code).
    """

    def __init__(self, widths=(16, 32, 64), num_classes: int = 10, head: str = "linear",
                 branch_style: str = "split", blocks_per_stage: int = 5, head_init: str = "kaiming"):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) < 1:
            raise LtError(f"widths must be three positive stage widths such as 16 32 64, got {widths}")
        if any(b < a for a, b in zip(widths, widths[1:])):
            raise LtError(f"stage widths must not shrink (option-A shortcuts only pad), got {widths}")
        self.widths = widths
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, in_planes = [], widths[0]
        for i, planes in enumerate(widths):
            blocks = []
            for b in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride=2 if (i > 0 and b == 0) else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        if head_init not in HEAD_INITS:
            raise LtError(f"unknown head_init {head_init!r}; choose one of {', '.join(HEAD_INITS)}")
        self.head = make_head(head, widths[-1], num_classes, branch_style)
        for m in self.modules():  # kaiming normal init of convs and linears, as in LDAM-DRW's resnet32
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not (head_init == "default" and m is self.head.fc):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor):
        return self.head(self.features(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
