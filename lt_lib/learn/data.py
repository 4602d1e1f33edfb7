"""Long-tailed CIFAR-10: sources, the exponential profile, the seeded selection, on-device batches.

The long-tailed training set is made as in LDAM-DRW and the official ResLT code: class i keeps
n_i = int(n_max * (1/ratio) ** (i / 9)) images (class 0 is the head), chosen per class by a seeded
shuffle (numpy ``RandomState(0)``, one generator drawn class after class) and taking the first n_i.
The test set stays the balanced 10,000.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import LtError
from .augment import Augmenter

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
    """CIFAR-10-shaped arrays: uint8 images (N, 32, 32, 3) and int64 labels. ``available`` marks the
    training images a packed file holds (None: all of them)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    available: np.ndarray | None = field(default=None, repr=False)


def default_data_root() -> Path:
    return Path(os.environ.get("LT_DATA", "data"))


def _download_allowed() -> bool:
    return os.environ.get("LT_DOWNLOAD", "0").lower() in ("1", "true", "yes")


NPZ_FIX = "make it again: python -m lt_lib data --force --data-root {root} (--download, or --from FILE)"
PACK_NAME = "cifar10-lt-jpeg.npz"


def _damaged(path: Path, exc: BaseException) -> str:
    """What is wrong with a file, in a few words, from the exception reading it raised."""
    if path.is_file() and path.suffix == ".npz" and not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            zip_start = f.read(4) == b"PK\x03\x04"
        return "truncated: its zip directory is missing" if zip_start else "not an npz (zip) file"
    text = str(exc).splitlines()[0][:100] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# what reading a damaged npz, pickle or torch file can raise (zip, zlib, pickle, numpy and OS errors)
READ_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, pickle.UnpicklingError, RuntimeError,
               AttributeError, TypeError, IndexError)


def _check_arrays(path: Path, a: ArraySet, fix: str) -> ArraySet:
    for split in ("train", "test"):
        x, y = getattr(a, f"{split}_x"), getattr(a, f"{split}_y")
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(x) != len(y):
            raise LtError(f"{path} holds {split}_x {x.dtype} {x.shape} with {len(y)} labels, not uint8 "
                          f"(N, 32, 32, 3) images with N labels; {fix}")
        if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
            raise LtError(f"{path} has {split} labels outside 0-9; {fix}")
    return a


def _from_npz(path: Path) -> ArraySet:
    fix = NPZ_FIX.format(root=path.parent)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"train_x", "train_y", "test_x", "test_y"} - set(z.files)
            if missing:
                raise LtError(f"{path} lacks the keys {sorted(missing)}; {fix}")
            arrays = ArraySet(z["train_x"], z["train_y"].astype(np.int64), z["test_x"], z["test_y"].astype(np.int64),
                              source=f"npz:{path}")
    except READ_ERRORS as exc:
        if isinstance(exc, LtError):
            raise
        raise LtError(f"{path} is damaged ({_damaged(path, exc)}); {fix}") from None
    return _check_arrays(path, arrays, fix)


def _from_batches(folder: Path) -> ArraySet:
    """torchvision's ``cifar-10-batches-py`` layout (python pickles)."""
    fix = f"delete {folder} and download it again (--download), or make {folder.parent}/cifar10.npz"

    def read(names):
        xs, ys = [], []
        for name in names:
            try:
                with open(folder / name, "rb") as f:
                    d = pickle.load(f, encoding="latin1")
                xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                ys.append(np.asarray(d["labels"], dtype=np.int64))
            except READ_ERRORS as exc:
                raise LtError(f"{folder / name} is damaged ({_damaged(folder / name, exc)}); {fix}") from None
        return np.concatenate(xs), np.concatenate(ys)

    tx, ty = read([f"data_batch_{i}" for i in range(1, 6)])
    vx, vy = read(["test_batch"])
    return _check_arrays(folder, ArraySet(tx, ty, vx, vy, source=f"cifar-10-batches-py:{folder}"), fix)


# ------------------------------------------------------------------------------ packed JPEG file
PACK_RATIOS = (100, 50, 10)


