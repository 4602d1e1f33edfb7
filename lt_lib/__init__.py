"""lt_lib: long-tailed CIFAR-10 with ResLT, early exits and the report's hybrid models."""
from .errors import LtError
from .experiments import EXPERIMENTS, PROFILES, TrainConfig, resolve
from .results import ResultsStore, load_results

__version__ = "0.1.0"
__all__ = ["EXPERIMENTS", "PROFILES", "LtError", "ResultsStore", "TrainConfig", "load_results", "resolve"]
