import pytest
import torch

from lt_lib.errors import LtError
from lt_lib.learn.exits import (
    EarlyExitResNet32,
    exit_flops,
    inference_exits,
    loss_masks,
    train_exits,
)
from lt_lib.learn.models import NormedLinear, ResNet32


def logits_for(preds_conf, num_classes=3):
    """Logits whose softmax puts probability p on class c, for each (c, p)."""
    rows = []
    for c, p in preds_conf:
        probs = torch.full((num_classes,), (1 - p) / (num_classes - 1))
        probs[c] = p
        rows.append(probs.log())
    return torch.stack(rows)


# a hand-made batch of four samples, labels 0, 1, 2, 0
Y = torch.tensor([0, 1, 2, 0])
EXIT1 = logits_for([(0, 0.95), (1, 0.6), (0, 0.99), (0, 0.3)])   # correct+confident only for sample 0
EXIT2 = logits_for([(0, 0.9), (1, 0.97), (2, 0.7), (1, 0.99)])   # sample 1 correct+confident
FINAL = logits_for([(0, 0.5), (1, 0.5), (2, 0.5), (0, 0.5)])


def test_training_rule_needs_correct_and_confident():
    exit_idx = train_exits([EXIT1, EXIT2, FINAL], Y, threshold=0.9)
    # sample 2 is confident at exit 1 but wrong; sample 3 is confident at exit 2 but wrong
    assert exit_idx.tolist() == [0, 1, 2, 2]
    assert train_exits([EXIT1, EXIT2, FINAL], Y, threshold=0.99).tolist() == [2, 2, 2, 2]


def test_routed_and_accumulated_losses_on_a_hand_made_batch():
    exit_idx = torch.tensor([0, 1, 2, 2])
    routed = loss_masks(exit_idx, 3, "routed")
    accumulated = loss_masks(exit_idx, 3, "accumulate")
    assert routed.T.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert accumulated.T.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
    with pytest.raises(LtError, match="unknown loss aggregation"):
        loss_masks(exit_idx, 3, "sum")


def test_inference_rule_takes_the_first_confident_exit():
    exit_idx, pred = inference_exits([EXIT1, EXIT2, FINAL], threshold=0.9)
    # confidence alone decides: sample 2 leaves at exit 1 with a wrong prediction
    assert exit_idx.tolist() == [0, 1, 0, 1]
    assert pred.tolist() == [0, 1, 0, 1]
    exit_idx, pred = inference_exits([EXIT1, EXIT2, FINAL], threshold=1.0)  # no early exit
    assert exit_idx.tolist() == [2, 2, 2, 2] and pred.tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize("widths,head,exit_head", [((16, 32, 48), "reslt", "linear"), ((15, 30, 63), "reslt", "reslt"),
                                                   ((16, 32, 64), "cosine", "cosine")])
def test_exit_model_shapes_and_flops(widths, head, exit_head):
    model = EarlyExitResNet32(widths, head=head, exit_head=exit_head)
    outs = model(torch.rand(2, 3, 32, 32))
    assert len(outs) == 3
    for out, is_reslt in zip(outs, (exit_head == "reslt", exit_head == "reslt", head == "reslt")):
        assert isinstance(out, tuple) == is_reslt
    costs = exit_flops(model)
    assert costs[0] < costs[1] < costs[2]
    plain = exit_flops(EarlyExitResNet32(widths, head=head, exit_head=exit_head))[2]
    assert costs[2] == plain
    # exits never cost more than the full network run to its final exit
    assert all(c / costs[2] <= 1 for c in costs)


def test_final_exit_costs_the_backbone_plus_the_heads():
    from torch.utils.flop_counter import FlopCounterMode

    model = EarlyExitResNet32((16, 32, 64), head="linear", exit_head="linear")
    plain = ResNet32((16, 32, 64))
    with FlopCounterMode(display=False) as counter:
        plain(torch.zeros(1, 3, 32, 32))
    extra = 2 * (16 * 10 + 32 * 10)  # the two early linear heads (multiply-adds counted as 2 FLOPs)
    assert exit_flops(model)[2] == counter.get_total_flops() + extra


def test_cosine_classifier_outputs_cosines():
    fc = NormedLinear(8, 4)
    out = fc(torch.randn(5, 8))
    assert out.abs().max() <= 1 + 1e-6
    x = fc.weight[:, 2].detach().clone()[None] * 3.0  # a feature along class 2's weight
    assert fc(x)[0, 2].item() == pytest.approx(1.0, abs=1e-5)