def _zip_order(names):
    """The converter's order (../shared/data/cifar10_npz.py): per split, classes in label order, file
    names sorted within a class. Returns {split: [(zip name, label), ...]} in cifar10.npz's index order."""
    names = sorted(n for n in names if n.endswith(".jpg"))
    return {split: [(n, label) for label, cls in enumerate(CLASSES) for n in names if n.startswith(f"{split}/{cls}/")]
            for split in ("train", "test")}


def pack_jpeg(zip_path, out, ratios=PACK_RATIOS) -> dict:
    """One file with exactly the images the long-tailed runs of ``ratios`` read (their training subsets,
    whose union is the subset of the smallest ratio, and the whole test set) as the zip's own JPEG
    bytes, no re-encoding; every training label (so the seeded selection runs unchanged) and each kept
    image's index. Returns {path, bytes, train_images, test_images}."""
    zip_path, out = Path(zip_path), Path(out)
    if not zip_path.is_file():
        raise LtError(f"no JPEG zip at {zip_path}; pass --zip PATH (the offline copy is ../shared/data/cifar10-jpeg.zip)")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            order = _zip_order(zf.namelist())
            if (len(order["train"]), len(order["test"])) != (50000, 10000):
                raise LtError(f"{zip_path} holds {len(order['train'])} train and {len(order['test'])} test JPEGs, "
                              "not CIFAR-10's 50000 and 10000")
            train_y = np.array([label for _, label in order["train"]], dtype=np.int64)
            keep = np.zeros(len(train_y), dtype=bool)
            for ratio in ratios:
                keep[long_tail_indices(train_y, long_tail_counts(ratio))] = True
            arrays = {"train_y": train_y, "train_index": np.flatnonzero(keep),
                      "test_y": np.array([label for _, label in order["test"]], dtype=np.int64),
                      "ratios": np.array(ratios, dtype=np.float64)}
            for split, names in (("train", [order["train"][i][0] for i in arrays["train_index"]]),
                                 ("test", [n for n, _ in order["test"]])):
                blobs = [zf.read(n) for n in names]
                arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
                arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LtError(f"{zip_path} is damaged ({_damaged(zip_path, exc)}); fetch the offline copy again") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    return {"path": str(out), "bytes": out.stat().st_size, "train_images": int(keep.sum()),
            "test_images": len(arrays["test_y"])}


def _decode(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(offsets) - 1, 32, 32, 3), dtype=np.uint8)
    for i in range(len(out)):
        with Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())) as im:
            out[i] = np.asarray(im.convert("RGB"), dtype=np.uint8)  # as the converter decodes
    return out


def _from_pack(path: Path) -> ArraySet:
    fix = f"make it again: python -m lt_lib pack-data {path}"
    try:
        with np.load(path, allow_pickle=False) as z:
            train_y, index = z["train_y"], z["train_index"]
            train_x = np.zeros((len(train_y), 32, 32, 3), dtype=np.uint8)
            train_x[index] = _decode(z["train_jpeg"], z["train_offsets"])
            test_x, test_y = _decode(z["test_jpeg"], z["test_offsets"]), z["test_y"]
    except READ_ERRORS as exc:
        raise LtError(f"{path} is damaged ({_damaged(path, exc)}); {fix}") from None
    available = np.zeros(len(train_y), dtype=bool)
    available[index] = True
    return _check_arrays(path, ArraySet(train_x, train_y, test_x, test_y, source=f"pack:{path}", available=available),
                         fix)


def data_file(data_root=None) -> Path | None:
    """The CIFAR-10 source ``load_cifar10`` would read under ``data_root``, or None when there is none."""
    root = Path(data_root) if data_root is not None else default_data_root()
    for path in (root / "cifar10.npz", root / "cifar-10-batches-py" / "test_batch", root / PACK_NAME):
        if path.is_file():
            return path
    return None


def check_data(data_root=None, required: bool = True) -> str | None:
    """Fail fast, in one line, on CIFAR-10 that is damaged, or missing when ``required`` (before any
    planning or training). Returns the source read, or None when it is absent and not required."""
    if data_file(data_root) is None and not required:
        return None
    return load_cifar10(data_root).source


