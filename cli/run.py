"""``refchaos run``: train one model and measure its chaos into a run directory.

No mathematics here: options become a :class:`refchaos.experiments.RunConfig`, checked before
any work starts, and :func:`refchaos.experiments.run.run` does the rest.

Exit status: 0 completed, 3 diverged (EXIT_DIVERGED), 130 interrupted by Ctrl-C (resumable with
``--resume``), 2 a bad option or an unusable ``--out`` (named, nothing half-written), 1 any
other error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import click

from refchaos.backend import BackendUnavailableError, get_namespace
from refchaos.data import DataError
from refchaos.experiments.config import (MEASURES, OPTIMIZERS, SUBSPACE_METHODS, ConfigError,
                                       RunConfig)
from refchaos.experiments.rundir import RunDirectory, RunDirectoryError
from refchaos.experiments.run import DEFAULT_CHECKPOINT_EVERY
from refchaos.experiments.setup import prepare
from refchaos.experiments.run import run as run_experiment
from refchaos_cli.common import EXIT_INTERRUPTED, DirectoryError, show_warnings
from refchaos_cli.optim_options import optimizer_options

EXIT_COMPLETED = 0
EXIT_DIVERGED = 3  # The run stopped because loss or parameters diverged (recorded, valid directory).

D = RunConfig()  # defaults shown in --help come from the configuration itself
_OPTION_NAME = re.compile(r"(--[a-z][a-z0-9-]*)")

# option name -> RunConfig field (the same name with '-' for '_')
FIELDS = ("dataset", "data_dir", "subset", "model", "activation", "init", "init_std", "loss",
          "optimizer", "prune", "prune_k", "prune_select", "prune_start", "lr", "momentum",
          "weight_decay", "betas", "eps", "alpha", "amsgrad", "centered", "batch_size", "epochs", "steps", "seed", "backend", "measure", "every",
          "ftle_k", "subspace_method")


def _measures(values):
    out = []
    for v in values:
        out += [m.strip() for m in v.split(",") if m.strip()]
    return tuple(dict.fromkeys(out))


def _default_out(config):
    model = config.model.replace(":", "").replace("-", "x")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.dataset}_{model}_{config.optimizer}_lr{config.lr:g}_seed{config.seed}_{stamp}"


def _usage(err):
    """A click usage error for a ConfigError, naming its option when the message does."""
    match = _OPTION_NAME.search(str(err))
    if match:
        return click.BadParameter(str(err), param_hint=f"'{match.group(1)}'")
    return click.UsageError(str(err))


@click.command("run", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--dataset", default=D.dataset, help="digits (embedded), usps, mnist, fashion-mnist, cifar10.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              show_default="$REFCHAOS_DATA, else ~/.cache/refchaos", help="Where the dataset files are.")
@click.option("--subset", default=None, type=int, show_default="all",
              help="Train on a seeded subset of this many examples.")
@click.option("--model", default=D.model, help="mlp:256-20-10, mlp:H1-H2 (hidden sizes only), cnn, cnn:C or cnn:C:avg (average pooling).")
@click.option("--activation", default=D.activation, help="relu, tanh, ...")
@click.option("--init", default=D.init, help="pytorch, normal, xavier or he.")
@click.option("--init-std", default=D.init_std, type=float, help="Standard deviation of --init normal.")
@click.option("--loss", default=D.loss, help="cross_entropy or mse.")
@click.option("--prune", default=D.prune, help="CGD prune set: chaotic, negative, positive, none.")
@click.option("--prune-k", default=None, type=int, show_default="all of the set",
              help="Prune at most k directions.")
@click.option("--prune-select", default=D.prune_select, help="Which k: top, top_exponent, random.")
@click.option("--prune-start", default=D.prune_start, type=int, help="First step CGD prunes.")
@click.option("--lr", default=D.lr, type=float, help="Learning rate eta (> 0).")
@optimizer_options(OPTIMIZERS, defaults=D)
@click.option("--batch-size", default=D.batch_size, type=int, help="Minibatch size; 0 = full batch.")
@click.option("--epochs", default=D.epochs, type=int, help="Epochs (ignored when --steps is given).")
@click.option("--steps", default=None, type=int, show_default="epochs x steps per epoch",
              help="Optimizer steps (overrides --epochs).")
@click.option("--seed", default=D.seed, type=int, help="Seed of initialisation, batches and tangent vectors.")
@click.option("--backend", default=D.backend, help="numpy, cupy (GPU), torch (CPU) or array_api_strict.")
@click.option("--measure", multiple=True, default=(",".join(D.measure),),
              help=f"What to measure, comma list or repeated: {', '.join(MEASURES)}.")
@click.option("--every", default=D.every, type=int, help="Measure the expensive quantities every this many steps.")
@click.option("--ftle-k", default=D.ftle_k, type=int, help="Number of finite-time exponents when measuring ftle.")
@click.option("--subspace-method", default=D.subspace_method, type=click.Choice(SUBSPACE_METHODS),
              help="How subspaces splits Y(t): its SVD, or the top eigenpairs of Y^T Y (gram: "
                   "faster, resolution n eps sigma_max^2 instead of n eps sigma_max).")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              show_default="runs/<dataset>_<model>_<optimizer>_lr<lr>_seed<seed>_<time>",
              help="Run directory.")
@click.option("--resume", is_flag=True, show_default="off",
              help="Continue the run in --out from its last checkpoint.")
@click.option("--checkpoint-every", default=DEFAULT_CHECKPOINT_EVERY, type=click.IntRange(min=1), help="Steps between checkpoints.")
@click.option("--threads", default=1, type=click.IntRange(min=1),
              help="Threads over the column blocks of the full tangent matrix (--measure "
                   "subspaces); results do not depend on it. Set OPENBLAS_NUM_THREADS=1 beside it.")
@click.option("--quiet", "-q", is_flag=True, show_default="off", help="No progress bar and no final report.")
@click.pass_context
def run(ctx, out, resume, checkpoint_every, threads, quiet, **options):
    """Train one model, measuring loss, accuracy, Hessian spectrum, sharpness and Lyapunov
    exponents; write config.json, metrics.csv, chunks/, summary.json, figures/ and
    checkpoints to --out.

    Exit status: 0 completed, 3 diverged, 130 interrupted (resume with --resume --out DIR),
    2 bad option or unusable --out (nothing half-written), 1 other error.
    """
    show_warnings()
    options["measure"] = _measures(options["measure"])
    given = {k for k in FIELDS if ctx.get_parameter_source(k) != click.core.ParameterSource.DEFAULT}
    if resume:
        if out is None:
            raise click.UsageError("--resume needs --out, the directory of the run to continue")
        config = _resumed_config(out, options, given)
    else:
        config = RunConfig(**options)
        out = Path(out) if out is not None else _default_out(config)
    try:
        config.validate()
        get_namespace(config.backend)
        setup = prepare(config)  # loads the data: checks the batch size against the dataset
    except ConfigError as err:
        raise _usage(err) from None
    except BackendUnavailableError as err:
        raise click.BadParameter(str(err), param_hint="'--backend'") from None
    except DataError as err:
        raise click.BadParameter(str(err), param_hint="'--dataset'") from None
    try:
        summary = run_experiment(None if resume else config, out, resume=resume,
                                 progress=not quiet, checkpoint_every=checkpoint_every, setup=setup,
                                 threads=threads)
    except ConfigError as err:
        raise _usage(err) from None
    except RunDirectoryError as err:
        raise DirectoryError(str(err)) from None
    if not quiet:
        _report(summary, out)
    ctx.exit({"completed": EXIT_COMPLETED, "diverged": EXIT_DIVERGED,
              "interrupted": EXIT_INTERRUPTED}[summary["status"]])


def _resumed_config(out, options, given):
    """The stored configuration of the run in ``out``; options given explicitly must agree."""
    rd = RunDirectory(out)
    try:
        config = rd.read_config()
    except RunDirectoryError as err:
        raise click.BadParameter(str(err), param_hint="'--out'") from None
    stored = config.to_dict()
    for name in sorted(given):
        value = list(options[name]) if name in ("measure", "betas") else options[name]
        if stored[name] != value:
            raise click.BadParameter(
                f"the run in {out} has {name.replace('_', '-')} {stored[name]!r}, not {value!r}; "
                "resume with the stored options (or leave them out)",
                param_hint=f"'--{name.replace('_', '-')}'")
    return config


def _report(summary, out):
    status = summary["status"]
    line = f"{status} after {summary['steps_completed']}/{summary['steps_total']} steps " \
           f"in {summary['wall_time_s']:.1f} s: {out}"
    final = summary.get("final") or {}
    if "test_acc" in final:
        line += f"\n  train loss {final['train_loss']:.4g}, train acc {final['train_acc']:.3f}, " \
                f"test acc {final['test_acc']:.3f}"
    if summary.get("maxexp") is not None:
        line += f"\n  running max exponent {summary['maxexp']:+.5f} per step"
    if summary.get("divergence"):
        d = summary["divergence"]
        line += f"\n  diverged at step {d['step']} ({d['reason']}): {d['message']}"
    if status == "interrupted":
        line += f"\n  continue with: refchaos run --resume --out {out}"
    click.echo(line, err=True)


if __name__ == "__main__":
    run()
