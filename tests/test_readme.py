"""Every command the README shows, run as a new user would in a fresh copy of the checkout (smoke
profile, scratch folders): afterwards ``git status --porcelain --ignored`` is what it was, except for the
folders the README says a command writes into, and every file written has the mode of a plain write."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from io import BytesIO

import numpy as np
import pytest

from conftest import ROOT

SHARED_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"

# README command -> (how it is run here: extra arguments or a replacement, what it may write in the checkout).
# "{s}" is a scratch folder outside the checkout. A command that cannot run here says why instead.
SMOKE_REPORT = ["--profile", "smoke", "--notebooks", "02", "--no-html", "--device", "cpu"]
SCRATCH = ["--results", "{s}/results", "--figures", "{s}/figures", "--runs", "{s}/runs"]
COMMANDS = {
    "python -m lt_lib data --from ../shared/data/cifar10-jpeg.zip":
        (["python", "-m", "lt_lib", "data", "--from", "{s}/tiny.zip", "--data-root", "{s}/data"], ()),
    "python -m lt_lib data --download": "needs the network",
    "python -m lt_lib report": (["+", *SMOKE_REPORT, *SCRATCH, "--out", "{s}/out"], ()),
    "python -m lt_lib report --train --notebooks 02": (["+", *SMOKE_REPORT, *SCRATCH, "--out", "{s}/out"], ()),
    "python -m lt_lib report --train --profile quick --dry-run": (["+", *SMOKE_REPORT, *SCRATCH], ()),
    "python -m lt_lib report --profile smoke --out out/smoke": (["+", "--notebooks", "02", "--no-html"], ("out/smoke/",)),
    "python -m lt_lib site": (["+", "--executed", "{s}/out", "--site", "{s}/site", "--results", "{s}/results",
                               "--figures", "{s}/figures"], ()),
    "python -m http.server -d out/site 8000": "serves the book until stopped (tests/test_site.py serves it the same way)",
    "papermill notebooks/02_reslt_baseline.ipynb out/02.ipynb -p profile quick -p figures_dir out/figures":
        (["+", "-p", "profile", "smoke", "-p", "results_dir", "{s}/results", "-p", "runs_dir", "{s}/runs"], ("out/",)),
    "python -m lt_lib list": (["+"], ()),
    "python -m lt_lib train reslt-a0.95-aa-ls --imbalance 100 --profile quick":
        (["+", "--profile", "smoke", "--epochs", "1", "--results", "{s}/results"], ()),
    "python -m lt_lib train ce --imbalance 100 --seeds 0 1 2 --profile full --device cuda":
        (["+", "--profile", "smoke", "--epochs", "1", "--device", "cpu", "--results", "{s}/results"], ()),
    "python -m lt_lib train ce --imbalance 10 --profile smoke": (["+", "--epochs", "1"], ("out/smoke/",)),
    "python -m lt_lib train-many reslt-a0.95-aa-ls --imbalance 100 50 10 --device cuda":
        (["+", "--profile", "smoke", "--epochs", "1", "--device", "cpu", "--jobs", "2", "--results", "{s}/results"], ()),
    "python -m lt_lib plan --list": (["+", "--results", "{s}/results", "--runs", "{s}/runs"], ()),
    "python -m lt_lib plan --jobs 2": "trains full-profile runs for hours: its planning is the --list above, its "
                                      "bookkeeping tests/test_predictions.py",
    "python -m lt_lib plan --hours 3": "trains full-profile runs for hours: its order within the window is "
                                       "tests/test_predictions.py's (fit_window, plan --hours)",
    "python -m lt_lib preflight": (["+", "--experiments", "ce", "model8"], ()),
    "python -m lt_lib train-many reslt-a0.95-aa-ls model7 --imbalance 100 --seeds 0 1 2 --launcher slurm "
    "--slurm-runs-per-job 3 --dry-run": (["+", "--jobs-folder", "{s}/slurm"], ()),
    "python -m lt_lib report --train --profile full --seeds 0 1 2 --launcher slurm --slurm-partition gpu "
    "--slurm-runs-per-job 8 --no-wait": "needs a SLURM cluster (its script: the dry run above)",
    "python -m lt_lib train-many ce --imbalance 100 --launcher local --jobs 2 --no-wait":
        (["+", "--profile", "smoke", "--epochs", "1", "--device", "cpu", "--jobs-folder", "{s}/jobs", "--results",
          "{s}/results"], ()),
    "python -m lt_lib status": (["+", "--jobs", "{s}/jobs"], ()),
    "python -m lt_lib pack-data data": (["python", "-m", "lt_lib", "pack-data", "{s}/pack", "--zip", str(SHARED_ZIP)], ()),
    "python -m lt_lib lease --budget 540 --out out/lease.tar":
        (["python", "-m", "lt_lib", "lease", "--budget", "30", "--profile", "smoke", "--experiments", "ce",
          "--device", "cpu", "--jobs", "1", "--out", "{s}/lease.tar", "--results", "{s}/lease-results"], ()),
    "python -m lt_lib import out/lease.tar":
        (["python", "-m", "lt_lib", "import", "{s}/lease.tar", "--results", "{s}/imported"], ()),
    "python -m lt_lib bench --device cpu --json out/bench.json": "timed in tests/test_bench.py (writes only --json)",
    "python -m lt_lib bench --device cuda --concurrency 1 2 4 8": "needs a GPU",
    "python -m pip install -e \".[dev]\"": "the install itself (CI runs it)",
    "conda env create -f environment.yml && conda activate lt-companion": "needs conda",
    "pytest": "the test suite itself",
}


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks (comments and `# ...` lines left out)."""
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    found += re.findall(r"`(conda env create[^`]*)`", text)
    return found


