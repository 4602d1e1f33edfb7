"""Experiments as data: one ``TrainConfig`` dataclass, a registry of named settings, and profiles.

An experiment is a set of overrides of ``TrainConfig`` (plus per-ratio overrides where the setting
depends on the imbalance ratio). A profile (smoke / quick / full) scales the schedule and picks the
data source. ``resolve(name, imbalance, profile, seed)`` gives the full config of one run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..errors import LtError
from .data import OFFICIAL_BRANCH_CLASSES, REPORT_BRANCH_CLASSES, long_tail_counts


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run (report defaults, 002 "Hyperparameter values")."""

    experiment: str = "ce"
    imbalance: float = 100.0
    seed: int = 0
    profile: str = "full"
    # data
    source: str = "cifar10"                   # "cifar10" or "synthetic"
    synthetic_sizes: tuple = (5000, 1000)     # train / test images per class of the synthetic source
    autoaugment: bool = False
    normalize: bool = False                   # report: [0, 1] only; official ResLT: mean/std
    mixup: bool = False                       # Mixup (Zhang et al.): lam ~ Beta(a, a) per batch
    mixup_alpha: float = 1.0
    # model
    widths: tuple = (16, 32, 64)
    head: str = "linear"                      # final head: "linear", "cosine" or "reslt"
    head_init: str = "kaiming"                # final classifier: "kaiming" (LDAM-DRW) or "default" (PyTorch's; official ResLT)
    branch_style: str = "split"               # ResLT branches: "bn", "conv" or "split"
    early_exits: bool = False                 # exits after stages 1 and 2 (ELF)
    exit_head: str = "linear"                 # their head: "linear", "cosine" or "reslt" ("full power")
    # loss
    loss: str = "ce"                          # "ce" or "reslt" (models without early exits)
    criterion: str = "ce"                     # the per-sample J of early-exit models: "ce" or "ldam"
    alpha: float = 0.95
    branch_norm: str = "per_branch"           # "per_branch" (report) or "pooled" (official)
    branch_classes: tuple = REPORT_BRANCH_CLASSES  # (medium+few classes, few classes)
    label_smoothing: float = 0.0
    simulated: bool = False                   # the report's simulated ResLT loss at non-ResLT exits
    aggregation: str = "routed"               # exit losses: "accumulate" (ELF) or "routed" (report)
    train_threshold: float = 0.9
    inference_threshold: float = 0.5
    exit_confidence: str = "raw"              # "raw": softmax of the head's output; "trained": of the logits the
                                              # loss trains (s * z under LDAM), see ``confidence_scale``
    ldam_max_margin: float = 0.5
    ldam_scale: float = 30.0
    drw: bool = False                         # deferred re-weighting from drw_start of the schedule
    drw_beta: float = 0.9999
    drw_start: float = 0.8
    grad_clip: float = 0.0                    # max gradient norm; 0 = no clipping
    # optimisation
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    nesterov: bool = False
    epochs: int = 200
    warmup_epochs: int = 5                    # linear warm-up, stepped per epoch as in the public codes
    warmup_from: float = 0.0                  # lr * (from * (1 - f) + f), f = (e + 1) / W; official ResLT: 1/3
    milestones: tuple = (160, 180)
    lr_gamma: float = 0.1                     # lr x gamma at each milestone (LDAM-DRW: 0.01, so x0.01 then x0.0001)
    drop_last: bool = False                   # drop the last partial batch of an epoch (official ResLT)
    # bookkeeping
    eval_every: int = 1
    checkpoint_every: int = 10
    collapse_patience: int = 3                # evaluations in a row predicting one class => diverged

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, config: dict) -> "TrainConfig":
        """The config a stored summary records (lists back to tuples; settings added since at their defaults)."""
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        return cls(**{k: tup(v) for k, v in config.items() if k in _FIELDS})

    @property
    def logit_scale(self) -> float:
        """What the loss multiplies the head's logits by before its softmax: LDAM's s, else 1. The
        probabilities the network was trained to give are softmax(logit_scale * logits)."""
        return self.ldam_scale if self.criterion == "ldam" else 1.0

    @property
    def confidence_scale(self) -> float:
        """What an exit's logits are multiplied by before the softmax that judges its confidence: the
        LDAM scale s when the confidence is taken on the logits the loss trains (LDAM trains s * z; a
        cosine head's raw z in [-1, 1] can never be more than 45% confident over ten classes), else 1."""
        return self.logit_scale if self.exit_confidence == "trained" else 1.0

    @property
    def config_hash(self) -> str:
        return config_hash(self.to_dict())

    @property
    def run_id(self) -> str:
        run = f"{self.experiment}-ir{self.imbalance:g}-s{self.seed}-{self.profile}"
        default_epochs = PROFILES[self.profile].epochs if self.profile in PROFILES else None
        return run if self.epochs == default_epochs else f"{run}-e{self.epochs}"


