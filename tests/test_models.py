import pytest
import torch

from lt_lib.errors import LtError
from lt_lib.learn.models import ResNet32, count_parameters, fused_logits


def backbone_params(w0, w1, w2, blocks=5):
    """Hand count: stem conv + BN, then per block two 3x3 convs and two BNs (option-A shortcuts are free)."""
    n = 27 * w0 + 2 * w0
    cin = w0
    for w in (w0, w1, w2):
        for _ in range(blocks):
            n += 9 * cin * w + 9 * w * w + 4 * w
            cin = w
    return n


def test_resnet32_has_the_canonical_464154_parameters():
    assert count_parameters(ResNet32((16, 32, 64))) == 464_154
    assert backbone_params(16, 32, 64) + 64 * 10 + 10 == 464_154


@pytest.mark.parametrize("widths", [(16, 32, 64), (16, 32, 48), (15, 30, 63)])
def test_parameter_counts_of_the_width_variants(widths):
    c = widths[-1]
    assert count_parameters(ResNet32(widths)) == backbone_params(*widths) + c * 10 + 10
    if c % 3 == 0:  # the report's split head: grouped 1x1 conv (C * C/3 weights + C biases) + fc on C/3
        split = ResNet32(widths, head="reslt", branch_style="split")
        assert count_parameters(split) == backbone_params(*widths) + c * (c // 3) + c + (c // 3) * 10 + 10


def test_report_variants_exact_counts():
    assert count_parameters(ResNet32((16, 32, 48), head="reslt", branch_style="split")) == 314_410
    assert count_parameters(ResNet32((15, 30, 63), head="reslt", branch_style="split")) == 439_900
    assert count_parameters(ResNet32((16, 32, 64), head="reslt", branch_style="bn")) == 464_154 + 3 * 2 * 64


@pytest.mark.parametrize("style,widths", [("bn", (16, 32, 64)), ("conv", (16, 32, 64)), ("split", (16, 32, 48)),
                                          ("split", (15, 30, 63))])
def test_reslt_heads_return_three_branch_logits_whose_sum_is_the_prediction(style, widths):
    torch.manual_seed(0)
    model = ResNet32(widths, head="reslt", branch_style=style).eval()
    out = model(torch.rand(5, 3, 32, 32))
    assert isinstance(out, tuple) and len(out) == 3 and all(z.shape == (5, 10) for z in out)
    assert torch.allclose(fused_logits(out), out[0] + out[1] + out[2])
    if style == "bn":  # three BatchNorms start as identities: the branches differ only once trained
        assert torch.allclose(out[0], out[1])
    else:
        assert not torch.allclose(out[0], out[1])


def test_split_branches_see_disjoint_thirds_of_the_channels():
    model = ResNet32((16, 32, 48), head="reslt", branch_style="split").eval()
    fmap = torch.zeros(1, 48, 8, 8)
    base = model.head(fmap)
    fmap[:, 40] = 1.0  # a channel of the last third (the tail branch's group)
    moved = model.head(fmap)
    assert torch.equal(base[0], moved[0]) and torch.equal(base[1], moved[1]) and not torch.equal(base[2], moved[2])


def test_split_head_needs_a_width_divisible_by_three():
    with pytest.raises(LtError, match="divisible by 3, got 64.*16/32/48"):
        ResNet32((16, 32, 64), head="reslt", branch_style="split")
    with pytest.raises(LtError, match="unknown ResLT branch style"):
        ResNet32((16, 32, 48), head="reslt", branch_style="grouped")


def test_option_a_shortcut_pads_odd_width_changes():
    model = ResNet32((15, 30, 63)).eval()
    fmap = model.features(torch.rand(2, 3, 32, 32))
    assert fmap.shape == (2, 63, 8, 8)
    block = model.stages[2][0]
    sc = block.shortcut(torch.ones(1, 30, 16, 16))
    assert sc.shape == (1, 63, 8, 8)
    assert sc[0, :16].sum() == 0 and sc[0, 16:46].eq(1).all() and sc[0, 46:].sum() == 0
