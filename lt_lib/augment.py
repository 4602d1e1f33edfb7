"""Batched per-sample augmentation of uint8 NCHW tensors on their own device.

Random crop 32x32 from 4-pixel zero padding, horizontal flip with p = 0.5, and optionally
AutoAugment with torchvision's CIFAR10 policy drawn per image, in that order (the order of the
report's ``RandomCrop -> RandomHorizontalFlip -> AutoAugment -> ToTensor`` pipeline).

Why not torchvision's or kornia's batched AutoAugment: torchvision's ``AutoAugment`` (v1 and v2) and
kornia's draw one sub-policy per call, so a batch would share one sub-policy; the report trained
with a per-image transform, so every image needs its own sub-policy, probabilities and signs. We
draw those per image and apply torchvision's functional ops to the groups of images that share an
(op, magnitude, sign): the ops are per-image (their statistics are taken per image), so the result
equals applying ``AutoAugment`` image by image.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.transforms import AutoAugment, AutoAugmentPolicy, InterpolationMode

# The 25 CIFAR10 sub-policies, each two (op name, probability, magnitude bin or None), from torchvision.
CIFAR10_POLICY = AutoAugment(AutoAugmentPolicy.CIFAR10).policies
NUM_BINS = 10


def magnitude(op: str, bin_id, image_size=(32, 32)) -> float:
    """The magnitude of bin ``bin_id`` for ``op`` (AutoAugment's 10-bin search space)."""
    if bin_id is None:
        return 0.0
    h, w = image_size
    table = {
        "ShearX": torch.linspace(0.0, 0.3, NUM_BINS),
        "ShearY": torch.linspace(0.0, 0.3, NUM_BINS),
        "TranslateX": torch.linspace(0.0, 150.0 / 331.0 * w, NUM_BINS),
        "TranslateY": torch.linspace(0.0, 150.0 / 331.0 * h, NUM_BINS),
        "Rotate": torch.linspace(0.0, 30.0, NUM_BINS),
        "Brightness": torch.linspace(0.0, 0.9, NUM_BINS),
        "Color": torch.linspace(0.0, 0.9, NUM_BINS),
        "Contrast": torch.linspace(0.0, 0.9, NUM_BINS),
        "Sharpness": torch.linspace(0.0, 0.9, NUM_BINS),
        "Posterize": 8 - (torch.arange(NUM_BINS) / ((NUM_BINS - 1) / 4)).round().int(),
        "Solarize": torch.linspace(255.0, 0.0, NUM_BINS),
    }
    return float(table[op][bin_id].item())


SIGNED_OPS = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
              "Sharpness"}


def apply_op(img: torch.Tensor, op: str, mag: float) -> torch.Tensor:
    """One AutoAugment op on a uint8 batch (..., C, H, W), nearest interpolation, zero fill."""
    nearest = InterpolationMode.NEAREST
    if op == "ShearX":
        return TF.affine(img, 0.0, [0, 0], 1.0, [math.degrees(math.atan(mag)), 0.0], nearest, None, [0, 0])
    if op == "ShearY":
        return TF.affine(img, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(mag))], nearest, None, [0, 0])
    if op == "TranslateX":
        return TF.affine(img, 0.0, [int(mag), 0], 1.0, [0.0, 0.0], nearest, None)
    if op == "TranslateY":
        return TF.affine(img, 0.0, [0, int(mag)], 1.0, [0.0, 0.0], nearest, None)
    if op == "Rotate":
        return TF.rotate(img, mag, nearest, fill=None)
    if op == "Brightness":
        return TF.adjust_brightness(img, 1.0 + mag)
    if op == "Color":
        return TF.adjust_saturation(img, 1.0 + mag)
    if op == "Contrast":
        return TF.adjust_contrast(img, 1.0 + mag)
    if op == "Sharpness":
        return TF.adjust_sharpness(img, 1.0 + mag)
    if op == "Posterize":
        return TF.posterize(img, int(mag))
    if op == "Solarize":
        return TF.solarize(img, mag)
    if op == "AutoContrast":
        return TF.autocontrast(img)
    if op == "Equalize":
        return TF.equalize(img)
    if op == "Invert":
        return TF.invert(img)
    raise ValueError(f"unknown AutoAugment op {op!r}")


def random_crop(x: torch.Tensor, offsets: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Crop each image of x (B, C, H, W) at its own (top, left) offset inside a zero-padded copy."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Horizontally flip the images where mask is True."""
    return torch.where(mask[:, None, None, None], x.flip(3), x)


# Each sub-policy with magnitudes resolved once: [((op, probability, magnitude), (op, p, m)), ...].
_RESOLVED = [tuple((op, p, magnitude(op, bin_id)) for op, p, bin_id in sub) for sub in CIFAR10_POLICY]


def autoaugment_groups(policy_ids, probs, signs):
    """Per position k (0, 1) of the sub-policy, the image groups sharing one (op, magnitude, sign).

    ``policy_ids`` (B,), ``probs`` (B, 2) uniform draws, ``signs`` (B, 2) in {0, 1}; an op applies to an
    image when its draw is <= the op's probability, and a signed op is negated when the sign is 0
    (torchvision's convention). Returns ``[[(op, magnitude, index tensor), ...], [...]]`` (CPU indices).
    """
    positions = []
    for k in range(2):
        groups: dict[tuple, list[int]] = {}
        for i, (pid, u, s) in enumerate(zip(policy_ids.tolist(), probs[:, k].tolist(), signs[:, k].tolist())):
            op, p, mag = _RESOLVED[pid][k]
            if u <= p:
                if op in SIGNED_OPS and s == 0:
                    mag = -mag
                groups.setdefault((op, mag), []).append(i)
        positions.append([(op, mag, torch.tensor(idx)) for (op, mag), idx in groups.items()])
    return positions


class Augmenter:
    """Crop + flip (+ per-image AutoAugment) for uint8 batches; randomness from a CPU generator."""

    def __init__(self, crop: bool = True, flip: bool = True, autoaugment: bool = False, padding: int = 4):
        self.crop, self.flip, self.autoaugment, self.padding = crop, flip, autoaugment, padding

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, dev = x.shape[0], x.device
        if self.crop:
            offsets = torch.randint(0, 2 * self.padding + 1, (b, 2), generator=generator)
            x = random_crop(x, offsets.to(dev, non_blocking=True), self.padding)
        if self.flip:
            mask = torch.rand(b, generator=generator) < 0.5
            x = flip(x, mask.to(dev, non_blocking=True))
        if self.autoaugment:
            policy_ids = torch.randint(len(CIFAR10_POLICY), (b,), generator=generator)
            probs = torch.rand((b, 2), generator=generator)
            signs = torch.randint(2, (b, 2), generator=generator)
            x = x.clone()
            for position in autoaugment_groups(policy_ids, probs, signs):
                for op, mag, idx in position:
                    idx = idx.to(dev, non_blocking=True)
                    x[idx] = apply_op(x[idx], op, mag)
        return x