def config_hash(config: dict) -> str:
    """A short hash of the settings that differ from ``TrainConfig``'s defaults.

    Hashing only the non-default settings keeps a stored run's hash stable when a new setting is
    added with a default that keeps the old behaviour; a stored config is always re-hashed with
    this function, never compared by its recorded hash string.
    """
    defaults = TrainConfig().to_dict()
    differing = {k: v for k, v in config.items() if k not in defaults or v != defaults[k]}
    return hashlib.sha256(json.dumps(differing, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Profile:
    """How long and on what data: the schedule is scaled to the same fractions as the 200-epoch one."""

    name: str
    description: str
    label: str  # a short caption for figures
    epochs: int
    source: str = "cifar10"
    synthetic_sizes: tuple = (5000, 1000)
    eval_every: int = 1
    checkpoint_every: int = 10
    batch_size: int = 128

    def schedule(self, epochs: int | None = None) -> dict:
        """Warm-up and milestones at the full schedule's fractions (5/200, 160/200, 180/200).

        The warm-up is stepped per epoch as in the public codes (lr = base * (e + 1) / W), so it needs
        at least two epochs to exist at all: shorter schedules round it up to 2 (quick: 2 of 30).
        """
        e = epochs or self.epochs
        warmup = 5 if e == 200 else max(2, round(5 * e / 200)) if e >= 4 else 0
        milestones = (max(1, round(160 * e / 200)), max(1, round(180 * e / 200)))
        return {"epochs": e, "warmup_epochs": warmup, "milestones": milestones}


PROFILES = {
    "smoke": Profile("smoke", "synthetic data (128 images per head class), 6 epochs of batch 32: seconds on a "
                     "CPU, for tests; its accuracies mean nothing", "synthetic data, plumbing only; accuracies mean nothing",
                     epochs=6, source="synthetic",
                     synthetic_sizes=(128, 20), eval_every=1, checkpoint_every=2, batch_size=32),
    "quick": Profile("quick", "real CIFAR-10-LT, 30 epochs: a CPU-sized look, not a reproduction",
                     "CIFAR-10-LT, 30 epochs: not a reproduction", epochs=30,
                     eval_every=2, checkpoint_every=2),
    "full": Profile("full", "the report's schedule: 200 epochs, warm-up 5, lr x0.1 at 160 and 180",
                    "CIFAR-10-LT, 200 epochs: the report's schedule", epochs=200,
                    eval_every=1, checkpoint_every=10),
}


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    settings: dict
    per_ratio: dict = field(default_factory=dict)  # {imbalance: {setting: value}}
    ratios: tuple = (100, 50, 10)                  # the ratios the report ran it at


_RESLT_REPORT = dict(head="reslt", branch_style="split", widths=(16, 32, 48), loss="reslt",
                     branch_norm="per_branch", branch_classes=REPORT_BRANCH_CLASSES, normalize=False)


def _reslt(alpha, **extra):
    return {**_RESLT_REPORT, "alpha": alpha, **extra}


# The official ResLT code (github.com/FPNAS/ResLT, CIFAR/): ResLTResNet32 with three BatchNorm branches
# and mean/std inputs (datasets/imbalance_cifar.py:110-118), the pooled branch loss on classes 2-9 and
# 4-9 (cifarTrain_reslt_cifar10.py:149-153), Nesterov and weight decay 5e-4 (:85 and sh/CIFAR10/*.sh),
# the warm-up lr * (1/3 (1 - f) + f) (:115-117), the last partial batch dropped (imbalance_cifar.py:129),
# and the classifier at PyTorch's default init (networks/resnet_cifar.py:143: the linear layer lives
# outside the ResNet_Cifar whose _weights_init applies Kaiming, :119).
_PAPER = dict(head="reslt", branch_style="bn", widths=(16, 32, 64), loss="reslt", branch_norm="pooled",
              branch_classes=OFFICIAL_BRANCH_CLASSES, alpha=0.998, weight_decay=5e-4, nesterov=True, normalize=True,
              warmup_from=1 / 3, drop_last=True, head_init="default")

# reslt-paper -> reslt-a0.95-aa-ls, one setting at a time (notebook 09 "what explains the gap")
GAP_VARIANTS = ("reslt-paper-split48", "reslt-paper-per-branch", "reslt-paper-report-subsets", "reslt-paper-a0.95",
                "reslt-paper-wd2e-4", "reslt-paper-no-norm", "reslt-paper-aa-ls", "reslt-paper-plain-loop")

# The official LDAM-DRW code (github.com/kaidic/LDAM-DRW, cifar_train.py), which produced the published
# ERM and LDAM-DRW numbers: mean/std inputs (:145, :150), lr x0.01 after epoch 160 and x0.0001 after 180
# (:366-374), weight decay 2e-4, batch 128, linear 5-epoch warm-up, DRW from epoch 160 (:200-204).
LDAM_DRW_RECIPE = dict(normalize=True, lr_gamma=0.01)

# ELF as seed 004 built it on LDAM-DRW: the recipe above where 004 is silent (inputs, lr decay), the
# exit confidence on the logits LDAM trains (s * cos: 004's threshold sweep moves accuracy from 76.87%
# at 0.50 to 71.49% at 0.95, so its confidences exceed 0.5, which raw cosines never do).
_ELF = dict(early_exits=True, widths=(16, 32, 64), head="cosine", exit_head="cosine", criterion="ldam", drw=True,
            aggregation="accumulate", train_threshold=0.2, inference_threshold=0.5, grad_clip=5.0,
            exit_confidence="trained", **LDAM_DRW_RECIPE)
# The report built its hybrids on its ELF code, which clips gradients (004, "Gradient Clipping"): the LDAM
# hybrids inherit the clipping and the confidence on the trained logits.
_LDAM_HYBRID = dict(grad_clip=5.0, exit_confidence="trained")


def _hybrid(aggregation, criterion, train_threshold, inference_threshold, **extra):
    """The report's simulated-loss hybrids (models 1-4, 7, 8, 12, 13): early exits without branches
    (linear with CE, cosine with LDAM) trained with the simulated ResLT loss, a ResLT head (split,
    16/32/48, alpha 0.95, per-branch loss) at the final exit."""
    return {**_RESLT_REPORT, "alpha": 0.95, "early_exits": True, "exit_head": "cosine" if criterion == "ldam" else
            "linear", "simulated": True, "aggregation": aggregation, "criterion": criterion,
            "train_threshold": train_threshold, "inference_threshold": inference_threshold, **extra}


def _full_power(aggregation, criterion, train_threshold, inference_threshold, **extra):
    """The report's "full power" hybrids (models 5, 6, 14-16): a ResLT head at every exit, widths 15/30/63."""
    return {**_hybrid(aggregation, criterion, train_threshold, inference_threshold, **extra), "widths": (15, 30, 63),
            "exit_head": "reslt", "simulated": False}


EXPERIMENTS = {e.name: e for e in [
    Experiment("ce", "plain ResNet-32 (16/32/64) + cross-entropy, LDAM-DRW's recipe (mean/std inputs, lr x0.01 at "
               "160 and x0.0001 at 180): the reference every long-tail paper starts from", LDAM_DRW_RECIPE),
    Experiment("ce-balanced", "calibration: ce on the full balanced CIFAR-10 (ratio 1, 50,000 images); He et al. 2016 "
               "report 7.51% error for ResNet-32: what our pipeline and data lose against a published number",
               LDAM_DRW_RECIPE, ratios=(1,)),
    Experiment("ldam-drw", "calibration: LDAM + DRW without exits (cosine classifier, s = 30, max margin 0.5), "
               "LDAM-DRW's recipe; the LDAM-DRW paper reports 77.03 (ratio 100) and 88.16 (10)",
               dict(head="cosine", criterion="ldam", drw=True, **LDAM_DRW_RECIPE), ratios=(100, 10)),
    Experiment("reslt-a0.9", "report's ResLT (48-channel split head, per-branch loss), alpha 0.9", _reslt(0.9)),
    Experiment("reslt-a0.95", "report's ResLT (48-channel split head, per-branch loss), alpha 0.95", _reslt(0.95)),
    Experiment("reslt-a0.99", "report's ResLT (48-channel split head, per-branch loss), alpha 0.99", _reslt(0.99)),
    Experiment("reslt-a0.995", "report's ResLT (48-channel split head, per-branch loss), alpha 0.995 (the paper's)",
               _reslt(0.995)),
    Experiment("reslt-a0.95-aa", "report's ResLT alpha 0.95 + AutoAugment (per image)",
               _reslt(0.95, autoaugment=True)),
    Experiment("reslt-a0.95-aa-ls", "report's final ResLT: alpha 0.95 + AutoAugment + label smoothing 0.1",
               _reslt(0.95, autoaugment=True, label_smoothing=0.1)),
    Experiment("reslt-paper", "paper/official ResLT: 64 channels, bn branches, pooled loss, official subsets, "
               "alpha 0.998 (ratios 100, 50) / 0.96 (10), wd 5e-4, Nesterov, mean/std normalization, warm-up "
               "from lr/3, drops the last partial batch, classifier at PyTorch's default init",
               _PAPER, per_ratio={10.0: {"alpha": 0.96}}),
    # One factor at a time from the paper's setting to the report's: what explains the report's gap.
    *[Experiment(f"reslt-paper-{suffix}", f"reslt-paper with one setting of the report's final ResLT: {what}",
                 {**_PAPER, **change}, ratios=(100,)) for suffix, what, change in (
        ("split48", "the split head (one 1x1 conv, groups=3) on 16/32/48 channels",
         dict(branch_style="split", widths=(16, 32, 48))),
        ("per-branch", "branch loss averaged per branch", dict(branch_norm="per_branch")),
        ("report-subsets", "branch subsets medium+few = 3-9, few = 6-9", dict(branch_classes=REPORT_BRANCH_CLASSES)),
        ("a0.95", "alpha 0.95", dict(alpha=0.95)),
        ("wd2e-4", "weight decay 2e-4, no Nesterov", dict(weight_decay=2e-4, nesterov=False)),
        ("no-norm", "inputs in [0, 1], no mean/std normalization", dict(normalize=False)),
        ("aa-ls", "AutoAugment + label smoothing 0.1", dict(autoaugment=True, label_smoothing=0.1)),
        ("plain-loop", "the usual training loop: linear warm-up from 0, the last partial batch kept, Kaiming "
         "classifier init", dict(warmup_from=0.0, drop_last=False, head_init="kaiming")),
    )],
    *[Experiment(name, desc, settings, ratios=ratios) for name, desc, settings, ratios in (
        ("elf-ldam-drw", "ELF baseline: exits after stages 1 and 2, cosine heads (LDAM's NormedLinear), LDAM + DRW, "
         "accumulated exit losses, train threshold 0.2, inference 0.5 (our choice; 004 sweeps it), lr 0.1, "
         "gradient clipping at norm 5 (our choice), confidence on s * cos, LDAM-DRW's inputs and lr decay",
         _ELF, (100, 50, 10)),
        ("elf-ldam-drw-lr0.01", "ELF baseline as elf-ldam-drw with lr 0.01 (004's other setting)",
         {**_ELF, "lr": 0.01}, (100, 50, 10)),
        ("model1", "accumulative hybrid: linear early exits with the simulated ResLT loss, ResLT head at the final exit, "
         "CE, thresholds 0.9 / 0.5, widths 16/32/48", _hybrid("accumulate", "ce", 0.9, 0.5), (100,)),
        ("model2", "accumulative hybrid with LDAM (cosine early exits, no DRW: the report names none; ELF's "
         "clipping at norm 5 and confidence on s * cos), thresholds 0.2 / 0.25", _hybrid("accumulate", "ldam", 0.2, 0.25, **_LDAM_HYBRID), (100,)),
        ("model3", "accumulative hybrid with LDAM (clipped, confidence on s * cos, as model2), thresholds 0.8 / 0.25", _hybrid("accumulate", "ldam", 0.8, 0.25, **_LDAM_HYBRID),
         (100,)),
        ("model4", "routed hybrid with LDAM (clipped, confidence on s * cos), thresholds 0.5 / 0.5 (the report's run "
         "collapsed at epoch 111)",
         _hybrid("routed", "ldam", 0.5, 0.5, **_LDAM_HYBRID), (100,)),
        ("model7", "routed hybrid, CE + label smoothing 0.1 + AutoAugment, thresholds 0.9 / 0.5",
         _hybrid("routed", "ce", 0.9, 0.5, label_smoothing=0.1, autoaugment=True), (100,)),
        ("model5", "full power (ResLT head at every exit, widths 15/30/63), accumulated, LDAM (clipped, confidence on "
         "s * z), thresholds 0.5 / 0.5",
         _full_power("accumulate", "ldam", 0.5, 0.5, **_LDAM_HYBRID), (100,)),
        ("model6", "full power, accumulated, CE, thresholds 0.9 / 0.5", _full_power("accumulate", "ce", 0.9, 0.5), (100,)),
        ("model14", "full power, routed, CE + AutoAugment (no label smoothing: the report names none), 0.9 / 0.5, "
         "ratio 100", _full_power("routed", "ce", 0.9, 0.5, autoaugment=True), (100,)),
        ("model15", "model14 at ratio 50", _full_power("routed", "ce", 0.9, 0.5, autoaugment=True), (50,)),
        ("model16", "model14 at ratio 10", _full_power("routed", "ce", 0.9, 0.5, autoaugment=True), (10,)),
        ("model8", "model7 with Mixup (lam ~ Beta(1, 1)) in place of AutoAugment, ratio 100",
         _hybrid("routed", "ce", 0.9, 0.5, label_smoothing=0.1, mixup=True), (100,)),
        ("model12", "model8 at ratio 50", _hybrid("routed", "ce", 0.9, 0.5, label_smoothing=0.1, mixup=True), (50,)),
        ("model13", "model8 at ratio 10", _hybrid("routed", "ce", 0.9, 0.5, label_smoothing=0.1, mixup=True), (10,)),
    )],
]}

_FIELDS = {f.name for f in fields(TrainConfig)}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise LtError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)} "
                      "(python -m lt_lib list)")
    return EXPERIMENTS[name]


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise LtError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def resolve(experiment: str, imbalance: float = 100, profile: str = "full", seed: int = 0,
            epochs: int | None = None, **overrides) -> TrainConfig:
    """The full config of one run: defaults < experiment < per-ratio < profile < explicit overrides."""
    exp, prof = get_experiment(experiment), get_profile(profile)
    imbalance = float(imbalance)
    long_tail_counts(imbalance)  # validates the ratio with a clear message
    if epochs is not None and epochs < 1:
        raise LtError(f"--epochs must be at least 1, got {epochs}")
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise LtError(f"unknown setting(s) {sorted(unknown)}; settings are the fields of TrainConfig")
    settings = {**exp.settings, **exp.per_ratio.get(imbalance, {})}
    settings.update(prof.schedule(epochs), source=prof.source, synthetic_sizes=prof.synthetic_sizes,
                    eval_every=prof.eval_every, checkpoint_every=prof.checkpoint_every, batch_size=prof.batch_size)
    settings.update(overrides)
    return TrainConfig(experiment=experiment, imbalance=imbalance, seed=int(seed), profile=profile, **settings)