def load_cifar10(data_root=None, download: bool | None = None) -> ArraySet:
    """CIFAR-10 from ``<data_root>/cifar10.npz``, else ``<data_root>/cifar-10-batches-py``, else the packed
    long-tailed subsets ``<data_root>/cifar10-lt-jpeg.npz`` (``pack-data``), else a download.

    ``data_root`` defaults to ``$LT_DATA`` or ``./data``. Downloading (torchvision) happens only when
    ``download=True`` or ``LT_DOWNLOAD=1``.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    if (root / "cifar10.npz").is_file():
        return _from_npz(root / "cifar10.npz")
    if (root / "cifar-10-batches-py" / "test_batch").is_file():
        return _from_batches(root / "cifar-10-batches-py")
    if (root / PACK_NAME).is_file():
        return _from_pack(root / PACK_NAME)
    if download if download is not None else _download_allowed():
        try:
            import torchvision

            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
            return _from_batches(root / "cifar-10-batches-py")
        except Exception as exc:  # network errors come in many types; report them in one line
            raise LtError(f"downloading CIFAR-10 into {root} failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:100] if str(exc) else ''}); make {root}/cifar10.npz from a "
                          f"copy you have instead: python -m lt_lib data --from FILE --data-root {root}") from None
    raise LtError(
        f"no CIFAR-10 under {root}: make {root}/cifar10.npz with python -m lt_lib data --data-root {root} --download "
        "(network) or "
        "--from FILE (cifar-10-python.tar.gz, or a zip of train/<class>/ and test/<class>/ images), or allow a "
        "download here (--download or LT_DOWNLOAD=1); --data-root or LT_DATA choose another folder"
    )


# --------------------------------------------------------------------- python -m lt_lib data
NPZ_NAME = "cifar10.npz"
RECORD_NAME = "cifar10.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _decode_image(raw: bytes, name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        x = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if x.shape != (32, 32, 3):
        raise LtError(f"{name} is {x.shape[1]}x{x.shape[0]} pixels, not CIFAR-10's 32x32")
    return x


def _class_folder_arrays(names, read, where: str) -> dict:
    """Arrays from images laid out as ``[prefix/]train/<class>/<file>`` and ``[prefix/]test/<class>/<file>``
    (the offline copy's layout): per split, classes in label order, file names sorted within a class, each
    image decoded to RGB (the order and decoding of the offline copy's own converter)."""
    images = sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES))
    arrays = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for label, cls in enumerate(CLASSES):
            marker = f"{split}/{cls}/"
            files = [n for n in images if n.startswith(marker) or f"/{marker}" in n]
            if not files:
                raise LtError(f"{where} has no images under {split}/{cls}/; it must hold train/<class>/ and "
                              f"test/<class>/ folders for the ten classes ({', '.join(CLASSES)})")
            xs.extend(_decode_image(read(n), f"{where}:{n}") for n in files)
            ys.extend([label] * len(files))
        arrays[f"{split}_x"], arrays[f"{split}_y"] = np.stack(xs), np.asarray(ys, dtype=np.int64)
    return arrays


