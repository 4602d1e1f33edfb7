"""Batched per-sample augmentation of uint8 NCHW tensors on their own device, with no host sync.

Random crop 32x32 from 4-pixel zero padding, horizontal flip with p = 0.5, and optionally
AutoAugment with torchvision's CIFAR10 policy drawn per image, in that order (the order of the
report's ``RandomCrop -> RandomHorizontalFlip -> AutoAugment -> ToTensor`` pipeline).

Why not torchvision's or kornia's batched AutoAugment: torchvision's ``AutoAugment`` (v1 and v2) and
kornia's draw one sub-policy per call, so a batch would share one sub-policy; the report trained
with a per-image transform, so every image needs its own sub-policy, probabilities and signs.

How, without a host sync or a loop over images: the random draws (``Augmenter.draw``) come from a
CPU generator in the order torchvision draws them, and ``Augmenter.apply`` turns them into per-image
parameters by looking them up in small tables on the device. Each sub-policy position applies every
op type once to the whole batch, an image keeping its pixels where its op is another one:
- the geometric ops (shear, translate, rotate) are a gather through a source-pixel map. The policy
  fixes each op's magnitude, so there are only 32 such transforms; their maps are made once by
  torchvision's own ``affine``/``rotate`` on an image of pixel indices (nearest interpolation copies
  values), so they are torchvision's to the pixel;
- brightness, colour, contrast and sharpness are torchvision's blend ``r * img + (1 - r) * degenerate``
  with a per-image ratio (float32 factors rounded from float64, as torchvision's Python floats are);
- posterize is a per-image bit mask, solarize a per-image threshold, autocontrast per-channel min/max
  rescaling with ``torch.where``, equalize batched per-image-per-channel histograms (scatter_add into
  (N*C, 256), cumsum, a gathered lookup table), invert 255 - x.
``tests/test_augment.py`` holds every op, and the whole augmenter, equal to torchvision image by image.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

# torchvision is imported where AutoAugment is used, not here: its import brings torch._dynamo along
# (about 3 s on a 2-core machine), which every process that imports lt_lib (a `list`, a `status`, each
# worker of a plan or a lease) would otherwise pay without using it.
NUM_BINS = 10
OPS = ("none", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
BLENDS = ("Brightness", "Color", "Contrast", "Sharpness")
SIGNED_OPS = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
              "Sharpness"}


@lru_cache(maxsize=1)
def cifar10_policy() -> list:
    """The 25 CIFAR10 sub-policies, each two (op name, probability, magnitude bin or None), from torchvision."""
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy

    return AutoAugment(AutoAugmentPolicy.CIFAR10).policies


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


def apply_op(img: torch.Tensor, op: str, mag: float) -> torch.Tensor:
    """One AutoAugment op through torchvision's functional API (the reference), nearest interpolation,
    zero fill, on a batch (..., C, H, W) sharing ``mag``."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

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


# ------------------------------------------------------------------------------ policy tables
class PolicyTables:
    """Per (sub-policy, position, sign) lookups, made once per device and image size:
    ``op`` (index into OPS), ``geo`` (row of ``maps``, 0 = identity), ``ratio``/``keep`` (the blend's
    float32 r and 1 - r), ``mask`` (posterize bits), ``threshold`` (solarize), and ``maps`` (G + 1,
    H*W): the source pixel of every output pixel of each geometric transform, H*W for the zero fill."""

    def __init__(self, device, size=(32, 32)):
        h, w = size
        policy = cifar10_policy()
        shape = (len(policy), 2, 2)
        op = torch.zeros(shape, dtype=torch.long)
        geo = torch.zeros(shape, dtype=torch.long)
        ratio64, keep64 = torch.ones(shape, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64)
        mask = torch.full(shape, 255, dtype=torch.uint8)
        threshold = torch.full(shape, 256.0)
        maps, index_of = [torch.arange(h * w)], {}
        # an image of pixel indices 1..H*W (0 = outside): torchvision's nearest sampling copies them
        index_image = torch.arange(1, h * w + 1, dtype=torch.float32).view(1, 1, h, w)
        for pid, sub in enumerate(policy):
            for k, (name, _, bin_id) in enumerate(sub):
                for sign in (0, 1):
                    mag = magnitude(name, bin_id, size)
                    if name in SIGNED_OPS and sign == 0:  # torchvision negates on a 0 draw
                        mag = -mag
                    at = (pid, k, sign)
                    op[at] = OPS.index(name)
                    if name in GEOMETRIC:
                        if (name, mag) not in index_of:
                            src = apply_op(index_image, name, mag).flatten().long() - 1
                            maps.append(torch.where(src < 0, h * w, src))
                            index_of[(name, mag)] = len(maps) - 1
                        geo[at] = index_of[(name, mag)]
                    elif name in BLENDS:
                        ratio64[at], keep64[at] = 1.0 + mag, 1.0 - (1.0 + mag)
                    elif name == "Posterize":
                        mask[at] = (256 - 2 ** (8 - int(mag))) % 256
                    elif name == "Solarize":
                        threshold[at] = mag
        prob = torch.tensor([[sub[k][1] for k in range(2)] for sub in policy])
        self.host_op, self.host_prob = op[:, :, 0].clone(), prob  # for the host's "which ops" question
        self.op, self.geo, self.mask, self.threshold, self.prob = (t.to(device) for t in (op, geo, mask, threshold, prob))
        self.ratio, self.keep = ratio64.float().to(device), keep64.float().to(device)
        self.maps = torch.stack(maps).to(device)


