"""``refchaos sweep``: J25's learning-rate sweep (exponent and training time against lr).

No mathematics here: options become a :class:`refchaos.experiments.sweep.SweepConfig`, checked
before any work starts, and :func:`refchaos.experiments.sweep.run_sweep` does the rest. The
model/data options and their checks are shared with ``prune`` and ``perturb``
(:func:`model_data_options`, :func:`checked`).
"""

from __future__ import annotations

import re
from dataclasses import replace

import click

from refchaos.backend import BackendUnavailableError
from refchaos.data import DataError
from refchaos.experiments.config import COPIES_OPTIMIZERS, ConfigError
from refchaos.experiments.resultdir import ResultDirectoryError
from refchaos.experiments.sweep import SweepConfig, SweepError, prepare, run_sweep, stored_sweep
from refchaos_cli.common import DirectoryError, given_options, interrupted, show_warnings
from refchaos_cli.optim_options import (check_run_config, optimizer_fields, optimizer_options,
                                        stack_options)

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}
_OPTION_NAME = re.compile(r"(--[a-z][a-z0-9-]*)")
MODEL_DATA_FIELDS = ("dataset", "data_dir", "subset", "model", "activation", "init", "init_std",
                     "loss", "batch_size", "backend")


def model_data_options(defaults):
    """Click options of the model and data (the RunConfig fields of ``MODEL_DATA_FIELDS``)."""
    d = defaults
    options = [
        click.option("--dataset", default=d.dataset, help="digits (embedded), usps, mnist, fashion-mnist, cifar10."),
        click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                     show_default="$REFCHAOS_DATA, else ~/.cache/refchaos", help="Where the dataset files are."),
        click.option("--subset", default=d.subset, type=int, show_default="all" if d.subset is None else True,
                     help="Train on a seeded subset of this many examples."),
        click.option("--model", default=d.model, help="mlp:256-20-10, mlp:H1-H2 (hidden sizes only), cnn, cnn:C or cnn:C:avg (average pooling)."),
        click.option("--activation", default=d.activation, help="relu, tanh, ..."),
        click.option("--init", default=d.init, help="pytorch, normal (N(0, std^2) weights, 0 biases), xavier or he."),
        click.option("--init-std", default=d.init_std, type=float, help="Standard deviation of --init normal."),
        click.option("--loss", default=d.loss, help="cross_entropy or mse."),
        click.option("--batch-size", default=d.batch_size, type=int, help="Minibatch size; 0 = full batch."),
        click.option("--backend", default=d.backend, help="numpy, cupy (GPU), torch (CPU) or array_api_strict."),
    ]

    return stack_options(options)


def usage_error(err):
    """A click usage error for a ConfigError, naming its option when the message does."""
    match = _OPTION_NAME.search(str(err))
    if match:
        return click.BadParameter(str(err), param_hint=f"'{match.group(1)}'")
    return click.UsageError(str(err))


def checked(config, check=None):
    """Run ``check(config)`` (default: build the run) and turn its errors into click errors."""
    try:
        return (check or prepare)(config)
    except ConfigError as err:
        raise usage_error(err) from None
    except BackendUnavailableError as err:
        raise click.BadParameter(str(err), param_hint="'--backend'") from None
    except DataError as err:
        raise click.BadParameter(str(err), param_hint="'--dataset'") from None


def progress_line(line):
    """Progress goes to stderr, one line at a time."""
    click.echo(line, err=True)


def _float_list(text, option):
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers",
                                 param_hint=f"'{option}'") from None


