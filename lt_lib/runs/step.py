"""One training step, whole: gather the batch, augment, forward, every exit's loss (Mixup, DRW weights),
backward, gradient clipping, SGD; and its statistics added to device counters (no host read).

``TrainStep`` runs it eagerly (every device). ``CapturedStep`` records it once as a CUDA graph per
batch shape and replays it: a ResNet-32 step on 128 images is ~400 small kernels, so on a GPU the
launches, not the arithmetic, set the pace. What a captured step reads lives in static device buffers
(batch indices, augmentation draws, Mixup's partner permutation and lambda, the class weights of DRW
(ones before it starts), the learning rate as a tensor of the fused SGD); what changes per step is
copied into them, so the schedule, DRW and the data move on with no recapture. The last partial batch
of an epoch (kept, as in LDAM-DRW and the report; dropped only where a config says ``drop_last``, as
the official ResLT code) gets a graph of its own shape. A failed capture falls back to the eager step
with one line.

Random numbers are drawn on the CPU, batch by batch, in the eager path's order (``draw``), so a seed
gives the same batches on every device and a checkpointed generator resumes the exact sequence.
"""
from __future__ import annotations

import torch

from ..learn import data as D
from ..learn.models import fused_logits
from .engine import Engine, fp32

CAPTURE_WARMUP_STEPS = 3  # eager steps before capturing a shape (allocator, cuDNN and momentum buffers settle)


def sample_beta(a: float, generator: torch.Generator) -> float:
    """One draw of Beta(a, a) from a CPU generator (Beta(1, 1) is uniform)."""
    if a == 1.0:
        return torch.rand((), generator=generator).item()
    x = torch._standard_gamma(torch.full((2,), a, dtype=torch.float64), generator=generator)
    return (x[0] / x.sum()).item()


def draw(cfg, augmenter, size: int, generator: torch.Generator) -> dict:
    """A batch's random numbers, on the CPU: the augmentation's, then Mixup's lambda (as float32 lam
    and 1 - lam, each rounded from float64) and partner permutation."""
    draws = augmenter.draw(size, generator)
    if cfg.mixup:
        lam = sample_beta(cfg.mixup_alpha, generator)
        draws["mix_lam"] = torch.tensor([lam, 1.0 - lam], dtype=torch.float64).float()
        draws["mix_perm"] = torch.randperm(size, generator=generator)
    return draws


