import pickle

import numpy as np
import pytest
import torch

from conftest import REAL_DATA, ROOT
from lt_lib.errors import LtError
from lt_lib.learn import data as D

EXPECTED = {
    100: [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
    50: [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100],
    10: [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500],
}


@pytest.mark.parametrize("ratio,total", [(100, 12406), (50, 13996), (10, 20431)])
def test_long_tail_counts_are_exact(ratio, total):
    counts = D.long_tail_counts(ratio)
    assert counts == EXPECTED[ratio]
    assert sum(counts) == total


def test_ratio_one_is_balanced_and_bad_ratios_are_refused():
    assert D.long_tail_counts(1) == [5000] * 10
    with pytest.raises(LtError, match="must be a number >= 1"):
        D.long_tail_counts(0.5)
    with pytest.raises(LtError, match="at most 5000"):
        D.long_tail_counts(6000)


def test_selection_is_the_ldam_drw_seeded_shuffle():
    labels = np.repeat(np.arange(10), 50)
    np.random.RandomState(7).shuffle(labels)
    counts = [50, 40, 30, 20, 10, 9, 8, 7, 6, 5]
    idx = D.long_tail_indices(labels, counts)
    # the reference: one RandomState(0) drawn class after class, first n of each shuffled index list
    rng = np.random.RandomState(0)
    ref = []
    for c, n in enumerate(counts):
        i = np.where(labels == c)[0]
        rng.shuffle(i)
        ref.extend(i[:n])
    assert idx.tolist() == list(ref)
    assert np.bincount(labels[idx]).tolist() == counts
    assert np.array_equal(idx, D.long_tail_indices(labels, counts))  # deterministic


def test_synthetic_source_is_deterministic_with_cifar_shapes():
    a, b = D.synthetic_cifar10(8, 4), D.synthetic_cifar10(8, 4)
    assert a.train_x.shape == (80, 32, 32, 3) and a.train_x.dtype == np.uint8
    assert a.test_x.shape == (40, 32, 32, 3) and a.train_y.dtype == np.int64
    assert np.array_equal(a.train_x, b.train_x) and np.array_equal(a.test_y, b.test_y)
    # classes differ in colour: per-class mean colours are far apart
    means = np.stack([a.train_x[a.train_y == c].mean((0, 1, 2)) for c in range(10)])
    dists = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dists[~np.eye(10, dtype=bool)].min() > 15


def test_make_long_tailed_scales_counts_to_the_source_and_keeps_the_test_set():
    lt = D.make_long_tailed(D.synthetic_cifar10(100, 7), 10)
    assert lt.counts == [100, 77, 59, 46, 35, 27, 21, 16, 12, 10]
    assert torch.bincount(lt.train_y).tolist() == lt.counts
    assert lt.train_x.shape == (sum(lt.counts), 3, 32, 32) and lt.train_x.dtype == torch.uint8
    assert torch.bincount(lt.test_y).tolist() == [7] * 10


def test_missing_data_names_both_fixes(tmp_path, monkeypatch):
    monkeypatch.delenv("LT_DOWNLOAD", raising=False)
    with pytest.raises(LtError) as err:
        D.load_cifar10(tmp_path)
    msg = str(err.value)
    assert "cifar10.npz" in msg and "--download" in msg and "\n" not in msg


def test_npz_and_batches_sources(tmp_path):
    syn = D.synthetic_cifar10(3, 2)
    np.savez(tmp_path / "cifar10.npz", train_x=syn.train_x, train_y=syn.train_y, test_x=syn.test_x,
             test_y=syn.test_y)
    got = D.load_cifar10(tmp_path)
    assert got.source.startswith("npz:") and np.array_equal(got.train_x, syn.train_x)
    # torchvision's pickled batches: rows of 3072 bytes in CHW order
    folder = tmp_path / "tv" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    flat = syn.train_x.transpose(0, 3, 1, 2).reshape(len(syn.train_x), -1)
    parts = np.array_split(np.arange(len(flat)), 5)
    for i, p in enumerate(parts, 1):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({"data": flat[p], "labels": syn.train_y[p].tolist()}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": syn.test_x.transpose(0, 3, 1, 2).reshape(len(syn.test_x), -1),
                     "labels": syn.test_y.tolist()}, f)
    got = D.load_cifar10(tmp_path / "tv")
    assert got.source.startswith("cifar-10-batches-py")
    assert np.array_equal(got.train_x, syn.train_x) and np.array_equal(got.test_y, syn.test_y)


