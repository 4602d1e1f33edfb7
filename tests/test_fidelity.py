"""Fidelity to the seeds and the official codes: exit confidence, clipping, schedules, inputs, heads,
the calibration experiments and the published numbers they are compared with."""
import math

import pytest
import torch

import lt_lib.runs.train as T
from lt_lib.learn import data as D
from lt_lib.learn.augment import Augmenter
from lt_lib.learn.exits import confidence, train_exits
from lt_lib.learn.experiments import EXPERIMENTS, resolve
from lt_lib.learn.reference import CALIBRATION, SELECTION, paper_overall, published
from lt_lib.runs.results import registry_setting


def test_confidence_is_judged_on_the_logits_the_loss_trains():
    """A cosine head's output z = 0.1 for the right class, 0 elsewhere (ten classes): softmax(z) gives
    e^0.1 / (e^0.1 + 9) = 0.1094, softmax(30 z) gives e^3 / (e^3 + 9) = 0.6906."""
    z = torch.zeros(2, 10)
    z[0, 3] = 0.1
    z[1, 5] = 1.0  # the most a cosine can say: e / (e + 9 / e) = 0.4508 raw
    raw, _ = confidence(z)
    scaled, pred = confidence(z, 30.0)
    assert raw.tolist() == pytest.approx([math.exp(0.1) / (math.exp(0.1) + 9), math.e / (math.e + 9)], abs=1e-6)
    assert scaled[0].item() == pytest.approx(math.exp(3) / (math.exp(3) + 9), abs=1e-6)
    assert pred.tolist() == [3, 5]
    # the rule at 0.5: on raw cosines nobody ever leaves early; on s * cos both leave at exit 1 (index 0)
    outputs, y = [z, z, torch.zeros(2, 10)], torch.tensor([3, 5])
    assert train_exits(outputs, y, 0.5).tolist() == [2, 2]
    assert train_exits(outputs, y, 0.5, 30.0).tolist() == [0, 0]
    assert train_exits(outputs, y, 0.2).tolist() == [2, 0]  # ELF's training threshold: raw lets only 0.45 go


def test_the_cosine_and_ldam_exits_use_the_trained_logits_and_ce_exits_their_own():
    for name in ("elf-ldam-drw", "elf-ldam-drw-lr0.01", "model2", "model3", "model4", "model5"):
        cfg = resolve(name, EXPERIMENTS[name].ratios[0], "full")
        assert cfg.criterion == "ldam" and cfg.confidence_scale == 30.0, name
        assert T.build_loss(cfg, D.long_tail_counts(100)).confidence_scale == 30.0
    for name in ("model1", "model6", "model7", "model8", "model14"):
        assert resolve(name, EXPERIMENTS[name].ratios[0], "full").confidence_scale == 1.0, name


def test_the_ldam_hybrids_inherit_elfs_gradient_clipping():
    for name in ("model2", "model3", "model4", "model5"):
        assert resolve(name, 100, "full").grad_clip == 5.0, name
    assert resolve("elf-ldam-drw", 100, "full").grad_clip == 5.0
    for name in ("model1", "model6", "model7", "model14", "reslt-a0.95-aa-ls"):
        assert resolve(name, EXPERIMENTS[name].ratios[0], "full").grad_clip == 0.0, name


def test_schedules_follow_the_official_codes():
    ldam = resolve("elf-ldam-drw", 100, "full")  # LDAM-DRW cifar_train.py:366-374
    assert [T.learning_rate(ldam, e) for e in (0, 4, 159, 160, 179, 180, 199)] == \
        pytest.approx([0.02, 0.1, 0.1, 0.001, 0.001, 1e-5, 1e-5])
    hybrid = resolve("model7", 100, "full")  # the report's logs: lr 0.001 over epochs 181-200
    assert T.learning_rate(hybrid, 199) == pytest.approx(0.001)
    paper = resolve("reslt-paper", 100, "full")  # ResLT cifarTrain_reslt_cifar10.py:115-117
    assert [T.learning_rate(paper, e) for e in range(6)] == \
        pytest.approx([0.1 * (1 / 3 * (1 - f) + f) for f in (0.2, 0.4, 0.6, 0.8, 1.0)] + [0.1])
    assert T.learning_rate(paper, 0) == pytest.approx(0.0466667, abs=1e-6)


