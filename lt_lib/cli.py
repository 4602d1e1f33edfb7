"""Command line: ``python -m lt_lib {list,counts,train,train-many,plan,report,site,bench,preflight,lease,import,
predict,data,pack-data}``.
Bad input ends with one line and exit code 2."""
from __future__ import annotations

import time

STARTED = time.monotonic()  # a lease's budget counts from here

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from .errors import LtError
from .learn import data as D
from .learn.experiments import EXPERIMENTS, PROFILES, resolve


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"imbalance ratio must be a number such as 100, 50 or 10, got {text!r}")
    return value


def _number(value: float):
    return int(value) if float(value).is_integer() else value


def cmd_list(args) -> int:
    width = max(map(len, EXPERIMENTS))
    for name, exp in EXPERIMENTS.items():
        print(f"{name:<{width}}  {exp.description}")
    print("\nprofiles: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    print("every run keeps the last partial batch of an epoch (as LDAM-DRW and the report), except the reslt-paper "
          "entries, which drop it as the official ResLT code does")
    return 0


def cmd_counts(args) -> int:
    counts = D.long_tail_counts(args.imbalance)
    print(json.dumps({"imbalance": _number(args.imbalance), "counts": counts, "total": sum(counts),
                      "splits": {k: list(v) for k, v in D.SPLITS.items()}}))
    return 0


def _engine_options(args) -> dict:
    options = {"precision": args.precision, "compile": args.compile, "channels_last": args.channels_last,
               "graph": args.graph}
    if args.eval_batch is not None:
        options["eval_batch"] = args.eval_batch
    return options


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def cmd_train(args) -> int:
    from .runs.train import train  # torch-heavy imports only where needed

    if args.download:
        import os

        os.environ["LT_DOWNLOAD"] = "1"
    _threads(args)
    configs = [resolve(args.experiment, args.imbalance, args.profile, seed, epochs=args.epochs) for seed in args.seeds]
    results, runs = _ready(args, configs)
    for cfg in configs:
        train(cfg, device=args.device, data_root=args.data_root, results_dir=results, runs_dir=runs,
              resume=args.resume, force=args.force, quiet=args.quiet, engine=_engine_options(args))
    return 0


def _ready(args, configs) -> tuple:
    """Before any work: the results and runs folders (the flags, else the defaults of ``run_folders``)
    writable and, for runs on real data, CIFAR-10 readable; one line and exit 2 otherwise."""
    from .learn.data import check_data
    from .runs.results import ensure_writable, run_folders
    from .runs.train import resolve_device

    resolve_device(args.device)  # a wrong device name is the first thing to say
    profiles = {c.profile for c in configs}
    results, runs = run_folders("smoke" if profiles == {"smoke"} else None, args.results, args.runs)
    ensure_writable(results, "results", "--results")
    ensure_writable(runs, "checkpoints and weights", "--runs")
    if any(c.source == "cifar10" for c in configs) and not getattr(args, "download", False):
        check_data(args.data_root, required=True)
    return results, runs


def cmd_train_many(args) -> int:
    from .runs.parallel import train_many

    configs = [resolve(name, ratio, args.profile, seed, epochs=args.epochs)
               for seed in args.seeds for name in args.experiments for ratio in args.imbalance]
    if args.jobs < 1:
        raise LtError(f"--jobs must be at least 1, got {args.jobs}")
    if args.dry_run:
        return 0 if _launch(args, configs) is not None else 2
    results, runs = _ready(args, configs)
    outcomes = _launch(args, configs, device=args.device, data_root=args.data_root, results_dir=results,
                       runs_dir=runs, force=args.force, engine=_engine_options(args))
    if outcomes is None:
        outcomes = train_many(configs, args.jobs, args.threads, args.device, data_root=args.data_root,
                              results_dir=results, runs_dir=runs, resume=True, force=args.force,
                              engine=_engine_options(args))
    return 0 if all(o["status"] != "failed" for o in outcomes) else 1


def cmd_bench(args) -> int:
    from .runs.bench import run_bench

    _threads(args)
    run_bench(args.device, args.data_root, args.steps, args.warmup, args.workers, _engine_options(args), args.runs,
              args.json, concurrency=args.concurrency, rounds=args.rounds, variants=args.variants)
    return 0