class TrainStep:
    """The step of one run; ``counters`` gather the epoch's loss sum, correct count, per-exit counts,
    image count and a finite-loss flag on the device; ``read()`` brings them to the host once."""

    def __init__(self, model, forward, criterion, optimizer, cfg, engine: Engine, data: D.LongTailedCIFAR10,
                 augmenter, num_exits: int):
        self.model, self.forward, self.criterion, self.optimizer = model, forward, criterion, optimizer
        self.cfg, self.engine, self.data, self.augmenter = cfg, engine, data, augmenter
        dev = data.device
        self.counters = {"loss": torch.zeros((), device=dev), "correct": torch.zeros((), dtype=torch.long, device=dev),
                         "exits": torch.zeros(num_exits, dtype=torch.long, device=dev),
                         "images": torch.zeros((), dtype=torch.long, device=dev),
                         "finite": torch.ones((), dtype=torch.bool, device=dev)}
        self.exit_ids = torch.arange(num_exits, device=dev)[:, None]
        self.static = False  # a captured step computes every augmentation op, whatever was drawn

    def reset(self) -> None:
        for key, c in self.counters.items():
            c.fill_(key == "finite")

    def read(self) -> dict:
        """The epoch's statistics (one host read): mean loss (NaN if any step's was not finite),
        training accuracy at each image's exit, the share of images leaving at each exit."""
        k = self.counters
        read = torch.cat([k["loss"].double().view(1), k["correct"].double().view(1), k["images"].double().view(1),
                          k["finite"].double().view(1), k["exits"].double()]).tolist()  # the epoch's one host read
        c = {"loss": read[0], "correct": round(read[1]), "images": round(read[2]), "finite": read[3] > 0,
             "exits": [round(e) for e in read[4:]]}
        n = c["images"]
        row = {"train_loss": c["loss"] / n if c["finite"] else float("nan"), "train_acc": 100.0 * c["correct"] / n}
        if len(c["exits"]) > 1:
            row.update({f"train_exit_{k + 1}": e / n for k, e in enumerate(c["exits"])})
        return row

    def __call__(self, idx: torch.Tensor, draws: dict, class_weight: torch.Tensor | None) -> None:
        """One step on the images ``idx`` (device indices into the training set)."""
        x = self.augmenter.apply(self.data.train_x[idx], draws, static=self.static)
        x = D.to_float(x, self.cfg.normalize).contiguous(memory_format=self.engine.memory_format)
        y = self.data.train_y[idx]
        mix, target = None, y
        if self.cfg.mixup:  # one lambda per batch, partners by a permutation
            lam, keep = draws["mix_lam"].to(x.device, non_blocking=True).unbind()
            perm = draws["mix_perm"].to(x.device, non_blocking=True)
            x = lam * x + keep * x[perm]
            mix = (y[perm], lam, keep)
            target = torch.where(lam >= 0.5, y, y[perm])
        with self.engine.autocast():
            outputs = self.forward(x)
        outputs = [fp32(o) for o in (outputs if isinstance(outputs, list) else [outputs])]
        loss, exit_idx = self.criterion(outputs, y, class_weight, mix)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            c = self.counters
            loss = loss.detach()
            c["finite"] &= torch.isfinite(loss)
            c["loss"] += loss * len(y)
            c["images"] += len(y)
            preds = torch.stack([fused_logits(o).argmax(1) for o in outputs])
            c["correct"] += (preds.gather(0, exit_idx[None])[0] == target).sum()
            c["exits"] += (exit_idx[None] == self.exit_ids).sum(1)  # (not bincount: it reads the max back)


class CudaBackend:
    """What ``CapturedStep`` asks of CUDA, in one place: a CPU stand-in takes its place in the tests
    (tests/test_captured.py), which replays a "graph" by calling the step on the static buffers."""

    def __init__(self, device: torch.device):
        self.device = device

    def new_stream(self):
        return torch.cuda.Stream(self.device)

    def current_stream(self):
        return torch.cuda.current_stream(self.device)

    def set_stream(self, stream) -> None:
        torch.cuda.set_stream(stream)

    def use_stream(self, stream):
        return torch.cuda.stream(stream)

    def new_graph(self):
        return torch.cuda.CUDAGraph()

    def capture(self, graph, fn, stream) -> None:
        with torch.cuda.graph(graph, stream=stream):
            fn()

    def pinned(self, nbytes: int) -> torch.Tensor:
        return torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)

    def event(self):
        return torch.cuda.Event()

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)


