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

from .errors import LtError
from .models import LinearHead, ResLTHead, ResNet32, fused_logits

EXIT_HEADS = ("linear", "cosine", "reslt")
AGGREGATIONS = ("accumulate", "routed")


class NormedLinear(nn.Module):
    """Cosine classifier of LDAM-DRW: normalized features times normalized class weights."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


class CosineHead(nn.Module):
    """Global average pool + cosine classifier (the usual partner of the LDAM loss)."""

    def __init__(self, channels: int, num_classes: int = 10):
        super().__init__()
        self.fc = NormedLinear(channels, num_classes)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean((2, 3)))


def make_head(kind: str, channels: int, num_classes: int = 10, branch_style: str = "split") -> nn.Module:
    if kind == "linear":
        return LinearHead(channels, num_classes)
    if kind == "cosine":
        return CosineHead(channels, num_classes)
    if kind == "reslt":
        return ResLTHead(channels, num_classes, branch_style)
    raise LtError(f"unknown exit head {kind!r}; choose one of {', '.join(EXIT_HEADS)}")


class EarlyExitResNet32(ResNet32):
    """ResNet-32 with an exit after each stage; ``forward`` returns the three exits' outputs.

    ``exit_head`` is the kind of the two early exits, ``head`` the kind of the final one.
    """

    def __init__(self, widths=(16, 32, 64), num_classes: int = 10, head: str = "linear",
                 exit_head: str = "linear", branch_style: str = "split"):
        final = "linear" if head == "cosine" else head
        super().__init__(widths, num_classes, head=final, branch_style=branch_style)
        if head == "cosine":
            self.head = CosineHead(self.widths[-1], num_classes)
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


def confidence(output) -> tuple[torch.Tensor, torch.Tensor]:
    """(max softmax probability, predicted class) of an exit's (fused) logits."""
    conf, pred = F.softmax(fused_logits(output).float(), dim=1).max(dim=1)
    return conf, pred


def train_exits(outputs: list, y: torch.Tensor, threshold: float) -> torch.Tensor:
    """Exit index of each sample under the training rule (correct AND confident, else go on)."""
    last = len(outputs) - 1
    exit_idx = torch.full_like(y, last)
    active = torch.ones_like(y, dtype=torch.bool)
    for k, out in enumerate(outputs[:-1]):
        conf, pred = confidence(out)
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


def inference_exits(outputs: list, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(exit index, prediction at that exit) of each sample under the inference rule."""
    confs, preds = zip(*(confidence(o) for o in outputs))
    confs, preds = torch.stack(confs), torch.stack(preds)
    exit_idx = first_confident(confs, threshold)
    return exit_idx, preds.gather(0, exit_idx[None])[0]


@torch.no_grad()
def predict_with_exits(model: EarlyExitResNet32, x: torch.Tensor, threshold: float | None):
    """Inference that stops computing for an image at its first confident exit: after each stage only
    the images still undecided go on. Returns (prediction, exit index) per image; the same as
    ``inference_exits`` on the full outputs, at a fraction of the cost when images leave early.
    ``threshold=None`` runs every image through the backbone and the final head only (no exit heads)."""
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
        conf, p = confidence(model.exits[i](h))
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
