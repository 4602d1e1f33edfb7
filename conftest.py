"""Notebook tests (nbval) run the notebooks as a reader's Run All does: the profile "auto" over the stored
runs in results/ (read only), training nothing; figures go to a temporary folder."""
import os
import shutil
import tempfile

_TMP = None


def pytest_configure(config):
    global _TMP
    _TMP = tempfile.mkdtemp(prefix="lt-nbval-")
    # the kernels nbval starts inherit this environment (read by lt_lib.notebook.setup)
    os.environ.pop("LT_PROFILE", None)
    os.environ.pop("LT_RESULTS", None)
    os.environ["LT_TRAIN_MISSING"] = "0"
    for name in ("FIGURES", "RUNS"):
        os.environ[f"LT_{name}"] = os.path.join(_TMP, name.lower())


def pytest_unconfigure(config):
    if _TMP:
        shutil.rmtree(_TMP, ignore_errors=True)