def test_every_readme_command_is_listed_here():
    assert sorted(set(readme_commands())) == sorted(COMMANDS)


def tiny_zip(path):
    """A zip of train/<class>/ and test/<class>/ JPEGs in the offline copy's layout (2 + 1 per class)."""
    from PIL import Image

    rng = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as z:
        for split, n in (("train", 2), ("test", 1)):
            for cls in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
                for i in range(n):
                    buf = BytesIO()
                    Image.fromarray(rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)).save(buf, "JPEG")
                    z.writestr(f"{split}/{cls}/{i:04d}.jpg", buf.getvalue())


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory):
    """The checkout's files (tracked and not ignored) in a new repository: what a clone of this tree is."""
    copy = tmp_path_factory.mktemp("clone") / "lt-companion"
    files = git("ls-files", "-co", "--exclude-standard", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git("init", "-q", cwd=copy)
    git("add", "-A", cwd=copy)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy", cwd=copy)
    return copy


def test_readme_commands_write_only_where_their_flags_say(fresh_copy, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tiny_zip(scratch / "tiny.zip")
    env = {**os.environ, "PYTHONPATH": str(fresh_copy), "LT_DATA": str(scratch / "no-data-here")}
    for name in ("LT_RESULTS", "LT_FIGURES", "LT_RUNS", "LT_PROFILE"):
        env.pop(name, None)
    before = git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=fresh_copy)
    allowed, ran = set(), []
    for command, how in COMMANDS.items():  # in the README's order: the site is built from the report's output
        if isinstance(how, str):
            continue
        if "pack-data" in command and not SHARED_ZIP.is_file():
            continue
        extra, writes = how
        args = shlex.split(command) + extra[1:] if extra and extra[0] == "+" else list(extra)
        args = [a.replace("{s}", str(scratch)) for a in args]
        if args[0] == "python":
            args[0] = sys.executable
        elif args[0] == "papermill":
            args = [sys.executable, "-m", "papermill", *args[1:]]
        proc = subprocess.run(args, cwd=fresh_copy, env=env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        allowed |= set(writes)
        ran.append(command)
        after = git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=fresh_copy)
        new = [line for line in after.splitlines() if line not in before.splitlines()]
        unexpected = [line for line in new if not any(line[3:].startswith(a) for a in allowed)]
        assert not unexpected, f"{command} wrote into the checkout: {unexpected}"
    assert len(ran) >= 12
    mode = 0o666 & ~_umask()
    for folder in (scratch / "results", scratch / "figures", fresh_copy / "out" / "smoke"):
        for p in folder.rglob("*"):
            if p.is_file() and p.name != ".lock" and p.suffix != ".pt":
                assert p.stat().st_mode & 0o777 == mode, (p, oct(p.stat().st_mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
