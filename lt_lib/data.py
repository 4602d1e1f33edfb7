"""Long-tailed CIFAR-10: sources, the exponential profile, the seeded selection, on-device batches.

The long-tailed training set is made as in LDAM-DRW and the official ResLT code: class i keeps
n_i = int(n_max * (1/ratio) ** (i / 9)) images (class 0 is the head), chosen per class by a seeded
shuffle (numpy ``RandomState(0)``, one generator drawn class after class) and taking the first n_i.
The test set stays the balanced 10,000.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .augment import Augmenter
from .errors import LtError

NUM_CLASSES = 10
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Evaluation splits of the report (002, "Class Splits").
SPLITS = {"many": (0, 1, 2), "medium": (3, 4, 5), "few": (6, 7, 8, 9)}
# Branch membership for the ResLT loss: (medium+few classes, few classes).
REPORT_BRANCH_CLASSES = ((3, 4, 5, 6, 7, 8, 9), (6, 7, 8, 9))
OFFICIAL_BRANCH_CLASSES = ((2, 3, 4, 5, 6, 7, 8, 9), (4, 5, 6, 7, 8, 9))
# Per-channel mean/std of CIFAR-10 as used by LDAM-DRW and the official ResLT code.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
SELECTION_SEED = 0


def long_tail_counts(imbalance: float, n_max: int = 5000, num_classes: int = NUM_CLASSES) -> list[int]:
    """Images per class: n_i = int(n_max * (1/imbalance) ** (i / (num_classes - 1)))."""
    imbalance = float(imbalance)
    if not np.isfinite(imbalance) or imbalance < 1:
        raise LtError(f"imbalance ratio must be a number >= 1 (1 = balanced), got {imbalance:g}")
    factor = 1.0 / imbalance
    counts = [int(n_max * factor ** (i / (num_classes - 1.0))) for i in range(num_classes)]
    if counts[-1] < 1:
        raise LtError(
            f"imbalance ratio {imbalance:g} leaves the last class no image (n_max = {n_max}); "
            f"use a ratio of at most {n_max}"
        )
    return counts


def long_tail_indices(labels: np.ndarray, counts: list[int], seed: int = SELECTION_SEED) -> np.ndarray:
    """Indices of the long-tailed subset: per class a seeded shuffle, then the first counts[c]."""
    rng = np.random.RandomState(seed)
    chosen = []
    for cls, n in enumerate(counts):
        idx = np.where(labels == cls)[0]
        if len(idx) < n:
            raise LtError(f"class {cls} has {len(idx)} images, fewer than the {n} the profile asks for")
        rng.shuffle(idx)
        chosen.append(idx[:n])
    return np.concatenate(chosen)


# ---------------------------------------------------------------------------------------- sources
@dataclass
class ArraySet:
    """CIFAR-10-shaped arrays: uint8 images (N, 32, 32, 3) and int64 labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str


def default_data_root() -> Path:
    return Path(os.environ.get("LT_DATA", "data"))


def _download_allowed() -> bool:
    return os.environ.get("LT_DOWNLOAD", "0").lower() in ("1", "true", "yes")


def _from_npz(path: Path) -> ArraySet:
    with np.load(path) as z:
        missing = {"train_x", "train_y", "test_x", "test_y"} - set(z.files)
        if missing:
            raise LtError(f"{path} lacks the keys {sorted(missing)}; rebuild it with ../shared/data/cifar10_npz.py")
        return ArraySet(z["train_x"], z["train_y"].astype(np.int64), z["test_x"], z["test_y"].astype(np.int64),
                        source=f"npz:{path}")