def cmd_report(args) -> int:
    from .course.report import run_report

    _threads(args)
    outcomes = run_report(args.profile, args.notebooks, args.device, args.out, args.seeds,
                          train=args.train, retrain=args.retrain, data_root=args.data_root,
                          results_dir=args.results, figures_dir=args.figures, runs_dir=args.runs, dry_run=args.dry_run,
                          html=not args.no_html, jobs=args.jobs, engine=_engine_options(args), site=not args.no_site,
                          site_dir=args.site, skip_damaged=args.skip_damaged, in_place=args.in_place,
                          launch=None if args.launcher == "inline" else lambda todo, **kw: _launch(args, todo, **kw))
    return 0 if all(o["status"] == "ok" for o in outcomes) else 1


def cmd_site(args) -> int:
    from .course.site import build_site

    print(build_site(args.executed, args.results, args.figures, site_dir=args.site, notebooks_dir=args.notebooks))
    return 0


def cmd_lease(args) -> int:
    from .runs.lease import run_lease

    _threads(args)
    from .learn.data import check_data
    from .runs.results import run_folders

    results, runs = run_folders(args.profile, args.results, args.runs)
    if args.profile != "smoke":
        check_data(args.data_root, required=False)  # damaged: one line now; absent: the lease says per ratio
    run_lease(args.budget, args.profile, args.seeds, args.experiments, args.device, args.out, results,
              runs, args.data_root, args.jobs, _engine_options(args), started=STARTED)
    return 0


def cmd_import(args) -> int:
    from .runs.lease import import_bundle
    from .runs.results import run_folders

    results, runs = run_folders(None, args.results, args.runs)
    import_bundle(args.bundle, results, runs)
    return 0


def cmd_preflight(args) -> int:
    from .runs.preflight import run_preflight

    outcomes = run_preflight(args.experiments, args.profile)
    return 0 if all(o["ok"] for o in outcomes) else 1


def cmd_plan(args) -> int:
    from .runs.plan import run_cpu_plan

    if args.jobs < 1 or args.threads < 1:
        raise LtError(f"--jobs and --threads must be at least 1, got {args.jobs} and {args.threads}")
    if args.hours is not None and not args.hours > 0:
        raise LtError(f"--hours must be a positive number of hours (the time this machine is left for), "
                      f"got {args.hours}")
    configs = [resolve("ce", 100, "full")]
    results, runs = _ready(args, configs) if not (args.list or args.dry_run) else run_folders_plain(args)
    outcomes = run_cpu_plan(args.jobs, args.threads, args.device, results, runs, args.data_root, _engine_options(args),
                            list_only=args.list, hours=args.hours,
                            launch=None if args.launcher == "inline" and not args.dry_run else
                            lambda todo, **kw: _launch(args, todo, **kw))
    return 0 if all(o["status"] != "failed" for o in outcomes) else 1


def run_folders_plain(args):
    from .runs.results import run_folders

    return run_folders(None, args.results, args.runs)


def cmd_readme(args) -> int:
    from .course.tables import update_readme

    changed = update_readme(args.readme, args.results)
    print(f"{args.readme}: generated tables {'rewritten' if changed else 'already up to date'}")
    return 0


def cmd_predict(args) -> int:
    from .runs.results import ResultsStore, run_folders
    from .runs.train import FINAL_WEIGHTS, predict_stored

    _threads(args)
    results, runs = run_folders(None, args.results, args.runs)
    run_ids = args.run_ids
    if not run_ids:  # every stored run that lacks them and has its weights here
        store = ResultsStore(results)
        run_ids = [s["_folder"] for s in store.summaries() if s["status"] in ("completed", "diverged")
                   and not (store.path(s["_folder"]) / "predictions.npz").is_file()
                   and (runs / s["_folder"] / FINAL_WEIGHTS).is_file()]
        print(f"{len(run_ids)} stored run(s) without predictions whose weights are in {runs}", flush=True)
    failed = 0
    for run_id in run_ids:
        try:
            print(f"{run_id}: {predict_stored(run_id, results, runs, args.data_root, args.force)['done']}", flush=True)
        except LtError as exc:
            failed += 1
            print(f"{run_id}: {exc}", flush=True)
    return 1 if failed else 0