def test_normalization_uses_cifar_statistics():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(D.to_float(x), torch.ones(1, 3, 2, 2))
    expected = (1 - torch.tensor(D.CIFAR10_MEAN)) / torch.tensor(D.CIFAR10_STD)
    assert torch.allclose(D.to_float(x, normalize=True)[0, :, 0, 0], expected)


@pytest.mark.skipif(not REAL_DATA.is_file(), reason="offline CIFAR-10 (data/cifar10.npz) not prepared")
@pytest.mark.parametrize("ratio", [100, 50, 10])
def test_real_cifar10_long_tailed_sets(ratio):
    arrays = D.load_cifar10(REAL_DATA.parent)
    lt = D.make_long_tailed(arrays, ratio)
    assert torch.bincount(lt.train_y).tolist() == EXPECTED[ratio]
    assert len(lt.test_y) == 10000 and torch.bincount(lt.test_y).tolist() == [1000] * 10


ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"


@pytest.mark.skipif(not (ZIP.is_file() and REAL_DATA.is_file()), reason="needs ../shared/data/cifar10-jpeg.zip and "
                    "data/cifar10.npz")
def test_the_packed_file_decodes_to_exactly_the_selected_images(tmp_path):
    """pack-data keeps the zip's own JPEG bytes of the images ratios 100, 50 and 10 read, and the test
    set: decoded, every one equals cifar10.npz's pixels and label; the sets made from it are the same."""
    import subprocess
    import sys

    out = tmp_path / "data"
    rc = subprocess.run([sys.executable, "-m", "lt_lib", "pack-data", str(out), "--zip", str(ZIP)], cwd=tmp_path,
                        capture_output=True, text=True, timeout=600)
    assert rc.returncode == 0, rc.stderr
    packed = out / D.PACK_NAME
    assert packed.stat().st_size <= 30 * 2**20 and "20431 training images" in rc.stdout
    full, small = D.load_cifar10(REAL_DATA.parent), D.load_cifar10(out)
    kept = np.flatnonzero(small.available)
    assert len(kept) == 20431 and np.array_equal(small.train_x[kept], full.train_x[kept])
    assert np.array_equal(small.train_y, full.train_y) and np.array_equal(small.test_x, full.test_x)
    assert np.array_equal(small.test_y, full.test_y)
    for ratio in D.PACK_RATIOS:
        a, b = D.make_long_tailed(small, ratio), D.make_long_tailed(full, ratio)
        assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    with pytest.raises(LtError, match="holds the training images of ratios 100, 50, 10 only, not those of ratio 1;"):
        D.make_long_tailed(small, 1)