def _from_batches(folder: Path) -> ArraySet:
    """torchvision's ``cifar-10-batches-py`` layout (python pickles)."""

    def read(names):
        xs, ys = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                d = pickle.load(f, encoding="latin1")
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(d["labels"], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    tx, ty = read([f"data_batch_{i}" for i in range(1, 6)])
    vx, vy = read(["test_batch"])
    return ArraySet(tx, ty, vx, vy, source=f"cifar-10-batches-py:{folder}")


def load_cifar10(data_root=None, download: bool | None = None) -> ArraySet:
    """CIFAR-10 from ``<data_root>/cifar10.npz``, else ``<data_root>/cifar-10-batches-py``, else a download.

    ``data_root`` defaults to ``$LT_DATA`` or ``./data``. Downloading (torchvision) happens only when
    ``download=True`` or ``LT_DOWNLOAD=1``.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    if (root / "cifar10.npz").is_file():
        return _from_npz(root / "cifar10.npz")
    if (root / "cifar-10-batches-py" / "test_batch").is_file():
        return _from_batches(root / "cifar-10-batches-py")
    if download if download is not None else _download_allowed():
        try:
            import torchvision

            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
            return _from_batches(root / "cifar-10-batches-py")
        except Exception as exc:  # network errors come in many types; report them in one line
            raise LtError(f"downloading CIFAR-10 into {root} failed ({type(exc).__name__}: {exc}); "
                          f"put a cifar10.npz there instead (python ../shared/data/cifar10_npz.py {root}/cifar10.npz)"
                          ) from None
    raise LtError(
        f"no CIFAR-10 under {root}: make {root}/cifar10.npz (python ../shared/data/cifar10_npz.py "
        f"{root}/cifar10.npz) or allow a torchvision download (--download or LT_DOWNLOAD=1); "
        "--data-root or LT_DATA choose another folder"
    )


def synthetic_cifar10(train_per_class: int = 5000, test_per_class: int = 1000, seed: int = 1234) -> ArraySet:
    """A deterministic stand-in with CIFAR-10's shapes and dtypes, for tests.

    Class c is a colour (a point on the hue circle) overlaid with stripes whose orientation and
    frequency depend on c, plus per-image brightness jitter and pixel noise: easy for a ResNet to
    learn in a few epochs, but not constant images.
    """
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)

    def make(n_per_class):
        xs, ys = [], []
        for c in range(NUM_CLASSES):
            hue = 2 * np.pi * c / NUM_CLASSES
            colour = 127 + 90 * np.cos(hue + np.array([0.0, 2.094, 4.189]))
            angle = np.pi * (c % 5) / 5
            freq = 0.35 + 0.25 * (c // 5)
            phase = rng.uniform(0, 2 * np.pi, size=(n_per_class, 1, 1))
            wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy)[None] + phase)
            img = colour[None, None, None, :] + 40 * wave[..., None]
            img = img * rng.uniform(0.9, 1.1, size=(n_per_class, 1, 1, 1))
            img = img + rng.normal(0, 16, size=img.shape)
            xs.append(np.clip(img, 0, 255).astype(np.uint8))
            ys.append(np.full(n_per_class, c, dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    tx, ty = make(train_per_class)
    vx, vy = make(test_per_class)
    return ArraySet(tx, ty, vx, vy, source=f"synthetic:{train_per_class}/{test_per_class}")


# ------------------------------------------------------------------------------ long-tailed set
@dataclass
class LongTailedCIFAR10:
    """The long-tailed training set and balanced test set as uint8 NCHW tensors on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    counts: list[int]
    imbalance: float
    source: str

    @property
    def device(self) -> torch.device:
        return self.train_x.device


def make_long_tailed(arrays: ArraySet, imbalance: float, device="cpu") -> LongTailedCIFAR10:
    n_max = int(np.bincount(arrays.train_y, minlength=NUM_CLASSES).min())
    counts = long_tail_counts(imbalance, n_max=min(n_max, 5000))
    idx = long_tail_indices(arrays.train_y, counts)

    def to_tensor(x):
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)

    return LongTailedCIFAR10(
        train_x=to_tensor(arrays.train_x[idx]),
        train_y=torch.from_numpy(arrays.train_y[idx]).to(device),
        test_x=to_tensor(arrays.test_x),
        test_y=torch.from_numpy(arrays.test_y).to(device),
        counts=counts, imbalance=float(imbalance), source=arrays.source,
    )


def load_long_tailed(imbalance: float, source: str = "cifar10", data_root=None, device="cpu",
                     download: bool | None = None, synthetic_sizes=(5000, 1000)) -> LongTailedCIFAR10:
    """Convenience: load a source (``cifar10`` or ``synthetic``) and make its long-tailed version."""
    if source == "cifar10":
        arrays = load_cifar10(data_root, download)
    elif source == "synthetic":
        arrays = synthetic_cifar10(*synthetic_sizes)
    else:
        raise LtError(f"unknown data source {source!r}; choose 'cifar10' or 'synthetic'")
    return make_long_tailed(arrays, imbalance, device)


# ------------------------------------------------------------------------------- input pipeline
def to_float(x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """uint8 NCHW -> float in [0, 1], optionally mean/std normalized per channel."""
    x = x.float().div_(255)
    if normalize:
        mean = torch.tensor(CIFAR10_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD, device=x.device).view(1, 3, 1, 1)
        x = x.sub_(mean).div_(std)
    return x


def batches_per_epoch(images: int, batch_size: int, drop_last: bool = False) -> int:
    return images // batch_size if drop_last else -(-images // batch_size)


def train_batches(data: LongTailedCIFAR10, batch_size: int, generator: torch.Generator,
                  augmenter: Augmenter, normalize: bool = False, memory_format=torch.contiguous_format,
                  drop_last: bool = False):
    """One epoch of augmented training batches, made on the data's device.

    All random draws (shuffle, crop offsets, flips, AutoAugment choices) come from ``generator``, a
    CPU generator, so the same seed gives the same batches on every device and a checkpointed
    generator state resumes the exact sequence. Only small index tensors cross to the device.
    ``drop_last`` leaves out the last partial batch (a different one each epoch, as the shuffle moves).
    """
    n = len(data.train_y)
    perm = torch.randperm(n, generator=generator).to(data.device, non_blocking=True)
    for start in range(0, batches_per_epoch(n, batch_size, drop_last) * batch_size, batch_size):
        idx = perm[start:start + batch_size]
        x = augmenter(data.train_x[idx], generator)
        yield to_float(x, normalize).contiguous(memory_format=memory_format), data.train_y[idx]


def test_batches(data: LongTailedCIFAR10, batch_size: int = 1000, normalize: bool = False,
                 memory_format=torch.contiguous_format):
    for start in range(0, len(data.test_y), batch_size):
        x = data.test_x[start:start + batch_size]
        yield to_float(x, normalize).contiguous(memory_format=memory_format), data.test_y[start:start + batch_size]