def cmd_data(args) -> int:
    from .learn.data import prepare_data

    if args.download:
        print(f"downloading CIFAR-10 into {args.data_root or 'data'} ...", flush=True)
    else:
        print(f"reading {args.source} ...", flush=True)
    made = prepare_data(args.data_root, args.source, args.download, args.force)
    print(f"wrote {made['npz']}: {made['train_images']} training and {made['test_images']} test images from "
          f"{made['source']} ({made['format']}); sha256 {made['npz_sha256'][:16]}..., recorded in "
          f"{made['npz'].rsplit('/', 1)[0] if '/' in made['npz'] else '.'}/cifar10.json")
    return 0


def cmd_pack_data(args) -> int:
    from .learn.data import PACK_NAME, RECORD_NAME, default_data_root, pack_jpeg

    out = args.out
    if out.endswith("/") or (not out.endswith(".npz")):
        out = f"{out.rstrip('/')}/{PACK_NAME}"
    zip_path = args.zip
    if zip_path is None:  # the zip that data/cifar10.npz was made from, when it was made from one
        record = default_data_root() / RECORD_NAME
        try:
            made_from = json.loads(record.read_text())
            zip_path = made_from["source"] if made_from.get("format") == "zip of image folders" else None
        except (OSError, ValueError, KeyError):
            zip_path = None
        if zip_path is None:
            raise LtError(f"pack-data needs the JPEG zip the data came from: pass --zip PATH ({record} names none)")
    made = pack_jpeg(zip_path, out)
    print(f"wrote {made['path']}: {made['bytes'] / 2**20:.1f} MiB, {made['train_images']} training images "
          f"(ratios 100, 50, 10) and {made['test_images']} test images as the zip's JPEG bytes; "
          f"--data-root {made['path'].rsplit('/', 1)[0] if '/' in made['path'] else '.'} reads it")
    return 0


def _add_engine_args(p) -> None:
    g = p.add_argument_group("engine (speed and rounding, not what is trained)")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 autocast on CUDA, and on a CPU with AMX or AVX512-BF16 for quick and full runs; "
                        "fp32 otherwise (and for smoke runs)")
    g.add_argument("--compile", default="auto", choices=("auto", "on", "off"),
                   help="torch.compile the model's forward (auto: off; on CUDA the step is captured instead)")
    g.add_argument("--graph", default="auto", choices=("auto", "on", "off"),
                   help="capture the whole training step as a CUDA graph (auto: on CUDA)")
    g.add_argument("--channels-last", default="auto", choices=("auto", "on", "off", "eval"),
                   help="auto: on with bf16 (CUDA, or a CPU with native bf16); else on a CPU for evaluation only "
                        "(CPU BatchNorm backward in fp32 is less exact on it)")
    g.add_argument("--eval-batch", type=int, default=None, help="evaluation batch (default 500 on CPU, 5000 on CUDA)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")


def _add_launcher_args(p, dry_run: bool = True) -> None:
    g = p.add_argument_group("launcher (where the runs are trained)")
    g.add_argument("--launcher", default="inline", choices=("inline", "local", "slurm"),
                   help="inline: here, in this command (default); local: each run a submitit job on this machine; "
                        "slurm: SLURM jobs through submitit (a job per run, or --slurm-runs-per-job packed on a GPU)")
    g.add_argument("--jobs-folder", default="out/jobs", help="submitit's logs and jobs.json (default out/jobs)")
    g.add_argument("--no-wait", action="store_true", help="submit and return; follow with python -m lt_lib status")
    g.add_argument("--slurm-partition", default=None)
    g.add_argument("--slurm-account", default=None)
    g.add_argument("--slurm-time", type=int, default=720, help="minutes per job (default 720); a job that runs out "
                                                               "is requeued and resumes")
    g.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per job (default 1)")
    g.add_argument("--slurm-cpus", type=int, default=8, help="CPUs per job (default 8)")
    g.add_argument("--slurm-mem", default=None, help="memory per job, e.g. 32G")
    g.add_argument("--slurm-runs-per-job", type=int, default=1, help="runs packed on one job's GPU (default 1)")
    g.add_argument("--slurm-setup", nargs="*", default=[], help="shell lines run before each job")
    if dry_run:
        g.add_argument("--dry-run", action="store_true", help="with --launcher slurm: print the first job's sbatch "
                                                              "script and the job count, submit nothing")