def test_pack_data_without_a_zip_is_one_line(tmp_path):
    import subprocess
    import sys

    rc = subprocess.run([sys.executable, "-m", "lt_lib", "pack-data", str(tmp_path / "d"), "--zip",
                         str(tmp_path / "none.zip")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rc.returncode == 2 and rc.stderr.count("\n") == 1 and "no JPEG zip at" in rc.stderr


def _jpeg_zip(path, per_class=(2, 1), prefix=""):
    """A small zip in the offline copy's layout, and the pixels PIL decodes from it, in npz order."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.RandomState(0)
    expected = {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    with zipfile.ZipFile(path, "w") as z:
        for split, n in zip(("train", "test"), per_class):
            for label, cls in enumerate(D.CLASSES):
                for i in reversed(range(n)):  # written out of order: the npz sorts by name
                    buf = io.BytesIO()
                    Image.fromarray(rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)).save(buf, "JPEG")
                    z.writestr(f"{prefix}{split}/{cls}/{i:04d}.jpg", buf.getvalue())
        for split in ("train", "test"):
            for label, cls in enumerate(D.CLASSES):
                for name in sorted(n for n in z.namelist() if n.startswith(f"{prefix}{split}/{cls}/")):
                    with Image.open(io.BytesIO(z.read(name))) as im:
                        expected[f"{split}_x"].append(np.asarray(im.convert("RGB")))
                    expected[f"{split}_y"].append(label)
    return {k: np.asarray(v) for k, v in expected.items()}


def test_data_from_a_zip_of_class_folders_records_its_source(tmp_path):
    import hashlib
    import json

    expected = _jpeg_zip(tmp_path / "copy.zip", prefix="CIFAR-10-images/")
    made = D.prepare_data(tmp_path / "data", tmp_path / "copy.zip")
    arrays = D.load_cifar10(tmp_path / "data")
    for key in expected:
        assert np.array_equal(getattr(arrays, key), expected[key]), key
    record = json.loads((tmp_path / "data" / "cifar10.json").read_text())
    assert record == made and record["format"] == "zip of image folders" and record["train_images"] == 20
    assert record["source_sha256"] == hashlib.sha256((tmp_path / "copy.zip").read_bytes()).hexdigest()
    assert record["npz_sha256"] == hashlib.sha256((tmp_path / "data" / "cifar10.npz").read_bytes()).hexdigest()
    before = (tmp_path / "data" / "cifar10.npz").read_bytes()
    with pytest.raises(LtError, match="exists already; pass --force"):
        D.prepare_data(tmp_path / "data", tmp_path / "copy.zip")
    assert (tmp_path / "data" / "cifar10.npz").read_bytes() == before


def test_data_from_the_official_archive(tmp_path):
    """cifar-10-python.tar.gz's pickles (CHW rows of 3072 bytes) become HWC images in batch order."""
    import io
    import tarfile

    rng = np.random.RandomState(1)
    batches = {f"data_batch_{i}": rng.randint(0, 256, (3, 3072)).astype(np.uint8) for i in range(1, 6)}
    batches["test_batch"] = rng.randint(0, 256, (2, 3072)).astype(np.uint8)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, rows in batches.items():
            blob = pickle.dumps({"data": rows, "labels": list(range(len(rows)))})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    D.prepare_data(tmp_path / "data", tmp_path / "cifar-10-python.tar.gz")
    arrays = D.load_cifar10(tmp_path / "data")
    first = batches["data_batch_1"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(arrays.train_x[0], first) and arrays.train_y.tolist() == [0, 1, 2] * 5
    assert arrays.test_x.shape == (2, 32, 32, 3) and arrays.test_y.tolist() == [0, 1]


@pytest.mark.parametrize("args, message", [
    ([], "say where CIFAR-10 comes from: --download"),
    (["--from", "nothing.zip"], "no file at nothing.zip"),
    (["--from", "notes.txt"], "is neither a zip, a folder nor a .tar.gz"),
    (["--from", "half.zip"], "half.zip has no images under train/airplane/"),
])
def test_bad_data_input_is_one_line(tmp_path, args, message):
    import subprocess
    import sys
    import zipfile

    (tmp_path / "notes.txt").write_text("not data\n")
    with zipfile.ZipFile(tmp_path / "half.zip", "w") as z:
        z.writestr("readme.txt", "no images")
    rc = subprocess.run([sys.executable, "-m", "lt_lib", "data", *args, "--data-root", str(tmp_path / "d")],
                        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rc.returncode == 2 and rc.stderr.count("\n") == 1 and message in rc.stderr, rc.stderr
    assert not (tmp_path / "d").exists()