def _tar_arrays(path: Path) -> dict:
    """Arrays from the official ``cifar-10-python.tar.gz`` (its ``cifar-10-batches-py`` pickles)."""
    import tarfile

    batches = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and (name.startswith("data_batch_") or name == "test_batch"):
                batches[name] = pickle.load(tar.extractfile(member), encoding="latin1")
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in wanted if n not in batches]
    if missing:
        raise LtError(f"{path} lacks {', '.join(missing)}: not the official cifar-10-python.tar.gz")
    arrays = {}
    for split, names in (("train", wanted[:5]), ("test", wanted[5:])):
        arrays[f"{split}_x"] = np.concatenate([np.asarray(batches[n]["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
                                               .transpose(0, 2, 3, 1) for n in names])
        arrays[f"{split}_y"] = np.concatenate([np.asarray(batches[n]["labels"], dtype=np.int64) for n in names])
    return arrays


def prepare_data(data_root=None, source=None, download: bool = False, force: bool = False) -> dict:
    """Put CIFAR-10 into ``data_root`` as ``cifar10.npz`` (the keys ``load_cifar10`` reads, plus ``classes``)
    with a record beside it (``cifar10.json``: the source, its sha256, the npz's sha256, the image counts).

    ``source``: a file the user has, the official ``cifar-10-python.tar.gz``, or a zip (or folder) of
    ``train/<class>/`` and ``test/<class>/`` images (such as the offline JPEG copy); ``download``:
    torchvision's download of the official archive. A stored ``cifar10.npz`` is never replaced
    without ``force``."""
    from datetime import datetime, timezone

    root = Path(data_root) if data_root is not None else default_data_root()
    out = root / NPZ_NAME
    if (source is None) == (not download):
        raise LtError("say where CIFAR-10 comes from: --download (torchvision, needs the network) or --from FILE "
                      "(cifar-10-python.tar.gz, or a zip or folder of train/<class>/ and test/<class>/ images)")
    if out.exists() and not force:
        raise LtError(f"{out} exists already; pass --force to make it again, or --data-root DIR to write elsewhere")
    if download:
        try:
            import torchvision

            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        except Exception as exc:  # network errors come in many types; one line
            raise LtError(f"downloading CIFAR-10 into {root} failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:100] if str(exc) else ''}); use --from FILE with a copy "
                          "you have") from None
        arrays = {k: getattr(a, k) for a in [_from_batches(root / "cifar-10-batches-py")]
                  for k in ("train_x", "train_y", "test_x", "test_y")}
        origin = {"source": "torchvision download (cifar-10-python.tar.gz)", "format": "cifar-10-batches-py"}
    else:
        src = Path(source)
        if not src.exists():
            raise LtError(f"no file at {src}; pass the path of cifar-10-python.tar.gz or of a zip of class folders")
        try:
            if src.is_dir():
                files = [str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()]
                arrays, fmt = _class_folder_arrays(files, lambda n: (src / n).read_bytes(), str(src)), "image folders"
            elif zipfile.is_zipfile(src):
                with zipfile.ZipFile(src) as zf:
                    arrays = _class_folder_arrays(zf.namelist(), zf.read, str(src))
                fmt = "zip of image folders"
            elif src.name.endswith((".tar.gz", ".tgz", ".tar")):
                arrays, fmt = _tar_arrays(src), "cifar-10-python.tar.gz"
            else:
                raise LtError(f"{src} is neither a zip, a folder nor a .tar.gz; pass cifar-10-python.tar.gz or a zip "
                              "of train/<class>/ and test/<class>/ images")
        except LtError:
            raise
        except (*READ_ERRORS, EOFError) as exc:
            raise LtError(f"{src} is damaged ({_damaged(src, exc)}); fetch it again") from None
        origin = {"source": str(src.resolve()), "source_sha256": _sha256(src) if src.is_file() else None, "format": fmt}
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{NPZ_NAME}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, classes=np.array(CLASSES), **arrays)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    record = {**origin, "npz": str(out), "npz_sha256": _sha256(out), "train_images": int(len(arrays["train_y"])),
              "test_images": int(len(arrays["test_y"])), "made_by": "python -m lt_lib data",
              "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (root / RECORD_NAME).write_text(json.dumps(record, indent=1) + "\n")
    return record


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
    if arrays.available is not None and not arrays.available[idx].all():
        raise LtError(f"{arrays.source.split(':', 1)[-1]} holds the training images of ratios "
                      f"{', '.join(f'{r:g}' for r in PACK_RATIOS)} only, not those of ratio {imbalance:g}; "
                      "use the full cifar10.npz for it")

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
_MEAN_STD: dict = {}


def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalisation constants on ``device``, made once (a captured step must not copy from the host)."""
    if device not in _MEAN_STD:
        _MEAN_STD[device] = (torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1),
                             torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1))
    return _MEAN_STD[device]


def to_float(x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """uint8 NCHW -> float in [0, 1], optionally mean/std normalized per channel."""
    x = x.float().div_(255)
    if normalize:
        mean, std = _mean_std(x.device)
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
