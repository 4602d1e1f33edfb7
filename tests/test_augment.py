import itertools
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import AutoAugment, AutoAugmentPolicy

from lt_lib.learn import data as D
from lt_lib.learn.augment import (
    Augmenter,
    autoaugment,
    cifar10_policy,
    flip,
    random_crop,
)


def images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)


def test_random_crop_takes_each_images_own_window_of_the_zero_padded_image():
    x = images(4)
    offsets = torch.tensor([[0, 0], [8, 8], [3, 5], [8, 0]])
    out = random_crop(x, offsets)
    padded = F.pad(x, (4, 4, 4, 4))
    for i, (t, l) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, t:t + 32, l:l + 32])
    assert out[0, :, :4].sum() == 0 and out[1, :, -4:].sum() == 0  # padding is zeros


def test_crop_offsets_stay_in_bounds_and_flips_are_per_sample():
    aug = Augmenter(crop=True, flip=False)
    x = torch.ones(512, 3, 32, 32, dtype=torch.uint8)
    out = aug(x, torch.Generator().manual_seed(0))
    # the number of zero rows/cols tells the offset: never more than 4 on a side
    rows = (out[:, 0].sum(2) == 0).sum(1)
    cols = (out[:, 0].sum(1) == 0).sum(1)
    assert rows.max() <= 4 and cols.max() <= 4 and (rows == 0).any() and (rows == 4).any()
    x = images(64)
    mask = torch.arange(64) % 3 == 0
    out = flip(x, mask)
    assert torch.equal(out[mask], x[mask].flip(3)) and torch.equal(out[~mask], x[~mask])


def images_with_edge_cases(n, seed):
    """Random images, plus flat channels (autocontrast's max == min, equalize's step 0) and
    low-contrast ones, where the per-image statistics take their special branches."""
    x = images(n, seed)
    x[0] = 128
    x[1, 0] = 7
    x[2] = x[2] // 64 + 100
    return x


def torchvision_autoaugment(x, pid, probs, signs):
    """torchvision's AutoAugment image by image with the given draws (get_params patched)."""
    aa = AutoAugment(AutoAugmentPolicy.CIFAR10)
    out = []
    for i in range(len(x)):
        params = (int(pid[i]), probs[i].clone(), signs[i].clone())
        with mock.patch.object(AutoAugment, "get_params", return_value=params):
            out.append(aa(x[i]))
    return torch.stack(out)


@pytest.mark.parametrize("pid,k", list(itertools.product(range(25), range(2))))
def test_every_autoaugment_op_matches_torchvision_per_image(pid, k):
    x = images_with_edge_cases(6, seed=pid)
    for sign in (0, 1):
        probs = torch.full((6, 2), 2.0)
        probs[:, k] = 0.0  # only op k of sub-policy pid applies
        signs = torch.full((6, 2), sign)
        ref = torchvision_autoaugment(x, torch.full((6,), pid), probs, signs)
        for static in (False, True):
            out = autoaugment(x, torch.full((6,), pid), probs, signs, static=static)
            assert torch.equal(out, ref), (cifar10_policy()[pid][k], sign, static)


def test_the_whole_augmenter_equals_torchvision_image_by_image():
    """Crop, flip and a sub-policy drawn per image: the batched, sync-free augmenter gives exactly
    what torchvision's AutoAugment gives one image at a time with the same draws."""
    x = images_with_edge_cases(384, seed=7)
    aug = Augmenter(autoaugment=True)
    draws = aug.draw(len(x), torch.Generator().manual_seed(3))
    cropped = flip(random_crop(x, draws["offsets"]), draws["flip"])
    ref = torchvision_autoaugment(cropped, draws["policy_ids"], draws["probs"], draws["signs"])
    assert torch.equal(aug.apply(x, draws), ref)
    assert torch.equal(aug.apply(x, draws, static=True), ref)
    assert torch.equal(aug(x, torch.Generator().manual_seed(3)), ref)  # draw + apply from the generator
    assert len(set(draws["policy_ids"].tolist())) == 25  # one batch mixes every sub-policy


def test_draws_come_in_torchvisions_order_from_one_cpu_generator():
    g = torch.Generator().manual_seed(0)
    draws = Augmenter(autoaugment=True).draw(5, g)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(draws["offsets"], torch.randint(0, 9, (5, 2), generator=g))
    assert torch.equal(draws["flip"], torch.rand(5, generator=g) < 0.5)
    assert torch.equal(draws["policy_ids"], torch.randint(25, (5,), generator=g))
    assert torch.equal(draws["probs"], torch.rand((5, 2), generator=g))
    assert torch.equal(draws["signs"], torch.randint(2, (5, 2), generator=g))


def test_train_batches_cover_the_epoch_once_and_repeat_with_the_seed():
    lt = D.make_long_tailed(D.synthetic_cifar10(20, 2), 1)
    def epoch(seed):
        g = torch.Generator().manual_seed(seed)
        return list(D.train_batches(lt, 64, g, Augmenter(autoaugment=True)))
    a, b, c = epoch(3), epoch(3), epoch(4)
    assert sum(len(y) for _, y in a) == 200
    assert sorted(torch.cat([y for _, y in a]).tolist()) == sorted(lt.train_y.tolist())
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(a, b))
    assert not torch.equal(a[0][0], c[0][0])
    assert a[0][0].dtype == torch.float32 and 0 <= a[0][0].min() and a[0][0].max() <= 1
