"""Early exits (ELF, Duggal et al.): a ResNet-32 with exits after stage 1, stage 2 and the final stage.

Training rule, per sample: at an early exit the sample leaves when its prediction there is correct
AND its max softmax confidence exceeds the training threshold; whatever is left leaves at the final
exit. Inference rule: a sample leaves at the first exit whose confidence exceeds the inference
threshold, and is judged by that exit's prediction. Both are masks over the batch; every exit is
computed for every sample during training.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import LtError
from .models import HEADS, ResNet32, fused_logits, make_head

EXIT_HEADS = HEADS
AGGREGATIONS = ("accumulate", "routed")
EXIT_CONFIDENCES = ("raw", "trained")


class EarlyExitResNet32(ResNet32):
    """ResNet-32 with an exit after each stage; ``forward`` returns the three exits' outputs.

    ``exit_head`` is the kind of the two early exits, ``head`` the kind of the final one.
    """

    def __init__(self, widths=(16, 32, 64), num_classes: int = 10, head: str = "linear",
                 exit_head: str = "linear", branch_style: str = "split", head_init: str = "kaiming"):
        super().__init__(widths, num_classes, head=head, branch_style=branch_style, head_init=head_init)
        if exit_head not in EXIT_HEADS:
            raise LtError(f"unknown exit head {exit_head!r}; choose one of {', '.join(EXIT_HEADS)}")
        self.exits = nn.ModuleList(make_head(exit_head, w, num_classes, branch_style) for w in self.widths[:2])
        for m in self.exits.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> list:
        x = self.stem(x)
        outputs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            outputs.append(self.exits[i](x) if i < 2 else self.head(x))
        return outputs


def confidence(output, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(max softmax probability, predicted class) of an exit's (fused) logits z: softmax(scale * z).

    ``scale`` is 1 for heads whose output the loss trains as it is, and LDAM's s (30) when the loss
    trains s * z: a cosine head's z lies in [-1, 1], so softmax(z) over ten classes never exceeds
    e / (e + 9/e) = 0.45 and no image would ever leave at a threshold of 0.5.
    """
    conf, pred = F.softmax(scale * fused_logits(output).float(), dim=1).max(dim=1)
    return conf, pred


def train_exits(outputs: list, y: torch.Tensor, threshold: float, scale: float = 1.0) -> torch.Tensor:
    """Exit index of each sample under the training rule (correct AND confident, else go on)."""
    last = len(outputs) - 1
    exit_idx = torch.full_like(y, last)
    active = torch.ones_like(y, dtype=torch.bool)
    for k, out in enumerate(outputs[:-1]):
        conf, pred = confidence(out, scale)
        leave = active & (pred == y) & (conf > threshold)
        exit_idx = torch.where(leave, torch.full_like(exit_idx, k), exit_idx)
        active &= ~leave
    return exit_idx


def first_confident(confs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Exit index per sample from confidences (K, N): the first early exit above the threshold, else
    the final exit."""
    leave = confs > threshold
    leave[-1] = True
    return leave.float().argmax(0)  # argmax returns the first maximum


def inference_exits(outputs: list, threshold: float, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(exit index, prediction at that exit) of each sample under the inference rule."""
    confs, preds = zip(*(confidence(o, scale) for o in outputs))
    confs, preds = torch.stack(confs), torch.stack(preds)
    exit_idx = first_confident(confs, threshold)
    return exit_idx, preds.gather(0, exit_idx[None])[0]


@torch.no_grad()
def predict_with_exits(model: EarlyExitResNet32, x: torch.Tensor, threshold: float | None, scale: float = 1.0):
    """Inference that stops computing for an image at its first confident exit: after each stage only
    the images still undecided go on. Returns (prediction, exit index) per image; the same as
    ``inference_exits`` on the full outputs, at a fraction of the cost when images leave early.
    ``threshold=None`` runs every image through the backbone and the final head only (no exit heads);
    ``scale`` as in ``confidence``."""
    last = len(model.stages) - 1
    pred = torch.empty(len(x), dtype=torch.long, device=x.device)
    exit_idx = torch.full_like(pred, last)
    alive = torch.arange(len(x), device=x.device)
    h = model.stem(x)
    for i, stage in enumerate(model.stages):
        h = stage(h)
        if i == last:
            pred[alive] = confidence(model.head(h))[1]
            break
        if threshold is None:
            continue
        conf, p = confidence(model.exits[i](h), scale)
        leave = conf > threshold
        pred[alive[leave]] = p[leave]
        exit_idx[alive[leave]] = i
        alive, h = alive[~leave], h[~leave]
        if len(alive) == 0:
            break
    return pred, exit_idx


SWEEP_THRESHOLDS = tuple(round(0.10 + 0.05 * i, 2) for i in range(18)) + (1.0,)


def threshold_sweep(confs: torch.Tensor, preds: torch.Tensor, y: torch.Tensor, costs, thresholds=SWEEP_THRESHOLDS):
    """Post-hoc inference thresholds on stored test outputs: accuracy (percent) and expected FLOPs
    relative to running every image to the final exit, for each threshold (1.0: no early exit)."""
    costs = torch.tensor(costs, dtype=torch.float64)
    rows = []
    for t in thresholds:
        exit_idx = first_confident(confs.clone(), t)
        pred = preds.gather(0, exit_idx[None])[0]
        frac = torch.bincount(exit_idx, minlength=len(costs)).double() / len(y)
        rows.append({"threshold": t, "overall": round(100.0 * (pred == y).double().mean().item(), 2),
                     "flops_ratio": round(float((frac * costs).sum() / costs[-1]), 4)})
    return rows


def loss_masks(exit_idx: torch.Tensor, num_exits: int, aggregation: str) -> torch.Tensor:
    """(num_exits, B) float mask of where each sample's loss counts: every exit up to and including
    its own (``accumulate``, ELF) or only its own (``routed``, the report's fix)."""
    if aggregation not in AGGREGATIONS:
        raise LtError(f"unknown loss aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
    k = torch.arange(num_exits, device=exit_idx.device)[:, None]
    mask = k <= exit_idx[None] if aggregation == "accumulate" else k == exit_idx[None]
    return mask.float()


@torch.no_grad()
def exit_flops(model: EarlyExitResNet32, image_size: int = 32) -> list[int]:
    """Cumulative FLOPs of one image leaving at each exit: the backbone up to that stage plus every
    exit head evaluated on the way (measured with ``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, image_size, image_size, device=next(model.parameters()).device)
    costs, total = [], 0

    def count(fn, *args):
        with FlopCounterMode(display=False) as counter:
            out = fn(*args)
        return out, counter.get_total_flops()

    x, c = count(model.stem, x)
    total += c
    for i, stage in enumerate(model.stages):
        x, c = count(stage, x)
        total += c
        _, h = count(model.exits[i] if i < 2 else model.head, x)
        total += h
        costs.append(total)
    model.train(was_training)
    return costs
