"""Several runs at once on one machine: in worker processes (CPU), or packed in one process on one GPU.

- CPU: processes, each with its share of the threads. On the 2-core CPU one process with two threads
  and two processes with one thread each train the same (207 vs 206 img/s in all;
  results/bench/cpu-amd-epyc-2core.json), so the default there is one job: the first runs finish sooner.
- CUDA: ``train_packed`` steps every run in turn from one process, each on its own CUDA stream. With the
  step captured as a CUDA graph the host only copies a few indices and launches a replay per step,
  so one Python thread keeps several runs' kernels queued and the card runs them side by side; runs of
  one ratio share the dataset's one copy on the device. Processes, the alternative, each pay a CUDA
  context and time-slice the card; on an H200 six eager processes left it mostly idle (the AutoAugment
  runs, sync-bound, were starved to 30-58 s per epoch: ../shared/runs/2026-11-28-h200). ``bench --device
  cuda --concurrency 1 2 4 8`` measures both ways ("N" processes, "N packed").
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from statistics import median

import torch

from ..errors import LtError


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _outcome(cfg, summary: dict | None, seconds: float, error: str | None = None) -> dict:
    if error is not None:
        return {"run_id": cfg.run_id, "status": "failed", "detail": error, "seconds": seconds}
    out = {"run_id": cfg.run_id, "status": summary["status"], "seconds": seconds}
    if summary.get("final"):
        out["overall"] = summary["final"]["overall"]
    if summary["status"] == "paused":
        out["detail"] = f"checkpointed after epoch {summary['epochs_completed']}"
    return out


class EpochLine:
    """``on_epoch_end`` that prints one line per epoch: the run, its epoch, loss and test accuracy, the
    seconds per epoch and the time left at that pace (picklable, for worker processes). The pace is the
    median of this process's epochs, so an epoch that spans a pause (a worker stopped while tests run,
    a suspended laptop) does not inflate it."""

    def __init__(self, cfg):
        self.run_id, self.epochs, self.last, self.seconds = cfg.run_id, cfg.epochs, time.perf_counter(), []

    def __call__(self, epoch: int, row: dict) -> None:
        from .timing import duration

        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now
        per = median(self.seconds)
        test = f", test {row['test_overall']:.2f}%" if "test_overall" in row else ""
        print(f"{time.strftime('%H:%M:%S')} {self.run_id}: epoch {epoch}/{self.epochs}, loss {row['train_loss']:.3f}"
              f"{test}; {per:.0f} s/epoch, {duration(per * (self.epochs - epoch))} left", flush=True)


def _train_one(cfg, kwargs: dict, epoch_lines: bool = False) -> dict:
    from .train import train

    t0 = time.perf_counter()
    try:
        summary = train(cfg, quiet=True, on_epoch_end=EpochLine(cfg) if epoch_lines else None, **kwargs)
    except LtError as exc:
        return _outcome(cfg, None, time.perf_counter() - t0, str(exc))
    except Exception as exc:  # noqa: BLE001 - a fault in one run is that run's outcome: the others go on and report
        traceback.print_exc()
        return _outcome(cfg, None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc} (traceback above)")
    return _outcome(cfg, summary, time.perf_counter() - t0)


def _say(quiet: bool):
    return (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))


def _report(say, i: int, total: int, o: dict) -> None:
    result = f"{o['overall']:.2f}%" if "overall" in o else o.get("detail", "")
    say(f"[{i}/{total}] {o['run_id']}: {o['status']} {result} ({o['seconds'] / 60:.1f} min)")


def train_many(configs, jobs: int = 1, threads: int | None = None, device: str = "auto",
               quiet: bool = False, epoch_lines: bool = False, **train_kwargs) -> list[dict]:
    """Train ``configs``, ``jobs`` at a time, and return one outcome per run in finishing order.
    On CUDA the runs are packed in this process (``train_packed``); elsewhere they go to worker
    processes of ``threads`` threads each (default: the cores shared out evenly). Stored runs are
    skipped, so an interrupted batch continues. ``epoch_lines``: a line per epoch of every run (CPU)."""
    from .train import resolve_device

    configs = list(configs)
    if jobs < 1:
        raise LtError(f"--jobs must be at least 1, got {jobs}")
    if resolve_device(device).type == "cuda":
        return train_packed(configs, jobs, device=device, quiet=quiet, **train_kwargs)
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    kwargs = {"device": device, **train_kwargs}
    say = _say(quiet)
    say(f"{len(configs)} run(s), {jobs} at a time, {threads} thread(s) each")
    outcomes = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(configs)) or 1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(_train_one, cfg, kwargs, epoch_lines) for cfg in configs]
        for i, future in enumerate(as_completed(futures), 1):
            outcomes.append(future.result())
            _report(say, i, len(configs), outcomes[-1])
    return outcomes


def train_packed(configs, jobs: int = 8, device: str = "cuda", quiet: bool = False, clock=time.monotonic,
                 deadline: float | None = None, on_outcome=None, **run_kwargs) -> list[dict]:
    """Train ``configs`` in this process, up to ``jobs`` at once, one step of each in turn (a CUDA
    stream each on a GPU), starting the next config as one finishes. With ``deadline`` (a ``clock()``
    time), every run still going when ``clock()`` reaches it is stopped between two steps and
    checkpoints the state it had at the start of its epoch; configs not yet started are left.
    A run that fails with a clear error (a stored run in the way, a damaged file) is reported as
    failed and the others go on. Returns one outcome per run that started, in finishing order."""
    from .train import Run, StopRun, resolve_device

    dev = resolve_device(device)
    say = _say(quiet)
    pending, active, outcomes = list(configs), [], []

    def start():
        while pending and len(active) < jobs and (deadline is None or clock() < deadline):
            cfg = pending.pop(0)
            run = Run(cfg, device=device, quiet=True, stoppable=deadline is not None, **run_kwargs)
            stream = torch.cuda.Stream(dev) if dev.type == "cuda" else None
            active.append({"cfg": cfg, "run": run, "gen": run.steps(), "stream": stream, "t0": time.perf_counter()})

    def advance(a, stop: bool = False):
        """One step of run ``a``, or its stop; True while it goes on."""
        ctx = torch.cuda.stream(a["stream"]) if a["stream"] is not None else _nothing()
        try:
            with ctx:
                if stop:
                    a["gen"].throw(StopRun())
                else:
                    next(a["gen"])
            return True
        except StopIteration as done:
            outcome = _outcome(a["cfg"], done.value, time.perf_counter() - a["t0"])
        except StopRun:  # stopped before its first step: nothing to keep
            outcome = {"run_id": a["cfg"].run_id, "status": "not started", "seconds": 0.0}
        except LtError as exc:
            outcome = _outcome(a["cfg"], None, time.perf_counter() - a["t0"], str(exc))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        _report(say, len(outcomes), len(configs), outcome)
        return False

    start()
    while active:
        if deadline is not None and clock() >= deadline:
            for a in list(active):
                advance(a, stop=True)
            active.clear()
            break
        active[:] = [a for a in active if advance(a)]
        start()
    return outcomes


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_timed_in_processes(fn, args: tuple, jobs: int) -> float:
    """Images/s of ``jobs`` processes each running ``fn(*args, barrier)`` at once (threads shared out
    evenly); ``fn`` returns (start, end, images) with wall-clock times, all started together after
    their warm-up at the barrier and timed to the last one's end."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            windows = list(pool.map(fn, *zip(*[(*args, barrier)] * jobs)))
    start, end = min(w[0] for w in windows), max(w[1] for w in windows)
    return sum(w[2] for w in windows) / (end - start)
