"""The experiments of the two studies: runs, sweeps, pruning, perturbation analysis."""

from .config import ConfigError, RunConfig, build_model, build_optimizer, load_run_data
from .perturb import PerturbError, run_perturb
from .prune import run_prune
from .measures import metric_columns
from .run import run
from .setup import Setup, evaluate, prepare
from .resultdir import ResultDirectory, ResultDirectoryError, open_result
from .rundir import RunDirectory, RunDirectoryError
from .sweep import SweepConfig, SweepError, run_sweep

__all__ = ["ConfigError", "RunConfig", "build_model", "build_optimizer", "load_run_data",
           "PerturbError", "run_perturb", "run_prune", "run", "prepare", "Setup", "evaluate", "metric_columns", "RunDirectory",
           "RunDirectoryError", "ResultDirectory", "ResultDirectoryError", "open_result", "SweepConfig", "SweepError", "run_sweep"]
