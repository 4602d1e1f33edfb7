"""Losses: cross-entropy (optionally label-smoothed) and the ResLT loss (paper Eq. 1-3).

Everything is written with masks over the batch: no data-dependent Python branches, no host syncs.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import LtError
from .models import fused_logits

BRANCH_NORMS = ("per_branch", "pooled")


class CrossEntropy(nn.Module):
    """J(z, y) = -log softmax(z)_y, averaged over the batch; ``label_smoothing`` as in PyTorch."""

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, output, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(fused_logits(output), y, label_smoothing=self.label_smoothing)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 where den is 0 (an empty subset contributes nothing, never NaN)."""
    return num / den.clamp_min(1e-12)


def _mixed(J, z, labels, member=None):
    """Per-sample sum over the (label, coefficient) pairs of coef * member(label) * J(z, label), and
    the per-sample sum of coef * member(label) (the sample's share of the subset)."""
    loss, share = 0.0, 0.0
    for y, coef in labels:
        m = coef if member is None else coef * member[y]
        loss = loss + m * J(z, y)
        share = share + m
    return loss, share


def reslt_loss(output, labels, J, alpha: float, branch_members, branch_norm: str = "per_branch",
               sample_weight=None) -> torch.Tensor:
    """Eq. 1-3 for a batch, in weighted form (see ``ResLTLoss``).

    ``labels`` is a list of (label tensor, coefficient) pairs: [(y, 1)] normally, [(y_a, lam), (y_b,
    1 - lam)] under Mixup. ``J(z, y)`` gives per-sample losses. ``branch_members`` are the (C,) float
    membership vectors of the branches (all ones, medium+tail, tail). ``sample_weight`` (B,) says how
    much each sample counts (1 by default; 0 for samples that do not use this exit; class weights).
    """
    z_h = output[0]
    w = torch.ones(z_h.shape[0], device=z_h.device) if sample_weight is None else sample_weight
    fusion_terms, fusion_share = _mixed(J, output[0] + output[1] + output[2], labels)
    fusion = _ratio((w * fusion_terms).sum(), (w * fusion_share).sum())
    parts = [_mixed(J, z, labels, member) for z, member in zip(output, branch_members)]
    nums = [(w * t).sum() for t, _ in parts]
    dens = [(w * m).sum() for _, m in parts]
    if branch_norm == "per_branch":
        branch = sum(_ratio(n, d) for n, d in zip(nums, dens))
    else:
        branch = _ratio(sum(nums), sum(dens))
    return (1 - alpha) * fusion + alpha * branch


def branch_members(medium_tail_classes, tail_classes, num_classes: int = 10, device=None):
    """Membership vectors of the three ResLT branches: all classes, medium+tail, tail."""
    members = torch.zeros(3, num_classes, device=device)
    members[0] = 1.0
    members[1, list(medium_tail_classes)] = 1.0
    members[2, list(tail_classes)] = 1.0
    return members


