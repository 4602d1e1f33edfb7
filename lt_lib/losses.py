"""Losses: cross-entropy (optionally label-smoothed) and the ResLT loss (paper Eq. 1-3).

Everything is written with masks over the batch: no data-dependent Python branches, no host syncs.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import LtError
from .models import fused_logits

BRANCH_NORMS = ("per_branch", "pooled")


class CrossEntropy(nn.Module):
    """J(z, y) = -log softmax(z)_y, averaged over the batch; ``label_smoothing`` as in PyTorch."""

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, output, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(fused_logits(output), y, label_smoothing=self.label_smoothing)


def class_mask(y: torch.Tensor, classes, num_classes: int = 10) -> torch.Tensor:
    """Float mask (B,): 1 where y is one of ``classes``."""
    member = torch.zeros(num_classes, device=y.device)
    member[list(classes)] = 1.0
    return member[y]


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
        self.medium_tail_classes, self.tail_classes = tuple(medium_tail_classes), tuple(tail_classes)
        self.num_classes = num_classes

    def forward(self, output, y: torch.Tensor) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            raise LtError("the ResLT loss needs a model with a ResLT head (three branch outputs)")
        z_h, z_m, z_t = output
        ls = self.label_smoothing
        fusion = F.cross_entropy(z_h + z_m + z_t, y, label_smoothing=ls)
        masks = (torch.ones_like(y, dtype=z_h.dtype),
                 class_mask(y, self.medium_tail_classes, self.num_classes).to(z_h.dtype),
                 class_mask(y, self.tail_classes, self.num_classes).to(z_h.dtype))
        terms = [F.cross_entropy(z, y, reduction="none", label_smoothing=ls) * m for z, m in zip(output, masks)]
        if self.branch_norm == "per_branch":
            branch = sum(t.sum() / m.sum().clamp_min(1.0) for t, m in zip(terms, masks))
        else:
            branch = sum(t.sum() for t in terms) / sum(m.sum() for m in masks)
        return (1 - self.alpha) * fusion + self.alpha * branch


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
        return self.s * (logits - F.one_hot(y, logits.shape[1]) * self.margins.to(logits.device)[y, None])

    def per_sample(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.scaled_logits(logits, y), y, reduction="none")

    def forward(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(self.scaled_logits(logits, y), y, weight=weight)