def _launch(args, configs, **train_kwargs):
    """``configs`` through ``--launcher`` (None: inline, the caller trains them)."""
    if args.launcher == "inline":
        if getattr(args, "dry_run", False) and not hasattr(args, "train"):
            raise LtError("--dry-run shows the sbatch script of --launcher slurm")
        return None
    from .runs.launch import SlurmOptions, launch

    if args.slurm_runs_per_job < 1:
        raise LtError(f"--slurm-runs-per-job must be at least 1, got {args.slurm_runs_per_job}")
    slurm = SlurmOptions(args.slurm_partition, args.slurm_account, args.slurm_time, args.slurm_gpus, args.slurm_cpus,
                         args.slurm_mem, args.slurm_runs_per_job, setup=list(args.slurm_setup))
    return launch(configs, args.launcher, args.jobs, getattr(args, "threads", None), args.jobs_folder,
                  wait=not args.no_wait, slurm=slurm, dry_run=getattr(args, "dry_run", False), **train_kwargs)


def cmd_status(args) -> int:
    from .runs.launch import job_status

    rows = job_status(args.jobs)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("queued", "running", "finished", "failed")}
    print(f"{args.jobs}: {len(rows)} run(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for r in rows:
        print(f"  {r['run_id']:<40} {r['state']:<9} {r['launcher']} job {r['job_id']}"
              + (f"  {r['detail']}" if r["detail"] else ""))
    return 0


def _add_data_args(p) -> None:
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--data-root", default=None, help="folder with cifar10.npz or cifar-10-batches-py "
                                                     "(default $LT_DATA or ./data)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lt_lib",
                                description="Long-tailed CIFAR-10: ResLT, early exits and the report's hybrids.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the experiments and profiles").set_defaults(func=cmd_list)
    c = sub.add_parser("counts", help="images per class of the long-tailed training set (JSON)")
    c.add_argument("--imbalance", type=_ratio, required=True)
    c.set_defaults(func=cmd_counts)
    t = sub.add_parser("train", help="train (or resume) one experiment and write its summary")
    t.add_argument("experiment")
    t.add_argument("--imbalance", type=_ratio, required=True)
    t.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0], metavar="S")
    t.add_argument("--profile", default="full", help="smoke, quick or full (default full)")
    t.add_argument("--epochs", type=int, default=None, help="override the profile's epochs (run id gets -eN)")
    _add_data_args(t)
    t.add_argument("--download", action="store_true", help="allow torchvision to download CIFAR-10")
    t.add_argument("--results", default=None, help="results store (default results/; smoke: out/smoke/results)")
    t.add_argument("--runs", default=None, help="checkpoints and weights (default: runs/ beside the results folder)")
    t.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    t.add_argument("--force", action="store_true", help="overwrite a stored run or checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_engine_args(t)
    t.set_defaults(func=cmd_train, interrupted="interrupted; continue later with --resume (from the last checkpoint)")
    m = sub.add_parser("train-many", help="train several runs at once in worker processes (stored runs skipped)")
    m.add_argument("experiments", nargs="+")
    m.add_argument("--imbalance", type=_ratio, nargs="+", required=True)
    m.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0], metavar="S")
    m.add_argument("--profile", default="full", help="smoke, quick or full (default full)")
    m.add_argument("--epochs", type=int, default=None)
    m.add_argument("--jobs", type=int, default=1, help="runs at once (default 1; measure with bench --concurrency)")
    _add_data_args(m)
    m.add_argument("--results", default=None, help="results store (default results/; smoke: out/smoke/results)")
    m.add_argument("--runs", default=None, help="checkpoints and weights (default: runs/ beside the results folder)")
    m.add_argument("--force", action="store_true", help="overwrite stored runs")
    _add_engine_args(m)
    _add_launcher_args(m)
    m.set_defaults(func=cmd_train_many, interrupted="interrupted; run the same command again to continue: finished "
                   "runs are stored and the others resume from their last checkpoints")
    r = sub.add_parser("report", help="render the course from the stored runs (papermill), then the site; "
                                      "--train trains what is missing first")
    r.add_argument("--profile", default=None,
                   help="smoke, quick or full (default: show full runs where stored, else quick; --train: "
                        "full on a GPU, quick on a CPU)")
    r.add_argument("--notebooks", nargs="+", default=None, metavar="NN", help="which, e.g. 00 02 (default all)")
    r.add_argument("--device", default="auto")
    r.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S")
    r.add_argument("--out", default=None, help="executed notebooks (default out/<profile>/)")
    r.add_argument("--data-root", default=None)
    r.add_argument("--results", default=None, help="results store (default results/; smoke: out/smoke/results)")
    r.add_argument("--figures", default=None, help="figures (default figures/; smoke: out/smoke/figures)")
    r.add_argument("--runs", default=None, help="checkpoints and weights (default runs/ beside the results folder; "
                                                 "smoke: out/smoke/runs)")
    r.add_argument("--train", action="store_true", help="train the missing runs of --profile first")
    r.add_argument("--retrain", action="store_true", help="with --train: train every run again (overwrites)")
    r.add_argument("--dry-run", action="store_true", help="print the runs --train would train, with estimated times")
    r.add_argument("--no-html", action="store_true", help="no HTML copies of the executed notebooks")
    r.add_argument("--no-site", action="store_true", help="do not build the course site")
    r.add_argument("--site", default=None, help="the course site (default <out>/site with --out, else out/site; "
                                                "smoke: out/smoke/site)")
    r.add_argument("--in-place", action="store_true",
                   help="render into notebooks/ themselves, with their defaults: the committed course (nbval checks "
                        "its stored outputs)")
    r.add_argument("--skip-damaged", action="store_true",
                   help="render although a stored run is damaged (shown as damaged) instead of stopping")
    r.add_argument("--jobs", type=int, default=None,
                   help="runs trained at once (default: 8 packed in one process on CUDA, 1 on a CPU)")
    _add_engine_args(r)
    _add_launcher_args(r, dry_run=False)
    r.set_defaults(func=cmd_report, interrupted="interrupted; run the same command again to continue: finished runs "
                   "are stored and the interrupted one resumes from its last checkpoint")
    st = sub.add_parser("site", help="build out/site/ (index + notebook pages) from executed notebooks")
    st.add_argument("--executed", default="out/auto", help="folder of executed notebooks (default out/auto)")
    st.add_argument("--results", default="results")
    st.add_argument("--figures", default="figures")
    st.add_argument("--site", default=None, help="where (default out/site)")
    st.add_argument("--notebooks", default=None, help="the source notebooks' folder (default notebooks/)")
    st.set_defaults(func=cmd_site)
    le = sub.add_parser("lease", help="train the report's missing runs for a fixed time, then write one bundle")
    le.add_argument("--budget", type=float, required=True, help="seconds, all told (training stops in time to "
                                                                 "checkpoint and write the bundle)")
    le.add_argument("--profile", default="full", help="smoke, quick or full (default full)")
    le.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0], metavar="S")
    le.add_argument("--experiments", nargs="+", default=None, help="only these (default: every run the report shows)")
    _add_data_args(le)
    le.add_argument("--out", default=None, help="the bundle (default out/lease-<time>.tar)")
    le.add_argument("--results", default=None, help="results store (default results/; smoke: out/smoke/results)")
    le.add_argument("--runs", default=None, help="checkpoints (default: runs/ beside the results folder)")
    le.add_argument("--jobs", type=int, default=8, help="runs at once (default 8)")
    _add_engine_args(le)
    le.set_defaults(func=cmd_lease, interrupted="interrupted; the runs' last checkpoints are in the runs folder; "
                    "run the lease again to continue them")
    im = sub.add_parser("import", help="merge a lease bundle into results/ and runs/")
    im.add_argument("bundle")
    im.add_argument("--results", default=None, help="results store (default results/)")
    im.add_argument("--runs", default=None, help="checkpoints (default: runs/ beside the results folder)")
    im.set_defaults(func=cmd_import)
    pk = sub.add_parser("pack-data", help="one file with the JPEG bytes of the images the long-tailed runs read")
    pk.add_argument("out", help="a folder (the file is named cifar10-lt-jpeg.npz) or an .npz path")
    pk.add_argument("--zip", default=None, help="the JPEG zip of class folders (default: the one data/cifar10.npz "
                                                "was made from, as data/cifar10.json records)")
    pk.set_defaults(func=cmd_pack_data)
    pf = sub.add_parser("preflight", help="before renting a GPU: check, on this machine, that each experiment's "
                                          "step can be captured as a CUDA graph (no host read or copy, no frozen "
                                          "value, the lr bound after a resume)")
    pf.add_argument("--experiments", nargs="+", default=None, help="only these (default: every registry entry)")
    pf.add_argument("--profile", default="full", help="smoke, quick or full (default full)")
    pf.set_defaults(func=cmd_preflight)
    pl = sub.add_parser("plan", help="the CPU plan of full-schedule runs: train them in priority order, one per "
                                     "core, resuming; run again to go on")
    pl.add_argument("--jobs", type=int, default=2, help="runs at once (default 2: one per core of a 2-core machine)")
    pl.add_argument("--list", action="store_true", help="only print where each run of the plan stands")
    pl.add_argument("--hours", type=float, default=None,
                    help="the time this machine is left for (a session, a job's limit): the runs whose estimates "
                         "end within it train first, the others after them (default: priority order)")
    pl.add_argument("--device", default="cpu")
    pl.add_argument("--data-root", default=None)
    pl.add_argument("--results", default=None, help="results store (default results/)")
    pl.add_argument("--runs", default=None, help="checkpoints and weights (default: runs/ beside the results folder)")
    _add_engine_args(pl)
    _add_launcher_args(pl)
    pl.set_defaults(func=cmd_plan, threads=1, interrupted="interrupted; run the same command again to go on: "
                    "finished runs are stored and the others resume from their last checkpoints")
    rd = sub.add_parser("readme", help="rewrite the README's generated tables (results, benchmarks) from the store")
    rd.add_argument("--readme", default="README.md")
    rd.add_argument("--results", default="results")
    rd.set_defaults(func=cmd_readme)
    ss = sub.add_parser("status", help="the runs submitted through --launcher local or slurm: queued, running, "
                                       "finished, failed")
    ss.add_argument("--jobs", default="out/jobs", help="the --jobs-folder they were submitted with (default out/jobs)")
    ss.set_defaults(func=cmd_status)
    pr = sub.add_parser("predict", help="store a finished run's test predictions from its final weights")
    pr.add_argument("run_ids", nargs="*", help="run ids (default: every stored run without predictions whose "
                                               "weights are here)")
    pr.add_argument("--results", default=None, help="results store (default results/)")
    pr.add_argument("--runs", default=None, help="where the weights are (default: runs/ beside the results folder)")
    pr.add_argument("--data-root", default=None)
    pr.add_argument("--force", action="store_true", help="make them again where they exist")
    pr.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, as the CPU runs train)")
    pr.set_defaults(func=cmd_predict)
    d = sub.add_parser("data", help="put CIFAR-10 into the data root as cifar10.npz (download, or from a file you have)")
    d.add_argument("--from", dest="source", default=None, metavar="FILE",
                   help="cifar-10-python.tar.gz, or a zip (or folder) of train/<class>/ and test/<class>/ images")
    d.add_argument("--download", action="store_true", help="download the official archive with torchvision")
    d.add_argument("--data-root", default=None, help="where (default $LT_DATA or ./data)")
    d.add_argument("--force", action="store_true", help="replace a cifar10.npz that is there")
    d.set_defaults(func=cmd_data)
    b = sub.add_parser("bench", help="train images/s: the published codes' loop vs lt_lib's engine vs the bound")
    _add_data_args(b)
    b.add_argument("--steps", type=int, default=None, help="timed batches (default 20 on CPU, 50 on CUDA)")
    b.add_argument("--warmup", type=int, default=None, help="warm-up batches (default 3 on CPU, 10 on CUDA)")
    b.add_argument("--rounds", type=int, default=3, help="timed rounds of each loop, in turn; the best counts")
    b.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference loop (default 2)")
    b.add_argument("--concurrency", type=int, nargs="*", default=[], metavar="N",
                   help="also measure N runs at once in processes, e.g. 1 2 4")
    b.add_argument("--variants", action="store_true",
                   help="also the bound under fp32/bf16 x contiguous/channels_last (and, on a CPU, gradient error)")
    b.add_argument("--runs", default="runs", help="where trained weights for the inference check are found")
    b.add_argument("--json", default=None, metavar="PATH", help="write the measurements as JSON")
    _add_engine_args(b)
    b.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(getattr(args, "interrupted", "interrupted"), file=sys.stderr)
        return 130
