import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("LT_DATA", ROOT / "data")) / "cifar10.npz"


@pytest.fixture(scope="session")
def smoke_ce(tmp_path_factory):
    """One smoke-profile ce run at ratio 10, shared by tests that only read its outputs."""
    from lt_lib.learn.experiments import resolve
    from lt_lib.runs.train import train

    base = tmp_path_factory.mktemp("smoke_ce")
    cfg = resolve("ce", 10, "smoke")
    summary = train(cfg, results_dir=base / "results", runs_dir=base / "runs", quiet=True)
    return cfg, summary, base


class Killed(Exception):
    """A run stopped from its epoch hook, as a kill would stop it between checkpoints."""


def kill_at(stop_epoch: int):
    """An ``on_epoch_end`` hook that stops the run at the end of ``stop_epoch``."""
    def hook(epoch, row):
        if epoch == stop_epoch:
            raise Killed
    return hook
