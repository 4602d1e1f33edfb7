import itertools
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import AutoAugment, AutoAugmentPolicy

from lt_lib import data as D
from lt_lib.augment import CIFAR10_POLICY, Augmenter, apply_op, autoaugment_groups, flip, random_crop


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


@pytest.mark.parametrize("pid,k", list(itertools.product(range(25), range(2))))
def test_every_autoaugment_op_matches_torchvision_per_image(pid, k):
    x = images(6, seed=pid)
    aa = AutoAugment(AutoAugmentPolicy.CIFAR10)
    for sign in (0, 1):
        probs = torch.full((2,), 2.0)
        probs[k] = 0.0  # only op k of sub-policy pid applies
        signs = torch.tensor([sign, sign])
        with mock.patch.object(AutoAugment, "get_params", return_value=(pid, probs, signs)):
            ref = torch.stack([aa(im) for im in x])
        out = x.clone()
        for position in autoaugment_groups(torch.full((6,), pid), probs.expand(6, 2), signs.expand(6, 2)):
            for op, mag, idx in position:
                out[idx] = apply_op(out[idx], op, mag)
        assert torch.equal(out, ref), (CIFAR10_POLICY[pid][k], sign)


def test_autoaugment_draws_a_sub_policy_per_image():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(25, (128,), generator=g)
    probs, signs = torch.zeros(128, 2), torch.ones(128, 2, dtype=torch.long)  # every op applies
    groups = autoaugment_groups(ids, probs, signs)
    ops_per_image = {}
    for k, position in enumerate(groups):
        for op, mag, idx in position:
            for i in idx.tolist():
                ops_per_image.setdefault(i, []).append(op)
    for i, pid in enumerate(ids.tolist()):
        assert ops_per_image[i] == [CIFAR10_POLICY[pid][0][0], CIFAR10_POLICY[pid][1][0]]
    assert len(set(ids.tolist())) > 15  # one batch mixes many sub-policies


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
