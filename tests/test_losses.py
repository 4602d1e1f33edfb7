import math

import pytest
import torch
import torch.nn.functional as F

from lt_lib.errors import LtError
from lt_lib.learn.losses import CrossEntropy, ResLTLoss


def ce(z, t):
    """-log softmax(z)_t for one sample, by hand."""
    return -(z[t] - math.log(sum(math.exp(v) for v in z)))


Z_H = [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
Z_M = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
Z_T = [[1.0, 0.0], [0.0, 0.0], [0.0, 3.0]]
Y = [0, 1, 1]


def branch_terms(members_m, members_t):
    fused = [[a + b + c for a, b, c in zip(*r)] for r in zip(Z_H, Z_M, Z_T)]
    fusion = sum(ce(fused[i], Y[i]) for i in range(3)) / 3
    h = [ce(Z_H[i], Y[i]) for i in range(3)]
    m = [ce(Z_M[i], Y[i]) for i in range(3) if Y[i] in members_m]
    t = [ce(Z_T[i], Y[i]) for i in range(3) if Y[i] in members_t]
    return fusion, h, m, t


def run(alpha, norm, members_m, members_t):
    loss = ResLTLoss(alpha, members_m, members_t, norm, num_classes=2)
    logits = tuple(torch.tensor(z) for z in (Z_H, Z_M, Z_T))
    return loss(logits, torch.tensor(Y)).item()


def test_per_branch_normalization_by_hand():
    fusion, h, m, t = branch_terms([1], [1])
    expected = 0.3 * fusion + 0.7 * (sum(h) / 3 + sum(m) / 2 + sum(t) / 2)
    assert run(0.7, "per_branch", [1], [1]) == pytest.approx(expected, rel=1e-6)


def test_pooled_normalization_by_hand():
    fusion, h, m, t = branch_terms([1], [1])
    expected = 0.3 * fusion + 0.7 * (sum(h) + sum(m) + sum(t)) / (3 + 2 + 2)
    assert run(0.7, "pooled", [1], [1]) == pytest.approx(expected, rel=1e-6)


def test_an_empty_branch_subset_contributes_zero_not_nan():
    fusion, h, m, _ = branch_terms([1], [])
    # no sample of the tail classes in the batch: the T term vanishes
    assert run(0.5, "per_branch", [1], []) == pytest.approx(0.5 * fusion + 0.5 * (sum(h) / 3 + sum(m) / 2), rel=1e-6)
    assert run(0.5, "pooled", [1], []) == pytest.approx(0.5 * fusion + 0.5 * (sum(h) + sum(m)) / 5, rel=1e-6)
    logits = tuple(torch.tensor(z, requires_grad=True) for z in (Z_H, Z_M, Z_T))
    loss = ResLTLoss(0.9, [], [], "per_branch", num_classes=2)(logits, torch.tensor(Y))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(z.grad).all() for z in logits)
    assert logits[1].grad.abs().sum() > 0  # the M branch still gets the fusion gradient


def test_alpha_zero_is_plain_cross_entropy_on_the_sum():
    fusion, *_ = branch_terms([1], [1])
    assert run(0.0, "per_branch", [1], [1]) == pytest.approx(fusion, rel=1e-6)


def test_label_smoothing_is_pytorchs():
    z, y = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([0])
    logp = torch.log_softmax(z, 1)[0]
    expected = -(0.9 * logp[0] + 0.1 / 3 * logp.sum())
    assert CrossEntropy(0.1)(z, y).item() == pytest.approx(expected.item(), rel=1e-6)
    assert CrossEntropy()((z, z, z), y).item() == pytest.approx(F.cross_entropy(3 * z, y).item(), rel=1e-6)


def test_bad_loss_settings_are_refused():
    with pytest.raises(LtError, match="branch normalization"):
        ResLTLoss(0.9, [1], [1], "mean")
    with pytest.raises(LtError, match="alpha must lie in"):
        ResLTLoss(1.5, [1], [1])
    with pytest.raises(LtError, match="ResLT head"):
        ResLTLoss(0.9, [1], [1])(torch.zeros(2, 10), torch.tensor([0, 1]))


RATIO_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_ldam_margins_at_ratio_100():
    from lt_lib.learn.losses import ldam_margins

    expected = [0.158, 0.180, 0.204, 0.232, 0.264, 0.300, 0.341, 0.387, 0.440, 0.500]
    assert ldam_margins(RATIO_100).tolist() == pytest.approx(expected, abs=5e-4)


def test_drw_weights_at_ratio_100():
    from lt_lib.learn.losses import drw_weights

    expected = [0.0506, 0.0769, 0.1211, 0.1950, 0.3188, 0.5246, 0.8683, 1.4426, 2.4092, 3.9927]
    w = drw_weights(RATIO_100)
    assert w.tolist() == pytest.approx(expected, abs=5e-5) and w.sum().item() == pytest.approx(10.0)