# The runs each notebook shows (and trains when asked to; a test checks these against the notebooks'
# ``nb.runs`` calls). Notebook 09 gathers the other notebooks' runs and trains only the gap variants.
NOTEBOOK_RUNS = {
    "01": [("ce-balanced", (1,)), ("ce", (100, 10)), ("ldam-drw", (100, 10)), ("reslt-paper", (100, 50, 10)),
           ("elf-ldam-drw", (100, 50, 10))],
    "02": [("reslt-a0.95", (100,))],
    "03": [("reslt-a0.9", (100,)), ("reslt-a0.95", (100,)), ("reslt-a0.99", (100,)), ("reslt-a0.995", (100,)),
           ("reslt-a0.95-aa", (100,)), ("reslt-a0.95-aa-ls", (100, 50, 10)), ("reslt-paper", (100, 50, 10))],
    "04": [("elf-ldam-drw", (100, 50, 10)), ("elf-ldam-drw-lr0.01", (100,))],
    "05": [("model1", (100,)), ("model2", (100,)), ("model3", (100,))],
    "06": [("model4", (100,)), ("model7", (100,))],
    "07": [("model5", (100,)), ("model6", (100,)), ("model14", (100,)), ("model15", (50,)), ("model16", (10,))],
    "08": [("model8", (100,)), ("model12", (50,)), ("model13", (10,)), ("model7", (100,))],
    "09": [("reslt-a0.95-aa-ls", (100,)), ("reslt-paper", (100,)), *((name, (100,)) for name in GAP_VARIANTS)],
}

