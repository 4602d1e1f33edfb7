"""``python -m lt_lib bench``: training images/s of three loops side by side, in one process, on one device.

(a) reference: the published codes' loop: a torchvision-style Dataset of PIL images with RandomCrop,
    RandomHorizontalFlip, AutoAugment and ToTensor, a DataLoader with 2 workers, fp32 eager, ``.item()``
    per step;
(b) engine: lt_lib's trainer (``train_epoch``: the dataset on the device, batched augmentation, the
    device's engine settings);
(c) bound: the same training step with no augmentation (the batch gathered from the dataset on the
    device and made float: what remains is the model's step).

Each is timed after warm-up steps (which include compilation, where the engine compiles). Also:
evaluation images/s, inference with early exits at the report's threshold against the plain network,
and projections of a full-schedule run and of the whole report.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..errors import LtError
from ..learn import data as D
from ..learn.augment import Augmenter
from ..learn.exits import predict_with_exits
from ..learn.experiments import EXPERIMENTS, resolve
from .engine import cpu_has_fast_bf16, cpu_info, fp32, make_engine
from .loop import epoch_steps, evaluate
from .step import TrainStep, as_run
from .timing import estimate_seconds
from .train import (
    build_loss,
    build_model,
    device_name,
    load_data,
    load_weights,
    resolve_device,
)

BENCH_EXPERIMENT, EXIT_EXPERIMENT, RATIO = "reslt-a0.95-aa-ls", "model7", 100
ENTRY_CHECKS = ("elf-ldam-drw",)  # measured besides on CUDA: an LDAM entry with exits and DRW


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _clock(dev, fn) -> float:
    _sync(dev)
    t0 = time.perf_counter()
    fn()
    _sync(dev)
    return time.perf_counter() - t0


class ReferenceSet(torch.utils.data.Dataset):
    """CIFAR-10-LT as the public codes hold it: uint8 HWC arrays, a PIL image and a transform per item."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_loop(cfg, data, dev, workers: int = 2):
    """(a): the published codes' input pipeline and loop (fp32, eager, contiguous, ``.item()`` per step).
    Returns ``run(n)``, which trains n batches."""
    import torchvision.transforms as T

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                           T.AutoAugment(T.AutoAugmentPolicy.CIFAR10), T.ToTensor()])
    images = data.train_x.permute(0, 2, 3, 1).cpu().numpy()
    dataset = ReferenceSet(images, data.train_y.cpu().numpy(), transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                                         pin_memory=dev.type == "cuda", persistent_workers=workers > 0)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(dev)
    criterion = build_loss(cfg, data.counts).to(dev)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def batches():
        while True:
            yield from loader

    it = batches()

    def run(n):
        running = 0.0
        for _ in range(n):
            x, y = next(it)
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            loss, _ = criterion(out if isinstance(out, list) else [out], y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item()
        return running

    return run


def _engine_setup(cfg, data, engine):
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(data.device, memory_format=engine.memory_format)
    criterion = build_loss(cfg, data.counts).to(data.device)
    optimizer = engine.optimizer(model.parameters(), lr=0.01, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return model, engine.forward_fn(model), criterion, optimizer


class EngineLoop:
    """(b) the trainer's step and epoch loop, as the engine runs them (captured on CUDA), or, without
    ``augment``, (c) the same with no augmentation. ``loop(n)`` trains n batches; ``steps()`` is an
    endless generator of steps (one host read per epoch), for several loops stepped in turn."""

    def __init__(self, cfg, data, engine, augment: bool = True):
        model, forward, criterion, optimizer = _engine_setup(cfg, data, engine)
        self.cfg, self.data, self.g = cfg, data, torch.Generator().manual_seed(cfg.seed)
        self.augmenter = Augmenter(autoaugment=cfg.autoaugment) if augment else Augmenter(False, False)
        self.step = as_run(TrainStep(model, forward, criterion, optimizer, cfg, engine, data, self.augmenter,
                                     3 if cfg.early_exits else 1), engine)
        self._steps = None

    def steps(self):
        while True:
            yield from epoch_steps(self.step, self.cfg, self.data, self.g, self.augmenter)

    def __call__(self, n: int) -> None:
        self._steps = self._steps or self.steps()
        for _ in range(n):
            next(self._steps)


def engine_loop(cfg, data, engine, augment: bool = True) -> EngineLoop:
    return EngineLoop(cfg, data, engine, augment)


def gradient_error_vs_float64(cfg, data, memory_format, images: int = 32, precision: str = "fp32") -> float:
    """Relative distance of one backward pass's parameter gradient (fp32 weights; the forward in fp32 or
    under bf16 autocast) from a float64 one (same initial weights and batch), with the model and images
    in ``memory_format``: how exact the kernels are."""
    x = D.to_float(data.train_x[:images].cpu(), cfg.normalize)
    y = data.train_y[:images].cpu()
    grads = []
    for dtype, fmt, autocast in ((torch.float64, torch.contiguous_format, False),
                                 (torch.float32, memory_format, precision == "bf16")):
        torch.manual_seed(cfg.seed)
        model = build_model(cfg).to(dtype=dtype, memory_format=fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model(x.to(dtype).contiguous(memory_format=fmt))
        out = fp32(out) if autocast else out
        loss, _ = build_loss(cfg, data.counts).to(dtype)(out if isinstance(out, list) else [out], y)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten().double() for p in model.parameters()]))
    return ((grads[1] - grads[0]).norm() / grads[0].norm()).item()