class ResLTLoss(nn.Module):
    """ResLT loss on branch logits (z_H, z_M, z_T):

        L_fusion = J(z_H + z_M + z_T, y)                                   (Eq. 1)
        L_branch = J(z_H[all], y) + J(z_M[S_m+t], y) + J(z_T[S_t], y)      (Eq. 2)
        L        = (1 - alpha) L_fusion + alpha L_branch                   (Eq. 3)

    S_m+t and S_t are the samples of ``medium_tail_classes`` and ``tail_classes``. ``branch_norm``:
    ``per_branch`` averages each branch term over its own subset (the report), ``pooled`` sums all
    per-sample branch terms and divides by their number |all| + |S_m+t| + |S_t| (the official code).
    A branch whose subset is empty in a batch contributes 0.
    """

    def __init__(self, alpha: float, medium_tail_classes, tail_classes, branch_norm: str = "per_branch",
                 label_smoothing: float = 0.0, num_classes: int = 10):
        super().__init__()
        if branch_norm not in BRANCH_NORMS:
            raise LtError(f"unknown branch normalization {branch_norm!r}; choose one of {', '.join(BRANCH_NORMS)}")
        if not 0.0 <= alpha <= 1.0:
            raise LtError(f"ResLT alpha must lie in [0, 1], got {alpha}")
        self.alpha, self.branch_norm, self.label_smoothing = alpha, branch_norm, label_smoothing
        self.register_buffer("members", branch_members(medium_tail_classes, tail_classes, num_classes))

    def J(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(z, y, reduction="none", label_smoothing=self.label_smoothing)

    def forward(self, output, y: torch.Tensor) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            raise LtError("the ResLT loss needs a model with a ResLT head (three branch outputs)")
        return reslt_loss(output, [(y, 1.0)], self.J, self.alpha, self.members, self.branch_norm)


# ----------------------------------------------------------------------------- LDAM, DRW, weights
def ldam_margins(counts, max_margin: float = 0.5) -> torch.Tensor:
    """LDAM margins m_j proportional to n_j^(-1/4), scaled so that the largest is ``max_margin``."""
    m = torch.tensor(counts, dtype=torch.float64).pow(-0.25)
    return (m * (max_margin / m.max())).float()


def drw_weights(counts, beta: float = 0.9999) -> torch.Tensor:
    """Deferred re-weighting (Cao et al.): (1 - beta) / (1 - beta^n_j), normalized to sum to the
    number of classes (the "effective number of samples" weights)."""
    n = torch.tensor(counts, dtype=torch.float64)
    w = (1 - beta) / (1 - beta ** n)
    return (w / w.sum() * len(counts)).float()


def simulated_reslt_weights(medium_tail_classes, tail_classes, num_classes: int = 10) -> torch.Tensor:
    """The report's "simulated" ResLT loss for exits without branches: a sample counts once, plus
    once more if it is in the medium+tail subset and once more if in the tail subset (1 / 2 / 3)."""
    w = torch.ones(num_classes)
    w[list(medium_tail_classes)] += 1
    w[list(tail_classes)] += 1
    return w


class LDAMLoss(nn.Module):
    """LDAM (Cao et al. 2019): J(s * (z - m_y e_y), y), the margin of the true class subtracted from
    its logit, logits scaled by ``s`` (30). ``weight`` (DRW) makes it a class-weighted mean."""

    def __init__(self, counts, max_margin: float = 0.5, s: float = 30.0):
        super().__init__()
        self.register_buffer("margins", ldam_margins(counts, max_margin))
        self.s = s

    def scaled_logits(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        true_class = torch.arange(logits.shape[1], device=logits.device) == y[:, None]  # (one_hot may read back)
        return self.s * (logits - true_class * self.margins[y, None])

    def per_sample(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.scaled_logits(logits, y), y, reduction="none")

    def forward(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(self.scaled_logits(logits, y), y, weight=weight)


class PerSample(nn.Module):
    """J(z, y) per sample, as a module: cross-entropy (label-smoothed) or LDAM's. A module, so that its
    constants (LDAM's margins) are buffers of the loss that hold it and move with its ``.to()``: a step
    captured as a CUDA graph must not copy them from the host."""

    def __init__(self, kind: str = "ce", label_smoothing: float = 0.0, ldam: LDAMLoss | None = None):
        super().__init__()
        self.kind, self.label_smoothing, self.ldam = kind, label_smoothing, ldam

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.ldam is not None:
            return self.ldam.per_sample(z, y)
        return F.cross_entropy(z, y, reduction="none", label_smoothing=self.label_smoothing)


# ------------------------------------------------------------------------------ early-exit losses
class ExitLoss(nn.Module):
    """The loss of an early-exit model (ELF and the report's hybrids), per batch:

        L = sum_k share_k * L_k,   share_k = sum_i P_ki w_i / sum_i w_i

    P_ki = 1 where sample i's loss counts at exit k (``accumulate``: every exit up to its own;
    ``routed``: its own only; exits assigned by the training rule), w_i its class weight (DRW; else 1),
    and L_k the exit's loss as a weighted mean over its samples: the full ResLT loss (Eq. 1-3) at a
    ResLT exit, else J, multiplied by the simulated-ResLT weight (1 / 2 / 3 for many / medium / few)
    when ``simulated``. ``share_k`` makes L the batch mean of each sample's summed exit losses (ELF);
    with a single exit and unit weights it is the plain loss. Under Mixup every J is the mixed
    lam J(z, y_a) + (1 - lam) J(z, y_b), and the exit rule judges against the dominant label;
    ``confidence_scale`` multiplies the logits before the rule's softmax (``exits.confidence``).
    """

    def __init__(self, J, reslt_exits, aggregation: str, train_threshold: float, alpha: float = 0.95,
                 medium_tail_classes=(), tail_classes=(), branch_norm: str = "per_branch", simulated: bool = False,
                 num_classes: int = 10, confidence_scale: float = 1.0):
        super().__init__()
        from .exits import AGGREGATIONS

        if aggregation not in AGGREGATIONS:
            raise LtError(f"unknown loss aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        self.J, self.reslt_exits, self.aggregation = J, tuple(reslt_exits), aggregation
        self.train_threshold, self.alpha, self.branch_norm = train_threshold, alpha, branch_norm
        self.confidence_scale = confidence_scale
        self.register_buffer("members", branch_members(medium_tail_classes, tail_classes, num_classes))
        sim = simulated_reslt_weights(medium_tail_classes, tail_classes, num_classes) if simulated else \
            torch.ones(num_classes)
        self.register_buffer("simulated_weight", sim)

    def forward(self, outputs, y, class_weight=None, mix=None):
        """Returns (loss, exit index per sample). ``mix`` = (y_b, lam, 1 - lam) under Mixup, the
        coefficients as tensors (no Python branch on them: a captured step cannot read them)."""
        from .exits import loss_masks, train_exits

        labels = [(y, 1.0)] if mix is None else [(y, mix[1]), (mix[0], mix[2])]
        dominant = y if mix is None else torch.where(mix[1] >= 0.5, y, mix[0])
        exit_idx = train_exits(outputs, dominant, self.train_threshold, self.confidence_scale)
        masks = loss_masks(exit_idx, len(outputs), self.aggregation)
        w = torch.ones_like(masks[0])
        if class_weight is not None:
            w = sum(coef * class_weight[lab] for lab, coef in labels)
        members, sim = self.members, self.simulated_weight
        total = 0.0
        for k, (out, is_reslt) in enumerate(zip(outputs, self.reslt_exits)):
            pw = masks[k] * w
            if is_reslt:
                exit_loss = reslt_loss(out, labels, self.J, self.alpha, members, self.branch_norm, pw)
            else:
                terms, _ = _mixed(lambda z, lab: self.J(z, lab) * sim[lab], fused_logits(out), labels)
                exit_loss = _ratio((pw * terms).sum(), pw.sum())
            total = total + _ratio(pw.sum(), w.sum()) * exit_loss
        return total, exit_idx