@lru_cache(maxsize=8)
def policy_tables(device: torch.device, size=(32, 32)) -> PolicyTables:
    return PolicyTables(device, size)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """torchvision's rgb_to_grayscale on uint8 (B, 3, H, W): (B, 1, H, W) uint8, truncated."""
    r, g, b = x.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(torch.uint8).unsqueeze(1)


def _blurred(x: torch.Tensor) -> torch.Tensor:
    """torchvision's sharpness kernel ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, border pixels kept),
    in integers: n = the 3x3 sum + 4 x centre, and round(n / 13) = floor((2n + 13) / 26) never sits at
    a half (n is an integer), so it equals torchvision's float convolution followed by rounding."""
    v = x.to(torch.int16)
    rows = v[..., :-2] + v[..., 1:-1] + v[..., 2:]
    n = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :] + 4 * v[..., 1:-1, 1:-1]
    out = x.clone()
    out[..., 1:-1, 1:-1] = ((2 * n + 13).float() / 26).floor().to(torch.uint8)
    return out


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin((2, 3), keepdim=True).float()
    hi = x.amax((2, 3), keepdim=True).float()
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(hi), 255.0 / (hi - lo))
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return ((x - lo) * scale).clamp(0, 255).to(torch.uint8)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """torchvision's equalize for every image and channel at once (its per-channel rule: step =
    (pixels - count of the brightest present value) // 255; a channel with step 0 is left as it is)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, h * w).long()
    hist = torch.zeros(b * c, 256, dtype=torch.long, device=x.device).scatter_add_(1, flat, torch.ones_like(flat))
    top = hist.gather(1, flat.amax(1, keepdim=True))
    step = torch.div(h * w - top, 255, rounding_mode="floor")
    safe = step.clamp_min(1)
    lut = torch.div(hist.cumsum(1) + torch.div(safe, 2, rounding_mode="floor"), safe, rounding_mode="floor")
    lut = F.pad(lut, (1, 0))[:, :-1].clamp(0, 255)
    out = torch.where(step == 0, flat, lut.gather(1, flat))
    return out.to(torch.uint8).view(b, c, h, w)


def _remap(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Output pixel p of image i is input pixel src[i, p] (index H*W: the zero fill)."""
    b, c, h, w = x.shape
    return F.pad(x.reshape(b, c, h * w), (0, 1)).gather(2, src[:, None, :].expand(b, c, h * w)).view(b, c, h, w)


def _op(name: str, x: torch.Tensor, at: tuple, t: PolicyTables) -> torch.Tensor:
    """Op ``name`` on every image of x, with each image's parameters looked up at ``at``."""

    def per_image(table):
        return table[at].view(-1, 1, 1, 1)

    if name in GEOMETRIC:
        return _remap(x, t.maps[t.geo[at]])
    if name in BLENDS:
        if name == "Brightness":
            degenerate = torch.zeros_like(x)
        elif name == "Color":
            degenerate = _grayscale(x)
        elif name == "Contrast":
            degenerate = _grayscale(x).float().mean((1, 2, 3), keepdim=True)
        else:
            degenerate = _blurred(x)
        return (per_image(t.ratio) * x + per_image(t.keep) * degenerate).clamp(0, 255).to(torch.uint8)
    if name == "Posterize":
        return x & per_image(t.mask)
    if name == "Solarize":
        return torch.where(x >= per_image(t.threshold), 255 - x, x)
    if name == "AutoContrast":
        return _autocontrast(x)
    if name == "Equalize":
        return _equalize(x)
    return 255 - x  # Invert