def test_inputs_heads_and_batches_per_entry():
    for name in ("ce", "ce-balanced", "ldam-drw", "elf-ldam-drw", "reslt-paper"):
        assert resolve(name, EXPERIMENTS[name].ratios[0], "full").normalize, name
    for name in ("reslt-a0.95-aa-ls", "model7", "model14"):  # the report: [0, 1] inputs only (seed 004)
        assert not resolve(name, EXPERIMENTS[name].ratios[0], "full").normalize, name
    paper, ce = resolve("reslt-paper", 100, "smoke"), resolve("ce", 100, "smoke")
    assert paper.drop_last and not ce.drop_last
    data = T.load_data(paper)
    g = torch.Generator().manual_seed(0)
    sizes = [len(y) for _, y in D.train_batches(data, 32, g, Augmenter(), drop_last=True)]
    n = len(data.train_y)
    assert sizes == [32] * (n // 32) and n % 32  # a partial batch existed and was dropped
    assert len(list(D.train_batches(data, 32, g, Augmenter()))) == -(-n // 32)
    # the official ResLT classifier keeps PyTorch's default init: |w| <= 1/sqrt(64); Kaiming's std is 0.177
    torch.manual_seed(0)
    assert T.build_model(resolve("reslt-paper", 100, "full")).head.fc.weight.abs().max() <= 0.125
    torch.manual_seed(0)
    assert T.build_model(resolve("reslt-paper-split48", 100, "full")).head.fc.weight.abs().max() <= 1 / math.sqrt(16)
    torch.manual_seed(0)
    assert T.build_model(resolve("ce", 100, "full")).head.fc.weight.abs().max() > 0.125


def test_ldam_drw_is_one_cosine_exit_with_ldam_and_drw():
    cfg = resolve("ldam-drw", 100, "smoke")
    model = T.build_model(cfg)
    assert type(model.head).__name__ == "CosineHead" and not hasattr(model, "exits")
    loss = T.build_loss(cfg, D.long_tail_counts(100))
    z = torch.zeros(4, 10)
    y = torch.tensor([0, 3, 6, 9])
    w = torch.tensor([0.1, 1.0, 2.0, 4.0] + [1.0] * 6)
    value, exit_idx = loss([z], y, w)
    margins = loss.J.ldam.margins
    per = torch.nn.functional.cross_entropy(30 * (z - torch.nn.functional.one_hot(y, 10) * margins[y, None]), y,
                                            reduction="none")
    assert exit_idx.tolist() == [0] * 4
    assert value.item() == pytest.approx((w[y] * per).sum().item() / w[y].sum().item(), rel=1e-6)


def test_published_numbers_and_which_epoch_they_are():
    assert paper_overall("ce", 100) == 70.36 and paper_overall("ce", 10) == 86.39
    assert paper_overall("ce-balanced", 1) == 92.49
    assert paper_overall("ldam-drw", 100) == 77.03 and paper_overall("ldam-drw", 10) == 88.16
    assert [paper_overall("reslt-paper", r) for r in (100, 50, 10)] == [80.44, 83.46, 89.06]
    assert paper_overall("ce", 50) is None
    value, source = published("elf-ldam-drw", 100)
    assert value == 72.29 and "004" in source
    assert published("ce-balanced", 1)[1].startswith("He et al. 2016")
    assert SELECTION["paper"] == "best epoch"
    assert all(name in EXPERIMENTS for name in CALIBRATION)


def test_a_stored_run_of_a_changed_entry_is_marked_old_setting():
    cfg = resolve("elf-ldam-drw", 100, "quick")
    summary = {"experiment": cfg.experiment, "imbalance": 100.0, "seed": 0, "profile": "quick",
               "config": cfg.to_dict()}
    assert registry_setting(summary) == "current"
    before = {**cfg.to_dict(), "exit_confidence": "raw", "normalize": False, "lr_gamma": 0.1}
    assert registry_setting({**summary, "config": before}) == "old setting"
    assert registry_setting({**summary, "experiment": "gone"}) == "not in the registry"