# Trained first, so that a short lease yields the report's headline comparisons before the rest.
HEADLINE = ("reslt-a0.95-aa-ls", "elf-ldam-drw", "model7", "model14", "reslt-paper", "ce")

# The CPU plan of full-schedule runs (``python -m lt_lib plan``), in priority order: the calibration runs
# against their published numbers, the report's headline models, what the JPEG copy costs (ce-balanced),
# then the same list at ratios 50 and 10 (each model at its ratio's counterpart), then every other run the
# course shows. Seed 0.
_PLAN_HEAD = ("ldam-drw", "ce", "reslt-paper", "elf-ldam-drw", "reslt-a0.95-aa-ls", "model7", "model14", "model8")
_COUNTERPART = {("model14", 50.0): "model15", ("model14", 10.0): "model16", ("model8", 50.0): "model12",
                ("model8", 10.0): "model13"}


def cpu_plan() -> list[tuple[str, float]]:
    """(experiment, ratio) of the CPU plan, in order, each once."""
    plan = [(name, 100.0) for name in _PLAN_HEAD] + [("ce-balanced", 1.0)]
    for ratio in (50.0, 10.0):
        for name in _PLAN_HEAD:
            name = _COUNTERPART.get((name, ratio), name)
            if ratio in EXPERIMENTS[name].ratios:
                plan.append((name, ratio))
    for runs in NOTEBOOK_RUNS.values():
        for name, ratios in runs:
            plan += [(name, float(r)) for r in ratios]
    return list(dict.fromkeys(plan))