def engine_variants(cfg, data, dev, steps: int, warmup: int) -> dict:
    """The bound (c) under each precision and training memory format, and on a CPU how far each
    memory format's gradient is from float64: the measurements behind the engine's defaults."""
    out = {}
    for precision in ("fp32", "bf16"):
        for fmt in ("off", "on"):
            engine = make_engine(dev, precision=precision, compile="off", channels_last=fmt)
            fast = precision == "fp32" or dev.type == "cuda" or cpu_has_fast_bf16()
            n = steps if fast else max(2, steps // 5)
            run = engine_loop(cfg, data, engine, augment=False)
            run(min(warmup, 2))
            key = f"{precision} {'channels_last' if fmt == 'on' else 'contiguous'}"
            out[key] = {"bound_images_per_s": round(n * cfg.batch_size / _clock(dev, lambda: run(n)), 1)}
    if dev.type == "cpu":
        for key in out:
            precision, fmt = key.split()
            err = gradient_error_vs_float64(cfg, data, torch.channels_last if fmt == "channels_last" else
                                            torch.contiguous_format, precision=precision)
            out[key]["gradient_error_vs_float64"] = float(f"{err:.3g}")
    return out


def timed_engine_window(cfg, device, data_root, engine_options, steps: int, warmup: int, barrier=None):
    """The engine's loop in a worker process: warm up, wait for the others at ``barrier``, then train
    ``steps`` batches. Returns (start, end, images) with wall-clock times comparable across processes."""
    dev = resolve_device(device)
    data, engine = load_data(cfg, dev, data_root), make_engine(dev, profile=cfg.profile, **(engine_options or {}))
    epoch = engine_loop(cfg, data, engine)
    epoch(warmup)
    _sync(dev)
    if barrier is not None:
        barrier.wait()
    start = time.time()
    epoch(steps)
    _sync(dev)
    return start, time.time(), steps * cfg.batch_size


def packed_images_per_second(cfg, data, engine, steps: int, warmup: int, jobs: int) -> float:
    """Images/s of ``jobs`` runs stepped in turn by one process, each on its own CUDA stream (the way
    ``parallel.train_packed`` trains): with captured steps the host only launches replays, so the
    streams keep the card busy together."""
    loops = [engine_loop(cfg, data, engine) for _ in range(jobs)]
    streams = [torch.cuda.Stream() for _ in range(jobs)]
    for run, stream in zip(loops, streams):
        with torch.cuda.stream(stream):
            run(warmup)

    def all_runs():
        for _ in range(steps):
            for run, stream in zip(loops, streams):
                with torch.cuda.stream(stream):
                    run(1)

    return jobs * steps * cfg.batch_size / _clock(data.device, all_runs)


def augment_ms_per_batch(data, batch: int, repeats: int = 20) -> dict:
    """Milliseconds per batch of the augmentation alone on the data's device: crop + flip, + per-image
    AutoAugment as the eager step runs it (each op on the images that drew it), and AutoAugment in the
    static form a captured step runs (every op on every image)."""
    g = torch.Generator().manual_seed(0)
    x = data.train_x[:batch]
    out = {}
    for name, aug, static in (("crop+flip", Augmenter(), False), ("crop+flip+autoaugment", Augmenter(autoaugment=True), False),
                              ("crop+flip+autoaugment, static (captured step)", Augmenter(autoaugment=True), True)):
        draws = [aug.draw(batch, g) for _ in range(repeats)]
        if static:
            draws = [{k: v.to(data.device) for k, v in d.items()} for d in draws]
        aug.apply(x, draws[0], static)
        out[name] = round(1000 * _clock(data.device, lambda: [aug.apply(x, d, static) for d in draws]) / repeats, 2)
    return out


def eval_images_per_second(cfg, data, engine, images: int) -> float:
    """Test-set evaluation (every exit, the trainer's ``evaluate``) on the first ``images`` test images."""
    model, forward, _, _ = _engine_setup(cfg, data, engine)
    model.eval()
    part = D.LongTailedCIFAR10(**{**data.__dict__, "test_x": data.test_x[:images], "test_y": data.test_y[:images]})
    evaluate(model, part, cfg.normalize, engine, cfg.inference_threshold, forward, cfg.confidence_scale)  # warm-up
    return images / _clock(data.device, lambda: evaluate(model, part, cfg.normalize, engine,
                                                         cfg.inference_threshold, forward, cfg.confidence_scale))


def trained_weights(cfg, runs_dir) -> Path | None:
    """A stored final.pt of this experiment at this ratio and seed (any profile, full first)."""
    for profile in ("full", "quick"):
        path = Path(runs_dir) / resolve(cfg.experiment, cfg.imbalance, profile, cfg.seed).run_id / "final.pt"
        if path.is_file():
            return path
    return None


def inference_images_per_second(data, engine, images: int, runs_dir) -> dict:
    """An early-exit model at the report's inference threshold, stopping each image at its exit,
    against the same backbone and final head with no exits (``predict_with_exits``)."""
    cfg = resolve(EXIT_EXPERIMENT, RATIO, "full")
    model = build_model(cfg).to(data.device, memory_format=engine.memory_format).eval()
    weights = trained_weights(cfg, runs_dir)
    if weights is not None:
        model.load_state_dict(load_weights(weights, data.device))
    x = D.to_float(data.test_x[:images], cfg.normalize).contiguous(memory_format=engine.eval_memory_format)
    out = {"experiment": EXIT_EXPERIMENT, "weights": str(weights) if weights else "untrained (no final.pt found)",
           "threshold": cfg.inference_threshold, "images": images}

    def run(threshold):
        with engine.autocast():
            return [predict_with_exits(model, x[i:i + engine.eval_batch], threshold, cfg.confidence_scale)
                    for i in range(0, images, engine.eval_batch)]

    for key, threshold in (("no_exit", None), ("early_exit", cfg.inference_threshold)):
        run(threshold)
        out[f"{key}_images_per_s"] = round(images / _clock(data.device, lambda t=threshold: run(t)), 1)
    exit_idx = torch.cat([e for _, e in run(cfg.inference_threshold)])
    out["exit_fraction"] = (torch.bincount(exit_idx, minlength=3).double() / images).tolist()
    out["speedup"] = round(out["early_exit_images_per_s"] / out["no_exit_images_per_s"], 3)
    return out


def run_bench(device="auto", data_root=None, steps: int | None = None, warmup: int | None = None,
              workers: int = 2, engine_options: dict | None = None, runs_dir="runs", json_path=None,
              source: str = "auto", quiet: bool = False, concurrency=(), rounds: int = 3,
              variants: bool = False) -> dict:
    """Measure (a), (b), (c), evaluation and early-exit inference; print a summary; return (and
    optionally write) the JSON record."""
    from .results import git_state

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    steps = steps if steps is not None else (50 if cuda else 20)
    warmup = warmup if warmup is not None else (10 if cuda else 3)
    if steps < 1 or warmup < 1 or rounds < 1:
        raise LtError(f"--steps, --warmup and --rounds must be at least 1, got {steps}, {warmup} and {rounds}")
    engine = make_engine(dev, profile="full", **(engine_options or {}))  # as a report run trains here
    cfg, data = resolve(BENCH_EXPERIMENT, RATIO, "full"), None
    if source != "synthetic":
        try:
            data = load_data(cfg, dev, data_root)
        except LtError:  # no CIFAR-10 here: same sizes, synthetic pixels (the speed is the same)
            if source != "auto":
                raise
    if data is None:
        cfg = resolve(BENCH_EXPERIMENT, RATIO, "full", source="synthetic")
        data = load_data(cfg, dev, data_root)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(f"bench on {device_name(dev)}: {BENCH_EXPERIMENT} at ratio {RATIO}, batch {cfg.batch_size}, "
        f"{warmup} warm-up + {steps} timed steps; engine {engine.describe()}")
    loops = {"reference": reference_loop(cfg, data, dev, workers), "engine": engine_loop(cfg, data, engine),
             "bound": engine_loop(cfg, data, engine, augment=False)}
    for run in loops.values():
        run(warmup)
    # rounds in turn, best of each: a shared machine's noise only ever slows a loop down
    rounds_ips = {name: [] for name in loops}
    for _ in range(rounds):
        for name, run in loops.items():
            rounds_ips[name].append(round(steps * cfg.batch_size / _clock(dev, lambda: run(steps)), 1))
            if name == "reference":
                time.sleep(1.0)  # let its workers refill their prefetch queue outside the others' timing
    del loops
    # the record's numbers at the precision it stores them, and every ratio and projection from those, so that
    # a reader recomputes each derived number from the record itself
    ref, eng, bound = (max(rounds_ips[k]) for k in ("reference", "engine", "bound"))
    say(f"  (a) reference loop (PIL + DataLoader x{workers}, fp32 eager):  {ref:8.1f} img/s")
    say(f"  (b) lt_lib engine:                                      {eng:8.1f} img/s")
    say(f"  (c) model step only (pre-made batches):                 {bound:8.1f} img/s")
    ev = round(eval_images_per_second(cfg, data, engine, min(len(data.test_y), 4 * engine.eval_batch)), 1)
    say(f"  evaluation:                                             {ev:8.1f} img/s")
    augment = augment_ms_per_batch(data, cfg.batch_size, repeats=min(20, steps))
    say("  augmentation per batch: " + ", ".join(f"{k} {v:.1f} ms" for k, v in augment.items()))

    full_epochs, n_test = 200, 10 * 1000
    n_train = sum(D.long_tail_counts(RATIO))
    full_run = full_epochs * n_train / eng + full_epochs * n_test / ev
    # every registry run, one seed: the full run above scaled by each run's measured cost per image
    # relative to this experiment (eager steps, so that no config has to be compiled) and its size
    each = min(3, steps)  # steps measured per registry entry
    base = estimate_seconds(cfg, dev, eval_speedup=ev / eng, steps=each)
    report_s = sum(estimate_seconds(resolve(name, r, "full", source=cfg.source), dev, eval_speedup=ev / eng,
                                    steps=each)
                   for name, exp in EXPERIMENTS.items() for r in exp.ratios) * full_run / base
    runs = sum(len(exp.ratios) for exp in EXPERIMENTS.values())
    inference = inference_images_per_second(data, engine, min(len(data.test_y), 4 * engine.eval_batch), runs_dir)
    many = {}
    for jobs in concurrency:
        from .parallel import run_timed_in_processes

        many[str(jobs)] = round(run_timed_in_processes(timed_engine_window, (cfg, str(dev), data_root, engine_options,
                                                                             steps, warmup), jobs), 1)
        say(f"  {jobs} run(s) at once (processes):                      {many[str(jobs)]:8.1f} img/s in all")
        if cuda:
            key = f"{jobs} packed"
            many[key] = round(packed_images_per_second(cfg, data, engine, steps, warmup, jobs), 1)
            say(f"  {jobs} run(s) at once (one process, a stream each):     {many[key]:8.1f} img/s in all")
    variant_rows = engine_variants(cfg, data, dev, steps, warmup) if variants else {}
    entries = {}
    if cuda:  # the captured step of an LDAM entry (margins, DRW weights, exits) beside the AutoAugment one above
        for name in ENTRY_CHECKS:
            other = resolve(name, RATIO, "full", source=cfg.source)
            run = engine_loop(other, load_data(other, dev, data_root), engine)
            run(warmup)
            entries[name] = round(max(steps * other.batch_size / _clock(dev, lambda: run(steps)) for _ in range(rounds)), 1)
            say(f"  engine, {name}:{' ' * max(1, 42 - len(name))}{entries[name]:8.1f} img/s")
    for key, row in variant_rows.items():
        err = row.get("gradient_error_vs_float64")
        say(f"  bound, {key:<20} {row['bound_images_per_s']:8.1f} img/s"
            + (f"; first-step gradient {err:.2e} from float64" if err is not None else ""))
    commit, dirty = git_state()
    record = {
        "experiment": BENCH_EXPERIMENT, "imbalance": RATIO, "batch_size": cfg.batch_size, "data": cfg.source,
        "steps": steps, "warmup_steps": warmup, "rounds": rounds, "reference_workers": workers,
        "rounds_images_per_s": rounds_ips,
        "reference_images_per_s": ref, "engine_images_per_s": eng,
        "bound_images_per_s": bound, "ratio_vs_reference": round(eng / ref, 3),
        "ratio_vs_bound": round(eng / bound, 3), "eval_images_per_s": ev,
        "projected_full_run_s": round(full_run, 1), "projected_report_s": round(report_s, 1),
        "projected_report_runs": runs, "inference": inference, "concurrent_images_per_s": many,
        "augment_ms_per_batch": augment,
        "variants": variant_rows, "entries_images_per_s": entries, "engine": engine.describe(),
        "device": device_name(dev), **({"cpu": cpu_info()} if dev.type == "cpu" else {}),
        "torch": torch.__version__, "git_commit": commit, "git_dirty": dirty,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    say(f"  engine / reference = {record['ratio_vs_reference']:.2f}x, engine / bound = {record['ratio_vs_bound']:.2f}")
    say(f"  projected: one 200-epoch run at ratio {RATIO} {full_run / 60:.1f} min; the whole report "
        f"({runs} runs, one seed) {report_s / 3600:.2f} h")
    say(f"  inference ({EXIT_EXPERIMENT}, {inference['weights']}): early exits at {inference['threshold']} "
        f"{inference['early_exit_images_per_s']:.0f} img/s vs no exits {inference['no_exit_images_per_s']:.0f} "
        f"img/s (exit shares {', '.join(f'{f:.0%}' for f in inference['exit_fraction'])})")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(record, indent=1) + "\n")
        say(f"  wrote {json_path}")
    return record