def test_ldam_loss_by_hand():
    from lt_lib.learn.losses import LDAMLoss

    loss = LDAMLoss([100, 1], max_margin=0.5, s=2.0)  # margins: 0.5 / 100^(1/4) * 1 ... -> [0.158, 0.5]
    m0 = 0.5 * (100 ** -0.25) / (1 ** -0.25)
    z, y = torch.tensor([[1.0, 0.5], [0.2, 0.4]]), torch.tensor([0, 1])
    by_hand = [ce([2 * (1.0 - m0), 2 * 0.5], 0), ce([2 * 0.2, 2 * (0.4 - 0.5)], 1)]
    assert loss(z, y).item() == pytest.approx(sum(by_hand) / 2, rel=1e-5)
    w = torch.tensor([1.0, 3.0])  # a class-weighted mean, as DRW uses it
    assert loss(z, y, weight=w).item() == pytest.approx((by_hand[0] + 3 * by_hand[1]) / 4, rel=1e-5)
    assert loss.per_sample(z, y).tolist() == pytest.approx(by_hand, rel=1e-5)


def test_simulated_reslt_weights_count_nested_membership():
    from lt_lib.learn.data import REPORT_BRANCH_CLASSES
    from lt_lib.learn.losses import simulated_reslt_weights

    assert simulated_reslt_weights(*REPORT_BRANCH_CLASSES).tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]


def _ce(z, y):
    return F.cross_entropy(z, y, reduction="none")


def test_exit_loss_with_one_exit_is_the_plain_loss():
    from lt_lib.learn.data import REPORT_BRANCH_CLASSES
    from lt_lib.learn.losses import ExitLoss

    torch.manual_seed(0)
    z, y = torch.randn(16, 10), torch.randint(0, 10, (16,))
    plain = ExitLoss(_ce, [False], "routed", 0.9)
    assert plain([z], y)[0].item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    branches = tuple(torch.randn(16, 10) for _ in range(3))
    reslt = ExitLoss(_ce, [True], "accumulate", 0.9, 0.95, *REPORT_BRANCH_CLASSES)
    expected = ResLTLoss(0.95, *REPORT_BRANCH_CLASSES)(branches, y)
    assert reslt([branches], y)[0].item() == pytest.approx(expected.item(), rel=1e-6)


def test_exit_loss_routed_and_accumulated_by_hand():
    from lt_lib.learn.losses import ExitLoss

    y = torch.tensor([0, 1])
    confident_right = torch.tensor([[9.0, 0.0], [0.0, 9.0]])  # both samples leave at exit 0 (correct, confident)
    e0, e1 = confident_right[:, :2], torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    e0_wrong = torch.tensor([[9.0, 0.0], [9.0, 0.0]])          # sample 1 is wrong at exit 0: goes on
    ce0 = [ce(e0_wrong[i].tolist(), y[i].item()) for i in range(2)]
    ce1 = [ce(e1[i].tolist(), y[i].item()) for i in range(2)]
    routed = ExitLoss(_ce, [False, False], "routed", 0.9)
    loss, exit_idx = routed([e0_wrong, e1], y)
    assert exit_idx.tolist() == [0, 1]
    assert loss.item() == pytest.approx((ce0[0] + ce1[1]) / 2, rel=1e-6)  # each sample only at its exit
    accumulated = ExitLoss(_ce, [False, False], "accumulate", 0.9)
    loss, _ = accumulated([e0_wrong, e1], y)
    assert loss.item() == pytest.approx((ce0[0] + ce0[1] + ce1[1]) / 2, rel=1e-6)  # sample 1 at exits 0 and 1
    loss, exit_idx = routed([e0, e1], y)
    assert exit_idx.tolist() == [0, 0] and loss.item() == pytest.approx(F.cross_entropy(e0, y).item(), rel=1e-6)


def test_simulated_weights_and_drw_weights_in_the_exit_loss():
    from lt_lib.learn.losses import ExitLoss

    z, y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]), torch.tensor([0, 1, 2])
    per = [ce(z[i].tolist(), i) for i in range(3)]
    sim = ExitLoss(_ce, [False], "routed", 0.9, medium_tail_classes=[1, 2], tail_classes=[2], simulated=True,
                   num_classes=3)
    assert sim([z], y)[0].item() == pytest.approx((per[0] + 2 * per[1] + 3 * per[2]) / 3, rel=1e-6)
    plain = ExitLoss(_ce, [False], "routed", 0.9, num_classes=3)
    w = torch.tensor([0.5, 1.0, 2.0])
    expected = (0.5 * per[0] + per[1] + 2 * per[2]) / 3.5  # a class-weighted mean
    assert plain([z], y, class_weight=w)[0].item() == pytest.approx(expected, rel=1e-6)


def test_mixup_mixes_the_losses_and_judges_exits_by_the_dominant_label():
    from lt_lib.learn.losses import ExitLoss

    z, y_a, y_b = torch.tensor([[0.0, 9.0]]), torch.tensor([0]), torch.tensor([1])
    loss_fn = ExitLoss(_ce, [False, False], "routed", 0.5)
    loss, exit_idx = loss_fn([z, z], y_a, mix=(y_b, torch.tensor(0.3), torch.tensor(0.7)))
    assert exit_idx.tolist() == [0]  # the dominant label is y_b = 1, predicted with confidence: leaves early
    expected = 0.3 * ce([0.0, 9.0], 0) + 0.7 * ce([0.0, 9.0], 1)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    _, exit_idx = loss_fn([z, z], y_a, mix=(y_b, torch.tensor(0.7), torch.tensor(0.3)))
    assert exit_idx.tolist() == [1]  # dominant label 0 is predicted wrong at exit 0