def _seeds(text):
    """``3`` -> seeds 0, 1, 2; ``0,5,7`` -> those seeds."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a count (3) or a list of seeds (0,5,7)",
                                 param_hint="'--seeds'") from None
    if "," not in text:
        if not values or values[0] < 1:
            raise click.BadParameter(f"a seed count must be >= 1, got {text!r}", param_hint="'--seeds'")
        return tuple(range(values[0]))
    return tuple(values)


D = SweepConfig()
_LRS = ",".join(f"{v:g}" for v in D.lrs)


@click.command("sweep", context_settings=CONTEXT)
@click.option("--lrs", default=_LRS, help="Learning rates, comma-separated (each > 0); default J25's scan.")
@click.option("--seeds", default=str(len(D.seeds)), help="Number of initialisations (3 = seeds 0,1,2) or a list 0,5,7.")
@click.option("--copies", default=D.copies, type=int, help="Perturbed copies M per initialisation.")
@click.option("--eps", default=D.eps, type=float, help="Perturbation U(-eps, eps) on the weights.")
@click.option("--epochs", default=D.base.epochs, type=int, help="Training epochs per point.")
@click.option("--target", default=D.target, type=float, help="Test accuracy that ends the training time.")
@model_data_options(D.base)
@optimizer_options(COPIES_OPTIMIZERS, eps_flag="--optimizer-eps", defaults=D.base)
@click.option("--workers", default=1, type=int, help="Local processes running chunks in parallel.")
@click.option("--chunk-size", default=None, type=int, show_default="from the memory available",
              help="Points per chunk, the unit of work of the local loop, of each worker and of "
                   "each Dask task. By default half of MemAvailable (/proc/meminfo; on Dask the "
                   "smallest worker's memory limit), shared by the workers, divided by the "
                   "estimated bytes of one point (reference + copies + tangent vector), at most "
                   "points / workers. Recorded in --out/chunks.json: a resumed sweep keeps its "
                   "chunks.")
@click.option("--dask", default=None, metavar="ADDRESS", show_default="off",
              help="Run the points on an existing Dask cluster (scheduler address, e.g. tcp://host:8786).")
@click.option("--out", default="sweep", type=click.Path(file_okay=False), help="Sweep directory.")
@click.option("--resume", is_flag=True, show_default="off",
              help="Continue the sweep stored in --out with its stored configuration "
                   "(a rerun with the same options resumes too).")
@click.pass_context
def sweep(ctx, lrs, seeds, copies, eps, epochs, target, workers, chunk_size, dask, out, resume,
          **model_data):
    """Train over a grid of learning rates x initialisations; per point the maximum Lyapunov
    exponent from perturbed copies and from a tangent vector, and the training time (epochs
    to --target test accuracy). With --momentum or an adaptive --optimizer every copy carries
    its own optimizer state. Writes points/*.json, sweep.csv, summary.json and figures/
    to --out. The grid runs in chunks of points (--chunk-size); interrupted sweeps resume,
    skipping finished chunks. A progress line with the ETA over the whole grid advances every
    step of every trajectory (with --workers too; on Dask every finished chunk).
    """
    show_warnings()
    if workers < 1:
        raise click.BadParameter(f"must be >= 1, got {workers}", param_hint="'--workers'")
    if chunk_size is not None and chunk_size < 1:
        raise click.BadParameter(f"must be an integer >= 1 (points per chunk), got {chunk_size}",
                                 param_hint="'--chunk-size'")
    if resume:
        given = given_options(ctx, ("workers", "chunk_size", "dask", "out", "resume"))
        if given:
            raise click.UsageError("--resume takes the configuration stored in --out; leave out "
                                   + ", ".join("--" + g.replace("_", "-") for g in given))
        config = _stored(out)
    else:
        optimizer = optimizer_fields(model_data)
        base = replace(D.base, epochs=epochs, **model_data, **optimizer)
        config = SweepConfig(base=base, lrs=_float_list(lrs, "--lrs"), seeds=_seeds(seeds),
                             copies=copies, eps=eps, target=target)
        check_run_config(replace(base, lr=config.lrs[0] if config.lrs else base.lr),
                         "--optimizer-eps")
    checked(config, _check)
    try:
        summary = run_sweep(config, out, workers=workers, dask=dask, resume=True if resume else None,
                            progress=progress_line, bar=True, chunk_size=chunk_size)
    except SweepError as err:
        raise click.ClickException(str(err)) from None
    except ResultDirectoryError as err:
        raise DirectoryError(str(err)) from None
    except KeyboardInterrupt:
        interrupted("sweep", out)
    onset, best = summary["onset_lr_copies"], summary["best_lr"]
    click.echo(f"exponent (copies) positive from lr {onset if onset is not None else 'nowhere in the grid'}; "
               f"training time minimal at lr {best if best is not None else 'none (target never reached by all seeds)'}"
               f"; diverged at {summary['diverged_lrs'] or 'no lr'}: {out}", err=True)


def _check(config):
    config.validate()
    return prepare(replace(config.base, lr=config.lrs[0], seed=config.seeds[0]))


def _stored(out):
    try:
        return stored_sweep(out)
    except ResultDirectoryError as err:
        raise click.BadParameter(f"nothing to resume: {err}", param_hint="'--out'") from None


if __name__ == "__main__":
    sweep()
