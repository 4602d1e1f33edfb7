"""lt_lib: long-tailed CIFAR-10 with ResLT, early exits and the report's hybrid models.

Three layers, each importing only those below it: ``learn`` (data, models, losses, the registry),
``runs`` (the engine, training, the results store), ``course`` (notebooks' helpers, figures, the report);
``cli`` on top.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from .errors import LtError
from .learn.experiments import EXPERIMENTS, PROFILES, TrainConfig, resolve
from .runs.results import ResultsStore, load_results

__version__ = "0.1.0"
__all__ = ["EXPERIMENTS", "PROFILES", "LtError", "ResultsStore", "TrainConfig", "load_results", "resolve"]

# Where the modules of the flat layout went (0.1.0). ``import lt_lib.data`` still works for this release,
# with a DeprecationWarning naming the new place. An alias finder, because a re-export module per old
# name would put the flat list back into lt_lib/.
MOVED = {**dict.fromkeys(("data", "augment", "models", "exits", "losses", "experiments", "reference"), "learn"),
         **dict.fromkeys(("engine", "step", "loop", "train", "parallel", "lease", "results", "stats", "timing",
                          "bench"), "runs"),
         **dict.fromkeys(("notebook", "narrate", "plots", "report", "site"), "course")}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        parent, _, child = name.rpartition(".")
        return importlib.util.spec_from_loader(name, self) if parent == __name__ and child in MOVED else None

    def create_module(self, spec):
        child = spec.name.rpartition(".")[2]
        new = f"{__name__}.{MOVED[child]}.{child}"
        warnings.warn(f"{spec.name} has moved to {new}; import it from there (the old name goes in the next "
                      "release)", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # the import system set the alias's spec on the real module: undo it


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
