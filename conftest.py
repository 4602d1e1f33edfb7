"""Notebook tests (nbval) run the notebooks under the smoke profile, writing only to a temporary folder."""
import os
import shutil
import tempfile

_TMP = None


def pytest_configure(config):
    global _TMP
    _TMP = tempfile.mkdtemp(prefix="lt-nbval-")
    # the kernels nbval starts inherit this environment (read by lt_lib.notebook.setup)
    os.environ["LT_PROFILE"] = "smoke"
    os.environ["LT_TRAIN_MISSING"] = "1"
    for name in ("RESULTS", "FIGURES", "RUNS"):
        os.environ[f"LT_{name}"] = os.path.join(_TMP, name.lower())


def pytest_unconfigure(config):
    if _TMP:
        shutil.rmtree(_TMP, ignore_errors=True)
