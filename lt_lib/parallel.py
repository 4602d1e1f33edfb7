"""Several runs at once on one machine: worker processes, each with its share of the CPU threads.

Processes rather than CUDA streams or a batched (vmap) model: each run keeps its own trainer,
checkpoints and failure, and nothing in the model changes. ``python -m lt_lib bench --concurrency 1 2 4``
measures the images/s of N runs at once on any device, so that ``--jobs`` is chosen by measurement.
On the 2-core CPU (the engine's contiguous fp32 training, ResLT head, batch 128) one process with two
threads and two processes with one thread each train the same 207 vs 206 img/s in all
(results/bench/cpu-amd-epyc-2core.json), so the default is one job: the first runs finish sooner.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from .errors import LtError


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _train_one(cfg, kwargs: dict) -> dict:
    from .train import train

    t0 = time.perf_counter()
    try:
        summary = train(cfg, quiet=True, **kwargs)
    except LtError as exc:
        return {"run_id": cfg.run_id, "status": "failed", "detail": str(exc), "seconds": time.perf_counter() - t0}
    return {"run_id": cfg.run_id, "status": summary["status"], "overall": summary["final"]["overall"],
            "seconds": time.perf_counter() - t0}


def train_many(configs, jobs: int = 1, threads: int | None = None, device: str = "auto",
               quiet: bool = False, **train_kwargs) -> list[dict]:
    """Train ``configs`` with ``jobs`` worker processes of ``threads`` threads each (default: the cores
    shared out evenly). Each run is ``train(cfg, device=device, **train_kwargs)``: stored runs are
    skipped, so an interrupted batch continues. Returns one outcome per run, in finishing order."""
    configs = list(configs)
    if jobs < 1:
        raise LtError(f"--jobs must be at least 1, got {jobs}")
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    kwargs = {"device": device, **train_kwargs}
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(f"{len(configs)} run(s), {jobs} at a time, {threads} thread(s) each")
    outcomes = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(configs)) or 1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(_train_one, cfg, kwargs) for cfg in configs]
        for i, future in enumerate(as_completed(futures), 1):
            o = future.result()
            outcomes.append(o)
            result = f"{o['overall']:.2f}%" if "overall" in o else o["detail"]
            say(f"[{i}/{len(configs)}] {o['run_id']}: {o['status']} {result} ({o['seconds'] / 60:.1f} min)")
    return outcomes


def _bench_worker(args) -> tuple[float, float, int]:
    from .bench import timed_engine_window

    return timed_engine_window(*args)


def measure_concurrency(cfg, device: str, data_root, engine_options: dict, steps: int, warmup: int,
                        jobs: int) -> float:
    """Images/s of ``jobs`` processes training at once (threads shared out evenly), all timed between
    a common start after warm-up and the last one's end."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            windows = list(pool.map(_bench_worker, [(cfg, device, data_root, engine_options, steps, warmup, barrier)] * jobs))
    start, end = min(w[0] for w in windows), max(w[1] for w in windows)
    return sum(w[2] for w in windows) / (end - start)