class StaticInputs:
    """A captured step's inputs in static device buffers, refilled each step: the batch indices and the
    class weights (already on the device: one device copy each) and the CPU draws, packed into ONE pinned
    staging buffer and moved in ONE host-to-device copy (the buffer is refilled only once its last copy
    is done: an event, waited on by the host, which it almost never has to)."""

    ALIGN = 8

    def __init__(self, backend, idx: torch.Tensor, draws: dict, weight: torch.Tensor):
        dev = idx.device
        self.layout, offset = [], 0
        for key, value in draws.items():
            nbytes = value.numel() * value.element_size()
            self.layout.append((key, offset, nbytes, value.dtype, value.shape))
            offset += -(-nbytes // self.ALIGN) * self.ALIGN
        self.staging = backend.pinned(max(offset, self.ALIGN))
        self.packed = torch.empty_like(self.staging, device=dev)
        self.draws = {key: self.packed[o:o + n].view(dtype).view(shape) for key, o, n, dtype, shape in self.layout}
        self.idx, self.weight = torch.empty_like(idx), torch.empty_like(weight)
        self.copied = backend.event()
        self.backend, self.used = backend, False

    def fill(self, idx: torch.Tensor, draws: dict, weight: torch.Tensor) -> None:
        if self.used:
            self.copied.synchronize()  # the previous copy out of the staging buffer is done
        for key, o, n, dtype, shape in self.layout:
            self.staging[o:o + n].view(dtype).copy_(draws[key].reshape(-1))
        self.packed.copy_(self.staging, non_blocking=True)
        self.copied.record()
        self.used = True
        self.idx.copy_(idx, non_blocking=True)
        self.weight.copy_(weight, non_blocking=True)


class CapturedStep:
    """``TrainStep`` as CUDA graphs, one per batch size, replayed; eager until a shape has had its
    warm-up steps, and for good when a capture fails (one line says why).

    The run has ONE side stream for its whole life (warm-up steps and captures run on it; replays on
    the run's own stream). A capture that fails leaves nothing behind: the stream current before it is
    made current again (``torch.cuda.graph`` does not restore it when ending the capture fails), the
    half-made graph is dropped, the device synchronized, and the step falls back to eager once."""

    def __init__(self, step: TrainStep, backend=None):
        self.step, self.graphs, self.inputs, self.seen, self.failed = step, {}, {}, {}, None
        self.backend = backend or CudaBackend(step.data.device)
        self.weight_ones = torch.ones(D.NUM_CLASSES, device=step.data.device)
        self.stream = None

    def __getattr__(self, name):  # counters, reset, read, ... are the step's
        return getattr(self.step, name)

    def __call__(self, idx, draws, class_weight):
        weight = self.weight_ones if class_weight is None else class_weight
        size = len(idx)
        if self.failed is not None:
            return self.step(idx, draws, weight)
        graph = self.graphs.get(size)
        if graph is None:
            self.seen[size] = self.seen.get(size, 0) + 1
            if self.seen[size] <= CAPTURE_WARMUP_STEPS:
                return self._on_side_stream(lambda: self.step(idx, draws, weight))
            return self._capture(size, idx, draws, weight)
        self.inputs[size].fill(idx, draws, weight)
        graph.replay()

    def _on_side_stream(self, fn):
        b = self.backend
        if self.stream is None:
            self.stream = b.new_stream()
        current = b.current_stream()
        self.stream.wait_stream(current)
        with b.use_stream(self.stream):
            fn()
        current.wait_stream(self.stream)

    def _capture(self, size, idx, draws, weight):
        b, before = self.backend, self.backend.current_stream()
        graph = None
        try:
            static = StaticInputs(b, idx, draws, weight)
            static.fill(idx, draws, weight)
            self.step.static = True
            self._on_side_stream(lambda: None)  # the side stream waits for the copies
            graph = b.new_graph()
            self.step.optimizer.zero_grad(set_to_none=True)
            b.capture(graph, lambda: self.step(static.idx, static.draws, static.weight), self.stream)
        except Exception as exc:  # noqa: BLE001 - any capture failure means: train eager
            b.set_stream(before)
            if graph is not None and hasattr(graph, "reset"):
                try:
                    graph.reset()
                except Exception:  # noqa: BLE001 - a graph that never finished may not reset; it is dropped
                    pass
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
            print(f"CUDA graph capture failed ({self.failed}); training eager")
            self.step.static = False
            self.step.optimizer.zero_grad(set_to_none=True)
            b.synchronize()
            return self.step(idx, draws, weight)
        self.graphs[size], self.inputs[size] = graph, static
        graph.replay()  # capturing ran nothing: this is the step itself


def as_run(step: TrainStep, engine: Engine):
    """The step as ``engine`` runs it: captured as CUDA graphs when ``engine.graph``, else eager."""
    return CapturedStep(step) if engine.graph else step