def _position_static(x: torch.Tensor, op: torch.Tensor, at: tuple, t: PolicyTables) -> torch.Tensor:
    """Every op type on the whole batch, each image keeping the result of its own op (``op`` per
    image, 0 = none): a fixed sequence of kernels, whatever was drawn (a captured step)."""

    def mine(name):
        return (op == OPS.index(name)).view(-1, 1, 1, 1)

    geometric = (op >= 1) & (op <= len(GEOMETRIC))
    x = _remap(x, t.maps[torch.where(geometric, t.geo[at], 0)])  # one gather for all five (row 0: identity)
    for name in OPS[len(GEOMETRIC) + 1:]:
        x = torch.where(mine(name), _op(name, x, at, t), x)
    return x


def autoaugment(x: torch.Tensor, policy_ids, probs, signs, static: bool = False) -> torch.Tensor:
    """Per-image AutoAugment of uint8 (B, C, H, W) from torchvision-style draws: ``policy_ids`` (B,),
    ``probs`` (B, 2) uniform, ``signs`` (B, 2) in {0, 1}. Drawn on the CPU, they also tell the host
    which ops a batch needs, and only those are computed; with ``static`` (draws already on x's
    device, as in a captured step) every op is computed, so nothing depends on the draws."""
    t = policy_tables(x.device, tuple(x.shape[-2:]))
    dev = x.device
    pid, u, sign = (_to_device(v, dev) for v in (policy_ids, probs, signs))
    for k in range(2):
        at = (pid, k, sign[:, k].long())
        if static:
            op = torch.where(u[:, k] <= t.prob[pid, k], t.op[at], 0)
            x = _position_static(x, op, at, t)
            continue
        # the CPU draws tell the host which images need which op: each op type runs on its images only
        applied = probs[:, k] <= t.host_prob[policy_ids, k]
        host_op = torch.where(applied, t.host_op[policy_ids, k], 0)
        for i in host_op.unique().tolist():
            if i == 0:
                continue
            rows = torch.nonzero(host_op == i).flatten()  # on the CPU draws: no device read
            idx = _to_device(rows, dev)
            sub = _op(OPS[i], x.index_select(0, idx), (pid[idx], k, sign[idx, k].long()), t)
            x = x.index_copy(0, idx, sub)
    return x


def _to_device(v: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """A CPU draw onto the device without stalling the host: through pinned memory on CUDA."""
    if v.device == dev:
        return v
    if dev.type == "cuda" and not v.is_pinned():
        v = v.pin_memory()
    return v.to(dev, non_blocking=True)


class Augmenter:
    """Crop + flip (+ per-image AutoAugment) for uint8 batches; randomness from a CPU generator.

    ``draw(b, generator)`` makes a batch's random numbers on the CPU (the same stream on every
    device); ``apply(x, draws)`` augments with them on x's device without reading anything back.
    """

    def __init__(self, crop: bool = True, flip: bool = True, autoaugment: bool = False, padding: int = 4):
        self.crop, self.flip, self.autoaugment, self.padding = crop, flip, autoaugment, padding

    def draw(self, b: int, generator: torch.Generator) -> dict:
        draws = {}
        if self.crop:
            draws["offsets"] = torch.randint(0, 2 * self.padding + 1, (b, 2), generator=generator)
        if self.flip:
            draws["flip"] = torch.rand(b, generator=generator) < 0.5
        if self.autoaugment:
            draws["policy_ids"] = torch.randint(len(cifar10_policy()), (b,), generator=generator)
            draws["probs"] = torch.rand((b, 2), generator=generator)
            draws["signs"] = torch.randint(2, (b, 2), generator=generator)
        return draws

    def apply(self, x: torch.Tensor, draws: dict, static: bool = False) -> torch.Tensor:
        dev = x.device
        if self.crop:
            x = random_crop(x, _to_device(draws["offsets"], dev), self.padding)
        if self.flip:
            x = flip(x, _to_device(draws["flip"], dev))
        if self.autoaugment:
            x = autoaugment(x, draws["policy_ids"], draws["probs"], draws["signs"], static)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.draw(x.shape[0], generator))
